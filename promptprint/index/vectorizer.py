"""The background half of the fingerprint tier: vectors computed behind the acknowledgement.

One thread takes the oldest rows still waiting for their vector (at most ``batch`` at a
time), embeds their stored text, stores the vectors durably and moves the rows into the
live index. A failure leaves the rows pending; they are retried a second later.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

import numpy as np

from promptprint.index.live import LiveIndex
from promptprint.storage.store import RecordStore

log = logging.getLogger(__name__)


class Vectorizer:
    """The thread that fills a LiveIndex's pending vectors.

    Args:
        live: the index whose backlog it works off (its writer lock guards every change).
        store: where the texts are read and the vectors stored.
        fingerprint: raw texts -> stored-precision vectors, at background priority.
        batch: most pending rows taken at once (oldest first).
    """

    def __init__(
        self, live: LiveIndex, store: RecordStore, fingerprint: Callable[[Sequence[str]], np.ndarray], batch: int
    ) -> None:
        self._live = live
        self._store = store
        self._fingerprint = fingerprint
        self._batch = batch
        self._thread = threading.Thread(target=self._run, name="promptprint-vectorizer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Wait for the thread to end (after LiveIndex.close)."""
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        live = self._live
        while not live.closing.is_set():
            with live.write_lock:
                ids = live.current.backlog.next_pending(self._batch)
            if not ids:
                with live.changed:
                    live.changed.wait_for(lambda: live.current.backlog.pending > 0 or live.closing.is_set(), 1.0)
                continue
            try:
                texts = self._store.fetch(ids, with_text=True)
                present = np.asarray([i for i in ids if i in texts], dtype=np.int64)  # others were deleted meanwhile
                vectors = self._fingerprint([texts[i].text or "" for i in present.tolist()])
                with live.write_lock:
                    stored = self._store.set_vectors(present, vectors)
                    backlog = live.current.backlog
                    backlog.fill(present, stored)
                    backlog.discard(np.setdiff1d(np.asarray(ids, dtype=np.int64), present))
                    live.index_ready_rows()
            except Exception:  # keep going: the rows stay pending and are retried
                log.exception("embedding %d pending rows failed; retrying in 1 s", len(ids))
                live.closing.wait(1.0)
