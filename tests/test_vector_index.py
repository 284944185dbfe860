"""VectorIndex against an exact NumPy oracle: flat must be exact, HNSW close to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from promptprint.index.vector_index import HnswParams, VectorIndex


def _unit(rows: np.ndarray) -> np.ndarray:
    """Unit rows rounded through float16, as every vector reaching the index is
    (promptprint.storage.store.to_stored_precision)."""
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)


def _clustered(n: int, d: int = 64, clusters: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, d))
    return _unit(centers[rng.integers(0, clusters, n)] + 0.12 * rng.normal(size=(n, d)))


def _oracle(base: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> list[np.ndarray]:
    sims = queries @ base.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return [ids[row] for row in order]


@pytest.mark.parametrize("storage", ["fp16", "fp32"])
def test_flat_matches_oracle_exactly(storage: str) -> None:
    data = _clustered(3050)
    base, queries = data[:3000], data[3000:]
    ids = np.arange(1, 3001, dtype=np.int64) * 7  # sparse ids: the id map must hold
    index = VectorIndex(64, kind="flat", storage=storage)  # type: ignore[arg-type]
    index.add(ids, base)
    expected = _oracle(base, ids, queries, 10)
    for got, want, q in zip(index.search(queries, 10), expected, queries):
        assert got.ids.tolist() == want.tolist()
        np.testing.assert_allclose(got.similarities, base[(want // 7) - 1] @ q, rtol=1e-5, atol=1e-5)


def test_fp16_storage_halves_vector_memory() -> None:
    base = _clustered(2000)
    ids = np.arange(2000, dtype=np.int64)
    small, large = VectorIndex(64, kind="hnsw", storage="fp16"), VectorIndex(64, kind="hnsw", storage="fp32")
    small.add(ids, base)
    large.add(ids, base)
    assert small.description == "IDMap,HNSW32_SQfp16" and large.description == "IDMap,HNSW32"
    assert large.memory_bytes() - small.memory_bytes() == 2000 * 64 * 2


def test_hnsw_recall_against_oracle() -> None:
    data = _clustered(5200)
    base, queries = data[:5000], data[5000:]  # queries from the same clusters, not indexed
    ids = np.arange(5000, dtype=np.int64) + 1
    index = VectorIndex(64, kind="hnsw", hnsw=HnswParams(m=16, ef_construction=40, ef_search=64))
    index.add(ids, base)
    expected = _oracle(base, ids, queries, 10)
    found = index.search(queries, 10)
    recall = np.mean([len(set(g.ids.tolist()) & set(w.tolist())) / 10 for g, w in zip(found, expected)])
    assert recall >= 0.9, recall
    assert index.description == "IDMap,HNSW16_SQfp16"


def test_empty_single_and_padding() -> None:
    index = VectorIndex(8, kind="flat")
    assert index.search(np.ones(8, np.float32), 5)[0].ids.size == 0
    vector = _unit(np.ones((1, 8)))
    index.add(np.array([42], np.int64), vector)
    (result,) = index.search(vector[0], 5)  # k above size: no -1 padding leaks out
    assert result.ids.tolist() == [42]
    assert result.similarities[0] == pytest.approx(float(vector[0] @ vector[0]), abs=1e-6)


def test_duplicate_vectors_keep_both_ids() -> None:
    index = VectorIndex(8, kind="flat")
    vector = _unit(np.arange(1, 9, dtype=np.float32)[None, :])
    index.add(np.array([1, 2], np.int64), np.vstack([vector, vector]))
    (result,) = index.search(vector[0], 2)
    assert sorted(result.ids.tolist()) == [1, 2]


def test_auto_switches_to_hnsw_and_keeps_every_vector() -> None:
    base = _clustered(1200, d=32)
    ids = np.arange(1, 1201, dtype=np.int64)
    index = VectorIndex(32, kind="auto", hnsw_threshold=1000, hnsw=HnswParams(m=16, ef_construction=64, ef_search=128))
    index.add(ids[:900], base[:900])
    assert not index.is_hnsw
    index.add(ids[900:], base[900:])
    assert index.is_hnsw and len(index) == 1200
    # every vector is its own nearest neighbour after the switch
    found = index.search(base[::10], 1)
    assert [r.ids[0] for r in found] == ids[::10].tolist()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    base = _clustered(500, d=16)
    index = VectorIndex(16, kind="hnsw", hnsw=HnswParams(m=8, ef_construction=32, ef_search=32))
    index.add(np.arange(500, dtype=np.int64) + 1, base)
    path = tmp_path / "index.faiss"
    index.save(path)
    loaded = VectorIndex.load(path, 16)
    q = base[:20]
    assert [r.ids.tolist() for r in loaded.search(q, 5)] == [r.ids.tolist() for r in index.search(q, 5)]
    with pytest.raises(ValueError, match="16-d"):
        VectorIndex.load(path, 32)


def test_load_converts_an_index_saved_with_the_other_storage(tmp_path: Path) -> None:
    base = _clustered(300, d=16)
    ids = np.arange(300, dtype=np.int64) * 3 + 5
    old = VectorIndex(16, kind="flat", storage="fp32")
    old.add(ids, base)
    path = tmp_path / "index.faiss"
    old.save(path)
    loaded = VectorIndex.load(path, 16, kind="flat", storage="fp16")
    assert loaded.description == "IDMap,SQfp16" and len(loaded) == 300
    q = base[:25]
    for got, want in zip(loaded.search(q, 5), old.search(q, 5)):
        assert got.ids.tolist() == want.ids.tolist()
        np.testing.assert_allclose(got.similarities, want.similarities, atol=1e-6)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        VectorIndex(0)
    with pytest.raises(ValueError):
        VectorIndex(8, kind="ivf")  # type: ignore[arg-type]
    index = VectorIndex(8)
    with pytest.raises(ValueError):
        index.add(np.array([1], np.int64), np.ones((1, 9), np.float32))
    with pytest.raises(ValueError):
        index.search(np.ones(8, np.float32), 0)
