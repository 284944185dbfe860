"""Shingle → template postings for the template tracker, most of them in sorted arrays.

A Python dict of boxed 64-bit ints costs about 100 bytes per (shingle, template) entry,
and the tracker holds up to 64 entries per template: at 100k prompts that was a third
of the tracker's memory. Here the bulk of the entries lives in two parallel sorted
machine arrays (shingle, template id: 16 bytes an entry), binary-searched per lookup.
New templates go to a table of new entries first (``_shingles.NewPostings``, a hash
table in C), merged into the arrays once it holds ``merge_at`` entries or a
sixty-fourth of the arrays, whichever is more; template ids only grow, so a merge is one
pass over the arrays, never a sort of them. A merge is linear in the arrays (~8 ms at
450k entries, ~19 ms at 1M, measured with another job on the machine), so a fixed
threshold made each entry be rewritten once per 8,192 new ones: at a day of benign
traffic (every prompt founding a template, ~64 entries each) that grew to milliseconds
per prompt. With the proportional threshold each entry is rewritten ~64 times in its
life, and the table holds at most 1/64 of the entries (~16 bytes an entry and ~32 a
distinct shingle there). It was a dict of int -> list (~180 bytes an entry), whose
lookups cost a PyLong and a Python hash per query shingle: ~13 of a lookup's ~31 µs at
440k entries. A second sorted run (a two-level LSM) avoided the dict's growth but cost every
lookup a second binary search: +20-35 us per lookup at 666k entries, measured and
dropped.

A lookup (``ranked``) and a posting (``add``) binary-search and walk the arrays and the
table of new entries in C (``promptprint/text/_shingles.c``), one pass in shingle order: in Python
they cost ~70 and ~100 µs, one int object per entry read (per-call overhead, not
arithmetic). A merge sorts the new entries with one stable argsort and merges them into
the run in one pass in C, writing each array and the bucket directory once (np.insert
of both arrays and a searchsorted per bucket took ~2x as long: 13-15 against 7-8 ms at
450k entries in one process); no further
copies, which would stay resident as heap fragments.

A removed template's entries are not rewritten at once: its id goes to a dead set,
lookups never return it, and the arrays are compacted when dead entries reach an eighth
of them. Each shingle points at no more than ``cap`` templates (the oldest still
posted): a shingle shared by more templates tells them apart no better than the rest.
Dead entries keep their place in the cap until the next compaction.

Not thread-safe: the tracker calls it under its own lock.
"""

from __future__ import annotations

from array import array

import numpy as np

from promptprint.text import _shingles


class ShinglePostings:
    """Which templates were posted under each shingle.

    Args:
        cap: the most templates one shingle points at.
        merge_at: new entries held apart before they are merged into the arrays (at
            least: a sixty-fourth of the arrays' entries once that is more).
    """

    def __init__(self, cap: int = 8, merge_at: int = 8192) -> None:
        if cap < 1 or merge_at < 1:
            raise ValueError(f"cap and merge_at must be >= 1, got {cap}, {merge_at}")
        self._cap = cap
        self._merge_at = merge_at
        empty_keys, empty_tids = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
        self._set_run(empty_keys, empty_tids, empty_keys, empty_tids)
        self._new = _shingles.NewPostings()  # entries since the last merge, in C
        self._dead: set[int] = set()
        self._dead_entries = 0

    def __len__(self) -> int:
        """Entries held, dead ones not yet compacted included."""
        return len(self._keys) + len(self._new)

    def add(self, template_id: int, shingles: np.ndarray) -> None:
        """Post a new template (its id larger than every id posted before) under its
        shingles (``uint64``, distinct)."""
        _shingles.postings_add(self._keys, self._directory, self._bits, self._new, shingles, template_id, self._cap)
        if len(self._new) >= max(self._merge_at, len(self._keys) >> 6):
            self._merge()

    def remove(self, template_id: int, shingles: np.ndarray | array[int]) -> None:
        """Unpost a template (the shingles it was posted under, ``uint64``)."""
        self._new.remove(template_id, shingles)
        self._dead.add(template_id)
        self._dead_entries += len(shingles)  # an upper bound: some were past the cap or new
        if self._dead_entries * 8 >= max(len(self._keys), self._merge_at):
            self._merge()

    def ranked(self, shingles: np.ndarray, limit: int) -> list[tuple[int, int]]:
        """The ``limit`` live templates posted under most of these shingles (``uint64``),
        as (template id, shingles shared) pairs. Ties go to the template met first when
        the shingles are read in the given order (the tracker gives them sorted; each
        shingle's templates oldest first), so a ranking never depends on when the
        postings were last merged."""
        # The walk over the entries runs in C (promptprint/text/_shingles.c, postings_ranked): in
        # Python it cost ~70 us a lookup, one int object per entry read.
        return _shingles.postings_ranked(
            self._keys, self._directory, self._bits, self._tids, shingles, self._new, self._dead, limit
        )

    def _merge(self) -> None:
        """Fold the new entries into the sorted arrays and drop dead templates' entries."""
        keys, tids = self._keys, self._tids
        if self._dead:
            live = ~np.isin(tids, np.fromiter(self._dead, dtype=np.int64, count=len(self._dead)))
            keys, tids = keys[live], tids[live]
            self._dead = set()
            self._dead_entries = 0
        exported_keys, exported_tids = self._new.export()  # each key's ids together, oldest first
        new_keys = np.frombuffer(exported_keys, dtype=np.uint64)
        new_tids = np.frombuffer(exported_tids, dtype=np.int64)
        # by key; a stable sort keeps each key's ids in posting order (oldest first)
        order = np.argsort(new_keys, kind="stable")
        self._new.clear()
        self._set_run(keys, tids, new_keys[order], new_tids[order])

    def _set_run(self, keys: np.ndarray, tids: np.ndarray, new_keys: np.ndarray, new_tids: np.ndarray) -> None:
        """Make the sorted run ``keys``/``tids`` with ``new_keys``/``new_tids`` (sorted)
        merged in, and its bucket directory, in one pass in C (``merge_postings``; new
        ids are larger than every posted id, so a key's old entries go first and each
        key's entries stay oldest first). With ``bits`` top bits per bucket,
        ``directory[b]`` is the first position whose key is in bucket ``b`` or later (the
        last entry is the length). Keys are uniform hashes, so ~8 fall in a bucket and a
        search reads one or two cache lines instead of ~20 scattered ones; 8 bytes per 8
        entries (+6% on the arrays' 16 bytes an entry)."""
        bits = min(24, int((len(keys) + len(new_keys)) // 8).bit_length())
        merged_keys, merged_tids, directory = _shingles.merge_postings(keys, tids, new_keys, new_tids, bits)
        self._keys = np.frombuffer(merged_keys, dtype=np.uint64)
        self._tids = np.frombuffer(merged_tids, dtype=np.int64)
        self._bits, self._directory = bits, np.frombuffer(directory, dtype=np.int64)
