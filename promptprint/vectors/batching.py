"""Coalescing concurrent embedding calls into shared forward passes.

On two cores a transformer forward pass is the whole cost of a lookup, and concurrent
CheckPrompt calls that each run their own pass only queue behind one another. The
:class:`BatchingEmbedder` runs every pass on one worker thread and lets the texts of
calls that arrive together ride in one batch: up to ``max_batch`` texts, waiting at most
``max_wait_ms`` for company once a first call is queued — a bounded, short delay, never
an unbounded one.

Bounded and cancellable: the queue holds at most ``max_queue`` calls and a call that
finds it full gets :class:`~promptprint.errors.ResourceExhausted` at once instead of
waiting; a call whose gRPC call was cancelled (see promptprint.cancellation) is dropped from
the queue without being embedded, and a chunked bulk call stops between chunks.

One thread for all torch work also keeps memory flat: glibc gives each thread that
allocates its own arena, and tensors allocated from eight worker threads grew the
server by ~1 GB before it levelled off (measured with scripts/bench.py).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import sys
import threading
import time
from concurrent.futures import CancelledError, Future
from typing import Sequence

import numpy as np

from promptprint.cancellation import current_scope
from promptprint.vectors.embedder import Embedder
from promptprint.errors import Cancelled, ResourceExhausted


@dataclasses.dataclass(frozen=True, slots=True)
class _Call:
    """One embed call waiting for the worker: its texts and the future its caller waits on."""

    texts: list[str]
    future: Future[np.ndarray]
    background: bool  # work nobody waits on: it never shares a pass with lookups


class BatchingEmbedder:
    """An :class:`~promptprint.vectors.embedder.Embedder` that batches concurrent calls of another.

    Args:
        inner: the embedder doing the work (only ever called from the worker thread).
        max_batch: most texts per coalesced pass (larger calls are cut into chunks).
        max_wait_ms: longest a call waits for others to join its batch.
        max_queue: calls that may wait; further callers get ResourceExhausted.
        nice: CPU priority of the embedding work (Linux: the worker thread's nice value,
            inherited by the math library's threads it starts). A positive value lets
            request handling preempt forward passes: with the fingerprint tier the
            synchronous path is pure Python and must not queue behind the background
            embedding of a backlog. 0 leaves the priority alone.
    """

    def __init__(
        self, inner: Embedder, *, max_batch: int = 32, max_wait_ms: float = 2.0, max_queue: int = 4096, nice: int = 0
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self._inner = inner
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000.0
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self._queue: queue.Queue[_Call | None] = queue.Queue(maxsize=max_queue)  # None: stop the worker
        self._dropped = 0
        if not 0 <= nice <= 19:
            raise ValueError(f"nice must be in 0..19, got {nice}")
        self._nice = nice
        self._worker = threading.Thread(target=self._run, name="promptprint-embedder", daemon=True)
        self._worker.start()

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def inner(self) -> Embedder:
        return self._inner

    @property
    def queue_depth(self) -> int:
        """Calls waiting for the worker (a gauge for operators)."""
        return self._queue.qsize()

    @property
    def dropped_calls(self) -> int:
        """Queued calls dropped unembedded because their call was cancelled."""
        return self._dropped

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; a call larger than ``max_batch`` goes in chunks, one at a time, so
        that lookups queued meanwhile are served between the chunks of a bulk ingest."""
        return self._embed_call(texts, background=False)

    def embed_background(self, texts: Sequence[str]) -> np.ndarray:
        """Like :meth:`embed`, for work nobody waits on (the vector backlog): its chunks
        never ride in a lookup's forward pass, so a lookup queued behind a backlog waits
        for at most the one chunk already running, not for a full batch of long texts."""
        return self._embed_call(texts, background=True)

    def _embed_call(self, texts: Sequence[str], *, background: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= self._max_batch:
            return self._submit(list(texts), background)
        # Chunk by length, as sentence-transformers does inside one call: chunks of mixed
        # lengths pad every text to the longest and cost ~2x (measured with bench.py).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        scope = current_scope.get()
        for start in range(0, len(order), self._max_batch):
            if scope is not None:
                scope.check()
            chunk = order[start : start + self._max_batch]
            out[chunk] = self._submit([texts[i] for i in chunk], background)
        return out

    def _submit(self, texts: list[str], background: bool) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        try:
            self._queue.put_nowait(_Call(texts, future, background))
        except queue.Full:
            raise ResourceExhausted(
                f"the embedding queue is full ({self._queue.maxsize} calls waiting); retry with backoff",
                reason="EMBED_QUEUE_FULL",
            ) from None
        scope = current_scope.get()
        if scope is not None:
            scope.on_cancel(future.cancel)  # a no-op once the worker has started it
        try:
            return future.result()
        except CancelledError:
            raise Cancelled("the call was cancelled while its texts waited to be embedded", reason="CALL_CANCELLED") from None

    def close(self) -> None:
        """Stop the worker after the calls already queued."""
        self._queue.put(None)  # blocking: close must not be refused by a full queue
        self._worker.join()

    def _run(self) -> None:
        if self._nice and sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)  # this thread only
        held: _Call | None = None  # a background chunk taken while coalescing lookups: it runs next
        while True:
            item, held = (held, None) if held is not None else (self._queue.get(), None)
            if item is None:
                return
            batch = [item]
            size = len(item.texts)
            deadline = time.monotonic() + self._max_wait
            stop = False
            while size < self._max_batch and not item.background:  # background work runs alone
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if nxt.background:
                    held = nxt
                    break
                batch.append(nxt)
                size += len(nxt.texts)
            self._embed(batch)
            if stop:
                if held is not None:
                    self._embed([held])
                return

    def _embed(self, batch: list[_Call]) -> None:
        live = [call for call in batch if call.future.set_running_or_notify_cancel()]
        self._dropped += len(batch) - len(live)
        if not live:
            return
        texts = [t for call in live for t in call.texts]
        try:
            vectors = self._inner.embed(texts)
        except BaseException as error:  # hand the failure to every waiting caller
            for call in live:
                call.future.set_exception(error)
            return
        start = 0
        for call in live:
            call.future.set_result(vectors[start : start + len(call.texts)])
            start += len(call.texts)
