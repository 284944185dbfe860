"""Types of the C extension promptprint/text/_canonical.c, read from its method table."""

from typing import Any, TypeAlias

import numpy as np
from typing_extensions import Buffer

# What the C code reads through the buffer protocol. numpy's stubs give ndarray __buffer__
# only from Python 3.12 on, so ndarray is named beside Buffer for 3.11.
_Array: TypeAlias = Buffer | np.ndarray[Any, Any]

IGNORECASE_EXTRAS: dict[str, str]
"""The non-ASCII code points each re.I character class of the C scanner takes."""

def normalize(text: str, /) -> str:
    """normalize.normalize of an ASCII str (ValueError for any other)."""

def strip_and_collapse(text: str, format_ranges: _Array, /) -> str:
    """Format-character removal (format_ranges: (first, last) uint32 pairs), control
    replacement and whitespace collapse, for any str."""

def mask_identifiers(text: str, /) -> str:
    """normalize.mask_identifiers up to its leading-tag strip, of any str."""

def skeleton(text: str, /) -> str:
    """skeleton.skeleton of any str."""

def signatures(
    texts: list[str],
    stages: _Array,
    shingle_words: int,
    head_tokens: int,
    tail_tokens: int,
    anchor_tokens: int,
    /,
) -> list[tuple[int, int, bytes, int, int] | None]:
    """Per text, (head anchor, tail anchor, sorted unique uint64 shingle bytes, crc32 of the
    canonical text, 64-bit FNV-1a of it), or None where the Python path must finish."""
