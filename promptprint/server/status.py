"""Domain errors -> gRPC statuses with rich error details (AIP-193).

Every error answer carries a ``google.rpc.Status`` (packed by grpcio-status into the
``grpc-status-details-bin`` trailer) whose details are:

* ``google.rpc.ErrorInfo`` always: the stable ``reason``, the domain ``promptprint``,
  and metadata with the call's ``request_id`` and, when the error names one, ``field``
  (and ``shard`` for SHARD_UNAVAILABLE: the member that did not answer);
* ``google.rpc.BadRequest`` for INVALID_ARGUMENT errors that name a field: one
  ``FieldViolation`` (field, description = the message, reason);
* ``google.rpc.RetryInfo`` for RESOURCE_EXHAUSTED: how long to wait before retrying.
  An error that names its own delay (``ResourceExhausted.retry_delay_s``: admission
  control's queue wait) is sent that; the others (embedding queue, vector backlog) get
  :data:`DEFAULT_RETRY_DELAY_S`.

Kept apart from the interceptors so that both they and the auth interceptor (which
aborts streaming calls itself) use one mapping without importing each other.
"""

from __future__ import annotations

import contextvars

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from promptprint.errors import (
    AlreadyExists,
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PromptprintError,
    ResourceExhausted,
    Unavailable,
)
from promptprint.server.errors import PermissionDenied, ShardUnavailable, Unauthenticated

ERROR_DOMAIN = "promptprint"

#: Seconds a client is told to wait after RESOURCE_EXHAUSTED from the library's bounded
#: queues (embedding queue, vector backlog), which know no better estimate: about the
#: time the embedder takes to drain a few batches, so a retry has room without a client
#: idling for long.
DEFAULT_RETRY_DELAY_S = 1.0

#: The request id of the current call, set by RequestContextInterceptor for log lines
#: and reported in every error's ErrorInfo ("-" outside a call).
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_STATUS_OF: list[tuple[type[PromptprintError], grpc.StatusCode]] = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Cancelled, grpc.StatusCode.CANCELLED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
]


def status_code_for(error: PromptprintError) -> grpc.StatusCode:
    """The gRPC status code for a domain error."""
    for cls, code in _STATUS_OF:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.INTERNAL


def retry_delay_s(error: ResourceExhausted) -> float:
    """How long a client should wait before retrying a RESOURCE_EXHAUSTED call."""
    return error.retry_delay_s if error.retry_delay_s is not None else DEFAULT_RETRY_DELAY_S


def rich_status(error: PromptprintError, call_request_id: str) -> status_pb2.Status:
    """The google.rpc.Status of a domain error: code, message and the details above."""
    metadata = {"request_id": call_request_id}
    if error.field:
        metadata["field"] = error.field
    if isinstance(error, ShardUnavailable):
        metadata["shard"] = error.shard
    details: list[error_details_pb2.ErrorInfo | error_details_pb2.BadRequest | error_details_pb2.RetryInfo] = [
        error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)
    ]
    if isinstance(error, InvalidArgument) and error.field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message, reason=error.reason)
        details.append(error_details_pb2.BadRequest(field_violations=[violation]))
    if isinstance(error, ResourceExhausted):
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(retry_delay_s(error) * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    status = status_pb2.Status(code=status_code_for(error).value[0], message=error.message)
    for detail in details:
        status.details.add().Pack(detail)
    return status


async def abort_with(context: grpc.aio.ServicerContext, error: PromptprintError) -> None:
    """Abort the call with the status, message and rich details of a domain error."""
    await context.abort_with_status(rpc_status.to_status(rich_status(error, request_id.get())))
