"""FAISS behind one small interface: add, search, save, load.

Vectors are unit norm, so inner product is cosine similarity. Ids are the record
store's int64 row ids (kept by an ``IndexIDMap``), so a hit maps straight back to its
record. FAISS pads missing results with id ``-1``; :meth:`VectorIndex.search` strips
that padding here and nowhere else.

Vectors are held as float16 (FAISS scalar quantizer ``QT_fp16``), half of float32's
1,536 bytes per 384-d vector. That loses nothing: the record store keeps float16 vectors
and :func:`promptprint.storage.store.to_stored_precision` rounds every vector through float16 before
it reaches the index, so float32 storage would only hold the same values in twice the
memory. Distances are computed in float32 after decoding.

The index kind follows the size (``kind="auto"``): exact ``Flat`` search while the index
is small (exact, instant to build, ~3 ms per query at 20k), then HNSW (approximate,
~0.3 ms per query at 1M) once it reaches ``hnsw_threshold`` vectors. The switch is done
once, by the add that crosses the threshold: the new HNSW graph is built while searches
keep using the flat index (only that add waits, ~2 s at 20k), then swapped in.

Thread safety: any number of concurrent searches; adds are exclusive with searches
(FAISS indexes are not safe to read while they grow).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from promptprint.index.rwlock import ReadWriteLock

IndexKind = Literal["auto", "flat", "hnsw"]
VectorStorage = Literal["fp16", "fp32"]

# FAISS switches exact search to BLAS at 20 queries by default only past 128,000 of them
# (faiss.cvar.distance_compute_blas_threshold). Measured here: 64 queries over 1M vectors
# take 3.5 s with the default and 0.31 s at 20. This is a FAISS process global.
_BLAS_THRESHOLD = 20


@dataclasses.dataclass(frozen=True)
class HnswParams:
    """HNSW graph parameters. M=32 / efConstruction=40 / efSearch=64 measured here:
    recall@10 0.956 at 1M clustered vectors, 0.30 ms per query, ~1.8 KB per vector."""

    m: int = 32
    ef_construction: int = 40
    ef_search: int = 64

    def __post_init__(self) -> None:
        if self.m < 4 or self.m > 256:
            raise ValueError(f"HNSW m must be in 4..256 (32 is typical), got {self.m}")
        if self.ef_construction < self.m:
            raise ValueError(f"ef_construction ({self.ef_construction}) should be at least m ({self.m})")
        if self.ef_search < 1:
            raise ValueError(f"ef_search must be >= 1, got {self.ef_search}")


@dataclasses.dataclass(frozen=True, slots=True)
class SearchResult:
    """Neighbours of one query, most similar first, padding removed."""

    ids: np.ndarray  # int64
    similarities: np.ndarray  # float32


def _make_flat(dimension: int, storage: VectorStorage) -> faiss.Index:
    if storage == "fp16":
        return faiss.IndexIDMap(faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT))
    return faiss.IndexIDMap(faiss.IndexFlatIP(dimension))


def _make_hnsw(dimension: int, params: HnswParams, storage: VectorStorage) -> faiss.Index:
    hnsw: faiss.IndexHNSW
    if storage == "fp16":
        # faiss 1.15's stubs type the second argument as a ScalarQuantizer; SWIG takes its QuantizerType
        hnsw = faiss.IndexHNSWSQ(dimension, faiss.ScalarQuantizer.QT_fp16, params.m, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
    else:
        hnsw = faiss.IndexHNSWFlat(dimension, params.m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = params.ef_construction
    hnsw.hnsw.efSearch = params.ef_search
    return faiss.IndexIDMap(hnsw)


def checked_rows(ids: np.ndarray, vectors: np.ndarray, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and vectors as FAISS wants them (contiguous int64 / float32), shapes checked."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dimension:
        raise ValueError(f"vectors must have shape (n, {dimension}), got {vectors.shape}")
    if ids.shape != (vectors.shape[0],):
        raise ValueError(f"ids must have shape ({vectors.shape[0]},), got {ids.shape}")
    return ids, vectors


def checked_queries(queries: np.ndarray, k: int, dimension: int) -> np.ndarray:
    """Query rows as FAISS wants them (one contiguous float32 row per query), with k and
    the shape checked; a single vector becomes one row."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.shape[1] != dimension:
        raise ValueError(f"queries must have {dimension} columns, got {queries.shape[1]}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return queries


def write_index_atomically(index: faiss.Index, path: Path) -> None:
    """Write a FAISS index to ``path`` so that a crash leaves the old file or the new one,
    never half of one: temp file, fsync, rename."""
    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(index, str(tmp))
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _id_map(index: faiss.Index) -> faiss.IndexIDMap:
    """The IDMap that wraps every index here, as its own class (FAISS hands back the base)."""
    wrapper = faiss.downcast_index(index)
    if not isinstance(wrapper, faiss.IndexIDMap):
        raise TypeError(f"expected an IDMap-wrapped index, got {type(wrapper).__name__}")
    return wrapper


def _inner(index: faiss.Index) -> faiss.Index:
    return faiss.downcast_index(_id_map(index).index)


def _storage_of(index: faiss.Index) -> VectorStorage:
    """How an (IDMap-wrapped) index holds its vectors."""
    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW):
        inner = faiss.downcast_index(inner.storage)
    return "fp16" if isinstance(inner, faiss.IndexScalarQuantizer) else "fp32"


class VectorIndex:
    """A FAISS inner-product index with int64 ids, exact while small, HNSW when large.

    Args:
        dimension: vector length.
        kind: ``"flat"`` (always exact), ``"hnsw"`` (always HNSW) or ``"auto"``.
        hnsw_threshold: with ``"auto"``, the size at which the index becomes HNSW.
        hnsw: graph parameters.
        storage: ``"fp16"`` (default, see the module docstring) or ``"fp32"``.
    """

    def __init__(
        self,
        dimension: int,
        *,
        kind: IndexKind = "auto",
        hnsw_threshold: int = 20_000,
        hnsw: HnswParams = HnswParams(),
        storage: VectorStorage = "fp16",
    ) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension}")
        if kind not in ("auto", "flat", "hnsw"):
            raise ValueError(f"kind must be 'auto', 'flat' or 'hnsw', got {kind!r}")
        if hnsw_threshold < 1:
            raise ValueError(f"hnsw_threshold must be >= 1, got {hnsw_threshold}")
        if storage not in ("fp16", "fp32"):
            raise ValueError(f"storage must be 'fp16' or 'fp32', got {storage!r}")
        faiss.cvar.distance_compute_blas_threshold = _BLAS_THRESHOLD
        self._dimension = dimension
        self._kind = kind
        self._threshold = hnsw_threshold
        self._hnsw = hnsw
        self._storage = storage
        self._lock = ReadWriteLock()
        self._write_mutex = threading.Lock()
        self._index = _make_hnsw(dimension, hnsw, storage) if kind == "hnsw" else _make_flat(dimension, storage)

    # -- facts ---------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        return self._dimension

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def is_hnsw(self) -> bool:
        return isinstance(_inner(self._index), faiss.IndexHNSW)

    @property
    def storage(self) -> VectorStorage:
        return self._storage

    @property
    def description(self) -> str:
        """Short FAISS-factory-style description, e.g. ``IDMap,HNSW32_SQfp16`` or ``IDMap,Flat``."""
        if self.is_hnsw:
            return f"IDMap,HNSW{self._hnsw.m}" + ("_SQfp16" if self._storage == "fp16" else "")
        return "IDMap,SQfp16" if self._storage == "fp16" else "IDMap,Flat"

    def memory_bytes(self) -> int:
        """Approximate bytes the index holds: vectors, graph links and the id map."""
        n = len(self)
        total = n * self._dimension * (2 if self._storage == "fp16" else 4) + n * 8
        inner = _inner(self._index)
        if isinstance(inner, faiss.IndexHNSW):
            graph = inner.hnsw
            # faiss 1.15's stubs omit HNSW.neighbors and HNSW.offsets (both in its SWIG module)
            total += graph.neighbors.size() * 4 + graph.offsets.size() * 8 + graph.levels.size() * 4  # type: ignore[attr-defined]
        return total

    # -- writes --------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given int64 ids (ids must be new; FAISS does not check)."""
        ids, vectors = checked_rows(ids, vectors, self._dimension)
        if len(ids) == 0:
            return
        with self._write_mutex:
            if self._kind == "auto" and not self.is_hnsw and len(self) + len(ids) >= self._threshold:
                self._switch_to_hnsw()
            with self._lock.write():
                self._index.add_with_ids(vectors, ids)

    def _switch_to_hnsw(self) -> None:
        """Build an HNSW copy of the flat index while searches go on, then swap it in."""
        with self._lock.read():
            flat = self._index
            n = int(flat.ntotal)
            ids = faiss.vector_to_array(_id_map(flat).id_map).astype(np.int64)
            vectors = _inner(flat).reconstruct_n(0, n) if n else np.zeros((0, self._dimension), np.float32)
        replacement = _make_hnsw(self._dimension, self._hnsw, self._storage)
        if n:
            replacement.add_with_ids(vectors, ids)
        with self._lock.write():
            self._index = replacement

    def remove(self, ids: np.ndarray) -> bool:
        """Remove ids from a flat index; returns False for HNSW, whose graph cannot drop
        nodes (the caller filters those ids out until the next rebuild)."""
        if self.is_hnsw:
            return False
        with self._write_mutex, self._lock.write():
            self._index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64)))
        return True

    # -- reads ---------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, *, ef_search: int | None = None) -> list[SearchResult]:
        """Top-k neighbours of each query row by inner product, padding removed."""
        queries = checked_queries(queries, k, self._dimension)
        with self._lock.read():
            n = len(self)
            if n == 0:
                empty = SearchResult(np.zeros(0, np.int64), np.zeros(0, np.float32))
                return [empty for _ in range(len(queries))]
            k = min(k, n)
            params: faiss.SearchParameters | None = None
            if self.is_hnsw:
                hnsw_params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # in SWIG, not in faiss 1.15's stubs
                hnsw_params.efSearch = max(ef_search or self._hnsw.ef_search, k)
                params = hnsw_params
            sims, ids = self._index.search(queries, k, params=params)
        results = []
        for row_sims, row_ids in zip(sims, ids):
            keep = row_ids >= 0
            results.append(SearchResult(row_ids[keep].astype(np.int64), row_sims[keep].astype(np.float32)))
        return results

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (see :func:`write_index_atomically`)."""
        with self._lock.read():
            write_index_atomically(self._index, Path(path))

    @classmethod
    def load(
        cls,
        path: Path,
        dimension: int,
        *,
        kind: IndexKind = "auto",
        hnsw_threshold: int = 20_000,
        hnsw: HnswParams = HnswParams(),
        storage: VectorStorage = "fp16",
    ) -> "VectorIndex":
        """Read an index written by :meth:`save`; refuse one of another dimension.

        An index saved with the other storage (e.g. a float32 index written before
        float16 became the default) is rebuilt from its own vectors in the configured
        storage, so a configuration change takes effect on the next start."""
        loaded = faiss.read_index(str(path))
        if loaded.d != dimension:
            raise ValueError(f"index file {path} holds {loaded.d}-d vectors, expected {dimension}")
        index = cls(dimension, kind=kind, hnsw_threshold=hnsw_threshold, hnsw=hnsw, storage=storage)
        if _storage_of(loaded) != storage:
            n = int(loaded.ntotal)
            ids = faiss.vector_to_array(_id_map(loaded).id_map).astype(np.int64)
            vectors = _inner(loaded).reconstruct_n(0, n) if n else np.zeros((0, dimension), np.float32)
            del loaded
            index.add(ids, vectors)
            return index
        index._index = loaded
        inner = _inner(loaded)
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = hnsw.ef_search
        return index
