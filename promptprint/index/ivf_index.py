"""A compressed FAISS index for tens of millions of prompts: IVF-PQ plus exact re-ranking.

Why this shape. HNSW over float32 costs ~1.8 KB per vector (MEASURED.md), so 100M
prompts would need ~180 GB. An inverted file of product-quantized codes costs
``pq_m / 2`` bytes of code (4-bit codes, FAISS "fast scan") plus 8 bytes of id per
vector, but PQ alone ranks poorly (recall@10 0.58 for PQ48 on 1M). So each search asks the IVF-PQ index for
``k * k_factor`` candidates and re-ranks them exactly against the float16 vectors,
which live in a memory-mapped file (:class:`VectorFile`) indexed by row id: the kernel
pages them in on demand and may drop them again, so they cost disk, not anonymous RAM.

The coarse quantizer (``nlist`` centroids) is trained by k-means on a sample. Codes are
4-bit PQ in FAISS's fast-scan layout (SIMD lookups in registers): measured here it
encodes ~4x faster than 8-bit PQ of the same size (PQ64x4 vs PQ32x8, 32 bytes) and
scans lists several times faster, which is what lets lists be long (nlist ~ sqrt(n)) and
the k-means short; re-ranking recovers the precision 4-bit codes lose.

Thread safety matches :class:`promptprint.index.vector_index.VectorIndex`: concurrent searches,
adds and removes exclusive with them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from pathlib import Path

import faiss
import numpy as np

from promptprint.index.rwlock import ReadWriteLock
from promptprint.index.vector_index import SearchResult, checked_queries, checked_rows, write_index_atomically

VECTOR_DTYPE = np.dtype("<f2")
SIDECAR_SUFFIX = ".f16"
_BLAS_THRESHOLD = 20  # see promptprint.index.vector_index


def auto_nlist(n: int) -> int:
    """Inverted lists for ``n`` vectors: ~sqrt(n), a power of two in 256..65536.

    Fewer lists make each probed list longer (slower scans); more lists need a larger
    training sample and a longer k-means, the costly part of a build on a few cores.
    1024 at 1M, 4096 at 10M, 8192 at 100M."""
    if n <= 0:
        return 256
    target = math.sqrt(n)
    return int(min(65536, max(256, 2 ** round(math.log2(target)))))


@dataclasses.dataclass(frozen=True)
class IvfParams:
    """IVF-PQ parameters.

    Attributes:
        nlist: inverted lists; 0 chooses by size (:func:`auto_nlist`).
        pq_m: PQ sub-quantizers of 4 bits each (code bytes = pq_m / 2); must be even
            and divide the dimension. 64 (32 bytes) keeps index + metadata under 64 B
            per prompt.
        nprobe: lists scanned per query by default.
        k_factor: candidates re-ranked per wanted neighbour by default. 48, not 16:
            4-bit fast-scan distances are coarse, and where a query has hundreds of
            near-equidistant neighbours (10M synthetic vectors, 500 per cluster) the
            true top-10 is not within the PQ's best 160 (recall@10 0.75) but is within
            its best 480 (0.996); see README "Scale".
        max_nprobe / max_k_factor: the most a request may ask for (a per-request
            override is clamped to these, so one caller cannot make a query scan
            the whole index).
        train_per_list: training sample size per list (FAISS warns below 39).
        hnsw_quantizer_m: graph degree of an HNSW over the centroids (0: exact search
            over them, which measured faster here up to 4096 lists).
    """

    nlist: int = 0
    pq_m: int = 64
    nprobe: int = 64
    k_factor: int = 48
    max_nprobe: int = 1024
    max_k_factor: int = 64
    train_per_list: int = 40
    hnsw_quantizer_m: int = 0

    def __post_init__(self) -> None:
        if self.nlist < 0:
            raise ValueError(f"nlist must be >= 0 (0 = by size), got {self.nlist}")
        if self.pq_m < 2 or self.pq_m % 2:
            raise ValueError(f"pq_m must be even and >= 2 (4-bit codes, two per byte), got {self.pq_m}")
        if not 1 <= self.nprobe <= self.max_nprobe:
            raise ValueError(f"nprobe must be in 1..max_nprobe ({self.max_nprobe}), got {self.nprobe}")
        if not 1 <= self.k_factor <= self.max_k_factor:
            raise ValueError(f"k_factor must be in 1..max_k_factor ({self.max_k_factor}), got {self.k_factor}")
        if self.train_per_list < 39:
            raise ValueError(f"train_per_list must be >= 39 (k-means needs it), got {self.train_per_list}")
        if self.hnsw_quantizer_m < 0:
            raise ValueError(f"hnsw_quantizer_m must be >= 0, got {self.hnsw_quantizer_m}")

    def lists_for(self, n: int) -> int:
        return self.nlist or auto_nlist(n)


class VectorFile:
    """float16 vectors in a file, row ``i`` at offset ``i * dimension * 2``, memory-mapped.

    Row ids are the record store's dense INTEGER PRIMARY KEYs, so the file is a plain
    array with no id map. It grows (by at least half its size, so appends are amortized)
    when an id beyond its end is written. Readers keep the mapping they started with.
    """

    def __init__(self, path: Path, dimension: int) -> None:
        self._path = Path(path)
        self._dimension = dimension
        self._row_bytes = dimension * VECTOR_DTYPE.itemsize
        self._grow_lock = threading.Lock()
        if not self._path.exists():
            self._path.touch()
        size = self._path.stat().st_size
        if size % self._row_bytes:
            raise ValueError(f"{self._path}: size {size} is not a multiple of {self._row_bytes}-byte rows")
        rows = size // self._row_bytes
        self._map: np.memmap | None = self._open(rows) if rows else None  # None: an empty file (mmap needs a byte)

    def _open(self, rows: int) -> np.memmap:
        return np.memmap(self._path, dtype=VECTOR_DTYPE, mode="r+", shape=(rows, self._dimension))

    @property
    def path(self) -> Path:
        return self._path

    @property
    def capacity(self) -> int:
        return 0 if self._map is None else len(self._map)

    def reserve(self, rows: int) -> None:
        """Grow the file to hold row ids below ``rows`` at once (a bulk build knows its
        size: one resize instead of one per growth step)."""
        with self._grow_lock:
            if rows > self.capacity:
                self._resize(rows)

    def _resize(self, rows: int) -> np.memmap:
        """Grow the file to ``rows`` (>= 1) rows; the new mapping."""
        if self._map is not None:
            self._map.flush()
        with open(self._path, "r+b") as fh:
            fh.truncate(rows * self._row_bytes)
        self._map = self._open(rows)
        return self._map

    def write(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store vectors under row ids (growing the file as needed)."""
        if len(ids) == 0:
            return
        top = int(ids.max())
        with self._grow_lock:
            target = self._map
            if target is None or top >= len(target):
                target = self._resize(max(top + 1, int(self.capacity * 1.5)))
        target[ids] = np.asarray(vectors, dtype=np.float32).astype(VECTOR_DTYPE)

    def read(self, ids: np.ndarray) -> np.ndarray:
        """float32 vectors of the given row ids (zeros past the end of the file)."""
        target = self._map
        out = np.zeros((len(ids), self._dimension), np.float32)
        if target is None or len(ids) == 0:
            return out
        inside = ids < len(target)
        out[inside] = target[ids[inside]]
        return out

    def flush(self) -> None:
        """Make written rows durable (msync + fsync)."""
        if self._map is not None:
            self._map.flush()
        fd = os.open(self._path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _make_quantizer(dimension: int, params: IvfParams) -> faiss.Index:
    if params.hnsw_quantizer_m:
        quantizer = faiss.IndexHNSWFlat(dimension, params.hnsw_quantizer_m, faiss.METRIC_INNER_PRODUCT)
        quantizer.hnsw.efConstruction = 40
        quantizer.hnsw.efSearch = 128
        return quantizer
    return faiss.IndexFlatIP(dimension)


def train_ivfpq(sample: np.ndarray, params: IvfParams, expected_size: int) -> faiss.IndexIVFPQFastScan:
    """An empty IVF-PQ (fast-scan) index whose coarse quantizer and PQ codebooks are
    trained on ``sample`` (unit vectors). Deterministic for a given sample (seeds fixed)."""
    faiss.cvar.distance_compute_blas_threshold = _BLAS_THRESHOLD
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    d = sample.shape[1]
    if d % params.pq_m:
        raise ValueError(f"pq_m ({params.pq_m}) must divide the dimension ({d})")
    nlist = min(params.lists_for(expected_size), max(1, len(sample) // 39))
    kmeans = faiss.Kmeans(d, nlist, niter=10, seed=1234, spherical=True, max_points_per_centroid=256)
    kmeans.train(sample)
    assert kmeans.centroids is not None  # train sets them
    quantizer = _make_quantizer(d, params)
    quantizer.add(kmeans.centroids)
    index = faiss.IndexIVFPQFastScan(quantizer, d, nlist, params.pq_m, 4, faiss.METRIC_INNER_PRODUCT)
    index.pq.cp.seed = 1234
    index.train(sample)  # quantizer is already trained: this trains only the PQ codebooks
    index.nprobe = params.nprobe
    return index


def encode_for_lists(trained: faiss.IndexIVFPQFastScan, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverted list and the 4-bit PQ code of each vector, as ``add_with_ids`` would
    compute them (``sa_encode``: nearest centroid, then the fine code), without adding
    anything. Shards of a build call this in parallel against one trained index.
    Returns (list numbers int32, codes uint8 of shape (n, code_size))."""
    encoded = trained.sa_encode(np.ascontiguousarray(vectors, dtype=np.float32))
    # the list number, little-endian, in front (coarse_code_size: in SWIG, not in faiss 1.15's stubs)
    coarse = trained.coarse_code_size()  # type: ignore[attr-defined]
    lists = np.zeros(len(encoded), np.int64)
    for byte in range(coarse):
        lists |= encoded[:, byte].astype(np.int64) << (8 * byte)
    return lists.astype(np.int32), np.ascontiguousarray(encoded[:, coarse:])


def fill_lists(ivf: faiss.IndexIVFPQFastScan, ids: np.ndarray, lists: np.ndarray, codes: np.ndarray) -> None:
    """Put encoded vectors into the *empty* inverted lists of ``ivf``, each list in one go.

    Why not FAISS's ``merge_from`` of shard indexes: in FAISS 1.15,
    ``BlockInvertedLists::add_entries`` (the fast-scan lists, which merge_from appends
    through) copies whole blocks when the list's current size is a multiple of the
    block size in *bytes* (1024 here) instead of in codes (32), so appending to a list
    holding 1024·j codes writes past its buffer: a 1,024 + 40 vector merge aborts with
    "malloc(): corrupted top size" (a 3M build crashed the same way). Here every list
    is packed into fast-scan blocks (the index's own CodePacker) and added while empty,
    where add_entries is a plain copy. Codes land in each list in the order given
    (stable by list), which is what add_with_ids does: same input order, same index.
    """
    invlists = ivf.invlists
    bil = None if invlists is None else faiss.downcast_InvertedLists(invlists)
    # BlockInvertedLists: in SWIG, not in faiss 1.15's stubs
    if bil is None or not isinstance(bil, faiss.BlockInvertedLists):  # type: ignore[attr-defined]
        raise TypeError(f"expected fast-scan block lists, got {type(bil).__name__}")
    if ivf.ntotal:
        raise ValueError("fill_lists fills an empty index only (see the docstring)")
    if not len(ids):
        return
    order = np.argsort(lists, kind="stable")
    ids = np.ascontiguousarray(ids[order], dtype=np.int64)
    lists = lists[order]
    codes = codes[order]
    packer = ivf.get_CodePacker()
    nvec, block_bytes, code_size = int(packer.nvec), int(packer.block_size), int(packer.code_size)
    if codes.shape[1] != code_size:
        raise ValueError(f"codes have {codes.shape[1]} bytes, the index {code_size}")
    bounds = np.searchsorted(lists, np.arange(ivf.nlist + 1))
    for list_no in np.flatnonzero(np.diff(bounds)).tolist():
        start, stop = int(bounds[list_no]), int(bounds[list_no + 1])
        n = stop - start
        blocks = -(-n // nvec)
        flat = np.zeros((blocks * nvec, code_size), np.uint8)  # the last block zero-padded, as FAISS pads it
        flat[:n] = codes[start:stop]
        packed = np.empty(blocks * block_bytes, np.uint8)
        for b in range(blocks):
            packer.pack_all(faiss.swig_ptr(flat[b * nvec :]), faiss.swig_ptr(packed[b * block_bytes :]))
        bil.add_entries(list_no, n, faiss.swig_ptr(ids[start:stop]), faiss.swig_ptr(packed))
    ivf.ntotal = int(ivf.ntotal) + len(ids)


class IvfPqIndex:
    """IVF-PQ candidates re-ranked exactly against memory-mapped float16 vectors.

    Same interface as :class:`promptprint.index.vector_index.VectorIndex` (add, remove, search,
    save, load, len, description, memory_bytes), plus per-search ``nprobe`` and
    ``k_factor``. Build one with :meth:`create` from a trained index (see
    :func:`train_ivfpq`), or :meth:`load` one written by :meth:`save`.
    """

    def __init__(self, ivf: faiss.IndexIVFPQFastScan, vectors: VectorFile, params: IvfParams) -> None:
        faiss.cvar.distance_compute_blas_threshold = _BLAS_THRESHOLD
        self._ivf = ivf
        self._vectors = vectors
        self._params = params
        self._lock = ReadWriteLock()

    @classmethod
    def create(cls, trained: faiss.IndexIVFPQFastScan, vector_path: Path, params: IvfParams) -> "IvfPqIndex":
        if Path(vector_path).exists():
            Path(vector_path).unlink()
        return cls(trained, VectorFile(vector_path, trained.d), params)

    # -- facts ---------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        return int(self._ivf.d)

    def __len__(self) -> int:
        return int(self._ivf.ntotal)

    @property
    def params(self) -> IvfParams:
        return self._params

    @property
    def vector_file(self) -> VectorFile:
        return self._vectors

    @property
    def description(self) -> str:
        return f"IVF{self._ivf.nlist},PQ{self._ivf.pq.M}x4fs+refine(f16 mmap)"

    def memory_bytes(self) -> int:
        """Anonymous memory of the index: codes, ids and centroids (the mmap'd float16
        re-ranking vectors are file-backed and not counted)."""
        n = len(self)
        centroids = self._ivf.nlist * self.dimension * 4
        return n * (self._ivf.code_size + 8) + centroids + self._ivf.pq.M * self._ivf.pq.ksub * self._ivf.pq.dsub * 4

    # -- writes --------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under new int64 ids (written to the vector file, then encoded)."""
        ids, vectors = checked_rows(ids, vectors, self.dimension)
        if len(ids) == 0:
            return
        if ids.min() < 0:
            raise ValueError("ids must be >= 0 (they index the vector file)")
        self._vectors.write(ids, vectors)
        with self._lock.write():
            self._ivf.add_with_ids(vectors, ids)

    def add_preassigned(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Encode vectors already in the vector file (bulk builds write the file first)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        with self._lock.write():
            self._ivf.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def fill_encoded(self, ids: np.ndarray, lists: np.ndarray, codes: np.ndarray) -> None:
        """Fill an empty index with vectors encoded elsewhere (a sharded build: see
        :func:`encode_for_lists` and :func:`fill_lists`); their vectors must already be
        in the vector file."""
        with self._lock.write():
            fill_lists(self._ivf, ids, lists, codes)

    @property
    def trained(self) -> faiss.IndexIVFPQFastScan:
        """The FAISS index itself (shards of a build encode against it)."""
        return self._ivf

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids from the inverted lists; returns how many were there."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return 0
        with self._lock.write():
            return int(self._ivf.remove_ids(faiss.IDSelectorBatch(ids)))

    # -- reads ---------------------------------------------------------------------------
    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        k_factor: int | None = None,
        ef_search: int | None = None,
    ) -> list[SearchResult]:
        """Top-k by exact inner product among the IVF-PQ's ``k * k_factor`` best.

        ``nprobe`` and ``k_factor`` default to the index parameters and are clamped to
        their maxima; ``ef_search`` is accepted for interface parity and ignored."""
        queries = checked_queries(queries, k, self.dimension)
        p = self._params
        probe = min(max(1, nprobe or p.nprobe), p.max_nprobe, int(self._ivf.nlist))
        factor = min(max(1, k_factor or p.k_factor), p.max_k_factor)
        with self._lock.read():
            n = len(self)
            if n == 0:
                empty = SearchResult(np.zeros(0, np.int64), np.zeros(0, np.float32))
                return [empty for _ in range(len(queries))]
            k = min(k, n)
            candidates = min(n, k * factor)
            search_params = faiss.SearchParametersIVF()
            search_params.nprobe = probe
            _, ids = self._ivf.search(queries, candidates, params=search_params)
        results = []
        for query, row_ids in zip(queries, ids):
            row_ids = np.sort(row_ids[row_ids >= 0])  # sorted ids read the file in order
            sims = self._vectors.read(row_ids) @ query
            top = np.argsort(-sims, kind="stable")[:k]
            results.append(SearchResult(row_ids[top].astype(np.int64), sims[top].astype(np.float32)))
        return results

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the IVF-PQ to ``path`` atomically and hard-link the vector file beside it
        (``path`` + ``.f16``): later snapshots share one growing file, no copy."""
        path = Path(path)
        with self._lock.read():
            write_index_atomically(self._ivf, path)
        self._vectors.flush()
        sidecar = sidecar_path(path)
        if sidecar.exists() and not sidecar.samefile(self._vectors.path):
            sidecar.unlink()
        if not sidecar.exists():
            os.link(self._vectors.path, sidecar)

    @classmethod
    def load(cls, path: Path, dimension: int, params: IvfParams) -> "IvfPqIndex":
        """Read an index written by :meth:`save` with its vector file; the file is
        memory-mapped, not read."""
        loaded = faiss.read_index(str(path))  # already downcast; wrapping it again would free it
        if not isinstance(loaded, faiss.IndexIVFPQFastScan):
            raise ValueError(f"{path} holds a {type(loaded).__name__}, not an IVF-PQ index")
        if loaded.d != dimension:
            raise ValueError(f"index file {path} holds {loaded.d}-d vectors, expected {dimension}")
        quantizer = faiss.downcast_index(loaded.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            quantizer.hnsw.efSearch = 128  # FAISS widens it to nprobe when that is larger
        loaded.nprobe = params.nprobe
        return cls(loaded, VectorFile(sidecar_path(path), dimension), params)


def sidecar_path(index_path: Path) -> Path:
    """Where the float16 vectors of the index saved at ``index_path`` live."""
    return Path(index_path).with_name(Path(index_path).name + SIDECAR_SUFFIX)


def is_ivfpq_file(path: Path) -> bool:
    """Whether a saved index is an IVF-PQ one (it has a vector file beside it)."""
    return sidecar_path(path).exists()

