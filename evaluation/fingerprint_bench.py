"""CPU per prompt of the fingerprint tier, step by step, without gRPC or an embedder.

The fingerprint tier's throughput target (issue 6: 10,000 acknowledged prompts/s) is set
by the Python work one process does per prompt. This measures that work on real
bench-stream prompts (../shared/data through :class:`evaluation.harness.stream.PromptStream`),
in one process, so that a change to one step can be judged on its own:

* each step of the signature (normalization, identifier masks, skeleton, the C scanner);
* the template tracker's ``record`` on those signatures;
* ``PromptIndex.ingest`` in the fingerprint tier (store, tracker, backlog), with an
  embedder that never returns, so no forward pass competes for the CPU.

Times are process CPU (``time.process_time``), the median of ``repeats`` passes for the
pure steps. Through the server the same work runs alongside gRPC and the embedder: see
scripts/bench.py for the end-to-end figure.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from evaluation.harness.stream import BenchPools, PromptStream, bench_record, load_bench_pools
from promptprint.text import _canonical
from promptprint.text.normalize import canonical_text, mask_identifiers, normalize
from promptprint.index.config import IndexConfig
from promptprint.index.prompt_index import PromptIndex
from promptprint.records import PromptRecord
from promptprint.text.skeleton import ANCHOR_TOKENS, HEAD_TOKENS, SHINGLE_WORDS, TAIL_TOKENS, signature, signatures, skeleton
from promptprint.templates.tracker import Event, TemplateTracker

DIMENSION = 384


@dataclasses.dataclass(frozen=True)
class _ParkedEmbedder:
    """An embedder whose calls block until the measurement is over: the index's vectorizer
    thread parks in it, so the backlog only grows and no forward pass competes for the
    CPU. Released, it hands back placeholder vectors for the temporary index being closed."""

    model_id: str = "fingerprint-bench|no-vectors"
    dimension: int = DIMENSION
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self._stop.wait()
        return np.zeros((len(texts), DIMENSION), dtype=np.float32)


def bench_records(pools: BenchPools, count: int, seed: int) -> list[PromptRecord]:
    """Bench-stream prompts as records, with the accounts, orgs and times scripts/bench.py
    gives them (:func:`evaluation.harness.stream.bench_record`)."""
    stream = PromptStream(pools, seed)
    rng = random.Random(f"fingerprint-bench-{seed}")
    now = int(time.time() * 1000)
    return [bench_record(rng, f"fp-{seed}-{i:08d}", stream.next()[1], now) for i in range(count)]


def _median_us(fn: Callable[[Any], object], items: Sequence[Any], repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        t0 = time.process_time()
        for item in items:
            fn(item)
        runs.append(time.process_time() - t0)
    return statistics.median(runs) / len(items) * 1e6


def run_fingerprint_bench(count: int, *, seed: int = 5, repeats: int = 3, data_dir: Path | None = None) -> dict[str, Any]:
    records = bench_records(load_bench_pools(data_dir), count, seed)
    texts = [r.text for r in records]
    normalized = [normalize(t) for t in texts]
    canonical = [mask_identifiers(t) for t in normalized]
    skeletons = [skeleton(t) for t in canonical]
    steps = {
        "normalize": _median_us(normalize, texts, repeats),
        "mask_identifiers": _median_us(mask_identifiers, normalized, repeats),
        "skeleton": _median_us(skeleton, canonical, repeats),
        "tokens_and_shingles_c": _median_us(
            lambda s: _canonical.signatures([s], b"\x03", SHINGLE_WORDS, HEAD_TOKENS, TAIL_TOKENS, ANCHOR_TOKENS), skeletons, repeats
        ),
        "signature_total": _median_us(signature, texts, repeats),
        "signatures_batch_of_128": _median_us(signatures, [texts[i : i + 128] for i in range(0, len(texts), 128)], repeats)
        * len(range(0, len(texts), 128)) / len(texts),
        "canonical_text": _median_us(canonical_text, texts, repeats),
    }
    signed = [signature(t) for t in texts]
    tracker = TemplateTracker()
    t0 = time.process_time()
    for row, (record, sig) in enumerate(zip(records, signed), 1):
        tracker.record(sig, Event(record.created_at_ms, record.account_id, record.org_id, row))
    steps["tracker_record"] = (time.process_time() - t0) / count * 1e6

    return {
        "prompts": count,
        "mean_chars": statistics.mean(len(t) for t in texts),
        "templates": len(tracker),
        "step_us_per_prompt": steps,
        "ingest": _ingest(records, in_flight=1),
        "ingest_two_in_flight": _ingest(records, in_flight=2),
    }


def _ingest(records: Sequence[PromptRecord], *, in_flight: int) -> dict[str, Any]:
    """``PromptIndex.ingest`` over the records in batches of 128, ``in_flight`` batches at
    once on as many threads (two: one batch's signatures, without the GIL, overlap the
    other's commit, as in the server's IngestPrompts)."""
    count = len(records)
    embedder = _ParkedEmbedder()
    with tempfile.TemporaryDirectory(prefix="promptprint-fpbench-") as tmp:
        index = PromptIndex.open(
            IndexConfig(data_dir=Path(tmp), snapshot_every=0, max_vector_backlog=count + 1), embedder  # type: ignore[arg-type]
        )
        try:
            batches = [records[start : start + 128] for start in range(0, count, 128)]  # the server's batch size
            t0, w0 = time.process_time(), time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(in_flight) as pool:
                for _ in pool.map(index.ingest, batches):
                    pass
            cpu, wall = time.process_time() - t0, time.perf_counter() - w0
            recorded, pending = len(index), index.pending_vectors
        finally:
            embedder._stop.set()
            index.close()
    return {
        "in_flight": in_flight,
        "prompts_per_second": count / wall,
        "cpu_us_per_prompt": cpu / count * 1e6,
        "recorded": recorded,
        "pending_vectors": pending,
    }


def render_fingerprint_markdown(report: dict[str, Any], command: str) -> str:
    steps = report["step_us_per_prompt"]
    lines = [
        f"`{command}`",
        "",
        f"{report['prompts']:,} bench-stream prompts (mean {report['mean_chars']:.0f} chars), {report['templates']:,} templates.",
        "",
        "| step | CPU µs per prompt |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.1f} |" for name, value in steps.items()]
    lines += [""]
    for key in ("ingest", "ingest_two_in_flight"):
        ingest = report[key]
        lines.append(
            f"`PromptIndex.ingest`, fingerprint tier, batches of 128, {ingest['in_flight']} in flight, no forward pass: "
            f"**{ingest['prompts_per_second']:,.0f} prompts/s**, {ingest['cpu_us_per_prompt']:.0f} µs of CPU per prompt."
        )
    return "\n".join(lines)
