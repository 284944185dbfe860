"""Small conversions between Python values and protobuf well-known types, shared by the
client and the server so both sides agree on them."""

from __future__ import annotations

from datetime import datetime, timezone

from google.protobuf import timestamp_pb2


def ms_to_timestamp(ms: int) -> timestamp_pb2.Timestamp:
    """Epoch milliseconds as a Timestamp."""
    seconds, millis = divmod(int(ms), 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)


def to_timestamp(value: datetime | int | None) -> timestamp_pb2.Timestamp | None:
    """A datetime (naive means UTC) or epoch milliseconds as a Timestamp; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(value.astimezone(timezone.utc))
        return ts
    return ms_to_timestamp(value)
