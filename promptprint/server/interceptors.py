"""Cross-cutting concerns of every RPC, kept out of the handlers.

* request ids: taken from the ``x-request-id`` metadata or generated, held in a
  contextvar for log lines, and returned in the trailing metadata;
* latency and an access log line per call (method, status, milliseconds, and the
  caller's token *name* when authentication is on; never the token);
* requests that do not even decode (e.g. invalid UTF-8 in a string field) become
  INVALID_ARGUMENT with reason REQUEST_MALFORMED instead of gRPC's generic INTERNAL;
* exceptions -> status: the library's domain errors become the gRPC status that fits,
  with rich details (promptprint.server.status); anything unexpected becomes INTERNAL
  with the request id, and the server keeps running.

Handlers are built once per method, not once per call. :class:`RequestContextInterceptor`
is the outermost interceptor and keeps the wrapped handler of each method, so a call
runs one interceptor hop instead of one per interceptor plus new closures and handler
objects (measured: ~0.4 ms of the ~2.2 ms of server CPU a CheckPrompt cost). The
contract that makes this safe: every interceptor here builds a handler that depends on
the method alone and reads per-call facts (metadata, deadline) from the call's context.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
import time
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

from promptprint.errors import InvalidArgument, PromptprintError
from promptprint.server.auth import caller
from promptprint.server.handlers import Behaviour, rewrap
from promptprint.server.status import abort_with, request_id, status_code_for

REQUEST_ID_KEY = "x-request-id"

log = logging.getLogger("promptprint.access")


@dataclasses.dataclass(frozen=True)
class _Undecodable:
    """Stands in for a request message that failed to parse."""

    error: str


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that returns _Undecodable instead of raising (gRPC would answer
    INTERNAL for a client's malformed bytes)."""
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # noqa: BLE001 - protobuf raises DecodeError and others
            return _Undecodable(str(error)[:200])

    return parse


def _malformed(item: _Undecodable) -> InvalidArgument:
    return InvalidArgument(
        f"the request message could not be parsed ({item.error}); string fields must be valid UTF-8",
        reason="REQUEST_MALFORMED",
    )


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for item in requests:
        if isinstance(item, _Undecodable):
            raise _malformed(item)
        yield item


def _decoded(behaviour: Behaviour, client_stream: bool) -> Behaviour:
    """``behaviour`` behind the check that its request (or each streamed one) decoded."""
    if client_stream:

        async def stream_call(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            return await behaviour(_checked_stream(requests), context)

        return stream_call

    async def unary_call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            raise _malformed(request)
        return await behaviour(request, context)

    return unary_call


class RequestContextInterceptor(grpc.aio.ServerInterceptor):
    """Request ids, domain-error mapping, latency and an access log line per call."""

    def __init__(self, on_complete: Callable[[str, str, float], None] | None = None) -> None:
        self._on_complete = on_complete
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}  # method -> its wrapped handler
        # Request ids for calls that bring none: a random prefix per server and a counter.
        # Unique like a uuid4 (within a server's life, and across servers by the prefix)
        # without a getrandom() system call per call (~3% of a CheckPrompt's CPU).
        self._id_prefix = os.urandom(8).hex()
        self._id_counter = itertools.count(1)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        cached = self._handlers.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        on_complete = self._on_complete
        id_prefix, id_counter = self._id_prefix, self._id_counter

        def wrap(inner: Behaviour, client_stream: bool) -> Behaviour:
            behaviour = _decoded(inner, client_stream)

            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                given_id = _metadata_value(context, REQUEST_ID_KEY)
                rid = given_id if given_id and len(given_id) <= 128 else f"{id_prefix}-{next(id_counter):x}"
                token = request_id.set(rid)
                context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
                started = time.perf_counter()
                outcome = "OK"
                try:
                    return await behaviour(request, context)
                except PromptprintError as error:
                    outcome = status_code_for(error).name
                    await abort_with(context, error)
                except grpc.aio.AbortError:
                    code = context.code()
                    outcome = code.name if isinstance(code, grpc.StatusCode) else "ABORTED_BY_HANDLER"
                    raise
                except asyncio.CancelledError:  # the client went away or the deadline passed
                    outcome = "CANCELLED"
                    raise
                except Exception:  # the server must survive any handler bug
                    outcome = "INTERNAL"
                    log.exception("request %s to %s failed", rid, method)
                    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {rid})")
                finally:
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    who = caller.get()
                    log.debug("%s %s %s %s %.2fms", rid, who.name if who else "-", method, outcome, elapsed_ms)
                    if on_complete is not None:
                        on_complete(method, outcome, elapsed_ms)
                    request_id.reset(token)

            return wrapped

        # Server-streaming responses (health Watch) come back from rewrap as they are.
        wrapped_handler = self._handlers[method] = rewrap(handler, wrap, request_deserializer=_tolerant(handler.request_deserializer))
        return wrapped_handler


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    """One text value of the call's invocation metadata (None when absent)."""
    for item in context.invocation_metadata() or ():
        if item[0] == key and isinstance(item[1], str):
            return item[1]
    return None
