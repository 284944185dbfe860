"""Which reconstructed campaign a live prompt's template belongs to: the seam between
the offline reconstruction and CheckPrompt.

The reconstruction writes ``campaign_templates.parquet`` beside its other outputs
(:mod:`promptprint.reconstruct.outputs`): one
row per lexical template of every reported campaign, with that template's *core*
(the sorted skeleton shingles its members share, :mod:`promptprint.templates.tracker`).
Shingles are a pure function of the canonical text, so they mean the same thing in the
server's tracker as in the reconstruction's replay (template *ids* do not: each tracker
numbers its own).

A prompt belongs to the campaign whose template core it covers as the banks match
(:mod:`promptprint.templates.banks`): the prompt holds ``MATCH_SHARE`` of the core's
shingles, or the prompt's online template core shares ``MIN_CORE`` shingles and
``MATCH_SHARE`` of itself with it. The largest overlap wins; ties go to the better
ranked campaign.

:class:`CampaignMembership` reads the table of a data directory's *published*
reconstruction and reloads it when a newer one is published (the pointer or the file
changes), as :class:`promptprint.reconstruct.catalog.CampaignCatalog` does.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Collection

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from promptprint.reconstruct.outputs import MEMBERSHIP_FILE, latest
from promptprint.templates.banks import MATCH_SHARE
from promptprint.templates.tracker import MIN_CORE
from promptprint.text.skeleton import Signature

class _Cores:
    """The cores of one reconstruction, with shingle postings to find candidates fast."""

    def __init__(self, table: pa.Table) -> None:
        self.campaigns: list[str] = [str(c) for c in table.column("campaign_id").to_pylist()]
        self.ranks: list[int] = [int(r or 0) for r in table.column("rank").to_pylist()]
        self.cores = [np.asarray(core, dtype=np.uint64) for core in table.column("core").to_pylist()]
        self.postings: dict[int, list[int]] = {}
        for entry, core in enumerate(self.cores):
            for shingle in core.tolist():
                self.postings.setdefault(shingle, []).append(entry)

    def match(self, sig: Signature, core: Collection[int] | None) -> str | None:
        prompt = sig.sorted_shingles
        online = np.asarray(sorted(core), dtype=np.uint64) if core else np.zeros(0, np.uint64)
        candidates = {e for s in prompt.tolist() for e in self.postings.get(s, ())}
        candidates |= {e for s in online.tolist() for e in self.postings.get(s, ())}
        best: tuple[int, int] | None = None  # (overlap, -rank)
        winner = None
        for entry in candidates:
            entry_core = self.cores[entry]
            overlap = len(np.intersect1d(entry_core, prompt, assume_unique=True))
            matched = overlap >= MATCH_SHARE * len(entry_core)
            if not matched and len(online):
                overlap = len(np.intersect1d(entry_core, online, assume_unique=True))
                matched = overlap >= MIN_CORE and overlap >= MATCH_SHARE * len(online)
            key = (overlap, -self.ranks[entry])
            if matched and (best is None or key > best):
                best, winner = key, self.campaigns[entry]
        return winner


class CampaignMembership:
    """The reconstructed campaign of a live prompt's template (thread-safe, reloads itself)."""

    def __init__(self, data_dir: str | Path, recheck_s: float = 1.0) -> None:
        self._data_dir = Path(data_dir)
        self._recheck_s = recheck_s
        self._lock = threading.Lock()
        self._key: tuple[str, int] | None = None
        self._cores: _Cores | None = None
        self._checked_at = -float("inf")

    def published(self) -> bool:
        """Whether a reconstruction with templates is published (what CheckPrompt asks
        before it computes anything for :meth:`campaign_of`)."""
        return self._current() is not None

    def _current(self) -> _Cores | None:
        """The published cores; the data dir is looked at again at most every ``recheck_s``
        (a CheckPrompt must not pay a directory read)."""
        now = time.monotonic()
        if now - self._checked_at < self._recheck_s:
            return self._cores
        self._checked_at = now
        folder = latest(self._data_dir)
        path = None if folder is None else folder / MEMBERSHIP_FILE
        if path is None or not path.exists():
            self._cores = self._key = None
            return None  # no reconstruction published yet, or one from before this table existed
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if key != self._key:
                self._cores = _Cores(pq.read_table(path))
                self._key = key
            return self._cores

    def campaign_of(self, sig: Signature, core: Collection[int] | None) -> str | None:
        """The id of the reconstructed campaign a prompt (its signature, and its online
        template's core if it has one) belongs to, or None."""
        cores = self._current()
        return None if cores is None else cores.match(sig, core)
