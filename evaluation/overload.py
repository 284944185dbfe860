"""Overload run: more callers than the server admits, with and without admission control.

A real ``promptprint serve`` subprocess gets ``callers`` concurrent CheckPrompt callers
(a refused caller waits ``refusal_backoff_s`` and sends its next call) for ``seconds``, twice: once with
``--max-concurrent limit`` (plus a short queue), once with the limit raised past the
number of callers (what the server did before admission control: every call admitted,
all of them queued on the worker threads and the embedder). For each it reports calls
admitted and refused, p50/p99 latency of admitted calls, p99 time to a refusal, and the
server's resident memory (sampled from /proc every 100 ms, and its peak VmHWM).
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

import grpc

from evaluation.harness.calls import percentile
from evaluation.harness.machine import process_memory
from promptprint.records import PromptRecord
from promptprint.client import PromptprintClient
from promptprint.local_server import LocalServer
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc


@dataclasses.dataclass(frozen=True)
class OverloadConfig:
    callers: int = 48
    limit: int = 4
    queued: int = 4
    queue_wait_s: float = 0.5
    seconds: float = 20.0
    seed_prompts: int = 500
    call_timeout_s: float = 30.0
    refusal_backoff_s: float = 0.05
    tier: str = "semantic"  # the tier whose calls run a forward pass: where overload bites


def _rss_mib(pid: int, key: str = "rss_bytes") -> float:
    """The server's resident set (or its peak, ``peak_rss_bytes``) in MiB; 0 once it is gone."""
    try:
        return process_memory(pid)[key] / (1 << 20)
    except OSError:
        return 0.0


def _percentile(values: Sequence[float], q: float) -> float | None:
    return percentile(sorted(values), q) if values else None


def _phase(server: LocalServer, texts: list[str], config: OverloadConfig) -> dict[str, object]:
    stop = threading.Event()
    ok: list[float] = []
    refused: list[float] = []
    other: dict[str, int] = {}
    lock = threading.Lock()
    rss: list[float] = []

    def sample() -> None:
        while not stop.is_set():
            rss.append(_rss_mib(server.pid))
            time.sleep(0.1)

    tier = pb.TIER_SEMANTIC if config.tier == "semantic" else pb.TIER_FINGERPRINT

    def caller(n: int) -> None:
        rng = random.Random(n)
        channel = grpc.insecure_channel(server.target)
        stub = pb_grpc.FingerprintServiceStub(channel)
        while not stop.is_set():
            refused_now = False
            request = pb.CheckPromptRequest(prompt=pb.Prompt(account_id=f"load-{n}", text=rng.choice(texts)), tier=tier)
            started = time.perf_counter()
            try:
                stub.CheckPrompt(request, timeout=config.call_timeout_s)
                elapsed = time.perf_counter() - started
                with lock:
                    ok.append(elapsed)
            except grpc.RpcError as error:
                elapsed = time.perf_counter() - started
                with lock:
                    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:  # type: ignore[attr-defined]
                        refused.append(elapsed)
                        refused_now = True
                    else:
                        other[error.code().name] = other.get(error.code().name, 0) + 1  # type: ignore[attr-defined]
            if refused_now:  # a well-behaved client backs off before retrying
                time.sleep(config.refusal_backoff_s)
        channel.close()

    rss_before = _rss_mib(server.pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=caller, args=(n,), daemon=True) for n in range(config.callers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(config.seconds)
    stop.set()
    for t in threads:
        t.join(config.call_timeout_s + 5)
    wall = time.monotonic() - started
    return {
        "admitted": len(ok),
        "refused": len(refused),
        "other_errors": other,
        "admitted_per_s": round(len(ok) / wall, 1),
        "admitted_p50_ms": _ms(_percentile(ok, 50)),
        "admitted_p99_ms": _ms(_percentile(ok, 99)),
        "admitted_max_ms": _ms(max(ok) if ok else None),
        "refusal_p99_ms": _ms(_percentile(refused, 99)),
        "rss_before_mib": round(rss_before, 1),
        "rss_max_sampled_mib": round(max(rss, default=0.0), 1),
        "rss_after_mib": round(_rss_mib(server.pid), 1),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def run_overload(config: OverloadConfig, texts: list[str]) -> dict[str, object]:
    """Both phases, each on a fresh server over the same seeded data directory."""
    report: dict[str, object] = {"config": dataclasses.asdict(config)}
    with tempfile.TemporaryDirectory(prefix="promptprint-load-") as tmp:
        data_dir = Path(tmp) / "data"
        seed = [PromptRecord(f"seed-{i}", f"acct-{i % 97}", "", 1_770_000_000_000 + i, t) for i, t in enumerate(texts[: config.seed_prompts])]
        phases = {
            f"limit {config.limit} (+{config.queued} queued)": ["--max-concurrent", str(config.limit), "--max-queued", str(config.queued),
                                                                 "--max-queue-wait", str(config.queue_wait_s)],
            "no effective limit": ["--max-concurrent", str(config.callers * 4), "--max-queued", str(config.callers * 4),
                                   "--max-queue-wait", str(config.call_timeout_s)],
        }
        for name, flags in phases.items():
            with LocalServer(data_dir, flags, kill_with_parent=True) as server:
                if seed:
                    with PromptprintClient(server.target, timeout=600) as client:
                        client.ingest(seed)
                    seed = []
                result = _phase(server, texts, config)
                result["peak_rss_mib"] = round(_rss_mib(server.pid, "peak_rss_bytes"), 1)
                report[name] = result
    return report
