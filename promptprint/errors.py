"""Domain errors of the indexer.

The library raises these; adapters translate them (the gRPC server maps each class to a
status code, the CLI prints the message). Each carries a stable machine-readable
``reason`` (AIP-193 style, e.g. ``TEXT_EMPTY``) and the ``field`` it is about, so a
caller can act on it without parsing prose.
"""

from __future__ import annotations


class PromptprintError(Exception):
    """Base class: a problem the caller can act on, with a stable reason code."""

    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.field = field


class InvalidArgument(PromptprintError):
    """The request itself is wrong (empty text, k out of range, bad timestamp, ...)."""


class NotFound(PromptprintError):
    """A referenced prompt (or other resource) does not exist."""


class AlreadyExists(PromptprintError):
    """A prompt_id is already recorded with a different text."""


class Unavailable(PromptprintError):
    """The index is not ready yet (loading, replaying); retry later."""


class FailedPrecondition(PromptprintError):
    """Stored state does not match the configuration (other model, other normalizer)."""


class ResourceExhausted(PromptprintError):
    """A bounded queue or concurrency limit is full; retry later with backoff (the request
    was not applied).

    ``retry_delay_s``: how long the raiser advises waiting before a retry, when it knows
    (admission control does: its queue wait); None leaves the delay to the adapter.
    """

    def __init__(self, message: str, *, reason: str, field: str | None = None, retry_delay_s: float | None = None) -> None:
        super().__init__(message, reason=reason, field=field)
        self.retry_delay_s = retry_delay_s


class Cancelled(PromptprintError):
    """The call this work belonged to was cancelled or ran past its deadline, so the work
    was dropped rather than done for nobody."""
