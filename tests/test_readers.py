"""Batch input files: every line is a record or a located, named error."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from promptprint.readers import read_records

ROWS = [
    {"prompt_id": "p-1", "account_id": "a-1", "org_id": "o-1", "created_at": "2026-02-01T12:00:00Z", "text": "hello"},
    {"prompt_id": "p-2", "account_id": "a-2", "created_at": "2026-02-01T12:00:01+00:00", "text": "world"},
]


def test_jsonl_good_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    lines = [json.dumps(r) for r in ROWS] + [
        "{not json",
        json.dumps(ROWS[0] | {"created_at": "yesterday"}),
        json.dumps(ROWS[0] | {"created_at": None}),
        json.dumps(["a", "list"]),
        json.dumps(ROWS[0] | {"text": 5}),
        "",
    ]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    out = list(read_records(path))
    assert [o.record.prompt_id for o in out[:2]] == ["p-1", "p-2"]  # type: ignore[union-attr]
    assert out[1].record.org_id == "" and out[0].record.created_at_ms == 1769947200000  # type: ignore[union-attr]
    assert [(o.line, o.error.reason) for o in out[2:]] == [  # type: ignore[union-attr]
        (3, "MALFORMED_JSON"),
        (4, "TIMESTAMP_MALFORMED"),
        (5, "CREATED_AT_MISSING"),
        (6, "NOT_AN_OBJECT"),
        (7, "FIELD_TYPE"),
    ]


def test_invalid_utf8_is_reported_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    good = json.dumps(ROWS[0]).encode()
    bad = json.dumps(ROWS[1]).encode().replace(b"world", b"w\xff\xfeorld")
    path.write_bytes(good + b"\n" + bad + b"\n")
    out = list(read_records(path))
    assert out[0].record is not None
    assert out[1].record is None and out[1].error.reason == "INVALID_UTF8"  # type: ignore[union-attr]


def test_csv_and_parquet(tmp_path: Path) -> None:
    csv_path = tmp_path / "in.csv"
    csv_path.write_text('prompt_id,account_id,org_id,created_at,text\np-1,a-1,o-1,2026-02-01T12:00:00Z,"multi\nline, text"\n')
    (line,) = list(read_records(csv_path))
    assert line.record.text == "multi\nline, text" and line.line == 1  # type: ignore[union-attr]
    parquet_path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "org_id": r.get("org_id")} for r in ROWS]), parquet_path)
    records = [o.record for o in read_records(parquet_path)]
    assert [r.text for r in records] == ["hello", "world"]  # type: ignore[union-attr]


def test_unknown_format_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        read_records(tmp_path / "in.txt")
    path = tmp_path / "in.csv"
    path.write_text("id,text\n1,hi\n")
    with pytest.raises(ValueError, match="lacks column"):
        list(read_records(path))
