"""Reading the public datasets under ``shared/data``.

The simulator and the benchmarks draw their prompts from real datasets that live beside
the checkout (``../shared/data``, never copied into it). Their files come as plain,
gzip'ed or bzip2'ed JSON Lines and CSV; this opens each kind the same way everywhere.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_DATA_DIR", "open_text", "read_csv", "read_jsonl"]

#: ``shared/data`` next to the repository root (this file is ``<root>/evaluation/datasets.py``).
DEFAULT_DATA_DIR: Path = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


def open_text(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file, decompressed by suffix (``.gz``, ``.bz2``)."""
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            yield from handle
    elif path.suffix == ".bz2":
        with bz2.open(path, "rt", encoding="utf-8") as handle:
            yield from handle
    else:
        with path.open("r", encoding="utf-8", newline="") as handle:
            yield from handle


def read_jsonl(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines file, skipping blank lines; at most the first ``limit`` lines."""
    for number, line in enumerate(open_text(path)):
        if limit is not None and number >= limit:
            break
        if line.strip():
            yield json.loads(line)


def read_csv(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a CSV file with a header; fields may be as long as a whole prompt."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    yield from csv.DictReader(open_text(path))
