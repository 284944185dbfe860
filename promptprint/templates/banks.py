"""Allow and deny banks of templates, persisted beside the records.

A **deny** entry is a known campaign template: traffic matching it scores at least 0.95.
An **allow** entry is a sanctioned or public template (an agent framework's scaffold,
an operator's own product prompt): traffic matching it scores at most 0.05.

An entry is a template text; slots may be written any way (``{payload}``,
``[INSERT PROMPT HERE]``, or an example payload). It matches

* a prompt that contains at least 60% of the entry's shingles (the prompt is the entry
  filled in), or
* a prompt whose template's constant part (its core, see :mod:`promptprint.templates.tracker`) is
  at least 60% covered by the entry (the entry holds the template, whatever example
  payload it was written with).

Matching happens at lookup time against the template's current state, so a new entry
applies at once to traffic already indexed (its templates and their history) as well
as to new traffic; removing an entry undoes it the same way.

Adding is idempotent on (kind, canonical text): a retried add (a CreateBankEntry whose
answer was lost) returns the entry the first call made instead of adding a second.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from pathlib import Path
from typing import Collection

from promptprint.templates.builtin_banks import BUILTIN_ALLOW
from promptprint.templates.scoring import BankHit, BankKind
from promptprint.errors import InvalidArgument, NotFound
from promptprint.records import validate_text
from promptprint.text.normalize import canonical_text
from promptprint.text.skeleton import Signature, signature
from promptprint.templates.tracker import MIN_CORE

MATCH_SHARE = 0.6
MAX_NOTE_LENGTH = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bank_entries (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('allow', 'deny')),
    text TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'user',
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bank_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclasses.dataclass(frozen=True)
class BankEntry:
    entry_id: int
    kind: BankKind
    text: str
    note: str
    source: str  # "user" or "builtin"
    created_at_ms: int


class Banks:
    """The allow and deny banks of one data directory: storage plus an in-memory matcher.

    Args:
        path: the SQLite file (the record store's; banks live in their own tables).
        max_text_bytes: the longest accepted entry text.
        seed_builtin: add the built-in allow entries the first time this file is opened.
    """

    def __init__(self, path: Path, *, max_text_bytes: int = 1 << 20, seed_builtin: bool = True) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._max_text_bytes = max_text_bytes
        self._lock = threading.Lock()
        self._entries: dict[int, BankEntry] = {}
        self._shingles: dict[int, frozenset[int]] = {}  # per entry, for the overlap tests
        self._postings: dict[int, set[int]] = {}
        self._by_key: dict[tuple[str, str], int] = {}  # (kind, canonical text) -> oldest entry id
        self._version = 0
        seeded = self._conn.execute("SELECT value FROM bank_meta WHERE key = 'builtin_seeded'").fetchone()
        if seed_builtin and seeded is None:
            self._conn.execute("BEGIN IMMEDIATE")
            for note, text in BUILTIN_ALLOW:
                self._conn.execute(
                    "INSERT INTO bank_entries(kind, text, note, source, created_at_ms) VALUES ('allow', ?, ?, 'builtin', ?)",
                    (text, note, int(time.time() * 1000)),
                )
            self._conn.execute("INSERT INTO bank_meta(key, value) VALUES ('builtin_seeded', '1')")
            self._conn.execute("COMMIT")
        for row in self._conn.execute("SELECT id, kind, text, note, source, created_at_ms FROM bank_entries ORDER BY id"):
            self._load(BankEntry(*row))

    @property
    def version(self) -> int:
        """Changes whenever an entry is added or removed (lets callers cache matches)."""
        return self._version

    @staticmethod
    def _key(kind: str, text: str) -> tuple[str, str]:
        """What makes two entries the same: their kind and canonical text (they match the
        same prompts, since signatures are taken of the canonical text)."""
        return kind, canonical_text(text)

    def _load(self, entry: BankEntry) -> None:
        shingles = signature(entry.text).shingles
        self._entries[entry.entry_id] = entry
        self._by_key.setdefault(self._key(entry.kind, entry.text), entry.entry_id)
        self._shingles[entry.entry_id] = shingles
        for s in shingles:
            self._postings.setdefault(s, set()).add(entry.entry_id)
        self._version += 1

    def add(self, kind: str, text: str, note: str = "") -> BankEntry:
        """Persist a new entry (durable on return) and start matching it.

        Idempotent: when an entry of the same kind with the same canonical text exists
        (a built-in one included), that entry is returned, same id, and nothing is
        added. Its note is kept as it was even if ``note`` differs: the first add wins
        (remove the entry and add it again to change the note)."""
        if kind not in ("allow", "deny"):
            raise InvalidArgument(f"kind must be 'allow' or 'deny', got {kind!r}", reason="BANK_KIND_INVALID", field="kind")
        validate_text(text, self._max_text_bytes)
        if len(note) > MAX_NOTE_LENGTH:
            raise InvalidArgument(f"note is {len(note)} characters; at most {MAX_NOTE_LENGTH}", reason="NOTE_TOO_LONG", field="note")
        if len(signature(text)) < MIN_CORE:
            raise InvalidArgument(
                "the text is too short to identify a template (fewer than ~8 words); give the full template",
                reason="BANK_TEXT_TOO_SHORT",
                field="text",
            )
        key = self._key(kind, text)
        with self._lock:
            existing = self._by_key.get(key)
            if existing is not None:
                return self._entries[existing]
            created = int(time.time() * 1000)
            cursor = self._conn.execute(
                "INSERT INTO bank_entries(kind, text, note, source, created_at_ms) VALUES (?, ?, ?, 'user', ?)",
                (kind, text, note, created),
            )
            entry = BankEntry(int(cursor.lastrowid), kind, text, note, "user", created)  # type: ignore[arg-type]
            self._load(entry)
        return entry

    def remove(self, entry_id: int) -> BankEntry:
        with self._lock:
            entry = self._entries.get(entry_id)
            if entry is None:
                raise NotFound(f"no bank entry {entry_id}", reason="BANK_ENTRY_NOT_FOUND", field="entry_id")
            self._conn.execute("DELETE FROM bank_entries WHERE id = ?", (entry_id,))
            for s in self._shingles.pop(entry_id):
                posting = self._postings.get(s)
                if posting is not None:
                    posting.discard(entry_id)
                    if not posting:
                        del self._postings[s]
            del self._entries[entry_id]
            key = self._key(entry.kind, entry.text)
            if self._by_key.get(key) == entry_id:  # an older data dir may hold a twin: it takes over
                del self._by_key[key]
                twin = next((e.entry_id for e in self._entries.values() if self._key(e.kind, e.text) == key), None)
                if twin is not None:
                    self._by_key[key] = twin
            self._version += 1
        return entry

    def entries(self, kind: str | None = None) -> list[BankEntry]:
        """All entries in id order, optionally of one kind."""
        return [e for e in self._entries.values() if kind is None or e.kind == kind]

    def get(self, entry_id: int) -> BankEntry:
        entry = self._entries.get(entry_id)
        if entry is None:
            raise NotFound(f"no bank entry {entry_id}", reason="BANK_ENTRY_NOT_FOUND", field="entry_id")
        return entry

    def match(self, sig: Signature, core: Collection[int] | None) -> BankHit | None:
        """The entry matching a prompt (by its signature) or its template (by its core);
        the one with the largest overlap, deny winning ties."""
        with self._lock:
            return self._match(sig, core)

    def _match(self, sig: Signature, core: Collection[int] | None) -> BankHit | None:
        candidates: set[int] = set()
        prompt = sig.sorted_shingles.tolist()
        for s in prompt:
            posting = self._postings.get(s)
            if posting:
                candidates |= posting
        if core:
            for s in core:
                posting = self._postings.get(s)
                if posting:
                    candidates |= posting
        best: tuple[int, bool, int] | None = None
        for entry_id in candidates:
            shingles = self._shingles.get(entry_id)
            if shingles is None:
                continue
            prompt_overlap = len(shingles.intersection(prompt))
            matched = prompt_overlap >= MATCH_SHARE * len(shingles)
            overlap = prompt_overlap
            if not matched and core:
                core_overlap = len(shingles.intersection(core))
                matched = core_overlap >= MIN_CORE and core_overlap >= MATCH_SHARE * len(core)
                overlap = core_overlap
            if matched:
                key = (overlap, self._entries[entry_id].kind == "deny", -entry_id)
                if best is None or key > best:
                    best = key
        if best is None:
            return None
        entry = self._entries[-best[2]]
        return BankHit(entry.entry_id, entry.kind, entry.note)

    def close(self) -> None:
        self._conn.close()
