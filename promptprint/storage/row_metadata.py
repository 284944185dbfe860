"""Per-row metadata in RAM, for filtering and counting neighbours without SQLite.

A lookup turns hundreds of neighbour ids into "distinct accounts, distinct orgs, first
and last seen in the window"; doing that through SQLite would cost milliseconds, while
arrays indexed by row id cost microseconds and 16 bytes per prompt. Row ids come from
SQLite's INTEGER PRIMARY KEY, so they are dense and the arrays stay compact.
"""

from __future__ import annotations

import threading

import numpy as np

_NO_TIME = np.iinfo(np.int64).min
NO_TIME = _NO_TIME  # created_at of a row that is absent or deleted


class RowMetadata:
    """account code, org code and created_at (ms) per row id; growable, append-mostly."""

    def __init__(self, capacity: int = 1024) -> None:
        self._accounts = np.zeros(capacity, dtype=np.int32)
        self._orgs = np.zeros(capacity, dtype=np.int32)
        self._created = np.full(capacity, _NO_TIME, dtype=np.int64)
        self._count = 0
        self._max_id = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    @property
    def max_id(self) -> int:
        return self._max_id

    def nbytes(self) -> int:
        return self._accounts.nbytes + self._orgs.nbytes + self._created.nbytes

    def add(self, ids: np.ndarray, accounts: np.ndarray, orgs: np.ndarray, created_at_ms: np.ndarray) -> None:
        """Record metadata for new row ids (ids must be positive and not present yet)."""
        if len(ids) == 0:
            return
        top = int(ids.max())
        with self._lock:
            if top >= len(self._accounts):
                size = max(top + 1, len(self._accounts) * 2)
                self._accounts = _grow(self._accounts, size, 0)
                self._orgs = _grow(self._orgs, size, 0)
                self._created = _grow(self._created, size, _NO_TIME)
            self._accounts[ids] = accounts
            self._orgs[ids] = orgs
            self._created[ids] = created_at_ms
            self._count += len(ids)
            self._max_id = max(self._max_id, top)

    def remove(self, ids: np.ndarray) -> None:
        """Forget rows (deleted prompts): they read back as absent (created_at = NO_TIME),
        which is how lookups drop them when the vector index cannot (HNSW)."""
        with self._lock:
            ids = np.asarray(ids, dtype=np.int64)
            ids = ids[(ids >= 0) & (ids < len(self._created))]
            present = ids[self._created[ids] != _NO_TIME]
            self._created[present] = _NO_TIME
            self._accounts[present] = 0
            self._orgs[present] = 0
            self._count -= len(np.unique(present))

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(accounts, orgs, created_at_ms) of the given row ids."""
        accounts, orgs, created = self._accounts, self._orgs, self._created
        if len(ids) and int(ids.max()) >= len(created):  # ids of another build (hot swap)
            inside = ids < len(created)
            safe = np.where(inside, ids, 0)
            return accounts[safe], orgs[safe], np.where(inside, created[safe], _NO_TIME)
        return accounts[ids], orgs[ids], created[ids]

    def export(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ids, accounts, orgs, created_at_ms) of every known row, for snapshots."""
        with self._lock:
            ids = np.nonzero(self._created[: self._max_id + 1] != _NO_TIME)[0].astype(np.int64)
            return ids, self._accounts[ids].copy(), self._orgs[ids].copy(), self._created[ids].copy()


def _grow(array: np.ndarray, size: int, fill: int) -> np.ndarray:
    grown = np.full(size, fill, dtype=array.dtype)
    grown[: len(array)] = array
    return grown
