"""Admission control: bounded concurrency and a bounded, short wait queue.

Past its capacity a server should say so at once (RESOURCE_EXHAUSTED, which the client
retries with backoff) rather than queue without bound: an unbounded queue grows memory
and the latency of every admitted call. :class:`AdmissionLimiter` lets ``max_concurrent``
FingerprintService calls run, lets ``max_queued`` more wait for a slot for at most
``max_queue_wait_s`` (or their own deadline, if sooner), and refuses the rest
immediately. Health and reflection are never limited: a probe must get an answer from
a saturated server. A refusal tells the client when to retry
(:attr:`LimitSettings.retry_delay_s`, sent as ``google.rpc.RetryInfo``).

An ingest or CheckPrompts stream holds its slot for the whole stream; size
``max_concurrent`` for the streams plus the lookups you expect at once.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import Any, Awaitable, Callable

import grpc

from promptprint.errors import ResourceExhausted
from promptprint.server.handlers import Behaviour, rewrap

LIMITED_PREFIX = "/promptprint.v1.FingerprintService/"


@dataclasses.dataclass(frozen=True)
class LimitSettings:
    """Attributes:
    max_concurrent: FingerprintService calls executing at once.
    max_queued: calls that may wait for a slot; past it, RESOURCE_EXHAUSTED at once.
    max_queue_wait_s: longest a call waits for a slot before RESOURCE_EXHAUSTED.
    """

    max_concurrent: int = 64
    max_queued: int = 128
    max_queue_wait_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {self.max_concurrent}")
        if self.max_queued < 0:
            raise ValueError(f"max_queued must be >= 0, got {self.max_queued}")
        if self.max_queue_wait_s < 0:
            raise ValueError(f"max_queue_wait_s must be >= 0, got {self.max_queue_wait_s}")

    @property
    def retry_delay_s(self) -> float:
        """The wait advised to a refused call: ``max_queue_wait_s``, the time by which every
        call queued at the refusal has been admitted or has given up, so the queue has
        room again; at least 0.1 s (a server without a wait queue) and at most 10 s (a
        long queue wait is a ceiling, not the usual wait)."""
        return min(max(self.max_queue_wait_s, 0.1), 10.0)


class AdmissionLimiter:
    """Counting slots with a FIFO of waiters; used from the server's event loop only."""

    def __init__(self, settings: LimitSettings) -> None:
        self._settings = settings
        self._active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.rejected = 0

    @property
    def settings(self) -> LimitSettings:
        return self._settings

    @property
    def in_flight(self) -> int:
        return self._active

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self, time_remaining: float | None) -> None:
        """Take a slot, waiting briefly if allowed.

        Raises:
            ResourceExhausted: no slot and the queue is full, or no slot came in time
                (reason SERVER_AT_CAPACITY, with the advised retry delay).
        """
        s = self._settings
        if self._active < s.max_concurrent and not self._waiters:
            self._active += 1
            return
        if len(self._waiters) >= s.max_queued:
            self.rejected += 1
            raise ResourceExhausted(
                f"the server is at capacity ({s.max_concurrent} calls running, {s.max_queued} waiting); retry with backoff",
                reason="SERVER_AT_CAPACITY",
                retry_delay_s=s.retry_delay_s,
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        wait = s.max_queue_wait_s if time_remaining is None else max(0.0, min(s.max_queue_wait_s, time_remaining))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), wait)
        except (asyncio.TimeoutError, asyncio.CancelledError) as error:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we gave up: pass it on
            else:
                waiter.cancel()
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            if isinstance(error, asyncio.CancelledError):
                raise
            self.rejected += 1
            raise ResourceExhausted(
                f"no capacity freed within {wait:.2f}s ({s.max_concurrent} calls running); retry with backoff",
                reason="SERVER_AT_CAPACITY",
                retry_delay_s=s.retry_delay_s,
            ) from None

    def release(self) -> None:
        """Free a slot: hand it to the longest waiter, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves; _active is unchanged
                return
        self._active -= 1


class LimitInterceptor(grpc.aio.ServerInterceptor):
    """Runs every FingerprintService call under the limiter."""

    def __init__(self, limiter: AdmissionLimiter) -> None:
        self._limiter = limiter

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(LIMITED_PREFIX):
            return handler
        limiter = self._limiter

        def admitted(behaviour: Behaviour, client_stream: bool) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await limiter.acquire(context.time_remaining())
                try:
                    return await behaviour(request, context)
                finally:
                    limiter.release()

            return call

        return rewrap(handler, admitted)  # FingerprintService has no server-streaming-only calls
