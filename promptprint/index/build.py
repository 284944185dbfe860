"""Choosing, building and loading the vector index by size.

Three kinds, by how many vectors there are:

* ``flat`` / ``hnsw`` (:class:`promptprint.index.vector_index.VectorIndex`): exact while small, an
  HNSW graph past ``hnsw_threshold`` (~1.8 KB per vector: fine to a few million).
* ``ivfpq`` (:class:`promptprint.index.ivf_index.IvfPqIndex`): past ``ivf_threshold``, compressed
  codes (~40 B per vector) re-ranked against memory-mapped float16 vectors.

``auto`` picks among them by size whenever an index is built from the record store (a
reindex, or a start without a usable snapshot). A live index that grows past
``ivf_threshold`` stays what it is until the next reindex (training a quantizer is a
batch job, not something to do inside an ingest call).

A bulk build reads the stored float16 vectors twice at most: once to write the vector
file and draw the training sample, then it encodes from the (memory-mapped) file. The
sample is every ``step``-th row, so the same store always trains the same quantizer.

With an executor (``--ray-address``) the IVF-PQ encoding is sharded: the quantizer and
codebooks are trained once here, shipped once to every worker, each shard of
:data:`SHARD_ROWS` vectors comes back as (row ids, list numbers, codes), and the lists
are filled in one pass (:func:`promptprint.index.ivf_index.fill_lists`, which avoids FAISS's
unsafe fast-scan merge). Same store, same index, byte for byte, either way.

:func:`build_snapshot` is the bulk build as a whole: the store's index into a new
snapshot, switched in. The reindex job runs it, and so does the prompt index when it
opens a store big enough for IVF-PQ without a snapshot.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, TypeAlias

import numpy as np

from promptprint.executors import BatchExecutor, ShippedIndex
from promptprint.index.ivf_index import (
    IvfParams, IvfPqIndex, VectorFile, encode_for_lists, is_ivfpq_file, sidecar_path, train_ivfpq,
)
from promptprint.storage.row_metadata import RowMetadata
from promptprint.storage.snapshot import ANY, Manifest, SnapshotDirectory, save_rows
from promptprint.storage.store import RecordStore
from promptprint.storage.identity import StoreIdentity
from promptprint.index.vector_index import HnswParams, IndexKind, SearchResult, VectorIndex, VectorStorage


BuildKind = Literal["auto", "flat", "hnsw", "ivfpq"]
KINDS: tuple[str, ...] = ("auto", "flat", "hnsw", "ivfpq")
MIN_IVF_ROWS = 64  # k-means needs 39 points per list and 4-bit PQ codebooks 16 centroids: below this, exact search


# The vector index the prompt index holds, whichever kind it is. Both share len, dimension,
# description, memory_bytes, add and save; search and remove differ (see the functions below).
AnyVectorIndex: TypeAlias = VectorIndex | IvfPqIndex


@dataclasses.dataclass(frozen=True)
class SearchTuning:
    """Per-request search effort; ``None`` means the index default. Each index kind uses
    the knobs that apply to it (HNSW: ef_search; IVF-PQ: nprobe and k_factor) and
    clamps them to its configured maxima."""

    ef_search: int | None = None
    nprobe: int | None = None
    k_factor: int | None = None


@dataclasses.dataclass(frozen=True)
class IndexChoice:
    """Index settings: the kind and the parameters of each kind."""

    kind: BuildKind = "auto"
    hnsw_threshold: int = 20_000
    ivf_threshold: int = 2_000_000
    hnsw: HnswParams = HnswParams()
    ivf: IvfParams = IvfParams()
    max_ef_search: int = 1024
    storage: VectorStorage = "fp16"  # flat and HNSW (see promptprint.index.vector_index)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"index kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.ivf_threshold < 1:
            raise ValueError(f"ivf_threshold must be >= 1, got {self.ivf_threshold}")

    def kind_for(self, n: int) -> Literal["flat", "hnsw", "ivfpq"]:
        """The concrete kind for ``n`` vectors. IVF-PQ needs a training sample, so below
        :data:`MIN_IVF_ROWS` vectors even ``kind="ivfpq"`` builds an exact index."""
        if self.kind == "ivfpq" or (self.kind == "auto" and n >= self.ivf_threshold):
            return "ivfpq" if n >= MIN_IVF_ROWS else "flat"
        if self.kind != "auto":
            return self.kind
        return "hnsw" if n >= self.hnsw_threshold else "flat"


def search(index: AnyVectorIndex, queries: np.ndarray, k: int, tuning: SearchTuning | None, choice: IndexChoice) -> list[SearchResult]:
    """Search any kind of index with the tuning that applies to it."""
    if isinstance(index, IvfPqIndex):
        if tuning is None:
            return index.search(queries, k)
        return index.search(queries, k, nprobe=tuning.nprobe, k_factor=tuning.k_factor)
    ef = None if tuning is None or tuning.ef_search is None else min(tuning.ef_search, choice.max_ef_search)
    return index.search(queries, k, ef_search=ef)


def remove(index: AnyVectorIndex, ids: np.ndarray) -> bool:
    """Remove ids from an index that supports it (flat, IVF-PQ). HNSW graphs cannot drop
    nodes: the caller keeps filtering those ids out until the next rebuild. Returns
    whether they were removed from the index itself."""
    if len(ids) == 0:
        return True
    if isinstance(index, IvfPqIndex):
        index.remove(ids)
        return True
    return index.remove(ids)


def _live_kind(choice: IndexChoice) -> IndexKind:
    """The kind of a live index: flat or HNSW when forced, else flat growing into HNSW
    (IVF-PQ needs a build)."""
    if choice.kind == "flat" or choice.kind == "hnsw":
        return choice.kind
    return "auto"


def new_live_index(dimension: int, choice: IndexChoice) -> AnyVectorIndex:
    """An empty index for live ingest (flat growing into HNSW; IVF needs a build)."""
    return VectorIndex(
        dimension, kind=_live_kind(choice), hnsw_threshold=choice.hnsw_threshold, hnsw=choice.hnsw, storage=choice.storage
    )


def load_index(path: Path, dimension: int, choice: IndexChoice) -> AnyVectorIndex:
    """Load a saved index of any kind (an IVF-PQ one has its vector file beside it)."""
    if is_ivfpq_file(path):
        return IvfPqIndex.load(path, dimension, choice.ivf)
    return VectorIndex.load(
        path, dimension, kind=_live_kind(choice), hnsw_threshold=choice.hnsw_threshold, hnsw=choice.hnsw, storage=choice.storage
    )


Progress = Callable[[int], None]
SHARD_ROWS = 65_536  # vectors per encoding task: ~24 MB of float16 to ship, ~2 MB of codes back


def _encode_shard(state: tuple[Any, Any], shard: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    trained, _ = state
    ids, vectors = shard
    lists, codes = encode_for_lists(trained, vectors)
    return ids, lists, codes


def _regroup(chunks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Id chunks of any sizes as chunks of ``size`` (the last one shorter)."""
    pending: list[np.ndarray] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        while held >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            pending, held = [joined[size:]], held - size
    if held:
        yield np.concatenate(pending)


def encode_all(
    index: IvfPqIndex,
    vectors: VectorFile,
    id_chunks: list[np.ndarray],
    *,
    executor: BatchExecutor | None = None,
    progress: Progress | None = None,
) -> None:
    """Encode the rows ``id_chunks`` name (their vectors already in ``vectors``) into the
    empty, trained ``index``: chunk by chunk here (FAISS's own add), or with an executor
    in shards of :data:`SHARD_ROWS` on its workers against the one trained index, then
    filled into the lists in one pass. The two give the same index, byte for byte."""
    if executor is None:
        for ids in id_chunks:
            index.add_preassigned(ids, vectors.read(ids))
            if progress:
                progress(len(ids) - len(ids) // 2)
        return
    shards = ((ids, vectors.read(ids).astype(np.float16)) for ids in _regroup(id_chunks, SHARD_ROWS))
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    with executor.pool(ShippedIndex(index.trained)) as pool:
        for ids, lists, codes in pool.map(_encode_shard, shards):
            parts.append((ids, lists, codes))
            if progress:
                progress(len(ids) - len(ids) // 2)
    index.fill_encoded(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
    )


def build_from_store(
    store: RecordStore,
    dimension: int,
    choice: IndexChoice,
    index_path: Path,
    *,
    up_to: int | None = None,
    progress: Progress | None = None,
    executor: BatchExecutor | None = None,
) -> tuple[AnyVectorIndex, RowMetadata]:
    """Build a fresh index of the kind ``choice`` gives for the store's size, from the
    stored float16 vectors (no re-embedding). IVF-PQ writes its vector file beside
    ``index_path``. Returns the index (not yet saved) and the row metadata.

    ``executor``: IVF-PQ shards are encoded on its workers (see the module docstring);
    None encodes here, chunk by chunk. Flat and HNSW builds always run here."""
    n = store.count()
    kind = choice.kind_for(n)
    rows = RowMetadata(capacity=max(1024, (up_to if up_to is not None else store.max_row_id()) + 1))
    if kind != "ivfpq":
        index = VectorIndex(dimension, kind=kind, hnsw=choice.hnsw, storage=choice.storage)
        for batch in store.iter_rows(up_to=up_to):
            index.add(batch.ids, batch.vectors)
            rows.add(batch.ids, batch.accounts, batch.orgs, batch.created_at_ms)
            if progress:
                progress(len(batch.ids))
        return index, rows

    params = choice.ivf
    train_size = min(n, params.lists_for(n) * params.train_per_list)
    step = max(1, n // max(1, train_size))
    vectors = VectorFile(sidecar_path(index_path), dimension)
    vectors.reserve((up_to if up_to is not None else store.max_row_id()) + 1)
    sample: list[np.ndarray] = []
    id_chunks: list[np.ndarray] = []
    seen = 0
    for batch in store.iter_rows(up_to=up_to):
        vectors.write(batch.ids, batch.vectors)
        rows.add(batch.ids, batch.accounts, batch.orgs, batch.created_at_ms)
        positions = np.arange(seen, seen + len(batch.ids))
        sample.append(batch.vectors[positions % step == 0])
        id_chunks.append(batch.ids)
        seen += len(batch.ids)
        if progress:
            progress(len(batch.ids) // 2)
    vectors.flush()
    trained = train_ivfpq(np.concatenate(sample)[:train_size], params, n)
    del sample
    ivf = IvfPqIndex(trained, vectors, params)
    encode_all(ivf, vectors, id_chunks, executor=executor, progress=progress)
    return ivf, rows


def build_snapshot(
    store: RecordStore,
    snapshots: SnapshotDirectory,
    identity: StoreIdentity,
    choice: IndexChoice,
    *,
    progress: Progress | None = None,
    executor: BatchExecutor | None = None,
) -> tuple[Manifest, str]:
    """Build the index of the whole store (kind by size) into a new snapshot and switch
    CURRENT to it (IVF-PQ shards encoded on ``executor``'s workers when given). Returns
    the manifest and the snapshot's folder name."""
    # A build covers the stored vectors up to the first one still pending (the server
    # computes those behind the acknowledgement); the rest is replayed onto it on load.
    watermark = store.indexable_watermark()
    staging = snapshots.begin(watermark)
    index_path = SnapshotDirectory.index_path(staging)
    index, rows = build_from_store(
        store, identity.dimension, choice, index_path, up_to=watermark, progress=progress, executor=executor
    )
    index.save(index_path)
    save_rows(SnapshotDirectory.rows_path(staging), *rows.export())
    manifest = snapshots.commit(
        staging, identity=identity, count=len(rows), watermark=watermark, index_description=index.description, replaces=ANY
    )
    if manifest is None:  # cannot happen with replaces=ANY
        raise RuntimeError("snapshot switch refused")
    return manifest, snapshots.current_name() or ""
