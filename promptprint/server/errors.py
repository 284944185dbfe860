"""The errors only the server raises; the library's own are in :mod:`promptprint.errors`.

They are :class:`~promptprint.errors.PromptprintError` subclasses like the library's, so
:mod:`promptprint.server.status` maps every error the same way, whoever raised it. They
live apart from the interceptors that raise them so that the status mapping can name
them without importing those interceptors (which use the mapping).
"""

from __future__ import annotations

from promptprint.errors import PromptprintError, Unavailable


class Unauthenticated(PromptprintError):
    """No token, a malformed authorization header, or a token nobody issued."""


class PermissionDenied(PromptprintError):
    """A valid token whose roles do not cover the call."""



class ShardUnavailable(Unavailable):
    """The process that owns a prompt's template state (or one a fan-out must ask) did not
    answer: it is down, restarting, or unreachable within the forwarding deadline. Its
    keys fail; the other members' keys are served."""

    def __init__(self, shard: str, detail: str) -> None:
        super().__init__(f"shard {shard} is unavailable ({detail}); retry later", reason="SHARD_UNAVAILABLE")
        self.shard = shard
