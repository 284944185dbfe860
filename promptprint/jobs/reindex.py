"""Batch reindexing: take files (or the stored records) into a freshly built index.

    records (JSONL/CSV/Parquet) -> validate -> embed (in-process or Ray) -> record store
        -> build the index by size from the stored vectors (IVF shards in-process or Ray)
        -> new snapshot -> switch CURRENT

Why it is shaped this way:

* **Resumable.** The record store is the durable part: a batch is committed to SQLite,
  then a checkpoint (``reindex.checkpoint.json``: which file, which line, the running
  counts) is replaced atomically. A killed job restarted with the same sources skips
  what the checkpoint covers; a batch recorded just before the kill is found again as
  idempotent replays (same prompt_id, same text, a row id newer than the checkpoint)
  and counted as recorded, so the summary and the index come out the same.
* **Bad input is reported, never dropped.** An unreadable line, a record without text
  or account, a prompt_id already recorded with another text: each is reported with
  file and line, counted, and skipped; ``strict`` makes the first one fatal.
* **The index is built from the store**, not from the batches, so it is the same
  whether the job ran in one go or in five, and a rebuild with other index parameters
  (``--from-store``) needs no embedding at all.
* **The switch is atomic and polite**: the snapshot is written next to the live one
  and CURRENT switched under the snapshot lock; a running server notices and hot-swaps
  (see PromptIndex.reload), replaying what it recorded meanwhile.

The build itself (promptprint.index.build.build_snapshot), the fingerprint recipe and
the prompt_id dedupe are the index's own: this job only drives them over files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import gzip
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from promptprint.errors import InvalidArgument, PromptprintError
from promptprint.executors import BatchExecutor
from promptprint.index.build import IndexChoice, build_snapshot
from promptprint.index.config import IndexConfig
from promptprint.index.dedupe import split_repeats
from promptprint.index.fingerprint import fingerprint_texts
from promptprint.readers import RecordLine, read_records
from promptprint.records import DEFAULT_MAX_TEXT_BYTES, PromptRecord, validate_record
from promptprint.storage.snapshot import SnapshotDirectory
from promptprint.storage.store import RecordStore
from promptprint.storage.identity import StoreIdentity, read_identity
from promptprint.vectors.embedder import Embedder, ModelLoader, PooledEmbedder, SentenceTransformerEmbedder


log = logging.getLogger(__name__)

CHECKPOINT = "reindex.checkpoint.json"


class ReindexError(PromptprintError):
    """The job cannot go on (bad input under --strict, sources changed under a checkpoint)."""


@dataclasses.dataclass(frozen=True, slots=True)
class BadLine:
    """One input line that was not taken, and why."""

    source: str
    line: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: [{self.reason}] {self.message}"


@dataclasses.dataclass
class ReindexSummary:
    """What a job did (cumulative over resumed runs)."""

    lines: int = 0
    recorded: int = 0
    duplicates: int = 0
    bad: int = 0
    resumed_at_line: int = 0  # input lines the checkpoint let this run skip
    embedded: int = 0
    embed_seconds: float = 0.0
    build_seconds: float = 0.0
    index_description: str = ""
    indexed: int = 0
    snapshot: str = ""

    @property
    def prompts_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds else 0.0


class EmbedEngine(Protocol):
    """Turns canonical texts into unit vectors; in-process or spread over a cluster."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def expand_sources(patterns: Sequence[str]) -> list[Path]:
    """Files named or matched by glob patterns, each once, in the order given (a
    pattern's matches sorted). A pattern that matches nothing is an error, since a typo
    would otherwise "succeed" with nothing indexed."""
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        matches = [m for m in matches if os.path.isfile(m)]
        if not matches:
            raise ReindexError(f"no file matches {pattern!r}", reason="SOURCE_NOT_FOUND", field="source")
        paths.extend(Path(m) for m in matches if Path(m) not in paths)
    return paths


def count_lines(path: Path) -> int:
    """Records in a file, cheaply (for the progress bar's ETA)."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return max(0, lines - 1) if ".csv" in name else lines


@dataclasses.dataclass(frozen=True)
class _Checkpoint:
    sources: list[list[object]]  # [path, size, mtime_ns] per file
    file: int  # index of the file being read
    line: int  # lines of that file fully handled
    row_mark: int  # the store's last row id at the last checkpoint
    summary: dict[str, object]

    @classmethod
    def read(cls, path: Path) -> "_Checkpoint | None":
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise ReindexError(f"checkpoint {path} is unreadable ({exc}); delete it to start over", reason="CHECKPOINT_DAMAGED") from exc

    def write(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(dataclasses.asdict(self), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def _fingerprint_of_sources(paths: Sequence[Path]) -> list[list[object]]:
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


class ReindexJob:
    """One reindex of a data directory. See the module docstring for the guarantees.

    Args:
        store: the data directory's record store (bound to the embedder's identity).
        snapshots: its snapshot directory.
        identity: fingerprint identity of the store.
        choice: index kind and parameters (built by size with ``auto``).
        engine: the embedder for file sources (None for ``--from-store`` rebuilds).
        checkpoint_path: where progress is kept between runs.
        strict: the first bad line stops the job.
        batch_size: lines per embed + commit + checkpoint.
        max_text_bytes: longest accepted prompt.
        on_bad: called with every bad line as it is found (the CLI prints it).
        on_progress: called with (lines done, lines expected) after each batch.
        executor: encodes the IVF-PQ shards of the final build (None: in-process).
            Embedding is spread by the ``engine`` itself (a PooledEmbedder).
    """

    def __init__(
        self,
        store: RecordStore,
        snapshots: SnapshotDirectory,
        identity: StoreIdentity,
        choice: IndexChoice,
        *,
        engine: EmbedEngine | None,
        checkpoint_path: Path,
        strict: bool = False,
        batch_size: int = 256,
        max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
        on_bad: Callable[[BadLine], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        executor: BatchExecutor | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._store = store
        self._snapshots = snapshots
        self._identity = identity
        self._choice = choice
        self._engine = engine
        self._checkpoint_path = Path(checkpoint_path)
        self._strict = strict
        self._batch_size = batch_size
        self._max_text_bytes = max_text_bytes
        self._on_bad = on_bad or (lambda bad: None)
        self._on_progress = on_progress or (lambda done, total: None)
        self._executor = executor

    def run(self, sources: Sequence[str]) -> ReindexSummary:
        """Take every source in (resuming from the checkpoint), then rebuild and switch.
        With no sources, only rebuild from the stored vectors."""
        paths = expand_sources(sources) if sources else []
        if paths and self._engine is None:
            raise ValueError("file sources need an embedding engine")
        checkpoint = _Checkpoint.read(self._checkpoint_path)
        identity_of_sources = _fingerprint_of_sources(paths)
        if checkpoint is not None and checkpoint.sources != identity_of_sources:
            raise ReindexError(
                f"{self._checkpoint_path} belongs to another job (sources {[s[0] for s in checkpoint.sources]} "
                "or their contents differ); rerun that job, or delete the checkpoint to start over",
                reason="CHECKPOINT_MISMATCH",
            )
        if checkpoint is None:
            self._snapshots.remove_stale_staging()
            checkpoint = _Checkpoint(identity_of_sources, 0, 0, self._store.max_row_id(), dataclasses.asdict(ReindexSummary()))
            checkpoint.write(self._checkpoint_path)
        summary = ReindexSummary(**checkpoint.summary)  # type: ignore[arg-type]
        summary.resumed_at_line = summary.lines
        expected = sum(count_lines(p) for p in paths)
        self._on_progress(summary.lines, expected)
        for file_index in range(checkpoint.file, len(paths)):
            skip = checkpoint.line if file_index == checkpoint.file else 0
            for batch in self._batches(paths[file_index], skip):
                self._take(batch, checkpoint.row_mark, summary)
                checkpoint = dataclasses.replace(
                    checkpoint, file=file_index, line=batch[-1].line, row_mark=self._store.max_row_id(),
                    summary=dataclasses.asdict(summary),
                )
                checkpoint.write(self._checkpoint_path)
                self._on_progress(summary.lines, expected)
            checkpoint = dataclasses.replace(checkpoint, file=file_index + 1, line=0)
            checkpoint.write(self._checkpoint_path)
        started = time.monotonic()
        manifest, name = build_snapshot(self._store, self._snapshots, self._identity, self._choice, executor=self._executor)
        summary.build_seconds = time.monotonic() - started
        summary.index_description = manifest.index_description
        summary.indexed = manifest.count
        summary.snapshot = name
        self._checkpoint_path.unlink(missing_ok=True)
        return summary

    def _batches(self, path: Path, skip: int) -> Iterator[list[RecordLine]]:
        batch: list[RecordLine] = []
        for line in read_records(path):
            if line.line <= skip:
                continue
            batch.append(line)
            if len(batch) >= self._batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _bad(self, line: RecordLine, error: PromptprintError, summary: ReindexSummary) -> None:
        bad = BadLine(line.source, line.line, error.reason, error.message)
        summary.bad += 1
        self._on_bad(bad)
        if self._strict:
            raise ReindexError(f"{bad} (--strict stops at the first bad line)", reason="BAD_INPUT_STRICT")

    def _take(self, batch: list[RecordLine], row_mark: int, summary: ReindexSummary) -> None:
        """Validate, de-duplicate, embed and record one batch."""
        valid: list[tuple[RecordLine, PromptRecord]] = []
        for line in batch:
            summary.lines += 1
            if line.record is None:
                self._bad(line, line.error or InvalidArgument("unreadable", reason="UNREADABLE"), summary)
                continue
            r = line.record
            try:
                record = validate_record(
                    prompt_id=r.prompt_id, account_id=r.account_id, org_id=r.org_id,
                    created_at_ms=r.created_at_ms, text=r.text, max_text_bytes=self._max_text_bytes,
                )
            except InvalidArgument as error:
                self._bad(line, error, summary)
                continue
            valid.append((line, record))
        fresh, repeats = split_repeats([r for _, r in valid], self._store.existing([r.prompt_id for _, r in valid]))
        for repeat in repeats:
            line, record = valid[repeat.position]
            if not repeat.same_text:
                if repeat.stored_row is not None:
                    where = f"row {repeat.stored_row} of the store"
                else:
                    first = valid[repeat.first_position][0]  # type: ignore[index]
                    where = f"{first.source}:{first.line}"
                self._bad(line, InvalidArgument(
                    f"prompt_id {record.prompt_id!r} is already recorded with a different text ({where})",
                    reason="PROMPT_ID_CONFLICT", field="prompt_id"), summary)
            elif repeat.stored_row is not None and repeat.stored_row > row_mark:
                summary.recorded += 1  # recorded by this very line before a kill, after the checkpoint
            else:
                summary.duplicates += 1
        if not fresh:
            return
        records = [valid[p][1] for p in fresh]
        started = time.monotonic()
        vectors = fingerprint_texts(self._engine.embed, [r.text for r in records])  # type: ignore[union-attr]
        summary.embed_seconds += time.monotonic() - started
        summary.embedded += len(records)
        self._store.insert(records, vectors)
        summary.recorded += len(records)


@contextlib.contextmanager
def open_job(
    config: IndexConfig,
    *,
    sources: Sequence[str],
    model: str | None = None,
    threads: int | None = None,
    embedder: Embedder | None = None,
    executor: BatchExecutor | None = None,
    **job_options: object,
) -> Iterator[ReindexJob]:
    """A ReindexJob over a data directory, with its store opened and closed around it.

    File sources need the model (``embedder``, or loaded here from ``model``); a rebuild
    from the store reads the store's identity and loads no model. With an ``executor``
    (Ray), the model is loaded by its workers instead (one copy each, from ``model``'s
    path: see PooledEmbedder) and the IVF-PQ shards are encoded there too."""
    engine: EmbedEngine | None = None
    pooled = None
    if sources:
        if embedder is None and executor is not None:
            embedder = pooled = PooledEmbedder(executor, ModelLoader(model))
        elif embedder is None:
            embedder = SentenceTransformerEmbedder(model, threads=threads)
        engine = embedder
        identity = StoreIdentity.current(embedder.model_id, embedder.dimension)
    else:
        found = read_identity(config.store_path)
        if found is None:
            raise ReindexError(f"no record store at {config.store_path} to rebuild from", reason="STORE_NOT_FOUND")
        identity = found
    try:
        store = RecordStore(config.store_path, identity)
        try:
            yield ReindexJob(
                store, SnapshotDirectory(config.snapshot_root), identity, config.choice, engine=engine,
                checkpoint_path=Path(config.data_dir) / CHECKPOINT, max_text_bytes=config.max_text_bytes,
                executor=executor, **job_options,  # type: ignore[arg-type]
            )
        finally:
            store.close()
    finally:
        if pooled is not None:
            pooled.close()


def purge_data_dir(config: IndexConfig, cutoff_ms: int) -> tuple[int, str]:
    """Offline retention: delete stored prompts created before ``cutoff_ms`` and rebuild
    the index from what is left (a serving server hot-swaps to it). Returns (purged,
    snapshot name)."""
    found = read_identity(config.store_path)
    if found is None:
        raise ReindexError(f"no record store at {config.store_path}", reason="STORE_NOT_FOUND")
    store = RecordStore(config.store_path, found)
    try:
        purged = len(store.purge_older_than(cutoff_ms))
        _, name = build_snapshot(store, SnapshotDirectory(config.snapshot_root), found, config.choice)
    finally:
        store.close()
    return purged, name
