"""The hand-written texts of the evaluation harness, kept as data files beside this one.

Templates, word lists and look-alike prompts are data, not code: they are TOML here
(multi-line strings keep a template readable and its diffs line by line), and the
modules that use them turn them into typed tuples on import.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

__all__ = ["load_toml"]

_HERE = Path(__file__).resolve().parent


def load_toml(name: str) -> dict[str, Any]:
    """The parsed ``<name>.toml`` of this folder; tables and arrays keep their file order."""
    with (_HERE / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)
