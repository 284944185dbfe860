"""Types of the C extension promptprint/text/_shingles.c, read from its method tables.

Every array argument is read through the buffer protocol (numpy arrays, array('Q'), bytes):
sorted uint64 for shingles and keys, int64 for template ids and bucket directories."""

from typing import Any, TypeAlias, TypeVar, final

import numpy as np
from typing_extensions import Buffer

# What the C code reads through the buffer protocol. numpy's stubs give ndarray __buffer__
# only from Python 3.12 on, so ndarray is named beside Buffer for 3.11.
_Array: TypeAlias = Buffer | np.ndarray[Any, Any]
_A = TypeVar("_A", bound=_Array)  # one kind of array in a list (lists are invariant)

@final
class NewPostings:
    """Shingle -> template ids posted since the last merge, oldest first (len: live entries)."""

    def __init__(self) -> None: ...
    def __len__(self) -> int: ...
    def remove(self, template_id: int, shingles: _Array, /) -> int:
        """Unpost a template from these shingles; the entries removed."""

    def export(self) -> tuple[bytes, bytes]:
        """The live entries as (uint64 keys, int64 template ids) bytes, each key's oldest first."""

    def clear(self) -> None:
        """Forget every entry (after a merge)."""

def tokens(skeleton: str, /) -> list[str]:
    """The word tokens of a skeleton (re.findall(r"<\\w+>|\\w+", skeleton))."""

def shared_count(a: _Array, b: _Array, /) -> int:
    """How many values two sorted arrays of distinct uint64 have in common."""

def best_candidate(
    query: _Array,
    head: int,
    tail: int,
    cores: list[_A],
    heads: list[int],
    tails: list[int],
    min_core: int,
    abs_shared: int,
    join_share: float,
    /,
) -> int:
    """TemplateTracker._best over candidate templates: the best one's index, or -1."""

def founder_shingles(shingles: _Array, head: int, tail: int, limit: int, /) -> bytes:
    """What a new template keeps of its founder's shingles, as sorted uint64 bytes."""

def join_core(founder: _Array, hits: _Array, shingles: _Array, need: int, /) -> bytes:
    """Template.join: bump hits (uint32, in place) and return the new core as uint64 bytes."""

def postings_add(
    keys: _Array, directory: _Array, bits: int, new: NewPostings, shingles: _Array, template_id: int, cap: int, /
) -> int:
    """ShinglePostings.add: the entries added to new."""

def postings_ranked(
    keys: _Array, directory: _Array, bits: int, tids: _Array, query: _Array, new: NewPostings, dead: set[int] | frozenset[int], limit: int, /
) -> list[tuple[int, int]]:
    """ShinglePostings.ranked: [(template id, shingles shared), ...], the limit best."""

def merge_postings(keys: _Array, tids: _Array, new_keys: _Array, new_tids: _Array, bits: int, /) -> tuple[bytes, bytes, bytes]:
    """ShinglePostings._merge: (keys, tids, directory) of the merged run, as bytes."""
