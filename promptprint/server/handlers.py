"""Rebuilding a gRPC method handler around its behaviour: the one mechanism the
interceptors (request context, authentication, admission) share.

An aio server's handler behaviours are coroutines taking (request or request iterator,
context). :func:`rewrap` gives a unary, client-streaming or bidirectional handler a new
behaviour made by ``wrap`` from the old one, keeping its serializers. A bidirectional
behaviour written as an async generator (FingerprintService.CheckPrompts, reflection) is
first made a coroutine that writes each response with ``context.write`` (which waits for
flow control), so that every wrapper awaits one coroutine whatever the call's shape.
Server-streaming handlers (health Watch) come back unchanged.
"""

from __future__ import annotations

import inspect
from typing import Any, AsyncIterator, Callable

import grpc

#: An aio behaviour: ``await behaviour(request_or_requests, context)``.
Behaviour = Callable[..., Any]
#: ``wrap(behaviour, client_stream)`` -> the new behaviour; ``client_stream`` says whether
#: the first argument is a request iterator rather than one request.
Wrap = Callable[[Behaviour, bool], Behaviour]


def rewrap(
    handler: grpc.RpcMethodHandler[Any, Any],
    wrap: Wrap,
    *,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` with its unary or client-streaming behaviour replaced by ``wrap``'s
    (and its request deserializer by ``request_deserializer``, when given)."""
    deserializer = request_deserializer or handler.request_deserializer
    # grpc's stubs type behaviours as sync callables; an aio server's are coroutines.
    if handler.unary_unary is not None:
        behaviour: Behaviour = handler.unary_unary
        return grpc.unary_unary_rpc_method_handler(wrap(behaviour, False), deserializer, handler.response_serializer)
    if handler.stream_unary is not None:
        behaviour = handler.stream_unary
        return grpc.stream_unary_rpc_method_handler(wrap(behaviour, True), deserializer, handler.response_serializer)
    if handler.stream_stream is not None:
        behaviour = handler.stream_stream
        if inspect.isasyncgenfunction(behaviour):
            behaviour = _writing(behaviour)
        return grpc.stream_stream_rpc_method_handler(wrap(behaviour, True), deserializer, handler.response_serializer)
    return handler


def _writing(generator: Callable[..., AsyncIterator[Any]]) -> Behaviour:
    """An async-generator behaviour as a coroutine that writes what it yields."""

    async def written(requests: Any, context: grpc.aio.ServicerContext) -> None:
        async for response in generator(requests, context):
            await context.write(response)

    return written
