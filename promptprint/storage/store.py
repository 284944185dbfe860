"""The durable record store: SQLite in WAL mode, one file.

Every acknowledged prompt is here before anyone is told it was taken: inserts commit
with ``synchronous=FULL``, so neither a killed process nor a power cut loses an
acknowledged batch. The store keeps the original text, the metadata and the
fingerprint vector (float16, half the disk of float32, cosine error ~1e-4), so the
in-memory index can always be rebuilt from it without re-embedding.

A record may be stored before its vector exists (the fast path embeds behind the
acknowledgement): its ``vector`` is then an empty blob, *pending*, filled in later by
:meth:`RecordStore.set_vectors`. The text is durable either way, so a pending vector is
only ever late, never lost: a restart finds pending rows and embeds them. A row the
embedding policy gives no vector (promptprint.index.embedding_policy) is marked *skipped*
(:meth:`RecordStore.skip_vectors`: a one-byte blob, :data:`SKIPPED`): not pending, never in
the vector index, and never retried. The three states are told apart by ``length(vector)``:
0 pending, 1 skipped, ``2 * dimension`` a vector.

Row ids (``prompts.id``) double as FAISS ids. Accounts and orgs are interned into small
integer codes (``accounts.id``, ``orgs.id``; org code 0 means "no org") so the server can
keep per-prompt metadata in compact arrays.

Privacy mode (``store_text=False``): the text column is left empty; the store keeps the
fingerprint vector, the metadata, the SHA-256 of the text (idempotent replays still
work), the prompt's lexical template signature (``prompt_signatures``, so campaign
activity survives a restart) and its copy hash (below). Deleted rows are overwritten
(``secure_delete``), not just unlinked.

The lexical view (``prompt_canonical``): every row's 64-bit hash of its canonical text
(promptprint.text.skeleton.copy_hash: cosmetic noise, ids, whitespace and case hash
alike), written in the insert's transaction, so copies of a prompt are found
(:meth:`RecordStore.copies`) the moment it is acknowledged, long before its vector
exists. Privacy mode keeps it too: a hash of the canonical text, not the text. A store
written before the view existed gets it on open, backfilled from the stored texts; rows
written in privacy mode have no text to hash and stay out of it (logged).

The store is bound to one fingerprint identity (model, dimension, normalizer version,
skeleton version): opening it with another is refused, since mixing vectors of two
models gives nonsense, and template signatures of two skeleton versions do not compare
(privacy mode stores them and keeps no text to re-derive them from). A store written
before the skeleton version was recorded was written by ``skel-1``
(:data:`UNRECORDED_SKELETON_VERSION`), and is read as such.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from promptprint.errors import FailedPrecondition
from promptprint.records import PromptRecord
from promptprint.storage.identity import UNRECORDED_SKELETON_VERSION, StoreIdentity
from promptprint.text.skeleton import signatures as text_signatures

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
VECTOR_DTYPE = np.dtype("<f2")
SKIPPED = b"\x00"  # the vector column of a row the embedding policy gave no vector

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS orgs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS prompts (
    id INTEGER PRIMARY KEY,
    prompt_id TEXT NOT NULL UNIQUE,
    account INTEGER NOT NULL,
    org INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    text_sha256 BLOB NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS prompt_signatures (id INTEGER PRIMARY KEY, signature BLOB NOT NULL);
"""

# The lexical view, apart from _SCHEMA: its absence tells an older store to backfill.
_LEXICAL_SCHEMA = """
CREATE TABLE prompt_canonical (hash INTEGER NOT NULL, id INTEGER PRIMARY KEY);
CREATE INDEX prompt_canonical_hash ON prompt_canonical(hash);
"""
_BACKFILL_BATCH = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class StoredPrompt:
    """A recorded prompt as read back for display."""

    row_id: int
    prompt_id: str
    account_id: str
    org_id: str
    created_at_ms: int
    text: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class IndexRows:
    """A batch of rows in the form the in-memory index wants them."""

    ids: np.ndarray  # int64
    vectors: np.ndarray  # float32, (n, dimension); zero rows where pending
    accounts: np.ndarray  # int32 account codes
    orgs: np.ndarray  # int32 org codes, 0 = none
    created_at_ms: np.ndarray  # int64
    pending: np.ndarray  # bool: the row's vector is not computed yet

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, selector: slice | np.ndarray) -> "IndexRows":
        """The rows picked by a slice or index array."""
        return IndexRows(
            self.ids[selector], self.vectors[selector], self.accounts[selector], self.orgs[selector],
            self.created_at_ms[selector], self.pending[selector],
        )


def text_digest(text: str) -> bytes:
    """SHA-256 of the UTF-8 text: how "the same text" is decided for idempotent replays."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def copy_hashes_of(texts: Sequence[str]) -> list[int]:
    """The lexical view's keys of raw texts (Signature.copy_hash, from the C scanner), for
    callers that have no signatures at hand."""
    return [sig.copy_hash for sig in text_signatures(texts)]


def _signed64(value: int) -> int:
    """An unsigned 64-bit hash as SQLite's signed INTEGER."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_stored_precision(vectors: np.ndarray) -> np.ndarray:
    """Round vectors through the stored float16 form, so that the live index and an index
    rebuilt from the store after a restart hold bit-identical vectors."""
    return np.ascontiguousarray(vectors, dtype=np.float32).astype(VECTOR_DTYPE).astype(np.float32)


class RecordStore:
    """SQLite-backed store of prompt records and their vectors.

    Writes go through one connection and must be serialized by the caller (the store
    checks nothing about concurrent writers beyond SQLite's own locking). Reads may
    come from any thread: each thread gets its own read connection.
    """

    def __init__(self, path: Path, identity: StoreIdentity, *, store_text: bool = True) -> None:
        self._store_text = store_text
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._identity = identity
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)
        self._check_identity()
        self._open_lexical_view()
        self._local = threading.local()
        self._account_codes: dict[str, int] = dict(self._writer.execute("SELECT name, id FROM accounts"))
        self._org_codes: dict[str, int] = dict(self._writer.execute("SELECT name, id FROM orgs"))
        self._account_names: dict[int, str] = {v: k for k, v in self._account_codes.items()}
        self._org_names: dict[int, str] = {v: k for k, v in self._org_codes.items()}
        self._names_lock = threading.Lock()
        self._recorded = self.count()  # kept by this process's inserts and deletes (see recount)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")  # purged texts are overwritten, not left in free pages
        return conn

    def _check_identity(self) -> None:
        meta = dict(self._writer.execute("SELECT key, value FROM meta"))
        wanted = self._identity.as_meta() | {"schema_version": SCHEMA_VERSION}
        if not meta:
            with self._transaction():
                self._writer.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", sorted(wanted.items()))
            return
        stored = meta | {"skeleton_version": meta.get("skeleton_version", UNRECORDED_SKELETON_VERSION)}
        mismatched = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v and k != "skeleton_version"}
        if mismatched:
            detail = "; ".join(f"{k}: stored {old!r}, configured {new!r}" for k, (old, new) in mismatched.items())
            raise FailedPrecondition(
                f"record store {self._path} was written with other fingerprint settings ({detail}). "
                "Use another data directory, or re-fingerprint the records with the configured model.",
                reason="STORE_IDENTITY_MISMATCH",
            )
        if stored["skeleton_version"] != self._identity.skeleton_version:
            self._refuse_skeleton(stored["skeleton_version"])

    def _refuse_skeleton(self, stored: str) -> None:
        """A store whose template signatures this build cannot compare with its own: say
        which data dir, both versions, and the way out."""
        privacy = self._writer.execute("SELECT 1 FROM prompt_signatures LIMIT 1").fetchone() is not None
        raise FailedPrecondition(
            f"data dir {self._path.parent} was written with skeleton version {stored!r}, but this build computes "
            f"{self._identity.skeleton_version!r}: its template signatures no longer compare with new ones. "
            "Reindex the source prompts into a new data directory (`promptprint reindex SOURCE... --data-dir NEW`), "
            "or serve this one with the version that wrote it."
            + (
                " It was written in privacy mode and keeps no text, so its signatures cannot be re-derived "
                "from it: only the original source prompts can rebuild it."
                if privacy else ""
            ),
            reason="STORE_IDENTITY_MISMATCH",
        )

    def _open_lexical_view(self) -> None:
        """Create the lexical view in a store written before it, and backfill it from the
        stored texts in the same transaction (a crash leaves no half view: the next open
        starts over). Rows written in privacy mode keep no text, so they cannot be
        backfilled: their copies are found by the semantic view only."""
        conn = self._writer
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'prompt_canonical'").fetchone():
            return
        filled = 0
        with self._transaction():
            for statement in filter(str.strip, _LEXICAL_SCHEMA.split(";")):
                conn.execute(statement)
            cursor = conn.execute(
                "SELECT id, text FROM prompts WHERE id NOT IN (SELECT id FROM prompt_signatures) ORDER BY id"
            )
            while rows := cursor.fetchmany(_BACKFILL_BATCH):
                hashes = copy_hashes_of([text for _, text in rows])
                conn.executemany(
                    "INSERT INTO prompt_canonical(hash, id) VALUES (?, ?)",
                    [(_signed64(h), row_id) for h, (row_id, _) in zip(hashes, rows)],
                )
                filled += len(rows)
            textless = conn.execute("SELECT count(*) FROM prompt_signatures").fetchone()[0]
        if filled or textless:
            log.info("lexical view of %s created: %d prompts backfilled from their texts", self._path, filled)
        if textless:
            log.warning(
                "%d prompts of %s were written in privacy mode and keep no text: they cannot join the lexical view, "
                "so FindNearDuplicates finds their copies through their vectors only", textless, self._path,
            )

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    class _Txn:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self._conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self._conn.execute("BEGIN IMMEDIATE")
            return self._conn

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            if exc_type is None:
                self._conn.execute("COMMIT")
            else:
                self._conn.execute("ROLLBACK")

    def _transaction(self) -> "RecordStore._Txn":
        return RecordStore._Txn(self._writer)

    @property
    def path(self) -> Path:
        return self._path

    # -- writes ----------------------------------------------------------------------------
    def insert(
        self,
        records: Sequence[PromptRecord],
        vectors: np.ndarray | None,
        signatures: Sequence[bytes] | None = None,
        *,
        copy_hashes: Sequence[int] | None = None,
    ) -> IndexRows:
        """Insert new records in one transaction; durable on return.

        ``vectors=None`` stores the records with their vectors pending (see the module
        docstring). The caller has checked that no prompt_id exists yet (under its writer
        lock). Returns the rows as the index should add them (vectors at stored precision).
        In privacy mode ``signatures`` (promptprint.text.skeleton.signature_to_bytes) are required
        and stored in place of the texts; vectors cannot be pending then (no text to
        embed later).
        ``copy_hashes``: the records' Signature.copy_hash, which the ingest path computed
        outside its lock; computed here when not given (reindex, tests).
        """
        pending = vectors is None
        if vectors is None:
            vectors = np.zeros((len(records), self._identity.dimension), dtype=np.float32)
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        if not self._store_text and (signatures is None or len(signatures) != len(records)):
            raise ValueError("privacy mode stores a template signature per record instead of its text")
        if not self._store_text and pending:
            raise ValueError("privacy mode keeps no text to embed later: vectors must be computed before insert")
        if copy_hashes is None:
            copy_hashes = copy_hashes_of([r.text for r in records])
        if len(copy_hashes) != len(records):
            raise ValueError(f"{len(records)} records but {len(copy_hashes)} copy hashes")
        stored = np.ascontiguousarray(vectors, dtype=np.float32).astype(VECTOR_DTYPE)
        new_accounts: dict[str, int] = {}
        new_orgs: dict[str, int] = {}
        ids: list[int] = []
        accounts: list[int] = []
        orgs: list[int] = []
        with self._transaction() as conn:
            next_id = self._next_row_id(conn)
            rows = []
            for record, vector in zip(records, stored):
                account = self._account_codes.get(record.account_id) or new_accounts.get(record.account_id)
                if account is None:
                    account = new_accounts[record.account_id] = self._next_code(conn, "accounts", new_accounts)
                org = 0
                if record.org_id:
                    org = self._org_codes.get(record.org_id) or new_orgs.get(record.org_id) or 0
                    if not org:
                        org = new_orgs[record.org_id] = self._next_code(conn, "orgs", new_orgs)
                rows.append(
                    (
                        next_id,
                        record.prompt_id,
                        account,
                        org,
                        record.created_at_ms,
                        text_digest(record.text),
                        record.text if self._store_text else "",
                        b"" if pending else vector.tobytes(),
                    )
                )
                ids.append(next_id)
                next_id += 1
                accounts.append(account)
                orgs.append(org)
            # one executemany per table: the per-row execute() calls cost more than SQLite's inserts
            conn.executemany("INSERT INTO accounts(id, name) VALUES (?, ?)", [(c, n) for n, c in new_accounts.items()])
            conn.executemany("INSERT INTO orgs(id, name) VALUES (?, ?)", [(c, n) for n, c in new_orgs.items()])
            conn.executemany(
                "INSERT INTO prompts(id, prompt_id, account, org, created_at_ms, text_sha256, text, vector)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if not self._store_text:
                conn.executemany("INSERT INTO prompt_signatures(id, signature) VALUES (?, ?)", zip(ids, signatures))  # type: ignore[arg-type]
            conn.executemany(
                "INSERT INTO prompt_canonical(hash, id) VALUES (?, ?)", [(_signed64(h), i) for h, i in zip(copy_hashes, ids)]
            )
        self._recorded += len(ids)
        with self._names_lock:
            self._account_codes.update(new_accounts)
            self._org_codes.update(new_orgs)
            self._account_names.update({v: k for k, v in new_accounts.items()})
            self._org_names.update({v: k for k, v in new_orgs.items()})
        return IndexRows(
            ids=np.asarray(ids, dtype=np.int64),
            vectors=stored.astype(np.float32),
            accounts=np.asarray(accounts, dtype=np.int32),
            orgs=np.asarray(orgs, dtype=np.int32),
            created_at_ms=np.asarray([r.created_at_ms for r in records], dtype=np.int64),
            pending=np.full(len(ids), pending, dtype=bool),
        )

    @staticmethod
    def _next_code(conn: sqlite3.Connection, table: str, new: dict[str, int]) -> int:
        """The code for the next name interned into ``accounts`` or ``orgs`` in this
        transaction (``new``: the ones given out in it so far, in increasing order)."""
        if new:
            return next(reversed(new.values())) + 1
        return int(conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0])

    def set_vectors(self, row_ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Fill in pending vectors, in one transaction; durable on return. Returns the
        vectors at stored precision (what the index must hold)."""
        stored = np.ascontiguousarray(vectors, dtype=np.float32).astype(VECTOR_DTYPE)
        if len(row_ids) != len(stored):
            raise ValueError(f"{len(row_ids)} row ids but {len(stored)} vectors")
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE prompts SET vector = ? WHERE id = ?",
                [(v.tobytes(), int(i)) for i, v in zip(row_ids, stored)],
            )
        return stored.astype(np.float32)

    def skip_vectors(self, row_ids: Sequence[int]) -> None:
        """Mark pending rows as skipped (no vector, never retried), in one transaction;
        durable on return. Rows that have a vector meanwhile keep it."""
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE prompts SET vector = ? WHERE id = ? AND length(vector) = 0", [(SKIPPED, int(i)) for i in row_ids]
            )

    def indexable_watermark(self) -> int:
        """The largest row id up to which every stored row has its vector: what an index
        built from the store can cover (the rows after it are replayed through the
        vector backlog)."""
        conn = self._reader()
        first_pending = conn.execute("SELECT min(id) FROM prompts WHERE length(vector) = 0").fetchone()[0]
        if first_pending is None:
            return self.max_row_id()
        return int(first_pending) - 1

    def pending_count(self) -> int:
        """Rows whose vector is not computed yet."""
        return int(self._reader().execute("SELECT count(*) FROM prompts WHERE length(vector) = 0").fetchone()[0])

    def delete_account(self, account_id: str) -> np.ndarray:
        """Delete every prompt of an account (text, vector, metadata) in one transaction;
        returns the deleted row ids. The account's name stays interned (a code, no text)."""
        code = self._account_codes.get(account_id)
        if code is None:
            return np.zeros(0, np.int64)
        return self._delete_where("account = ?", (code,))

    def purge_older_than(self, cutoff_ms: int) -> np.ndarray:
        """Retention: delete every prompt created before ``cutoff_ms``; returns the row ids."""
        return self._delete_where("created_at_ms < ?", (int(cutoff_ms),))

    def _delete_where(self, condition: str, args: tuple[object, ...]) -> np.ndarray:
        with self._transaction() as conn:
            ids = [r[0] for r in conn.execute(f"SELECT id FROM prompts WHERE {condition}", args)]
            if ids:
                floor = max(self._next_row_id(conn) - 1, max(ids))
                conn.execute(f"DELETE FROM prompt_signatures WHERE id IN (SELECT id FROM prompts WHERE {condition})", args)
                conn.execute(f"DELETE FROM prompt_canonical WHERE id IN (SELECT id FROM prompts WHERE {condition})", args)
                conn.execute(f"DELETE FROM prompts WHERE {condition}", args)
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('row_id_floor', ?)", (str(floor),))
        self._recorded -= len(ids)
        return np.asarray(ids, dtype=np.int64)

    @staticmethod
    def _next_row_id(conn: sqlite3.Connection) -> int:
        """Row ids are never reused, even after the newest rows are deleted (SQLite would
        reuse max(id)+1): a snapshot and the vector file key on them."""
        top = conn.execute("SELECT coalesce(max(id), 0) FROM prompts").fetchone()[0]
        floor = conn.execute("SELECT value FROM meta WHERE key = 'row_id_floor'").fetchone()
        return max(int(top), int(floor[0]) if floor else 0) + 1

    # -- reads -----------------------------------------------------------------------------
    def existing(self, prompt_ids: Sequence[str]) -> dict[str, tuple[int, bytes]]:
        """For the given prompt_ids that are recorded: prompt_id -> (row id, text digest)."""
        found: dict[str, tuple[int, bytes]] = {}
        conn = self._reader()
        unique = list(dict.fromkeys(prompt_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for prompt_id, row_id, digest in conn.execute(
                f"SELECT prompt_id, id, text_sha256 FROM prompts WHERE prompt_id IN ({marks})", chunk
            ):
                found[prompt_id] = (row_id, digest)
        return found

    def vector_of(self, prompt_id: str) -> tuple[int, np.ndarray | None, str] | None:
        """Row id, stored vector (float32; None while pending or skipped) and text of a
        recorded prompt, or None."""
        row = self._reader().execute("SELECT id, vector, text FROM prompts WHERE prompt_id = ?", (prompt_id,)).fetchone()
        if row is None:
            return None
        vector = np.frombuffer(row[1], dtype=VECTOR_DTYPE).astype(np.float32) if len(row[1]) > len(SKIPPED) else None
        return row[0], vector, row[2]

    def copies(
        self,
        *,
        copy_hash: int | None = None,
        of_row: int | None = None,
        start_ms: int,
        end_ms: int,
        exclude_account: int | None = None,
        exclude_org: int | None = None,
        limit: int,
    ) -> list[int]:
        """The lexical view: row ids of prompts whose canonical text hashes to ``copy_hash``
        (an unsigned Signature.copy_hash), or to that of the stored row ``of_row`` (itself
        left out), created in [start_ms, end_ms) and not of the excluded account or org
        codes; newest first, at most ``limit``. Works whether or not their vectors exist."""
        if of_row is not None and copy_hash is None:
            where, args = "c.hash = (SELECT hash FROM prompt_canonical WHERE id = ?) AND c.id != ?", [of_row, of_row]
        elif copy_hash is not None and of_row is None:
            where, args = "c.hash = ?", [_signed64(int(copy_hash))]
        else:
            raise ValueError("give exactly one of copy_hash and of_row")
        where += " AND p.created_at_ms >= ? AND p.created_at_ms < ?"
        args += [int(start_ms), int(end_ms)]
        if exclude_account is not None:
            where, args = where + " AND p.account != ?", args + [int(exclude_account)]
        if exclude_org is not None:
            where, args = where + " AND p.org != ?", args + [int(exclude_org)]
        rows = self._reader().execute(
            f"SELECT c.id FROM prompt_canonical c JOIN prompts p ON p.id = c.id WHERE {where} ORDER BY c.id DESC LIMIT ?",
            [*args, int(limit)],
        )
        return [r[0] for r in rows]

    def fetch(self, row_ids: Sequence[int] | np.ndarray, *, with_text: bool = False) -> dict[int, StoredPrompt]:
        """Display fields of the given rows (missing ids are simply absent)."""
        if not len(row_ids):
            return {}
        columns = "id, prompt_id, account, org, created_at_ms" + (", text" if with_text else "")
        out: dict[int, StoredPrompt] = {}
        conn = self._reader()
        ids = [int(i) for i in row_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT {columns} FROM prompts WHERE id IN ({marks})", chunk):
                out[row[0]] = StoredPrompt(
                    row_id=row[0],
                    prompt_id=row[1],
                    account_id=self.account_name(row[2]),
                    org_id=self.org_name(row[3]),
                    created_at_ms=row[4],
                    text=row[5] if with_text else None,
                )
        return out

    def iter_rows(self, after_row_id: int = 0, batch_size: int = 10_000, up_to: int | None = None) -> Iterator[IndexRows]:
        """All rows with after_row_id < id <= up_to, in id order, in batches: the replay
        and rebuild source (``up_to`` bounds a build to its watermark while others insert;
        pending rows included, flagged in ``pending``; skipped rows left out: they never
        enter the index)."""
        conn = self._connect()
        top = (1 << 63) - 1 if up_to is None else up_to
        try:
            last = after_row_id
            while True:
                rows = conn.execute(
                    "SELECT id, account, org, created_at_ms, vector FROM prompts WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                    (last, top, batch_size),
                ).fetchall()
                if not rows:
                    return
                last = rows[-1][0]
                rows = [r for r in rows if r[4] != SKIPPED]
                if not rows:
                    continue
                pending = np.fromiter((not r[4] for r in rows), dtype=bool, count=len(rows))
                width = self._identity.dimension * VECTOR_DTYPE.itemsize
                blob = b"".join(r[4] or bytes(width) for r in rows)
                vectors = np.frombuffer(blob, dtype=VECTOR_DTYPE)
                yield IndexRows(
                    ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                    vectors=vectors.reshape(len(rows), self._identity.dimension).astype(np.float32),
                    accounts=np.fromiter((r[1] for r in rows), dtype=np.int32, count=len(rows)),
                    orgs=np.fromiter((r[2] for r in rows), dtype=np.int32, count=len(rows)),
                    created_at_ms=np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows)),
                    pending=pending,
                )
        finally:
            conn.close()

    def iter_template_inputs(self, batch_size: int = 10_000) -> Iterator[tuple[int, str, str, int, str, bytes | None]]:
        """(row id, account_id, org_id, created_at_ms, text, signature) of every row in
        created_at order: the replay source of the template tracker, whose windows need
        time order. ``signature`` is set for rows written in privacy mode (text is then "")."""
        conn = self._connect()
        try:
            cursor = conn.execute(
                "SELECT p.id, p.account, p.org, p.created_at_ms, p.text, s.signature FROM prompts p"
                " LEFT JOIN prompt_signatures s ON s.id = p.id ORDER BY p.created_at_ms, p.id"
            )
            while True:
                rows = cursor.fetchmany(batch_size)
                if not rows:
                    return
                for row_id, account, org, created, text, sig in rows:
                    yield row_id, self.account_name(account), self.org_name(org), created, text, sig
        finally:
            conn.close()

    def iter_window(
        self, since_ms: int | None = None, until_ms: int | None = None, batch_size: int = 10_000
    ) -> Iterator[tuple[list[tuple[str, int, int, int, str]], np.ndarray, np.ndarray]]:
        """Rows with ``since_ms <= created_at_ms < until_ms`` (either bound optional), in
        (created_at, id) order, in batches of ((prompt_id, account code, org code,
        created_at_ms, text), ...), their stored vectors (float32; zero rows where there is
        none) and which rows have one: the input of an offline campaign reconstruction,
        which reuses the vectors and embeds only the rows without one (pending, or skipped
        by the embedding policy)."""
        conn = self._connect()
        lo = since_ms if since_ms is not None else -(1 << 62)
        hi = until_ms if until_ms is not None else 1 << 62
        try:
            cursor = conn.execute(
                "SELECT prompt_id, account, org, created_at_ms, text, vector FROM prompts"
                " WHERE created_at_ms >= ? AND created_at_ms < ? ORDER BY created_at_ms, id",
                (lo, hi),
            )
            while True:
                rows = cursor.fetchmany(batch_size)
                if not rows:
                    return
                width = self._identity.dimension * VECTOR_DTYPE.itemsize
                has_vector = np.fromiter((len(r[5]) == width for r in rows), dtype=bool, count=len(rows))
                blob = b"".join(r[5] if len(r[5]) == width else bytes(width) for r in rows)
                vectors = np.frombuffer(blob, dtype=VECTOR_DTYPE).reshape(len(rows), self._identity.dimension)
                yield [r[:5] for r in rows], vectors.astype(np.float32), has_vector
        finally:
            conn.close()

    def count(self) -> int:
        """Number of recorded prompts (a query: exact, whoever wrote them)."""
        return int(self._reader().execute("SELECT count(*) FROM prompts").fetchone()[0])

    @property
    def recorded(self) -> int:
        """Number of recorded prompts as this process wrote them, without a query (those
        skipped by the embedding policy included); :meth:`recount` takes in another
        writer's rows (a reindex job's)."""
        return self._recorded

    def recount(self) -> None:
        """Re-read :attr:`recorded` from the store (after another writer added rows)."""
        self._recorded = self.count()

    def max_row_id(self) -> int:
        """Largest row id ever used (0 for an empty store): the watermark a full build covers."""
        return self._next_row_id(self._reader()) - 1

    def all_ids(self) -> np.ndarray:
        """Every row id, ascending: tells a loaded snapshot which of its rows were deleted since."""
        conn = self._connect()
        try:
            ids = [r[0] for r in conn.execute("SELECT id FROM prompts ORDER BY id")]
        finally:
            conn.close()
        return np.asarray(ids, dtype=np.int64)

    def account_code(self, account_id: str) -> int | None:
        """Interned code of an account name, or None when it never sent anything."""
        return self._account_codes.get(account_id)

    def org_code(self, org_id: str) -> int | None:
        """Interned code of an org name, or None when it never sent anything."""
        return self._org_codes.get(org_id)

    def account_name(self, code: int) -> str:
        return self._account_names.get(int(code), "")

    def org_name(self, code: int) -> str:
        return self._org_names.get(int(code), "") if code else ""

    def account_count(self) -> int:
        return len(self._account_codes)

    def org_count(self) -> int:
        return len(self._org_codes)

    def close(self) -> None:
        self._writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
