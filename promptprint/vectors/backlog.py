"""Rows that are recorded but not yet in the vector index, kept in row-id order.

The fast path acknowledges a prompt once its record is durable and computes its
transformer vector behind the acknowledgement, in batches (see
:class:`promptprint.index.prompt_index.PromptIndex`). Between the two the row waits here.

Rows leave the backlog for the vector index strictly in row-id order: a row whose
vector is ready waits for every older row to be ready too. That keeps one invariant the
snapshots rely on: the vector index always holds exactly the rows up to some id (its
watermark), so a restart replays everything after the watermark and nothing twice.

A row the embedding policy declines (promptprint.index.embedding_policy) stays queued,
*declined*, until its owner marks it skipped in the store and discards it; until then it
holds back the rows after it like a pending row, so the watermark rule holds for skipped
rows too (they never enter the index).

Not thread-safe on its own: the owner serializes every call (PromptIndex's writer lock).
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import time

import numpy as np

from promptprint.storage.store import IndexRows


@dataclasses.dataclass(slots=True)
class _Queued:
    """One queued row: its vector once computed, and what the vector index keeps beside it."""

    vector: np.ndarray | None
    account: int
    org: int
    created_at_ms: int
    queued_at: float  # time.monotonic() when queued: how far behind the embedder is
    declined: bool = False  # the policy gave it no vector: to be marked skipped, then discarded


class VectorBacklog:
    """Recorded rows waiting for their vector or for older rows, oldest first.

    Besides the rows in id order, two id-ordered sets say which wait for a vector and
    which are declined, so taking the oldest of either costs what it takes, not a walk
    past everything ahead of it (at live rates tens of thousands of declined rows can sit
    at the front between two passes of the vectorizer)."""

    def __init__(self, dimension: int) -> None:
        self._dimension = dimension
        self._rows: collections.OrderedDict[int, _Queued] = collections.OrderedDict()
        self._waiting: collections.OrderedDict[int, None] = collections.OrderedDict()  # pending, not declined
        self._declined: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._last_id = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def last_id(self) -> int:
        """The highest row id ever queued (0: none): where a replay of the store resumes."""
        return self._last_id

    @property
    def pending(self) -> int:
        """Rows still waiting for their vector (declined ones not counted)."""
        return len(self._waiting)

    @property
    def declined(self) -> int:
        """Rows the policy declined, not yet marked skipped and discarded."""
        return len(self._declined)

    def oldest_pending_age_s(self) -> float:
        """Seconds the oldest row still waiting for its vector has waited (0.0: none)."""
        if not self._waiting:
            return 0.0
        return time.monotonic() - self._rows[next(iter(self._waiting))].queued_at

    def append(self, rows: IndexRows) -> None:
        """Queue newly stored rows (ids above every queued id); pending ones wait for
        :meth:`fill`, the others only for the rows before them."""
        now = time.monotonic()
        for i in range(len(rows)):
            row_id = int(rows.ids[i])
            pending = bool(rows.pending[i])
            self._rows[row_id] = _Queued(
                None if pending else rows.vectors[i], int(rows.accounts[i]), int(rows.orgs[i]), int(rows.created_at_ms[i]), now
            )
            if pending:
                self._waiting[row_id] = None
        if len(rows):
            self._last_id = max(self._last_id, int(rows.ids[-1]))

    @staticmethod
    def _oldest(ids: collections.OrderedDict[int, None], limit: int) -> list[int]:
        return list(itertools.islice(ids, max(0, limit)))

    def next_pending(self, limit: int) -> list[int]:
        """Ids of the oldest rows still waiting for a vector, at most ``limit``."""
        return self._oldest(self._waiting, limit)

    def decline(self, row_ids: list[int]) -> None:
        """The policy gives these rows no vector (ids not waiting for one are ignored)."""
        for row_id in row_ids:
            if self._waiting.pop(row_id, False) is None:
                self._rows[row_id].declined = True
                self._declined[row_id] = None

    def shed(self, limit: int) -> int:
        """Decline the oldest waiting rows until at most ``limit`` wait; returns how many."""
        oldest = self.next_pending(len(self._waiting) - limit)
        self.decline(oldest)
        return len(oldest)

    def declined_ids(self, limit: int) -> list[int]:
        """Ids of the oldest declined rows, at most ``limit``."""
        return self._oldest(self._declined, limit)

    def fill(self, row_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Give pending rows their vectors (ids no longer queued are ignored); a row
        declined while its embedding ran keeps the vector."""
        for row_id, vector in zip(row_ids.tolist(), vectors):
            entry = self._rows.get(row_id)
            if entry is not None and entry.vector is None:
                entry.vector = vector
                entry.declined = False
                self._waiting.pop(row_id, None)
                self._declined.pop(row_id, None)

    def discard(self, row_ids: np.ndarray) -> None:
        """Forget rows that were deleted from the store, or marked skipped (queued or not)."""
        for row_id in row_ids.tolist():
            if self._rows.pop(row_id, None) is not None:
                self._waiting.pop(row_id, None)
                self._declined.pop(row_id, None)

    def pop_ready(self) -> IndexRows | None:
        """Remove and return the oldest rows whose vectors are ready, up to the first row
        still pending (None when the oldest row is pending or the backlog is empty)."""
        ready: list[tuple[int, _Queued, np.ndarray]] = []
        for row_id, entry in self._rows.items():
            if entry.vector is None:
                break
            ready.append((row_id, entry, entry.vector))
        if not ready:
            return None
        for row_id, _, _ in ready:
            del self._rows[row_id]
        n = len(ready)
        return IndexRows(
            ids=np.fromiter((r for r, _, _ in ready), dtype=np.int64, count=n),
            vectors=np.vstack([v for _, _, v in ready]).astype(np.float32).reshape(n, self._dimension),
            accounts=np.fromiter((e.account for _, e, _ in ready), dtype=np.int32, count=n),
            orgs=np.fromiter((e.org for _, e, _ in ready), dtype=np.int32, count=n),
            created_at_ms=np.fromiter((e.created_at_ms for _, e, _ in ready), dtype=np.int64, count=n),
            pending=np.zeros(n, dtype=bool),
        )
