"""The prompt record: what one customer request is, and what makes one valid.

Every entry point (gRPC, files, the CLI) builds :class:`PromptRecord` through
:func:`validate_record`, so a prompt is judged by the same rules wherever it arrives.
Times are integer milliseconds since the Unix epoch (UTC) inside the library.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone

from promptprint.errors import InvalidArgument

DEFAULT_MAX_TEXT_BYTES = 1 << 20
MAX_ID_LENGTH = 256
# Years FAISS-side int64 milliseconds and protobuf Timestamps both represent safely.
MIN_TIME_MS = 0  # 1970-01-01
MAX_TIME_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
_BAD_ID_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@dataclasses.dataclass(frozen=True, slots=True)
class PromptRecord:
    """One prompt as sent by one account at one time."""

    prompt_id: str
    account_id: str
    org_id: str  # "" when the account has no organisation
    created_at_ms: int
    text: str


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds."""
    return int(datetime.now(timezone.utc).timestamp() * 1000)


def validate_id(value: str, field: str, *, required: bool) -> str:
    """Check an id field; return it unchanged. Ids are opaque, 1-256 characters,
    no control characters (they end up in logs, tables and CSV exports)."""
    if not value:
        if required:
            raise InvalidArgument(f"{field} is required", reason=f"{field.upper()}_MISSING", field=field)
        return ""
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(
            f"{field} is {len(value)} characters; at most {MAX_ID_LENGTH} are allowed",
            reason=f"{field.upper()}_TOO_LONG",
            field=field,
        )
    if _BAD_ID_CHARS.search(value) or value != value.strip():
        raise InvalidArgument(
            f"{field} {value[:40]!r} contains control characters or surrounding whitespace",
            reason=f"{field.upper()}_MALFORMED",
            field=field,
        )
    return value


def validate_text(text: str, max_text_bytes: int, field: str = "text") -> str:
    """Reject empty (or whitespace-only) text and text over the configured byte limit."""
    if not text or text.isspace():
        raise InvalidArgument(f"{field} is empty", reason="TEXT_EMPTY", field=field)
    # One encoding at most (none for ASCII): this runs for every ingested prompt.
    not_utf8: UnicodeEncodeError | None = None
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:  # lone surrogates: still measured, the size error first
            not_utf8 = exc
            size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_text_bytes:
        raise InvalidArgument(
            f"{field} is {size} bytes; the limit is {max_text_bytes} bytes (max_text_bytes)",
            reason="TEXT_TOO_LONG",
            field=field,
        )
    if not_utf8 is not None:
        raise InvalidArgument(f"{field} is not valid UTF-8 ({not_utf8.reason})", reason="TEXT_NOT_UTF8", field=field) from not_utf8
    return text


def validate_time_ms(value: int, field: str) -> int:
    """Reject times outside 1970..9999 (negative or absurd timestamps are client bugs)."""
    if not MIN_TIME_MS <= value <= MAX_TIME_MS:
        raise InvalidArgument(
            f"{field} is out of range (must be between 1970-01-01 and 9999-12-31 UTC)",
            reason="TIMESTAMP_OUT_OF_RANGE",
            field=field,
        )
    return value


def parse_timestamp(value: str, field: str = "created_at") -> int:
    """Parse an ISO-8601 / RFC 3339 timestamp into epoch milliseconds.

    A timestamp without a zone is taken as UTC (what log exports usually mean).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{field} is not a timestamp: {value!r}", reason="TIMESTAMP_MALFORMED", field=field)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidArgument(
            f"{field} {value!r} is not an ISO-8601 timestamp such as 2026-02-01T12:00:00Z",
            reason="TIMESTAMP_MALFORMED",
            field=field,
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return validate_time_ms(int(parsed.timestamp() * 1000), field)


def format_timestamp(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC string (``2026-02-01T12:00:00.123Z``)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_record(
    *,
    prompt_id: str,
    account_id: str,
    org_id: str,
    created_at_ms: int | None,
    text: str,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
    default_time_ms: int | None = None,
    require_prompt_id: bool = True,
) -> PromptRecord:
    """Build a valid record or raise :class:`InvalidArgument` naming the first problem.

    ``created_at_ms=None`` means "not given": the record gets ``default_time_ms`` (the
    receive time), since live callers often leave it to the server. A lookup that records
    nothing may pass ``require_prompt_id=False``.
    """
    prompt_id = validate_id(prompt_id, "prompt_id", required=require_prompt_id)
    account_id = validate_id(account_id, "account_id", required=True)
    org_id = validate_id(org_id, "org_id", required=False)
    text = validate_text(text, max_text_bytes)
    if created_at_ms is None:
        created_at_ms = default_time_ms if default_time_ms is not None else now_ms()
    created_at_ms = validate_time_ms(created_at_ms, "created_at")
    return PromptRecord(prompt_id, account_id, org_id, created_at_ms, text)
