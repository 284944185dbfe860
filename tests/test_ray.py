"""The Ray engine (--ray-address) on a local Ray instance started here: the reindex job
(embedding on Ray actors, IVF-PQ shards encoded there and filled into one index) and the
campaign reconstruction (embedding and k-NN graph on Ray) give what the in-process path
gives, on real prompts through the real model. Plus the fast-scan fill that replaces
FAISS's unsafe merge, checked against FAISS's own add path at list sizes past 1024."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import faiss
import numpy as np
import pytest

from promptprint.index import build as index_build
from promptprint.templates.banks import Banks
from promptprint.vectors.embedder import ModelLoader, PooledEmbedder, SentenceTransformerEmbedder
from promptprint.executors import InProcess, RayExecutor
from promptprint.index.ivf_index import IvfParams, encode_for_lists, fill_lists, train_ivfpq
from promptprint.index.config import IndexConfig
from promptprint.reconstruct.corpus import corpus_from_files
from promptprint.reconstruct.knn_graph import KnnParams, knn_edges
from promptprint.reconstruct.outputs import write_reconstruction
from promptprint.reconstruct.pipeline import reconstruct
from promptprint.records import PromptRecord, format_timestamp
from promptprint.jobs.reindex import open_job
from promptprint.storage.snapshot import SnapshotDirectory
from promptprint.cli import main as cli_main

from conftest import with_config
from test_reconstruct_e2e import _traffic
from test_reindex import _line, _top_ids

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_engine() -> Iterator[RayExecutor]:
    """One small local Ray instance for the module (its start-up is the slow part)."""
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
    try:
        yield RayExecutor("local", workers=2)  # joins the instance above; does not own it
    finally:
        ray.shutdown()


def _unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_filled_lists_equal_faiss_add_past_block_boundaries() -> None:
    """Lists of ~3,000 codes (past several block boundaries, where FAISS's fast-scan
    append corrupts the heap) filled from shard codes: byte for byte the index
    add_with_ids builds."""
    x = _unit(12_000, 1)
    trained = train_ivfpq(x[:4000], IvfParams(nlist=4, pq_m=16), len(x))
    added = faiss.deserialize_index(faiss.serialize_index(trained))
    filled = faiss.deserialize_index(faiss.serialize_index(trained))
    ids = np.arange(len(x), dtype=np.int64) * 3 + 7
    for s in range(0, len(x), 4096):
        added.add_with_ids(x[s : s + 4096], ids[s : s + 4096])
    shards = [encode_for_lists(trained, x[s : s + 3000]) for s in range(0, len(x), 3000)]
    fill_lists(filled, ids, np.concatenate([s[0] for s in shards]), np.concatenate([s[1] for s in shards]))
    assert min(added.invlists.list_size(i) for i in range(4)) > 2048
    assert np.array_equal(faiss.serialize_index(added), faiss.serialize_index(filled))
    with pytest.raises(ValueError, match="empty index only"):
        fill_lists(filled, ids[:1], np.zeros(1, np.int32), np.zeros((1, 8), np.uint8))


@pytest.fixture(scope="module")
def prompt_files(tmp_path_factory: pytest.TempPathFactory, corpus: list[PromptRecord]) -> list[str]:
    folder = tmp_path_factory.mktemp("ray-input")
    (folder / "a.jsonl").write_text("\n".join(_line(r) for r in corpus[:100]) + "\n")
    (folder / "b.jsonl").write_text("\n".join(_line(r) for r in corpus[100:160]) + "\n")
    return [str(folder / "a.jsonl"), str(folder / "b.jsonl")]


def _index_bytes(config: IndexConfig) -> bytes:
    snapshots = SnapshotDirectory(config.snapshot_root)
    return SnapshotDirectory.index_path(snapshots.root / snapshots.current_name()).read_bytes()  # type: ignore[operator]


class _Killed(Exception):
    pass


def test_reindex_on_ray_matches_in_process(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, ray_engine: RayExecutor, prompt_files: list[str],
    corpus: list[PromptRecord], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Embedding on Ray actors and IVF shards encoded there: interrupted, resumed, and the
    same counts and answers as in-process; a rebuild with Ray shards is the same file."""
    monkeypatch.setattr(index_build, "SHARD_ROWS", 48)  # 160 rows: four shards, finished out of order
    ivf = dict(index_kind="ivfpq", ivf=IvfParams(pq_m=16, nprobe=8))
    local = with_config(IndexConfig(data_dir=tmp_path / "local"), **ivf)
    with open_job(local, sources=prompt_files, embedder=embedder, batch_size=64) as job:
        reference = job.run(prompt_files)

    def die_after_one_batch(done: int, total: int) -> None:
        if done >= 64:
            raise _Killed()

    remote = with_config(IndexConfig(data_dir=tmp_path / "ray"), **ivf)
    pooled = PooledEmbedder(ray_engine, ModelLoader())  # what open_job makes from executor= alone
    try:
        assert pooled.model_id == embedder.model_id
        with pytest.raises(_Killed):
            with open_job(remote, sources=prompt_files, embedder=pooled, executor=ray_engine, batch_size=64,
                          on_progress=die_after_one_batch) as job:
                job.run(prompt_files)
        with open_job(remote, sources=prompt_files, embedder=pooled, executor=ray_engine, batch_size=64) as job:
            summary = job.run(prompt_files)
    finally:
        pooled.close()
    assert (summary.resumed_at_line, summary.lines, summary.recorded, summary.bad, summary.indexed) == (64, 160, 160, 0, 160)
    assert (summary.lines, summary.recorded, summary.duplicates, summary.bad, summary.indexed, summary.index_description) == (
        reference.lines, reference.recorded, reference.duplicates, reference.bad, reference.indexed, reference.index_description)
    queries = [corpus[3].text, "Write a poem about the sea.", corpus[120].text]
    assert _top_ids(remote, embedder, queries) == _top_ids(local, embedder, queries)

    # The same store rebuilt with IVF shards on Ray: the very index built in-process.
    in_process = _index_bytes(local)
    with open_job(local, sources=[], executor=ray_engine) as job:
        rebuilt = job.run([])
    assert rebuilt.index_description == reference.index_description
    assert _index_bytes(local) == in_process


def test_campaigns_on_ray_match_in_process(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, ray_engine: RayExecutor, alpaca_texts: list[str]
) -> None:
    source = tmp_path / "traffic.jsonl"
    source.write_text("\n".join(_line(r) for r in _traffic(alpaca_texts)) + "\n")
    corpus, _ = corpus_from_files([source], embedder)
    banks = Banks(Path(":memory:"))  # what the CLI uses for files: the built-in allow bank
    try:
        write_reconstruction(reconstruct(corpus, bank_match=banks.match), tmp_path / "local")
    finally:
        banks.close()

    ray_engine.close()  # its idle actors hold both CPUs: the CLI's own executor needs them (reopened on use)
    assert cli_main(["campaigns", str(source), "--out", str(tmp_path / "ray"), "--ray-address", "local"]) == 0
    assert ray.is_initialized()  # the CLI joined the test's instance and left it running

    def campaigns(folder: str) -> list[tuple[str, int, int]]:
        rows = [json.loads(line) for line in (tmp_path / folder / "campaigns.jsonl").read_text().splitlines()]
        return [(c["campaign_id"], c["prompts"], c["accounts"]) for c in rows]

    local = campaigns("local")
    assert local and campaigns("ray") == local

    # The k-NN step directly: the same edges. Run here with one FAISS thread like a
    # one-CPU actor: other thread counts round inner products differently (~1e-7), which
    # can swap near-tied k-th neighbours. The BLAS still rounds apart: compare to 1e-5.
    params = KnnParams(k=10, batch_size=32)
    on_ray = knn_edges(corpus.vectors, params, ray_engine)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        here = knn_edges(corpus.vectors, params, InProcess())
    finally:
        faiss.omp_set_num_threads(threads)
    assert len(here) > 100
    assert np.array_equal(on_ray.src, here.src) and np.array_equal(on_ray.dst, here.dst)
    np.testing.assert_allclose(on_ray.weight, here.weight, atol=1e-5)


def test_no_address_never_imports_ray(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, promptprint.cli as c, promptprint.jobs.reindex, promptprint.reconstruct.pipeline, promptprint.executors as e;"
        "e.executor_for(None); print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
