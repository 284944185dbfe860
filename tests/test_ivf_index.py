"""IVF-PQ with re-ranking against an exact NumPy oracle; the vector file; the size rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from promptprint.index.build import IndexChoice
from promptprint.index.ivf_index import IvfParams, IvfPqIndex, VectorFile, auto_nlist, train_ivfpq


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)


def _clustered(n: int, d: int = 64, clusters: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, d))
    return _unit(centers[rng.integers(0, clusters, n)] + 0.15 * rng.normal(size=(n, d)))


def _recall(index: IvfPqIndex, base: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int = 10, **kw: int) -> float:
    truth = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :k]
    found = index.search(queries, k, **kw)
    return float(np.mean([len(set(f.ids.tolist()) & set(ids[t].tolist())) / k for f, t in zip(found, truth)]))


PARAMS = IvfParams(nlist=64, pq_m=16, nprobe=16, k_factor=16)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = _clustered(12_100)
    return vectors[:12_000], np.arange(1, 12_001, dtype=np.int64), vectors[12_000:]


def _built(tmp_path: Path, base: np.ndarray, ids: np.ndarray, params: IvfParams = PARAMS) -> IvfPqIndex:
    index = IvfPqIndex.create(train_ivfpq(base, params, len(base)), tmp_path / "index.faiss.f16", params)
    index.add(ids, base)
    return index


def test_reranked_recall_and_exact_similarities(tmp_path: Path, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    base, ids, queries = data
    index = _built(tmp_path, base, ids)
    assert _recall(index, base, ids, queries) >= 0.95
    (hit,) = index.search(queries[0], 5)
    # re-ranked similarities are exact inner products over the stored vectors, not PQ estimates
    np.testing.assert_allclose(hit.similarities, base[hit.ids - 1] @ queries[0], rtol=1e-5, atol=1e-6)
    assert list(hit.similarities) == sorted(hit.similarities, reverse=True)
    # more effort per request can only help; nprobe=1 with no re-ranking slack is worse
    assert _recall(index, base, ids, queries, nprobe=1, k_factor=1) < _recall(index, base, ids, queries, nprobe=64, k_factor=32)
    assert index.description == "IVF64,PQ16x4fs+refine(f16 mmap)"


def test_request_overrides_are_clamped(tmp_path: Path, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    base, ids, queries = data
    index = _built(tmp_path, base, ids, IvfParams(nlist=64, pq_m=16, nprobe=8, k_factor=4, max_nprobe=16, max_k_factor=8))
    # asking for more than the maxima gives exactly the maxima's answer
    capped = index.search(queries, 10, nprobe=10_000, k_factor=10_000)
    at_max = index.search(queries, 10, nprobe=16, k_factor=8)
    assert [r.ids.tolist() for r in capped] == [r.ids.tolist() for r in at_max]


def test_save_load_and_remove(tmp_path: Path, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    base, ids, queries = data
    (tmp_path / "a").mkdir()
    index = _built(tmp_path / "a", base, ids)
    index.save(tmp_path / "a" / "snap.faiss")
    loaded = IvfPqIndex.load(tmp_path / "a" / "snap.faiss", 64, PARAMS)
    assert len(loaded) == len(base)
    assert [r.ids.tolist() for r in loaded.search(queries, 10)] == [r.ids.tolist() for r in index.search(queries, 10)]

    (hit,) = loaded.search(queries[0], 1)
    assert loaded.remove(hit.ids) == 1
    assert hit.ids[0] not in loaded.search(queries[0], 10)[0].ids
    assert len(loaded) == len(base) - 1


def test_vector_file_grows_and_reads_back(tmp_path: Path) -> None:
    vf = VectorFile(tmp_path / "v.f16", 4)
    vf.write(np.array([3]), np.ones((1, 4), np.float32))
    vf.write(np.array([100]), np.full((1, 4), 0.5, np.float32))
    assert vf.capacity >= 101
    np.testing.assert_array_equal(vf.read(np.array([3, 100, 5000])), [[1] * 4, [0.5] * 4, [0] * 4])
    vf.flush()
    again = VectorFile(tmp_path / "v.f16", 4)
    np.testing.assert_array_equal(again.read(np.array([100])), [[0.5] * 4])


def test_kind_by_size() -> None:
    choice = IndexChoice(hnsw_threshold=20_000, ivf_threshold=2_000_000)
    assert [choice.kind_for(n) for n in (10, 20_000, 1_999_999, 2_000_000)] == ["flat", "hnsw", "hnsw", "ivfpq"]
    assert IndexChoice(kind="ivfpq").kind_for(1000) == "ivfpq"
    assert IndexChoice(kind="ivfpq").kind_for(10) == "flat"  # too few to train a quantizer
    assert (auto_nlist(1_000_000), auto_nlist(10_000_000), auto_nlist(100_000_000), auto_nlist(10)) == (1024, 4096, 8192, 256)
    with pytest.raises(ValueError, match="index kind"):
        IndexChoice(kind="ivf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nprobe"):
        IvfParams(nprobe=5000)
