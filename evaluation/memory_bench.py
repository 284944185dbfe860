"""Resident memory per indexed prompt, part by part, at sizes an embedder can't reach here.

Embedding 100k prompts takes most of an hour on two cores, and a server's resident set
also carries the model and allocator growth that do not scale with the index. This
measures what *does* scale: a real :class:`~promptprint.index.prompt_index.PromptIndex` (real
SQLite store, real FAISS index, real template tracker, real row metadata) is filled with
real prompt texts from ../shared/data (the bench stream) and with precomputed unit
vectors (random, clustered: their values change nothing about memory), then the process's
resident set is read after each size. The vectors go through ``PromptIndex.ingest(...,
vectors=...)``, the same call CheckPrompt uses when it already has a vector.

Reported per size: RSS growth per prompt since empty, the vector index's own bytes
(``index_memory_bytes``), and the template tracker's share (measured by filling a bare
tracker with the same prompts in the same process before the index, so its RSS growth is
known on its own).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from evaluation.harness.stream import LOOKBACK_SPREAD_MS, PromptStream, load_bench_pools
from promptprint.index.config import IndexConfig
from promptprint.index.prompt_index import PromptIndex
from promptprint.records import PromptRecord
from promptprint.text.skeleton import signature
from promptprint.templates.tracker import Event, TemplateTracker
from promptprint.process import limit_malloc_arenas, release_free_memory, resident_memory_bytes

log = logging.getLogger(__name__)

DIMENSION = 384


@dataclasses.dataclass(frozen=True)
class _FixedEmbedder:
    """Declares the model identity only: every vector is passed in, nothing is embedded
    (a call to :meth:`embed` would be a bug in this benchmark, so it raises)."""

    model_id: str = "memory-bench|precomputed-vectors"
    dimension: int = DIMENSION

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("the memory benchmark passes every vector in; nothing may be embedded")


def _vectors(n: int, rng: np.random.Generator, centers: np.ndarray) -> np.ndarray:
    rows = centers[rng.integers(0, len(centers), n)] + 0.3 * rng.normal(size=(n, DIMENSION)).astype(np.float32)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def run_memory_bench(sizes: Sequence[int], *, seed: int = 7, data_dir: Path | None = None, batch: int = 1000) -> dict[str, Any]:
    """Fill a tracker, then an index, with the same prompts; RSS at each size. malloc is
    set up as ``promptprint serve`` sets it up (two arenas), and every RSS reading is
    taken after the ``malloc_trim`` a server runs every minute (promptprint.server.maintenance),
    and also before it (``rss_untrimmed``)."""
    limit_malloc_arenas(2)
    sizes = sorted(sizes)
    pools = load_bench_pools(data_dir)
    stream = PromptStream(pools, seed)
    rng = np.random.default_rng(seed)
    total = sizes[-1]
    now = int(time.time() * 1000)
    records = []
    for i in range(total):
        _, text = stream.next()
        account = int(rng.integers(200)) if rng.random() < 0.3 else int(rng.integers(200, 20_000))
        created = now - int(rng.integers(LOOKBACK_SPREAD_MS))
        records.append(PromptRecord(f"m-{i:08d}", f"acct-{account:05d}", "", created, text))
    signatures = [signature(r.text) for r in records]
    report: dict[str, Any] = {"sizes": [], "seed": seed}

    gc.collect()
    release_free_memory()
    base = resident_memory_bytes()
    tracker = TemplateTracker()
    for r, sig in zip(records, signatures):
        tracker.record(sig, Event(r.created_at_ms, r.account_id, r.org_id, 1))
    gc.collect()
    release_free_memory()
    tracker_bytes = resident_memory_bytes() - base
    report["tracker_bytes_per_prompt"] = tracker_bytes / total
    report["tracker_templates"] = len(tracker)
    del tracker
    gc.collect()
    log.info("template tracker alone: %.0f B per prompt (%d templates)", tracker_bytes / total, report["tracker_templates"])

    centers = rng.normal(size=(2000, DIMENSION)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="promptprint-membench-") as tmp:
        # no links by wording: they embed the instructions they link by, and this bench embeds nothing
        config = IndexConfig(data_dir=Path(tmp), snapshot_every=0, semantic_links=False)
        index = PromptIndex.open(config, _FixedEmbedder())  # type: ignore[arg-type]
        try:
            gc.collect()
            release_free_memory()
            empty = resident_memory_bytes()
            done = 0
            for size in sizes:
                started = time.perf_counter()
                while done < size:
                    chunk = records[done : min(size, done + batch)]
                    index.ingest(chunk, _vectors(len(chunk), rng, centers), signatures[done : done + len(chunk)])
                    done += len(chunk)
                gc.collect()
                untrimmed = resident_memory_bytes()
                release_free_memory()
                rss = resident_memory_bytes()
                stats = index.stats()
                row = {
                    "size": size,
                    "rss_growth_bytes": rss - empty,
                    "bytes_per_prompt": (rss - empty) / size,
                    "untrimmed_bytes_per_prompt": (untrimmed - empty) / size,
                    "index_type": stats.index_type,
                    "index_memory_bytes": stats.index_memory_bytes,
                    "index_bytes_per_prompt": stats.index_memory_bytes / size,
                    "templates": stats.template_count,
                    "fill_seconds": time.perf_counter() - started,
                }
                report["sizes"].append(row)
                log.info("%s prompts: %.0f B/prompt resident (%s: %.0f B/prompt)", f"{size:,}", row["bytes_per_prompt"],
                         row["index_type"], row["index_bytes_per_prompt"])
        finally:
            index.close()
    return report


def render_memory_markdown(report: dict[str, Any], command: str) -> str:
    lines = [
        f"`{command}`",
        "",
        f"Template tracker alone, same prompts: {report['tracker_bytes_per_prompt']:,.0f} B per prompt "
        f"({report['tracker_templates']:,} templates; all prompts inside one 24 h window).",
        "",
        "| prompts | index | resident growth per prompt | before malloc_trim | of which vector index | templates |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["sizes"]:
        lines.append(
            f"| {row['size']:,} | {row['index_type']} | {row['bytes_per_prompt']:,.0f} B | {row['untrimmed_bytes_per_prompt']:,.0f} B "
            f"| {row['index_bytes_per_prompt']:,.0f} B "
            f"| {row['templates']:,} |"
        )
    return "\n".join(lines)
