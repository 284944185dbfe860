"""Filling a running server from the prompt stream, with its memory watched after every call.

Ingest stops when the server's resident set passes a guard, so a benchmark left running
never drives the machine into swap.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from typing import Any, Sequence

from evaluation.harness.calls import interruptible
from evaluation.harness.lookups import Reservoir
from evaluation.harness.machine import process_memory
from evaluation.harness.report import mib
from evaluation.harness.stream import PromptStream, bench_record
from promptprint.client import PromptprintClient
from promptprint.records import PromptRecord

__all__ = ["Ingester"]

log = logging.getLogger(__name__)


class Ingester:
    """Turns the prompt stream into records and ingests them, counting what the index
    holds and tracing the server's RSS after every call (stopping at ``max_rss_bytes``)."""

    def __init__(
        self, client: PromptprintClient, server_pid: int, stream: PromptStream, seed: int, reservoir: Reservoir,
        *, max_rss_bytes: int = 0,
    ) -> None:
        self.client, self.server_pid, self.stream, self.reservoir = client, server_pid, stream, reservoir
        self.rng = random.Random(f"promptprint-bench-records-{seed}")
        self.seed = seed
        self.sent = 0
        self.accepted = 0
        self.rejected = 0
        self.kinds: dict[str, int] = {}
        self.epoch_ms = int(time.time() * 1000)
        self.started = time.perf_counter()
        self.trace: list[dict[str, Any]] = []  # after every ingest call: size, server RSS, time
        self.max_rss_bytes = max_rss_bytes  # 0: no guard

    def records(self, texts: Sequence[tuple[str, str]]) -> list[PromptRecord]:
        """(kind, text) pairs from the stream as records with fresh ids, counted by kind."""
        out = []
        for kind, text in texts:
            i = self.sent + len(out)
            out.append(bench_record(self.rng, f"bench-{self.seed}-{i:08d}", text, self.epoch_ms))
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return out

    def ingest(self, texts: Sequence[tuple[str, str]]) -> None:
        """One ingest call; raises once the server's RSS passes the guard."""
        records = self.records(texts)
        summary = interruptible(self.client.ingest, records)
        self.sent += len(records)
        self.accepted += summary.accepted
        self.rejected += summary.rejected + summary.duplicates
        for record in records:
            self.reservoir.add(record.text)
        if summary.rejections:
            first = summary.rejections[0]
            log.info("%d prompts refused, e.g. [%s] %s", summary.rejected, first.reason, first.message)
        memory = process_memory(self.server_pid)
        self.trace.append({"prompts": self.accepted, "rss_bytes": memory["rss_bytes"],
                           "seconds": round(time.perf_counter() - self.started, 3)})
        if self.max_rss_bytes and memory["rss_bytes"] > self.max_rss_bytes:
            raise RuntimeError(
                f"server RSS {mib(memory['rss_bytes'])} MiB passed the {mib(self.max_rss_bytes)} MiB guard "
                f"at {self.accepted:,} prompts; stopping before the machine runs out of memory"
            )

    def fill_to(self, size: int, chunk: int = 1024) -> dict[str, Any]:
        """Ingest fresh prompts until the index holds ``size``; bounded to 1.2x + 1,000 sends."""
        started, start_count = time.perf_counter(), self.accepted
        budget = int(size * 1.2) + 1000
        last_log = 0.0
        while self.accepted < size:
            if self.sent >= budget:
                raise RuntimeError(f"sent {self.sent} prompts but the index holds only {self.accepted}")
            batch = [self.stream.next() for _ in range(min(chunk, size - self.accepted))]
            self.ingest(batch)
            now = time.perf_counter()
            if now - last_log > 30 or self.accepted >= size:
                last_log = now
                done = self.accepted - start_count
                rate = done / (now - started) if now > started else 0.0
                eta = (size - self.accepted) / rate if rate else float("nan")
                log.info("ingest: %s/%s prompts, %.1f/s, ETA %.1f min, server RSS %s MiB",
                         f"{self.accepted:,}", f"{size:,}", rate, eta / 60, mib(self.trace[-1]["rss_bytes"]))
        seconds = time.perf_counter() - started
        added = self.accepted - start_count
        return {"prompts": added, "seconds": seconds, "prompts_per_second": added / seconds if seconds > 0 else None}

    def wait_for_vectors(self) -> dict[str, Any]:
        """Wait until the server has embedded everything acknowledged; the drain rate."""
        started = time.perf_counter()
        pending = self.client.stats().pending_vectors
        last_log = [0.0]

        def progress(left: int) -> None:
            now = time.perf_counter()
            if now - last_log[0] > 60:
                last_log[0] = now
                log.info("embedding behind: %s prompts pending", f"{left:,}")

        interruptible(functools.partial(self.client.wait_indexed, 24 * 3600.0, on_progress=progress))
        seconds = time.perf_counter() - started
        return {"prompts": pending, "seconds": seconds, "prompts_per_second": pending / seconds if seconds > 0 and pending else None}

