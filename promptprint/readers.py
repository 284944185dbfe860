"""Reading prompt records from JSON Lines, CSV and Parquet files.

One record per line (or row), with the columns of DESIGN.md::

    {"prompt_id": "p-1", "account_id": "a-1", "org_id": "o-9",
     "created_at": "2026-02-01T12:00:00Z", "text": "..."}

``org_id`` is optional. Files may be gzip-compressed (``.gz``). Every line yields a
:class:`RecordLine` carrying either a record or the reason it could not be read, with
its file and line number, so a caller can report bad input instead of dropping it.

Only the *form* is checked here (parseable, fields of the right type, a valid
timestamp); what the content must satisfy (non-empty text, an account, size limits)
is judged by :func:`promptprint.records.validate_record` wherever the record is taken in.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from promptprint.errors import InvalidArgument
from promptprint.records import PromptRecord, parse_timestamp

FIELDS = ("prompt_id", "account_id", "org_id", "created_at", "text")


@dataclasses.dataclass(frozen=True, slots=True)
class RecordLine:
    """One line of an input file: a record, or the error that kept it from being one."""

    source: str
    line: int  # 1-based line (JSONL), row after the header (CSV), row (Parquet)
    record: PromptRecord | None
    error: InvalidArgument | None = None


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="surrogateescape", newline="")
    return open(path, encoding="utf-8", errors="surrogateescape", newline="")


def _format_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"), (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return kind
    raise ValueError(f"{path}: unknown format; use .jsonl, .csv or .parquet (optionally .gz for the first two)")


def record_from_mapping(row: dict[str, Any]) -> PromptRecord:
    """Build a record from a mapping with DESIGN.md's columns (form checks only)."""
    values: dict[str, str] = {}
    for field in ("prompt_id", "account_id", "org_id", "text"):
        value = row.get(field)
        if value is None:
            value = ""
        if isinstance(value, (int, float)) and field != "text" and not isinstance(value, bool):
            value = str(value)  # numeric ids are common in exports
        if not isinstance(value, str):
            raise InvalidArgument(f"{field} must be a string, got {type(value).__name__}", reason="FIELD_TYPE", field=field)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # undecodable bytes survive as lone surrogates
            raise InvalidArgument(f"{field} is not valid UTF-8", reason="INVALID_UTF8", field=field) from exc
        values[field] = value
    created = row.get("created_at")
    if created is None or created == "":
        raise InvalidArgument("created_at is required in batch input", reason="CREATED_AT_MISSING", field="created_at")
    if hasattr(created, "isoformat"):  # Parquet timestamps arrive as datetime
        created = created.isoformat()
    created_ms = parse_timestamp(str(created))
    return PromptRecord(values["prompt_id"], values["account_id"], values["org_id"], created_ms, values["text"])


def _read_jsonl(path: Path) -> Iterator[RecordLine]:
    with _open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise InvalidArgument("a line must hold one JSON object", reason="NOT_AN_OBJECT")
                yield RecordLine(str(path), number, record_from_mapping(row))
            except json.JSONDecodeError as exc:
                yield RecordLine(str(path), number, None, InvalidArgument(f"malformed JSON: {exc.msg}", reason="MALFORMED_JSON"))
            except RecursionError:  # e.g. "[[[[..." nested deeper than the parser's stack
                yield RecordLine(str(path), number, None, InvalidArgument("malformed JSON: nested too deeply", reason="MALFORMED_JSON"))
            except InvalidArgument as exc:
                yield RecordLine(str(path), number, None, exc)


def _read_csv(path: Path) -> Iterator[RecordLine]:
    csv.field_size_limit(sys.maxsize)
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        missing = {"prompt_id", "account_id", "text", "created_at"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: CSV header lacks column(s) {sorted(missing)}; expected {list(FIELDS)}")
        for number, row in enumerate(reader, start=1):
            try:
                yield RecordLine(str(path), number, record_from_mapping(row))
            except InvalidArgument as exc:
                yield RecordLine(str(path), number, None, exc)
            except csv.Error as exc:
                yield RecordLine(str(path), number, None, InvalidArgument(f"malformed CSV: {exc}", reason="MALFORMED_CSV"))


def _read_parquet(path: Path) -> Iterator[RecordLine]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    missing = {"prompt_id", "account_id", "text", "created_at"} - set(parquet.schema_arrow.names)
    if missing:
        raise ValueError(f"{path}: Parquet schema lacks column(s) {sorted(missing)}; expected {list(FIELDS)}")
    number = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            try:
                yield RecordLine(str(path), number, record_from_mapping(row))
            except InvalidArgument as exc:
                yield RecordLine(str(path), number, None, exc)


def read_records(path: str | Path) -> Iterator[RecordLine]:
    """Every line of a JSONL / CSV / Parquet file as a RecordLine, in file order.

    Raises:
        ValueError: the file's format is unknown or its header lacks required columns.
        OSError: the file cannot be read.
    """
    path = Path(path)
    kind = _format_of(path)
    if kind == "jsonl":
        return _read_jsonl(path)
    if kind == "csv":
        return _read_csv(path)
    return _read_parquet(path)
