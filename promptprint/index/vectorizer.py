"""The background half of the fingerprint tier: vectors computed behind the acknowledgement.

One thread takes the oldest rows still waiting for their vector (at most ``batch`` at a
time), embeds their stored text, stores the vectors durably and moves the rows into the
live index. A failure leaves the rows pending; they are retried a second later.

Rows the embedding policy declined are marked skipped in the store (one transaction for
many rows) before they leave the backlog, so a snapshot never covers a row the store
still calls pending. The forward passes themselves run wherever ``fingerprint`` sends
them: in worker processes for the server (``promptprint serve --embed-workers``), so the
serving process does none for ingest.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

import numpy as np

from promptprint.index.live import LiveIndex
from promptprint.storage.store import RecordStore

log = logging.getLogger(__name__)

_SKIP_CHUNK = 2_048  # declined rows marked skipped per transaction (and writer-lock hold)


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
        self.skipped = 0  # rows marked skipped since start (the metrics endpoint reads it)
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
            try:
                self._skip_declined()
            except Exception:  # keep going: the rows stay declined and are marked next time
                log.exception("marking declined rows skipped failed; retrying")
            with live.write_lock:
                ids = live.current.backlog.next_pending(self._batch)
            if not ids:
                with live.changed:
                    live.changed.wait_for(
                        lambda: live.current.backlog.pending > 0 or live.current.backlog.declined > 0 or live.closing.is_set(),
                        1.0,
                    )
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

    def _skip_declined(self) -> None:
        """Mark the backlog's declined rows skipped in the store, then let them go: a chunk
        per transaction, each under the writer lock, which ingest waits for meanwhile (so a
        chunk is small: one of 50,000 rows held writes back ~1 s at 2,000 prompts/s)."""
        live = self._live
        while True:
            with live.write_lock:
                backlog = live.current.backlog
                if not backlog.declined:
                    return
                ids = backlog.declined_ids(_SKIP_CHUNK)
                self._store.skip_vectors(ids)
                backlog.discard(np.asarray(ids, dtype=np.int64))
                self.skipped += len(ids)
                live.index_ready_rows()
