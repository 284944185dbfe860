"""The in-memory index of a data directory, and its lifecycle: load, snapshot, hot swap.

The FAISS index is a cache of the record store. :class:`LiveIndex` loads the snapshot
CURRENT names and replays every stored row newer than its watermark; writes a new
snapshot every ``snapshot_every`` indexed rows (and on close); and swaps in a snapshot a
reindex switched CURRENT to while lookups continue (:meth:`LiveIndex.reload`). Rows wait
in a :class:`~promptprint.vectors.backlog.VectorBacklog` until their vector is in and
every older row is indexed, so the index always holds exactly the rows up to a
watermark and a restart replays nothing twice.

Every change happens under :attr:`LiveIndex.write_lock` (the one writer lock of the
prompt index); lookups take :attr:`LiveIndex.current` once and use that build
throughout, so a hot swap never mixes two builds.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import numpy as np

from promptprint.index.build import AnyVectorIndex, IndexChoice, build_snapshot, load_index, new_live_index, remove
from promptprint.storage.row_metadata import RowMetadata
from promptprint.storage.snapshot import SnapshotDirectory, load_rows, save_rows
from promptprint.storage.store import IndexRows, RecordStore
from promptprint.storage.identity import StoreIdentity
from promptprint.vectors.backlog import VectorBacklog

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Live:
    """The vector index and the row metadata that describe the same rows, swapped as one
    (a reader takes both from one reference, so a hot swap never mixes two builds)."""

    vectors: AnyVectorIndex
    rows: RowMetadata
    backlog: VectorBacklog  # recorded rows not yet in ``vectors`` (see promptprint.vectors.backlog)


class LiveIndex:
    """The live build of one data directory and the snapshot lineage it belongs to.

    Args:
        store: the data directory's record store.
        snapshots: its snapshot directory.
        identity: what the vectors are made with (checked against each snapshot).
        choice: index kind and parameters.
        snapshot_every: indexed rows between automatic snapshots (0: only on close).
    """

    def __init__(
        self, store: RecordStore, snapshots: SnapshotDirectory, identity: StoreIdentity, choice: IndexChoice, snapshot_every: int
    ) -> None:
        self._store = store
        self._snapshots = snapshots
        self._identity = identity
        self._choice = choice
        self._snapshot_every = snapshot_every
        self._live = Live(new_live_index(identity.dimension, choice), RowMetadata(), VectorBacklog(identity.dimension))
        self.write_lock = threading.Lock()
        self.changed = threading.Condition(threading.Lock())  # notified whenever the backlog shrinks
        self.closing = threading.Event()
        self._since_snapshot = 0
        self._snapshot_watermark = 0
        self._snapshot_time: float | None = None
        self._opened_at = time.time()
        self._snapshot_name: str | None = None
        self._deleted_during_reload: list[np.ndarray] | None = None  # set while a reload runs

    @property
    def current(self) -> Live:
        """The build in use; take it once per lookup."""
        return self._live

    def __len__(self) -> int:
        """Recorded prompts, those still waiting for their vector included."""
        return len(self._live.rows) + len(self._live.backlog)

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> int:
        """Load the snapshot and replay newer records (before any other thread runs).
        Returns how many rows were replayed."""
        live, _, replayed = self._load_live()
        self._live = live
        self._since_snapshot = replayed
        return replayed

    def _load_live(self) -> tuple[Live, int, int]:
        """The live snapshot plus every stored row newer than it, with rows deleted
        since the snapshot taken out. Without a snapshot, a store big enough for IVF-PQ
        is built into a new snapshot first (see promptprint.index.build). Returns
        (live, snapshot watermark, rows replayed)."""
        snapshot = self._snapshots.current(self._identity)
        if snapshot is None and self._choice.kind_for(self._store.count()) == "ivfpq":
            build_snapshot(self._store, self._snapshots, self._identity, self._choice)
            snapshot = self._snapshots.current(self._identity)
        dimension = self._identity.dimension
        backlog = VectorBacklog(dimension)
        if snapshot is None:
            vectors, rows, watermark = new_live_index(dimension, self._choice), RowMetadata(), 0
            # a damaged snapshot (if any) is ours to replace with the next snapshot
            self._snapshot_name = self._snapshots.current_name()
        else:
            vectors = load_index(snapshot.index_path, dimension, self._choice)
            rows = RowMetadata()
            rows.add(*load_rows(snapshot.rows_path))
            watermark = snapshot.manifest.watermark
            self._snapshot_watermark = watermark
            self._snapshot_time = snapshot.manifest.created_at_unix
            self._snapshot_name = snapshot.index_path.parent.name
        live = Live(vectors, rows, backlog)
        replayed = self._replay(live, watermark)
        if len(rows) > self._store.count():  # rows were deleted since the snapshot
            gone = np.setdiff1d(rows.export()[0], self._store.all_ids(), assume_unique=True)
            remove(vectors, gone)
            rows.remove(gone)
        return live, watermark, replayed

    @staticmethod
    def _index_from_backlog(live: Live) -> int:
        """Move the backlog's oldest ready rows into the live index; how many moved."""
        ready = live.backlog.pop_ready()
        if ready is None:
            return 0
        live.vectors.add(ready.ids, ready.vectors)
        live.rows.add(ready.ids, ready.accounts, ready.orgs, ready.created_at_ms)
        return len(ready)

    def _replay(self, live: Live, after: int) -> int:
        """Stored rows newer than ``after`` onto ``live``, through its backlog: rows whose
        vector is still pending (and every row after the first of them) wait there for
        the vectorizer. Returns how many rows were read."""
        replayed = 0
        for batch in self._store.iter_rows(after_row_id=max(after, live.backlog.last_id)):
            live.backlog.append(batch)
            self._index_from_backlog(live)
            replayed += len(batch.ids)
        return replayed

    # -- hot swap ----------------------------------------------------------------------------
    def snapshot_changed(self) -> bool:
        """Whether CURRENT names a snapshot other than the one in use (a file read)."""
        return self._snapshots.current_name() not in (None, self._snapshot_name)

    @property
    def snapshot_name(self) -> str:
        """Folder name of the snapshot in use ("" before the first one)."""
        return self._snapshot_name or ""

    def reload(self) -> bool:
        """Hot swap: load the snapshot CURRENT names (written by a reindex), replay the
        rows recorded since it was built, and swap it in while lookups continue.

        Loading and most of the replay happen outside the writer lock; only the catch-up
        of rows ingested meanwhile and the swap itself hold it. The previous index is
        released when its last in-flight lookup ends. Returns False when CURRENT still
        names the snapshot in use."""
        if not self.snapshot_changed():
            return False
        started = time.monotonic()
        before = (self._snapshot_name, self._snapshot_watermark, self._snapshot_time)
        with self.write_lock:
            self._deleted_during_reload = []
        try:
            live, _, replayed = self._load_live()
            with self.write_lock:
                replayed += self._replay(live, live.rows.max_id)
                for gone in self._deleted_during_reload:
                    remove(live.vectors, gone)
                    live.rows.remove(gone)
                self._live = live
                self._store.recount()  # the rebuild's writer may have recorded rows this process did not
                self._since_snapshot = replayed
        except BaseException:
            self._snapshot_name, self._snapshot_watermark, self._snapshot_time = before  # retried on the next poll
            raise
        finally:
            self._deleted_during_reload = None
        log.info("hot swap to snapshot %s: %s, %d prompts (%d replayed) in %.1fs",
                 self._snapshot_name, live.vectors.description, len(live.rows), replayed, time.monotonic() - started)
        return True

    # -- snapshots ---------------------------------------------------------------------------
    def snapshot(self) -> None:
        """Write the index and row metadata as a new snapshot (atomic, see snapshot.py)."""
        with self.write_lock:
            self._snapshot_locked()

    def snapshot_if_changed(self) -> None:
        """The final snapshot of a close: written only when anything changed."""
        if self._since_snapshot:
            self.snapshot()

    def _snapshot_locked(self) -> None:
        if self._snapshots.current_name() != self._snapshot_name:
            # A reindex switched CURRENT to its rebuild: never overwrite it with the old
            # lineage; reload() picks it up and everything since is replayed onto it.
            log.info("snapshot skipped: %s was switched in by another writer", self._snapshots.current_name())
            return
        live = self._live
        watermark = live.rows.max_id
        staging = self._snapshots.begin(watermark)
        live.vectors.save(SnapshotDirectory.index_path(staging))
        save_rows(SnapshotDirectory.rows_path(staging), *live.rows.export())
        manifest = self._snapshots.commit(
            staging,
            identity=self._identity,
            count=len(live.rows),
            watermark=watermark,
            index_description=live.vectors.description,
            replaces=self._snapshot_name,
        )
        if manifest is None:
            return
        self._since_snapshot = 0
        self._snapshot_watermark = manifest.watermark
        self._snapshot_time = manifest.created_at_unix
        self._snapshot_name = self._snapshots.current_name()

    @property
    def snapshot_watermark(self) -> int:
        return self._snapshot_watermark

    @property
    def snapshot_time_unix(self) -> float | None:
        return self._snapshot_time

    @property
    def unsnapshotted(self) -> int:
        """Records written since the last snapshot (what a restart would replay): rows
        indexed since it plus rows still waiting for their vector."""
        return self._since_snapshot + len(self._live.backlog)

    @property
    def recovery_point_unix(self) -> float:
        """When the newest snapshot was written, or when the index was opened if it has
        none yet: records newer than this are only in the record store."""
        return self._snapshot_time if self._snapshot_time is not None else self._opened_at

    # -- changes (the caller holds write_lock) -------------------------------------------------
    def append(self, rows: IndexRows) -> None:
        """Newly stored rows: into the backlog, and on into the index as far as ready."""
        self._live.backlog.append(rows)
        self.index_ready_rows()

    def index_ready_rows(self) -> None:
        """Move the oldest rows whose vectors are ready into FAISS, snapshotting every
        ``snapshot_every`` rows (snapshots follow the index, not the store), and wake
        whoever waits for the backlog to shrink."""
        moved = self._index_from_backlog(self._live)
        if moved:
            self._since_snapshot += moved
            every = self._snapshot_every
            if every and self._since_snapshot >= every:
                self._snapshot_locked()
        with self.changed:
            self.changed.notify_all()

    def forget(self, ids: np.ndarray) -> None:
        """Take deleted rows out of the live index. FAISS drops them from flat and IVF-PQ
        indexes; an HNSW graph keeps the nodes until the next rebuild, and lookups skip
        them through the row metadata."""
        if not len(ids):
            return
        live = self._live
        remove(live.vectors, ids)
        live.rows.remove(ids)
        live.backlog.discard(ids)
        self.index_ready_rows()
        if self._deleted_during_reload is not None:
            self._deleted_during_reload.append(ids)
        self._since_snapshot += len(ids)

    # -- waiting ------------------------------------------------------------------------------
    def wait_indexed(self, timeout_s: float | None = None) -> bool:
        """Block until every recorded prompt is in the vector index, or the index closes.
        Returns False on timeout."""
        with self.changed:
            return self.changed.wait_for(lambda: not len(self._live.backlog) or self.closing.is_set(), timeout_s)

    def close(self) -> None:
        """Wake every waiter and tell the vectorizer to stop."""
        self.closing.set()
        with self.changed:
            self.changed.notify_all()
