"""Cancellation of the work of one call, across threads.

A gRPC call that is cancelled (or runs past its deadline) should stop costing anything:
its queued embedding work should be dropped, and a bulk call should stop between chunks.
The server runs library calls on worker threads; it opens a :class:`CancelScope` per call
and makes it current (``current_scope``) in the context the worker runs in, and cancels
it when the call ends early. Library code that queues work (the batching embedder)
registers how to drop it with :meth:`CancelScope.on_cancel`.

A context variable rather than a parameter: the scope belongs to the call, not to any
library function, and threading it through every signature between the servicer and
the embedder would change every public API for a cross-cutting concern. Outside a
server (scripts, tests) there is no scope and nothing changes.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Callable

from promptprint.errors import Cancelled


class CancelScope:
    """Thread-safe cancellation flag plus callbacks that run once when it is set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._callbacks: list[Callable[[], object]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when the scope is cancelled (at once if it already is)."""
        with self._lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return
        callback()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the call is gone (between chunks of bulk work)."""
        if self._cancelled:
            raise Cancelled("the call was cancelled or ran past its deadline; its work was dropped", reason="CALL_CANCELLED")


current_scope: contextvars.ContextVar[CancelScope | None] = contextvars.ContextVar("current_scope", default=None)
