"""Index benchmark at scale on synthetic vectors: build time, RAM per vector, recall, latency.

Why synthetic: embedding 10M prompts at ~30-200 prompts/s on this machine would take
days; the index does not care where unit vectors come from, only how they cluster.
So vectors are drawn around fixed random cluster centres (deterministic: chunk ``c`` is
always generated from seed ``(seed, c)``, whatever the total size), rounded through
float16 exactly as the record store keeps them.

Why the numbers can be trusted:

* Ground truth is exact inner-product search over the same float16-rounded vectors,
  computed chunk by chunk while the data is generated (a running top-k merge), so it
  never needs the whole matrix in RAM.
* Memory is the anonymous resident set (``RssAnon``) of a **fresh process that loads
  the saved index** and the per-row metadata arrays, minus that process's baseline:
  what a server serving the snapshot pays. The float16 re-ranking vectors are
  memory-mapped (file-backed); their resident pages are reported apart (``RssFile``).
* Latency is one query per call, client-side wall time around ``search``, at the
  index defaults, over 1,000 queries not in the index, after every page of the vector
  file has been mapped once (a long-running server's state; cold mappings add a page
  fault per re-ranked row).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

log = logging.getLogger(__name__)

DIMENSION = 384
CHUNK = 100_000


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """The vector distribution: ``clusters`` random centres, Gaussian spread ``sigma``
    per coordinate. 0.03 puts a point at cosine ~0.86 from its centre and ~0.74 from
    other points of its cluster: the range where MiniLM places paraphrases and
    re-filled templates (0.7-0.97), i.e. the neighbours a lookup is for. (0.045, with
    in-cluster neighbours at ~0.55, is markedly harder for IVF: recall@10 0.835 at
    nprobe 64 / 1024 lists on 1M, 0.912 at nprobe 128.)"""

    clusters: int = 20_000
    sigma: float = 0.03
    seed: int = 7
    dimension: int = DIMENSION


def _unit(rows: np.ndarray) -> np.ndarray:
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _centres(spec: SyntheticSpec) -> np.ndarray:
    rng = np.random.default_rng([spec.seed, 0xC0FFEE])
    return _unit(rng.standard_normal((spec.clusters, spec.dimension), dtype=np.float32))


def _chunk(spec: SyntheticSpec, centres: np.ndarray, stream: int, chunk: int, count: int) -> np.ndarray:
    """Rows of one chunk as float16 (what the record store keeps)."""
    rng = np.random.default_rng([spec.seed, stream, chunk])
    labels = rng.integers(0, spec.clusters, count)
    rows = rng.standard_normal((count, spec.dimension), dtype=np.float32)
    rows *= spec.sigma
    rows += centres[labels]
    return _unit(rows).astype(np.float16)


def synthetic_chunks(spec: SyntheticSpec, total: int, *, stream: int = 1, first_chunk: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, float16-rounded float32 vectors) for ``total`` rows from chunk
    ``first_chunk`` on, ``CHUNK`` at a time (chunk c is the same whoever generates it).

    ``stream`` 1 is the base set; another value gives other points of the same clusters
    (queries)."""
    centres = _centres(spec)
    for chunk, start in enumerate(range(0, total, CHUNK), start=first_chunk):
        yield start, _chunk(spec, centres, stream, chunk, min(CHUNK, total - start)).astype(np.float32)


def _merge_topk(best_sims: np.ndarray, best_ids: np.ndarray, queries: np.ndarray, rows: np.ndarray, first_id: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of the queries over one more chunk of rows (ids ``first_id``...),
    merged into the running top-k (rows sorted by descending similarity).

    One float32 GEMM (queries x chunk), then only the entries above each query's
    current k-th best are merged: after the first chunk that is a few per query, so
    the selection costs one comparison pass instead of a per-query heap (``faiss.knn``)
    or an argpartition over the whole block (each measured several times the GEMM)."""
    sims = queries @ rows.T
    nq = len(queries)
    if not np.isfinite(best_sims[:, -1]).all():  # the running top-k is not full yet
        top = np.argpartition(sims, -k, axis=1)[:, -k:]
        q = np.repeat(np.arange(nq), k)
        col = top.ravel()
    else:
        q, col = np.nonzero(sims > best_sims[:, -1:])
        if len(q) == 0:
            return best_sims, best_ids
    all_q = np.concatenate([np.repeat(np.arange(nq), k), q])
    all_sims = np.concatenate([best_sims.ravel(), sims[q, col]])
    all_ids = np.concatenate([best_ids.ravel(), col.astype(np.int64) + first_id])
    order = np.lexsort((-all_sims, all_q))  # by query, then by descending similarity
    all_q = all_q[order]
    rank = np.arange(len(all_q)) - np.searchsorted(all_q, all_q)  # position within its query
    keep = order[rank < k]  # every query has >= k entries (its running top-k)
    return all_sims[keep].reshape(nq, k), all_ids[keep].reshape(nq, k)


def rss_kib() -> dict[str, int]:
    """RssAnon / RssFile of this process in KiB (Linux /proc)."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("RssAnon:", "RssFile:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def _generate(spec: SyntheticSpec, n: int, chunks: list[int], vector_path: str, queries: np.ndarray, k: int, step: int) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Worker: generate the given chunks into the (pre-sized) vector file; return their
    exact top-k for the queries and their training-sample rows, by chunk."""
    from promptprint.index.ivf_index import VECTOR_DTYPE

    # The file is the VectorFile layout (row id i at row i), pre-sized by the parent;
    # a direct memmap lets a chunk of consecutive ids be one slice assignment.
    target = np.memmap(vector_path, dtype=VECTOR_DTYPE, mode="r+").reshape(-1, spec.dimension)
    gt_sims = np.full((len(queries), k), -np.inf, np.float32)
    gt_ids = np.full((len(queries), k), -1, np.int64)
    samples: dict[int, np.ndarray] = {}
    centres = _centres(spec)
    for chunk in chunks:
        start = chunk * CHUNK
        half = _chunk(spec, centres, 1, chunk, min(n, start + CHUNK) - start)
        target[start + 1 : start + 1 + len(half)] = half  # row id = position: a plain slice
        rows = half.astype(np.float32)
        samples[chunk] = rows[(-start) % step :: step].copy()
        gt_sims, gt_ids = _merge_topk(gt_sims, gt_ids, queries, rows, start + 1, k)
        if chunk % 10 == 9:
            log.info("generated chunk %d of %d", chunk + 1, (n + CHUNK - 1) // CHUNK)
    target.flush()
    del target
    return gt_sims, gt_ids, samples


def build(n: int, workdir: Path, spec: SyntheticSpec, queries: int, k: int, pq_m: int, nlist: int, workers: int) -> dict[str, object]:
    """Generate ``n`` vectors (ids 1..n) with ``workers`` processes, train the IVF-PQ on a
    sample, encode everything in this process, save it with the per-row
    metadata; returns timings. Ground truth and queries are saved beside it."""
    import concurrent.futures
    import multiprocessing

    import faiss

    from promptprint.index.ivf_index import VECTOR_DTYPE, IvfParams, IvfPqIndex, VectorFile, train_ivfpq
    from promptprint.storage.snapshot import save_rows

    workdir.mkdir(parents=True, exist_ok=True)
    params = IvfParams(pq_m=pq_m, nlist=nlist)
    nlist_used = params.lists_for(n)
    train_size = min(n, nlist_used * params.train_per_list)
    step = max(1, n // train_size)
    query_vectors = next(synthetic_chunks(spec, queries, stream=2))[1]
    vector_path = workdir / "index.faiss.f16"
    if vector_path.exists():
        vector_path.unlink()
    vectors = VectorFile(vector_path, spec.dimension)
    vectors.reserve(n + 1)
    chunks = list(range((n + CHUNK - 1) // CHUNK))
    started = time.monotonic()
    gt_sims = np.full((queries, k), -np.inf, np.float32)
    gt_ids = np.full((queries, k), -1, np.int64)
    samples: dict[int, np.ndarray] = {}
    spawn = multiprocessing.get_context("spawn")  # fork after OpenMP has started can hang the child
    if workers == 1:
        parts = [_generate(spec, n, chunks, str(vector_path), query_vectors, k, step)]
    else:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            futures = [pool.submit(_generate, spec, n, chunks[w::workers], str(vector_path), query_vectors, k, step) for w in range(workers)]
            parts = [future.result() for future in futures]
    for sims, ids, chunk_samples in parts:
        both_sims = np.concatenate([gt_sims, sims], axis=1)
        both_ids = np.concatenate([gt_ids, ids], axis=1)
        order = np.argsort(-both_sims, axis=1, kind="stable")[:, :k]
        gt_sims, gt_ids = np.take_along_axis(both_sims, order, 1), np.take_along_axis(both_ids, order, 1)
        samples |= chunk_samples
    generate_s = time.monotonic() - started
    log.info("n=%d: generated + ground truth in %.0fs (%d processes)", n, generate_s, workers)

    started = time.monotonic()
    sample = np.concatenate([samples[c] for c in sorted(samples)])[:train_size]
    del samples
    trained = train_ivfpq(sample, params, n)
    del sample
    train_s = time.monotonic() - started
    log.info("n=%d: trained IVF%d,PQ%dx4fs on %d vectors in %.0fs", n, trained.nlist, pq_m, train_size, train_s)

    started = time.monotonic()
    index = IvfPqIndex(trained, vectors, params)
    stored = np.memmap(vector_path, dtype=VECTOR_DTYPE, mode="r").reshape(-1, spec.dimension)
    for start in range(1, n + 1, CHUNK):
        stop = min(n, start + CHUNK - 1) + 1
        index.add_preassigned(np.arange(start, stop, dtype=np.int64), stored[start:stop].astype(np.float32))
        if (start // CHUNK) % 10 == 9:
            log.info("encoded %d of %d", stop - 1, n)
    del stored
    add_s = time.monotonic() - started
    log.info("n=%d: encoded in %.0fs", n, add_s)
    index.save(workdir / "index.faiss")
    rng = np.random.default_rng(3)
    save_rows(
        workdir / "rows.npz",
        np.arange(1, n + 1, dtype=np.int64),
        rng.integers(1, 50_000, n, dtype=np.int32),
        rng.integers(0, 500, n, dtype=np.int32),
        1_760_000_000_000 + np.arange(n, dtype=np.int64) * 300,
    )
    np.save(workdir / "queries.npy", query_vectors)
    np.save(workdir / "truth.npy", gt_ids)
    return {
        "n": n,
        "index": index.description,
        "nlist": int(trained.nlist),
        "pq_m": pq_m,
        "train_size": train_size,
        "processes": workers,
        "generate_and_truth_s": round(generate_s, 1),
        "train_s": round(train_s, 1),
        "encode_s": round(add_s, 1),
        "build_s": round(train_s + add_s, 1),
        "faiss_threads_per_process": faiss.omp_get_max_threads(),
    }


def serve_measure(workdir: Path, k: int) -> dict[str, object]:
    """In a fresh process: load the index and the row metadata as a server would, then
    measure memory, recall@k against the ground truth and single-query latency."""
    from promptprint.index.ivf_index import IvfParams, IvfPqIndex
    from promptprint.storage.row_metadata import RowMetadata
    from promptprint.storage.snapshot import load_rows

    queries = np.load(workdir / "queries.npy")
    truth = np.load(workdir / "truth.npy")
    base = rss_kib()
    started = time.monotonic()
    index = IvfPqIndex.load(workdir / "index.faiss", DIMENSION, IvfParams())
    rows = RowMetadata()
    rows.add(*load_rows(workdir / "rows.npz"))
    load_s = time.monotonic() - started
    loaded = rss_kib()
    n = len(index)
    report: dict[str, object] = {
        "load_s": round(load_s, 1),
        "index_bytes_per_vector_estimate": round(index.memory_bytes() / n, 1),
        "metadata_bytes_per_vector": round(rows.nbytes() / n, 1),
        "rss_anon_bytes_per_vector": round((loaded["RssAnon"] - base["RssAnon"]) * 1024 / n, 1),
    }
    import faiss

    def one_by_one(**tuning: int) -> tuple[float, list[float]]:
        latencies, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            (result,) = index.search(q, k, **tuning)
            latencies.append(time.perf_counter() - t0)
            found.append(result.ids)
        recall = float(np.mean([len(set(f.tolist()) & set(t.tolist())) / k for f, t in zip(found, truth)]))
        return recall, latencies

    # Map every page of the vector file into this process once, as a long-running server
    # whose page cache holds the file has: otherwise the first queries pay a page fault
    # per re-ranked row (measured at 10M: p50 6.75 ms cold vs ~3 ms mapped).
    started = time.monotonic()
    for first in range(0, n + 1, CHUNK):
        index.vector_file.read(np.arange(first, min(n + 1, first + CHUNK), dtype=np.int64))
    report["map_vector_file_s"] = round(time.monotonic() - started, 1)
    for q in queries[:50]:
        index.search(q, k)
    # One FAISS thread per query: a server runs lookups in parallel on its worker pool,
    # and on a loaded 2-core machine OpenMP's barrier inside one query costs more than
    # it gains (measured: p50 20 ms with 2 threads vs a few ms with 1 under load).
    faiss.omp_set_num_threads(1)
    recall, latencies = one_by_one()
    after = rss_kib()
    report |= {
        "recall_at_10": round(recall, 4),
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2),
        "rss_file_mib_after_queries": round(after["RssFile"] / 1024, 1),
        "defaults": dataclasses.asdict(index.params),
    }
    sweep = {}
    defaults = (index.params.nprobe, index.params.k_factor)
    for nprobe, k_factor in ((16, 16), (64, 16), (64, 32), (16, 48), (32, 48), (64, 48), (128, 48), (256, 48), (64, 64)):
        if (nprobe, k_factor) == defaults:
            continue
        r, lat = one_by_one(nprobe=nprobe, k_factor=k_factor)
        sweep[f"nprobe={nprobe},k_factor={k_factor}"] = {
            "recall_at_10": round(r, 4),
            "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 2),
            "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 2),
        }
    report["sweep"] = sweep
    return report


def run(sizes: list[int], workdir: Path, *, queries: int = 1000, k: int = 10, pq_m: int = 64, nlist: int = 0, workers: int = 1, keep: bool = False) -> list[dict[str, object]]:
    """Build and measure each size; the measurement runs in a child process."""
    spec = SyntheticSpec()
    reports = []
    for n in sizes:
        folder = workdir / f"n{n}"
        report = build(n, folder, spec, queries, k, pq_m, nlist, workers)
        child = subprocess.run(
            [sys.executable, "-m", "evaluation.scale", "--measure", str(folder), "--k", str(k)],
            check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
        )
        report |= json.loads(child.stdout.strip().splitlines()[-1])
        report["disk_bytes_per_vector"] = round(sum(p.stat().st_size for p in folder.iterdir()) / n, 1)
        log.info("n=%d: %s", n, json.dumps(report))
        reports.append(report)
        if not keep:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
    return reports


if __name__ == "__main__":  # the measuring child of run()
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", required=True)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(serve_measure(Path(args.measure), args.k)))
