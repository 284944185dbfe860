"""Bearer-token authentication and per-method roles.

Callers send ``authorization: Bearer <token>`` metadata. Tokens map to roles:

* ``lookup``: read-only questions (FindNearDuplicates, CheckPrompt without recording,
  GetAccountAssessment, the campaign listings);
* ``ingest``: writes of traffic (IngestPrompts, CheckPrompt with ``record=true``);
* ``admin``: everything, including banks and data-lifecycle calls.

The table :data:`METHOD_ROLES` is keyed by full method name and **denies by default**:
an RPC missing from it needs ``admin``, so a new RPC is never accidentally open. Health
and reflection are open (a load balancer probes health without credentials; reflection
describes the public API, not data); GetIndexStats (counts, no prompt data) takes any
valid token, since ingest clients poll it to wait for their vectors.

Tokens are loaded from a file or an environment variable, one entry a line::

    # name   roles          token (raw) or sha256:<hex of the token>
    fraud-ui lookup         sha256:9f86d0...
    pipeline ingest,lookup  sha256:2c26b4...

Only SHA-256 digests are kept in memory (a raw token in the file is hashed on load), and
only the entry's *name* ever reaches a log line or a metric. ``promptprint token``
creates a token and prints the line to paste.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Union, cast

import grpc

from promptprint.errors import PromptprintError
from promptprint.server.errors import PermissionDenied, Unauthenticated
from promptprint.server.handlers import Behaviour, rewrap
from promptprint.server.status import abort_with

ROLES = ("lookup", "ingest", "admin")
TOKENS_ENV = "PROMPTPRINT_TOKENS"
_SERVICE = "/promptprint.v1.FingerprintService/"

OPEN = "open"  # no credentials needed
AUTHENTICATED = "authenticated"  # any valid token, whatever its roles


def _check_prompt_role(request: Any) -> str:
    """CheckPrompt only looks unless it is asked to record."""
    return "ingest" if getattr(request, "record", False) else "lookup"


RoleRule = Union[str, Callable[[Any], str]]

#: Full method name -> role (or a function of the request giving the role). Methods not
#: listed need ``admin``.
METHOD_ROLES: Mapping[str, RoleRule] = {
    _SERVICE + "IngestPrompts": "ingest",
    _SERVICE + "FindNearDuplicates": "lookup",
    _SERVICE + "CheckPrompt": _check_prompt_role,
    _SERVICE + "GetAccountAssessment": "lookup",
    _SERVICE + "CheckPrompts": "ingest",  # a stream may record: its role is known before its requests are
    _SERVICE + "GetIndexStats": "authenticated",  # counts only; `promptprint ingest` polls it
    _SERVICE + "ListCampaigns": "lookup",
    _SERVICE + "GetCampaign": "lookup",
    _SERVICE + "CreateBankEntry": "admin",
    _SERVICE + "ListBankEntries": "admin",
    _SERVICE + "DeleteBankEntry": "admin",
    _SERVICE + "ReloadIndex": "admin",
    _SERVICE + "DeleteAccountPrompts": "admin",
    "/grpc.health.v1.Health/Check": OPEN,
    "/grpc.health.v1.Health/Watch": OPEN,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": OPEN,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": OPEN,
}


def required_role(method: str, request: Any = None) -> str:
    """The role a call needs: the table's entry, ``admin`` for anything unlisted."""
    rule = METHOD_ROLES.get(method, "admin")
    return rule(request) if callable(rule) else rule


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is calling: the token entry's name (safe to log) and its roles."""

    name: str
    roles: frozenset[str]

    def may(self, role: str) -> bool:
        return role in (OPEN, AUTHENTICATED) or "admin" in self.roles or role in self.roles


#: The caller of the current request (for access logs); None when auth is off.
caller: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("caller", default=None)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return "pp_" + secrets.token_urlsafe(32)


class TokenTable:
    """Token digests -> principals. Built from text; never holds a raw token."""

    def __init__(self, entries: Mapping[str, Principal]) -> None:
        if not entries:
            raise ValueError("a token table needs at least one token")
        self._by_digest = dict(entries)

    def __len__(self) -> int:
        return len(self._by_digest)

    @property
    def names(self) -> list[str]:
        return sorted(p.name for p in self._by_digest.values())

    @classmethod
    def parse(cls, text: str, source: str) -> "TokenTable":
        """Parse ``name roles token`` lines (``;`` also separates entries, for env vars).

        Raises:
            ValueError: a malformed line (the message names the line, never the token).
        """
        entries: dict[str, Principal] = {}
        lines = [part for line in text.splitlines() for part in line.split(";")]
        for number, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 3:
                raise ValueError(f"{source}: entry {number}: expected 'NAME ROLES TOKEN', got {len(fields)} fields")
            name, roles_text, secret = fields
            roles = frozenset(r.strip() for r in roles_text.split(",") if r.strip())
            unknown = roles - set(ROLES)
            if not roles or unknown:
                raise ValueError(f"{source}: entry {number} ({name}): roles must be among {', '.join(ROLES)}, got {roles_text!r}")
            if secret.startswith("sha256:"):
                digest = secret[7:].lower()
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise ValueError(f"{source}: entry {number} ({name}): sha256: must be followed by 64 hex digits")
            else:
                if len(secret) < 16:
                    raise ValueError(f"{source}: entry {number} ({name}): a token must have at least 16 characters")
                digest = token_digest(secret)
            if digest in entries:
                raise ValueError(f"{source}: entry {number} ({name}): the same token is listed twice")
            entries[digest] = Principal(name, roles)
        return cls(entries)

    @classmethod
    def load(cls, path: str | Path | None, environ: Mapping[str, str]) -> "TokenTable | None":
        """Tokens from ``path`` and/or the PROMPTPRINT_TOKENS variable; None when neither
        is given (authentication off)."""
        parts: dict[str, Principal] = {}
        if path is not None:
            parts.update(cls.parse(Path(path).read_text(encoding="utf-8"), str(path))._by_digest)
        if environ.get(TOKENS_ENV, "").strip():
            for digest, principal in cls.parse(environ[TOKENS_ENV], TOKENS_ENV)._by_digest.items():
                parts.setdefault(digest, principal)
        return cls(parts) if parts else None

    def authenticate(self, metadata: Mapping[str, str]) -> Principal:
        """The principal of the request's bearer token.

        Raises:
            Unauthenticated: no token, a malformed header, or an unknown token.
        """
        header = metadata.get("authorization", "")
        if not header:
            raise Unauthenticated(
                "this server requires a token: send 'authorization: Bearer <token>' metadata "
                "(promptprint --token / PROMPTPRINT_TOKEN)",
                reason="TOKEN_MISSING",
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the authorization metadata must be 'Bearer <token>'", reason="TOKEN_MALFORMED")
        digest = token_digest(token.strip())
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return principal
        raise Unauthenticated("the token is not one this server knows (revoked or mistyped?)", reason="TOKEN_UNKNOWN")


def authorize(principal: Principal, method: str, request: Any = None) -> None:
    """Raises PermissionDenied when the principal's roles do not cover the call."""
    role = required_role(method, request)
    if not principal.may(role):
        short = method.rsplit("/", 1)[-1]
        raise PermissionDenied(
            f"token {principal.name!r} (roles: {', '.join(sorted(principal.roles))}) may not call {short}: it needs the {role!r} role",
            reason="ROLE_MISSING",
            field=role,
        )


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call not marked open, then checks its role.

    Placed inside the request-context interceptor, so its errors become statuses with
    ErrorInfo there (unary and client-streaming calls, and bidirectional ones such as
    CheckPrompts). Server-streaming calls (none of FingerprintService's) are aborted
    here directly.
    """

    def __init__(self, tokens: TokenTable) -> None:
        self._tokens = tokens

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or METHOD_ROLES.get(method) == OPEN:
            return handler
        tokens = self._tokens

        def check(request: Any, context: grpc.aio.ServicerContext) -> None:
            # per call, from the context: the handler is built once per method
            metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
            principal = tokens.authenticate(metadata)
            caller.set(principal)
            authorize(principal, method, request)

        def checked(behaviour: Behaviour, client_stream: bool) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                check(None if client_stream else request, context)
                return await behaviour(request, context)

            return call

        if handler.unary_stream is None:
            return rewrap(handler, checked)

        inner_stream = cast(Callable[..., Any], handler.unary_stream)

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                check(request, context)
            except PromptprintError as error:
                await abort_with(context, error)
            async for item in inner_stream(request, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(streaming, handler.request_deserializer, handler.response_serializer)
