"""The prompt index: record prompts durably, find their near-duplicates, measure fan-out.

:class:`PromptIndex` ties the pieces together; it is what the gRPC server and the batch
scripts drive:

    normalize (canonical_text) -> signature + record (SQLite, durable) -> template tracker
                                 -> embed -> index (FAISS)

Two tiers (``IndexConfig.tier``, per CheckPrompt call overridable):

* ``"fingerprint"`` (default): a prompt is acknowledged once its record is durable and
  the template tracker has seen it; its transformer vector is computed *behind* the
  acknowledgement, in batches, by one background thread (rows wait in a
  :class:`~promptprint.vectors.backlog.VectorBacklog`). CheckPrompt answers from the template
  tracker — campaign score and the template's fan-out — without a forward pass, so it
  costs well under a millisecond. Semantic lookups (FindNearDuplicates) see a prompt
  once its vector is in (``IndexStats.pending_vectors`` says how far behind that is).
* ``"semantic"``: the v1 path. Vectors are computed before the acknowledgement and
  CheckPrompt's fan-out is the transformer near-duplicate search.

Campaign detection is the same in both tiers: it only ever used the template tracker.

Durability: a prompt is acknowledged only after its SQLite transaction commits, text
included, so a pending vector is late, never lost. The FAISS index is a cache of the
store: it is snapshotted every ``snapshot_every`` new records and on close, and on open
the snapshot is loaded and every record newer than its watermark is replayed from the
store (pending vectors are computed then). A crash therefore loses nothing
acknowledged; it only costs a longer replay.

Concurrency: lookups run in parallel; writes (ingest, snapshots, vectors arriving from
the background thread) are serialized by one writer lock. Embedding happens outside it.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np

from promptprint.vectors.backlog import VectorBacklog
from promptprint.templates.banks import BankEntry, Banks
from promptprint.templates.scoring import DEFAULT_FLAG_THRESHOLD, CampaignAssessment, assess
from promptprint.vectors.embedder import Embedder
from promptprint.errors import AlreadyExists, InvalidArgument, NotFound, PromptprintError, ResourceExhausted
from promptprint.executors import one_ahead
from promptprint.text.normalize import NORMALIZER_VERSION, canonical_text
from promptprint.records import DEFAULT_MAX_TEXT_BYTES, PromptRecord, now_ms, validate_id, validate_text, validate_time_ms
from promptprint.index.build import AnyVectorIndex, BuildKind, IndexChoice, SearchTuning, load_index, new_live_index, remove, search
from promptprint.index.ivf_index import IvfParams
from promptprint.storage.row_metadata import NO_TIME, RowMetadata
from promptprint.text.skeleton import Signature, signature, signature_from_bytes, signature_to_bytes
from promptprint.text.skeleton import signatures as compute_signatures
from promptprint.storage.snapshot import SnapshotDirectory, load_rows, save_rows
from promptprint.storage.store import RecordStore, StoreIdentity, text_digest, to_stored_precision
from promptprint.templates.tracker import Event, Template, TemplateFeatures, TemplateTracker
from promptprint.index.vector_index import HnswParams, VectorStorage

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
_REPLAY_CHUNK = 512  # rows signed at once when the tracker is rebuilt on start

Tier = Literal["fingerprint", "semantic"]
TIERS: tuple[Tier, ...] = ("fingerprint", "semantic")


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    """Settings of a :class:`PromptIndex`. All limits are enforced on every entry point.

    Attributes:
        data_dir: where the record store (``records.sqlite``) and snapshots live.
        max_text_bytes: longest accepted prompt, in UTF-8 bytes.
        max_k: most hits one FindNearDuplicates may ask for.
        default_min_similarity: CheckPrompt's near-duplicate threshold when the caller
            sets none. 0.8 on MiniLM: paraphrases and re-filled templates score
            0.8-0.97, unrelated prompts on the same topic rarely pass 0.7.
        default_lookback_ms: CheckPrompt's window when the caller sets none (24 h).
        max_fanout_neighbors: most neighbours one CheckPrompt examines; past it the
            fan-out is reported as saturated (a lower bound).
        index_kind / hnsw_threshold / hnsw / ivf_threshold / ivf: FAISS index choice
            (see promptprint.index.build): flat, HNSW past hnsw_threshold, IVF-PQ with
            re-ranking past ivf_threshold (chosen when an index is built from the store).
        vector_storage: how flat and HNSW indexes hold vectors in memory: ``"fp16"``
            (default; the store's precision, so nothing is lost) or ``"fp32"`` (twice the
            memory).
        snapshot_every: new records between automatic snapshots (0 disables them;
            one is still written on close).
        campaign_threshold: campaign score at which CheckPrompt sets ``flagged``
            (see promptprint.templates.scoring for how 0.5 was chosen).
        template_window_ms: sliding window of the per-template activity counters.
        builtin_allow_bank: seed a new data directory with the public agent-framework
            scaffolds (promptprint.templates.builtin_banks).
        tier: ``"fingerprint"`` (default: vectors computed behind the acknowledgement,
            CheckPrompt answered from the template tracker) or ``"semantic"`` (vectors
            before the acknowledgement, CheckPrompt fan-out by transformer search). See
            the module docstring.
        embed_batch: most pending rows the background thread takes at once (oldest
            first). The embedder sorts them by length and runs them in forward passes of
            its own batch size, so a wide window pads less (see the README's
            Performance section for the measured difference).
        max_vector_backlog: most rows waiting for their vector; past it a fingerprint-tier
            write waits up to ``backlog_wait_s`` for room and then fails with
            RESOURCE_EXHAUSTED (nothing is recorded), so memory stays bounded when
            prompts arrive faster than the transformer can embed them.
        privacy_mode: store fingerprints, metadata, the SHA-256 of the text and its
            template signature, never the raw text (see promptprint.storage.store). What is lost:
            texts in FindNearDuplicates(include_text) answers and any re-embedding from
            the stored source (a model change needs the source data again).
        retention_ms: prompts older than this are purged by :meth:`PromptIndex.purge_expired`
            (0 keeps everything), in both privacy modes.
    """

    data_dir: Path
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
    max_k: int = 1000
    default_min_similarity: float = 0.8
    default_lookback_ms: int = DAY_MS
    max_fanout_neighbors: int = 1024
    index_kind: BuildKind = "auto"
    hnsw_threshold: int = 20_000
    hnsw: HnswParams = HnswParams()
    vector_storage: VectorStorage = "fp16"
    ivf_threshold: int = 2_000_000
    ivf: IvfParams = IvfParams()
    snapshot_every: int = 50_000
    campaign_threshold: float = DEFAULT_FLAG_THRESHOLD
    template_window_ms: int = DAY_MS
    builtin_allow_bank: bool = True
    tier: Tier = "fingerprint"
    embed_batch: int = 512
    max_vector_backlog: int = 250_000
    backlog_wait_s: float = 5.0
    privacy_mode: bool = False
    retention_ms: int = 0

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {self.tier!r}")
        if self.embed_batch < 1:
            raise ValueError(f"embed_batch must be >= 1, got {self.embed_batch}")
        if self.max_vector_backlog < 1:
            raise ValueError(f"max_vector_backlog must be >= 1, got {self.max_vector_backlog}")
        if self.backlog_wait_s < 0:
            raise ValueError(f"backlog_wait_s must be >= 0, got {self.backlog_wait_s}")
        if not 0.0 <= self.campaign_threshold <= 1.0:
            raise ValueError(f"campaign_threshold must be in [0, 1], got {self.campaign_threshold}")
        if self.template_window_ms <= 0:
            raise ValueError(f"template_window_ms must be positive, got {self.template_window_ms}")
        if self.max_text_bytes < 1:
            raise ValueError(f"max_text_bytes must be positive, got {self.max_text_bytes}")
        if not 1 <= self.max_k <= 100_000:
            raise ValueError(f"max_k must be in 1..100000, got {self.max_k}")
        if not 0.0 <= self.default_min_similarity <= 1.0:
            raise ValueError(f"default_min_similarity must be in [0, 1], got {self.default_min_similarity}")
        if self.default_lookback_ms <= 0:
            raise ValueError(f"default_lookback_ms must be positive, got {self.default_lookback_ms}")
        if self.max_fanout_neighbors < 16:
            raise ValueError(f"max_fanout_neighbors must be >= 16, got {self.max_fanout_neighbors}")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0 (0 = only on close), got {self.snapshot_every}")
        if self.retention_ms < 0:
            raise ValueError(f"retention_ms must be >= 0 (0 = keep forever), got {self.retention_ms}")
        self.choice  # validates the index settings

    @property
    def choice(self) -> IndexChoice:
        return IndexChoice(
            kind=self.index_kind, hnsw_threshold=self.hnsw_threshold, ivf_threshold=self.ivf_threshold, hnsw=self.hnsw, ivf=self.ivf,
            storage=self.vector_storage,
        )

    @property
    def store_path(self) -> Path:
        return Path(self.data_dir) / "records.sqlite"

    @property
    def snapshot_root(self) -> Path:
        return Path(self.data_dir) / "snapshots"


class IngestStatus(enum.Enum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclasses.dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What happened to one prompt of an ingest batch."""

    status: IngestStatus
    error: PromptprintError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """One indexed prompt near the query."""

    prompt_id: str
    account_id: str
    org_id: str
    created_at_ms: int
    similarity: float
    text: str | None = None


@dataclasses.dataclass(frozen=True)
class NearDuplicateQuery:
    """FindNearDuplicates: by text or by prompt_id (exactly one), with filters."""

    text: str | None = None
    prompt_id: str | None = None
    k: int = 10
    min_similarity: float | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    exclude_account_id: str = ""
    exclude_org_id: str = ""
    include_text: bool = False
    tuning: SearchTuning | None = None  # per-request search effort (nprobe, ef_search, ...)


@dataclasses.dataclass(frozen=True)
class Fanout:
    """Near-duplicates of a checked prompt in its window, across accounts and orgs.

    In the semantic tier they are the transformer neighbours above the similarity
    threshold; in the fingerprint tier, the prompts of the template the checked prompt
    matches (``max_similarity`` is then the share of the template's constant part that
    the prompt contains)."""

    matching_prompts: int
    distinct_accounts: int
    distinct_other_accounts: int
    distinct_orgs: int
    distinct_other_orgs: int
    first_seen_ms: int | None
    last_seen_ms: int | None
    max_similarity: float
    saturated: bool


@dataclasses.dataclass(frozen=True)
class Verdict:
    """CheckPrompt's answer."""

    prompt_id: str
    recorded: IngestStatus | None  # None: not asked to record
    fanout: Fanout
    examples: list[Hit]
    min_similarity: float
    window_start_ms: int
    window_end_ms: int
    campaign: CampaignAssessment
    tier: Tier = "semantic"


@dataclasses.dataclass(frozen=True)
class IndexStats:
    prompt_count: int
    indexed_count: int
    account_count: int
    org_count: int
    index_type: str
    model: str
    dimension: int
    normalizer_version: str
    disk_bytes: int
    index_memory_bytes: int
    snapshot_watermark: int
    snapshot_time_unix: float | None
    template_count: int
    pending_vectors: int = 0


@dataclasses.dataclass(frozen=True)
class _Live:
    """The vector index and the row metadata that describe the same rows, swapped as one
    (a reader takes both from one reference, so a hot swap never mixes two builds)."""

    vectors: AnyVectorIndex
    rows: RowMetadata
    backlog: VectorBacklog  # recorded rows not yet in ``vectors`` (see promptprint.vectors.backlog)


def _check_similarity(value: float, field: str) -> float:
    if not (0.0 <= value <= 1.0):  # also rejects NaN
        raise InvalidArgument(f"{field} must be in [0, 1], got {value}", reason="SIMILARITY_OUT_OF_RANGE", field=field)
    return float(value)


class PromptIndex:
    """Durable prompt records plus a FAISS index over their fingerprints.

    Use :meth:`open` (it loads the snapshot and replays newer records), then
    :meth:`ingest`, :meth:`find_near_duplicates`, :meth:`check` and :meth:`stats`;
    :meth:`close` writes a final snapshot.
    """

    def __init__(self, config: IndexConfig, embedder: Embedder) -> None:
        self._config = config
        self._embedder = embedder
        self._identity = StoreIdentity(embedder.model_id, embedder.dimension, NORMALIZER_VERSION)
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self._store = RecordStore(config.store_path, self._identity, store_text=not config.privacy_mode)
        self._snapshots = SnapshotDirectory(config.snapshot_root)
        self._banks = Banks(config.store_path, max_text_bytes=config.max_text_bytes, seed_builtin=config.builtin_allow_bank)
        self._templates = TemplateTracker(config.template_window_ms)
        self._live = _Live(
            new_live_index(self._identity.dimension, config.choice), RowMetadata(), VectorBacklog(self._identity.dimension)
        )
        self._write_lock = threading.Lock()
        self._backlog_changed = threading.Condition(threading.Lock())
        self._stopping = threading.Event()
        self._vectorizer: threading.Thread | None = None
        self._since_snapshot = 0
        self._snapshot_watermark = 0
        self._snapshot_time: float | None = None
        self._opened_at = time.time()
        self._snapshot_name: str | None = None
        self._deleted_during_reload: list[np.ndarray] | None = None  # set while a reload runs
        self._closed = False

    @property
    def _vectors(self) -> AnyVectorIndex:
        return self._live.vectors

    @property
    def _rows(self) -> RowMetadata:
        return self._live.rows

    @property
    def _backlog(self) -> VectorBacklog:
        return self._live.backlog

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(cls, config: IndexConfig, embedder: Embedder) -> "PromptIndex":
        """Open the data directory: load the snapshot, replay newer records."""
        index = cls(config, embedder)
        index._load()
        index._vectorizer = threading.Thread(target=index._vectorize_forever, name="promptprint-vectorizer", daemon=True)
        index._vectorizer.start()
        return index

    def _load(self) -> None:
        started = time.monotonic()
        live, watermark, replayed = self._load_live()
        self._live = live
        self._since_snapshot = replayed
        self._replay_templates()
        log.info(
            "index loaded: %s, %d prompts (%d replayed after the snapshot, %d waiting for vectors), %d templates, in %.1fs",
            live.vectors.description, len(self), replayed, live.backlog.pending, len(self._templates),
            time.monotonic() - started,
        )

    def _replay_templates(self) -> None:
        """Feed every stored prompt to the template tracker, in time order (from the text,
        or from the stored signature for rows written in privacy mode). A worker thread
        signs the next chunk of rows (without the GIL) while this one records the last:
        start-up replays every stored prompt."""

        def sign(rows: list[tuple[int, str, str, int, str, bytes | None]]) -> list[Signature]:
            signed = compute_signatures([text for *_, text, sig in rows if sig is None])
            stored = iter(signed)
            return [signature_from_bytes(sig) if sig is not None else next(stored) for *_, sig in rows]

        rows = self._store.iter_template_inputs()
        chunks = iter(lambda: list(itertools.islice(rows, _REPLAY_CHUNK)), [])
        for chunk, signed in one_ahead(sign, chunks, name="promptprint-replay"):
            for (row_id, account_id, org_id, created_at_ms, _, _), sig in zip(chunk, signed):
                self._templates.record(sig, Event(created_at_ms, account_id, org_id, row_id))

    def _load_live(self) -> tuple[_Live, int, int]:
        """The live snapshot plus every stored row newer than it, with rows deleted
        since the snapshot taken out. Without a snapshot, a store big enough for IVF-PQ
        is built into a new snapshot first (see promptprint.index.build). Returns
        (live, snapshot watermark, rows replayed)."""
        snapshot = self._snapshots.current(self._identity)
        if snapshot is None and self._config.choice.kind_for(self._store.count()) == "ivfpq":
            from promptprint.jobs.reindex import build_snapshot  # the bulk build; rare, so imported late

            build_snapshot(self._store, self._snapshots, self._identity, self._config.choice)
            snapshot = self._snapshots.current(self._identity)
        dimension = self._identity.dimension
        backlog = VectorBacklog(dimension)
        if snapshot is None:
            vectors, rows, watermark = new_live_index(dimension, self._config.choice), RowMetadata(), 0
            # a damaged snapshot (if any) is ours to replace with the next snapshot
            self._snapshot_name = self._snapshots.current_name()
        else:
            vectors = load_index(snapshot.index_path, dimension, self._config.choice)
            rows = RowMetadata()
            rows.add(*load_rows(snapshot.rows_path))
            watermark = snapshot.manifest.watermark
            self._snapshot_watermark = watermark
            self._snapshot_time = snapshot.manifest.created_at_unix
            self._snapshot_name = snapshot.index_path.parent.name
        live = _Live(vectors, rows, backlog)
        replayed = self._replay(live, watermark)
        if len(rows) > self._store.count():  # rows were deleted since the snapshot
            gone = np.setdiff1d(rows.export()[0], self._store.all_ids(), assume_unique=True)
            remove(vectors, gone)
            rows.remove(gone)
        return live, watermark, replayed

    @staticmethod
    def _index_from_backlog(live: "_Live") -> int:
        """Move the backlog's oldest ready rows into the live index; how many moved."""
        ready = live.backlog.pop_ready()
        if ready is None:
            return 0
        live.vectors.add(ready.ids, ready.vectors)
        live.rows.add(ready.ids, ready.accounts, ready.orgs, ready.created_at_ms)
        return len(ready)

    def _replay(self, live: "_Live", after: int) -> int:
        """Stored rows newer than ``after`` onto ``live``, through its backlog: rows whose
        vector is still pending (and every row after the first of them) wait there for
        the vectorizer. Returns how many rows were read."""
        replayed = 0
        for batch in self._store.iter_rows(after_row_id=max(after, live.backlog.last_id)):
            live.backlog.append(batch)
            self._index_from_backlog(live)
            replayed += len(batch.ids)
        return replayed

    def snapshot_changed(self) -> bool:
        """Whether CURRENT names a snapshot other than the one in use (a file read)."""
        return self._snapshots.current_name() not in (None, self._snapshot_name)

    @property
    def snapshot_name(self) -> str:
        """Folder name of the snapshot in use ("" before the first one)."""
        return self._snapshot_name or ""

    def reload(self) -> bool:
        """Hot swap: load the snapshot CURRENT names (written by a reindex), replay the
        rows recorded since it was built, and swap it in while lookups continue.

        Loading and most of the replay happen outside the writer lock; only the catch-up
        of rows ingested meanwhile and the swap itself hold it. The previous index is
        released when its last in-flight lookup ends. Returns False when CURRENT still
        names the snapshot in use."""
        if not self.snapshot_changed():
            return False
        started = time.monotonic()
        before = (self._snapshot_name, self._snapshot_watermark, self._snapshot_time)
        with self._write_lock:
            self._deleted_during_reload = []
        try:
            live, _, replayed = self._load_live()
            with self._write_lock:
                replayed += self._replay(live, live.rows.max_id)
                for gone in self._deleted_during_reload:
                    remove(live.vectors, gone)
                    live.rows.remove(gone)
                self._live = live
                self._since_snapshot = replayed
        except BaseException:
            self._snapshot_name, self._snapshot_watermark, self._snapshot_time = before  # retried on the next poll
            raise
        finally:
            self._deleted_during_reload = None
        log.info("hot swap to snapshot %s: %s, %d prompts (%d replayed) in %.1fs",
                 self._snapshot_name, live.vectors.description, len(live.rows), replayed, time.monotonic() - started)
        return True

    def close(self) -> None:
        """Write a final snapshot (when anything changed) and close the store."""
        if self._closed:
            return
        self._stopping.set()
        with self._backlog_changed:
            self._backlog_changed.notify_all()
        if self._vectorizer is not None:
            self._vectorizer.join()
        if self._since_snapshot:
            self.snapshot()
        self._banks.close()
        self._store.close()
        self._closed = True

    def snapshot(self) -> None:
        """Write the index and row metadata as a new snapshot (atomic, see snapshot.py)."""
        with self._write_lock:
            self._snapshot_locked()

    def _snapshot_locked(self) -> None:
        if self._snapshots.current_name() != self._snapshot_name:
            # A reindex switched CURRENT to its rebuild: never overwrite it with the old
            # lineage; reload() picks it up and everything since is replayed onto it.
            log.info("snapshot skipped: %s was switched in by another writer", self._snapshots.current_name())
            return
        watermark = self._rows.max_id
        staging = self._snapshots.begin(watermark)
        self._vectors.save(SnapshotDirectory.index_path(staging))
        save_rows(SnapshotDirectory.rows_path(staging), *self._rows.export())
        manifest = self._snapshots.commit(
            staging,
            identity=self._identity,
            count=len(self._rows),
            watermark=watermark,
            index_description=self._vectors.description,
            replaces=self._snapshot_name,
        )
        if manifest is None:
            return
        self._since_snapshot = 0
        self._snapshot_watermark = manifest.watermark
        self._snapshot_time = manifest.created_at_unix
        self._snapshot_name = self._snapshots.current_name()

    @property
    def config(self) -> IndexConfig:
        return self._config

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def __len__(self) -> int:
        """Recorded prompts, those still waiting for their vector included."""
        return len(self._rows) + len(self._backlog)

    @property
    def pending_vectors(self) -> int:
        """Recorded prompts whose transformer vector is not computed yet."""
        return self._backlog.pending

    def wait_indexed(self, timeout_s: float | None = None) -> bool:
        """Block until every recorded prompt is in the vector index (what a batch job or
        a test does before semantic lookups). Returns False on timeout."""
        with self._backlog_changed:
            return self._backlog_changed.wait_for(lambda: not len(self._backlog) or self._stopping.is_set(), timeout_s)

    # -- the vector backlog --------------------------------------------------------------------
    def _index_ready_rows(self) -> None:
        """Move the oldest rows whose vectors are ready into FAISS (caller holds the
        writer lock, or is _load before any other thread exists)."""
        moved = self._index_from_backlog(self._live)
        if moved:
            self._since_snapshot += moved
            every = self._config.snapshot_every
            if self._vectorizer is not None and every and self._since_snapshot >= every:
                self._snapshot_locked()  # snapshots follow the index, not the store
        with self._backlog_changed:
            self._backlog_changed.notify_all()

    def _vectorize_forever(self) -> None:
        """The background half of the fingerprint tier: embed pending rows oldest first,
        store their vectors durably, then index them."""
        while not self._stopping.is_set():
            with self._write_lock:
                ids = self._backlog.next_pending(self._config.embed_batch)
            if not ids:
                with self._backlog_changed:
                    self._backlog_changed.wait_for(lambda: self._backlog.pending > 0 or self._stopping.is_set(), 1.0)
                continue
            try:
                texts = self._store.fetch(ids, with_text=True)
                present = np.asarray([i for i in ids if i in texts], dtype=np.int64)  # others were deleted meanwhile
                vectors = self.fingerprint([texts[i].text or "" for i in present.tolist()], background=True)
                with self._write_lock:
                    stored = self._store.set_vectors(present, vectors)
                    self._backlog.fill(present, stored)
                    self._backlog.discard(np.setdiff1d(np.asarray(ids, dtype=np.int64), present))
                    self._index_ready_rows()
            except Exception:  # keep going: the rows stay pending and are retried
                log.exception("embedding %d pending rows failed; retrying in 1 s", len(ids))
                self._stopping.wait(1.0)

    def _wait_for_backlog_room(self) -> None:
        limit = self._config.max_vector_backlog
        if len(self._backlog) < limit:
            return
        with self._backlog_changed:
            room = self._backlog_changed.wait_for(lambda: len(self._backlog) < limit, self._config.backlog_wait_s)
        if not room:
            raise ResourceExhausted(
                f"{len(self._backlog):,} recorded prompts are waiting for their vectors (limit {limit:,}); "
                "prompts arrive faster than the embedder keeps up: retry with backoff",
                reason="VECTOR_BACKLOG_FULL",
            )

    @property
    def unsnapshotted(self) -> int:
        """Records written since the last snapshot (what a restart would replay): rows
        indexed since it plus rows still waiting for their vector."""
        return self._since_snapshot + len(self._backlog)

    @property
    def recovery_point_unix(self) -> float:
        """When the newest snapshot was written, or when the index was opened if it has
        none yet: records newer than this are only in the record store."""
        return self._snapshot_time if self._snapshot_time is not None else self._opened_at

    @property
    def snapshot_time_unix(self) -> float | None:
        return self._snapshot_time

    # -- fingerprints ------------------------------------------------------------------------
    def fingerprint(self, texts: Sequence[str], *, background: bool = False) -> np.ndarray:
        """Semantic fingerprints of raw texts (canonicalized, embedded, stored precision).
        ``background``: nobody waits on the answer (the vector backlog); an embedder that
        can tell (promptprint.vectors.batching) then keeps it out of lookups' forward passes."""
        embed = getattr(self._embedder, "embed_background", self._embedder.embed) if background else self._embedder.embed
        return to_stored_precision(embed([canonical_text(t) for t in texts]))

    # -- writes ------------------------------------------------------------------------------
    def ingest(
        self,
        records: Sequence[PromptRecord],
        vectors: np.ndarray | None = None,
        signatures: Sequence[Signature] | None = None,
        *,
        tier: Tier | None = None,
    ) -> list[IngestOutcome]:
        """Record valid prompts; idempotent on prompt_id. Durable when this returns.

        A prompt_id already recorded with the same text is a DUPLICATE (nothing changes);
        with a different text it is a CONFLICT carrying an AlreadyExists error. The same
        holds between two prompts of one batch.

        Args:
            records: validated records (see promptprint.records.validate_record).
            vectors: their fingerprints, when the caller already has them (CheckPrompt
                embeds before it records); otherwise computed here (semantic tier) or
                behind the acknowledgement (fingerprint tier).
            signatures: their template signatures, likewise.
            tier: overrides ``IndexConfig.tier`` for this call.
        """
        if not records:
            return []
        outcomes: list[IngestOutcome | None] = [None] * len(records)
        existing = self._store.existing([r.prompt_id for r in records])
        fresh: dict[str, int] = {}  # prompt_id -> position of its first new occurrence
        for position, record in enumerate(records):
            known = existing.get(record.prompt_id)
            digest = known[1] if known else None
            if digest is None and record.prompt_id in fresh:
                digest = text_digest(records[fresh[record.prompt_id]].text)
            if digest is not None:
                outcomes[position] = self._replay_outcome(record, digest)
            else:
                fresh[record.prompt_id] = position
        positions = list(fresh.values())
        if positions:
            new_records = [records[p] for p in positions]
            if vectors is not None:
                new_vectors: np.ndarray | None = vectors[positions]
            elif (tier or self._config.tier) == "semantic" or self._config.privacy_mode:
                # privacy mode keeps no text to embed later: vectors before the acknowledgement
                new_vectors = self.fingerprint([r.text for r in new_records])
            else:
                new_vectors = None
                self._wait_for_backlog_room()
            new_signatures = [signatures[p] for p in positions] if signatures is not None else compute_signatures([r.text for r in new_records])
            self._record(new_records, new_vectors, new_signatures, positions, outcomes)
        return [o if o is not None else IngestOutcome(IngestStatus.RECORDED) for o in outcomes]

    @staticmethod
    def _replay_outcome(record: PromptRecord, stored_digest: bytes) -> IngestOutcome:
        if stored_digest == text_digest(record.text):
            return IngestOutcome(IngestStatus.DUPLICATE)
        return IngestOutcome(
            IngestStatus.CONFLICT,
            AlreadyExists(
                f"prompt_id {record.prompt_id!r} is already recorded with a different text",
                reason="PROMPT_ID_CONFLICT",
                field="prompt_id",
            ),
        )

    def _record(
        self,
        records: list[PromptRecord],
        vectors: np.ndarray | None,
        signatures: list[Signature],
        positions: list[int],
        outcomes: list[IngestOutcome | None],
    ) -> None:
        with self._write_lock:
            # Another writer may have recorded some of these since we looked.
            raced = self._store.existing([r.prompt_id for r in records])
            keep = [i for i, r in enumerate(records) if r.prompt_id not in raced]
            for i, record in enumerate(records):
                if record.prompt_id in raced:
                    outcomes[positions[i]] = self._replay_outcome(record, raced[record.prompt_id][1])
            if not keep:
                return
            stored_signatures = [signature_to_bytes(signatures[i]) for i in keep] if self._config.privacy_mode else None
            rows = self._store.insert(
                [records[i] for i in keep], vectors[keep] if vectors is not None else None, stored_signatures
            )
            self._backlog.append(rows)
            self._index_ready_rows()
            for i, row_id in zip(keep, rows.ids.tolist()):
                r = records[i]
                self._templates.record(signatures[i], Event(r.created_at_ms, r.account_id, r.org_id, row_id))

    # -- deletion and retention -----------------------------------------------------------
    def delete_account(self, account_id: str) -> int:
        """Delete every prompt of an account from the store, the index and the stats;
        returns how many. Durable when this returns (the store commits first; the index
        follows, and a restart re-derives it from the store)."""
        validate_id(account_id, "account_id", required=True)
        with self._write_lock:
            return self._forget(self._store.delete_account(account_id))

    def purge_older_than(self, cutoff_ms: int) -> int:
        """Retention: delete every prompt created before ``cutoff_ms``; returns how many."""
        with self._write_lock:
            return self._forget(self._store.purge_older_than(cutoff_ms))

    def purge_expired(self, now: int | None = None) -> int:
        """Apply ``retention_ms`` (no-op when it is 0); returns how many were purged."""
        if not self._config.retention_ms:
            return 0
        return self.purge_older_than((now if now is not None else now_ms()) - self._config.retention_ms)

    def _forget(self, ids: np.ndarray) -> int:
        """Take deleted rows out of the live index (under the writer lock). FAISS drops
        them from flat and IVF-PQ indexes; an HNSW graph keeps the nodes until the next
        rebuild, and lookups skip them through the row metadata."""
        if len(ids):
            remove(self._vectors, ids)
            self._rows.remove(ids)
            self._backlog.discard(ids)
            self._index_ready_rows()
            self._templates.forget_rows(set(ids.tolist()))
            if self._deleted_during_reload is not None:
                self._deleted_during_reload.append(ids)
            self._since_snapshot += len(ids)
        return len(ids)

    # -- reads -------------------------------------------------------------------------------
    def _neighbours(
        self,
        vector: np.ndarray,
        accept: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
        min_similarity: float,
        wanted: int | None,
        cap: int,
        tuning: SearchTuning | None = None,
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Neighbours passing ``accept`` and ``min_similarity``, most similar first.

        The search starts small and grows (x4) until ``wanted`` accepted neighbours are
        found (``None``: all of them), the similarity drops below the threshold, or
        ``cap`` neighbours were examined. Returns (ids, similarities, saturated), where
        saturated means the cap cut the search short while matches continued."""
        live = self._live  # one build for the whole lookup, even across a hot swap
        total = len(live.vectors)
        k = min(total, cap, max(64, 2 * wanted) if wanted is not None else 64)
        while True:
            if k == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32), False
            (result,) = search(live.vectors, vector, k, tuning, self._config.choice)
            ids, sims = result.ids, result.similarities
            above = sims >= min_similarity
            ids, sims = ids[above], sims[above]
            if len(ids):
                accounts, orgs, created = live.rows.lookup(ids)
                mask = accept(ids, accounts, orgs, created) & (created != NO_TIME)
            else:
                mask = np.zeros(0, bool)
            exhausted = len(result.ids) < k or not above.all() or k >= total
            if (wanted is not None and mask.sum() >= wanted) or exhausted or k >= cap:
                saturated = not exhausted and k >= cap
                return ids[mask], sims[mask], saturated
            k = min(total, cap, k * 4)

    def find_near_duplicates(self, query: NearDuplicateQuery) -> list[Hit]:
        """Top-k indexed prompts most similar to a text or to an indexed prompt."""
        if (query.text is None) == (query.prompt_id is None):
            raise InvalidArgument("set exactly one of text or prompt_id", reason="QUERY_MISSING", field="query")
        if not 1 <= query.k <= self._config.max_k:
            raise InvalidArgument(
                f"k must be in 1..{self._config.max_k}, got {query.k}", reason="K_OUT_OF_RANGE", field="k"
            )
        threshold = -1.0 if query.min_similarity is None else _check_similarity(query.min_similarity, "min_similarity")
        start, end = self._window(query.start_ms, query.end_ms)
        self_row = -1
        if query.text is not None:
            vector = self.fingerprint([validate_text(query.text, self._config.max_text_bytes)])[0]
        else:
            found = self._store.vector_of(query.prompt_id or "")
            if found is None:
                raise NotFound(f"no prompt with prompt_id {query.prompt_id!r}", reason="PROMPT_NOT_FOUND", field="prompt_id")
            self_row, stored_vector, text = found
            vector = stored_vector if stored_vector is not None else self.fingerprint([text])[0]
        exclude_account = self._store.account_code(query.exclude_account_id) if query.exclude_account_id else None
        exclude_org = self._store.org_code(query.exclude_org_id) if query.exclude_org_id else None

        def accept(ids: np.ndarray, accounts: np.ndarray, orgs: np.ndarray, created: np.ndarray) -> np.ndarray:
            mask = (ids != self_row) & (created >= start) & (created < end)
            if exclude_account is not None:
                mask &= accounts != exclude_account
            if exclude_org is not None:
                mask &= orgs != exclude_org
            return mask

        cap = max(self._config.max_fanout_neighbors, 4 * query.k)
        ids, sims, _ = self._neighbours(vector, accept, threshold, query.k, cap, query.tuning)
        ids, sims = ids[: query.k], sims[: query.k]
        rows = self._store.fetch(ids, with_text=query.include_text)
        return [
            Hit(r.prompt_id, r.account_id, r.org_id, r.created_at_ms, float(s), r.text)
            for i, s in zip(ids.tolist(), sims.tolist())
            if (r := rows.get(i)) is not None
        ]

    @staticmethod
    def _window(start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
        start = validate_time_ms(start_ms, "window.start_time") if start_ms is not None else np.iinfo(np.int64).min
        end = validate_time_ms(end_ms, "window.end_time") if end_ms is not None else np.iinfo(np.int64).max
        if start >= end:
            raise InvalidArgument("window.start_time must be before window.end_time", reason="WINDOW_EMPTY", field="window")
        return int(start), int(end)

    def check(
        self,
        record: PromptRecord,
        *,
        store: bool,
        min_similarity: float | None = None,
        lookback_ms: int | None = None,
        example_count: int = 5,
        tier: Tier | None = None,
        tuning: SearchTuning | None = None,
    ) -> Verdict:
        """Fan-out and campaign score of one live prompt, optionally recording it (after
        the lookup, so the prompt never counts itself).

        ``tier`` (default ``IndexConfig.tier``) picks the fan-out: the template's
        prompts in the template window (fingerprint: no forward pass) or the transformer
        neighbours above ``min_similarity`` in ``lookback_ms`` (semantic)."""
        tier = tier or self._config.tier
        if tier not in TIERS:
            raise InvalidArgument(f"tier must be one of {', '.join(TIERS)}, got {tier!r}", reason="TIER_UNKNOWN", field="tier")
        threshold = (
            self._config.default_min_similarity if min_similarity is None else _check_similarity(min_similarity, "min_similarity")
        )
        lookback = self._config.default_lookback_ms if lookback_ms is None else lookback_ms
        if lookback <= 0:
            raise InvalidArgument(f"lookback must be positive, got {lookback} ms", reason="LOOKBACK_OUT_OF_RANGE", field="lookback")
        if not 0 <= example_count <= 100:
            raise InvalidArgument(
                f"example_count must be in 0..100, got {example_count}", reason="EXAMPLE_COUNT_OUT_OF_RANGE", field="example_count"
            )
        sig = signature(record.text)
        own_row = self._own_row(record) if tier == "semantic" else None  # the semantic fan-out needs it anyway
        template, features = self._template_view(record, sig, own_row)
        campaign = self._assess(sig, template, features)
        vector: np.ndarray | None = None
        if tier == "semantic":
            vector = self.fingerprint([record.text])
            end = record.created_at_ms
            start = max(0, end - lookback)
            fanout, examples = self._semantic_fanout(record, own_row or 0, vector[0], threshold, start, end, example_count, tuning)
        else:
            end = record.created_at_ms
            start = max(0, end - self._config.template_window_ms)
            fanout, examples = self._template_fanout(record, sig, template, features, example_count)
        recorded: IngestStatus | None = None
        if store:
            outcome = self.ingest([record], vector, [sig], tier=tier)[0]
            if outcome.error is not None:
                raise outcome.error
            recorded = outcome.status
        return Verdict(record.prompt_id, recorded, fanout, examples, threshold, start, end, campaign, tier)

    def _semantic_fanout(
        self,
        record: PromptRecord,
        own_row: int,
        vector: np.ndarray,
        threshold: float,
        start: int,
        end: int,
        example_count: int,
        tuning: SearchTuning | None,
    ) -> tuple[Fanout, list[Hit]]:
        self_row = own_row or -1
        own_account = self._store.account_code(record.account_id) if record.account_id else None
        own_org = self._store.org_code(record.org_id) if record.org_id else None

        def accept(ids: np.ndarray, accounts: np.ndarray, orgs: np.ndarray, created: np.ndarray) -> np.ndarray:
            return (ids != self_row) & (created >= start) & (created <= end)

        ids, sims, saturated = self._neighbours(vector, accept, threshold, None, self._config.max_fanout_neighbors, tuning)
        fanout = self._fanout(ids, sims, saturated, own_account, own_org)
        examples: list[Hit] = []
        if example_count and len(ids):
            rows = self._store.fetch(ids[:example_count])
            examples = [
                Hit(r.prompt_id, r.account_id, r.org_id, r.created_at_ms, float(s))
                for i, s in zip(ids[:example_count].tolist(), sims[:example_count].tolist())
                if (r := rows.get(i)) is not None
            ]
        return fanout, examples

    def _template_fanout(
        self, record: PromptRecord, sig: Signature, template: Template | None, features: TemplateFeatures | None, example_count: int
    ) -> tuple[Fanout, list[Hit]]:
        """The fingerprint tier's fan-out: the matched template's prompts in its window.
        Similarity is the share of the template's constant part the prompt contains."""
        if template is None or features is None or not features.volume:
            return Fanout(0, 0, 0, 0, 0, None, None, 0.0, False), []
        share = template.shared(sig.sorted_shingles) / max(1, len(template.core))
        fanout = Fanout(
            matching_prompts=features.volume,
            distinct_accounts=features.accounts,
            distinct_other_accounts=features.other_accounts,
            distinct_orgs=features.named_orgs,
            distinct_other_orgs=features.other_named_orgs,
            first_seen_ms=features.first_seen_ms,
            last_seen_ms=features.last_seen_ms,
            max_similarity=share,
            saturated=False,
        )
        examples: list[Hit] = []
        if example_count:
            ids = [i for i in self._templates.recent_rows(template, example_count + 1) if i][:example_count]
            rows = self._store.fetch(ids)
            examples = [
                Hit(r.prompt_id, r.account_id, r.org_id, r.created_at_ms, share)
                for i in ids
                if (r := rows.get(i)) is not None and r.prompt_id != record.prompt_id
            ][:example_count]
        return fanout, examples

    def _own_row(self, record: PromptRecord) -> int:
        """The store row of a prompt_id already recorded (a replay), else 0."""
        own = self._store.existing([record.prompt_id]) if record.prompt_id else {}
        return own[record.prompt_id][0] if own else 0

    def _template_view(
        self, record: PromptRecord, sig: Signature, own_row: int | None = None
    ) -> tuple[Template | None, TemplateFeatures | None]:
        """The template a prompt matches and its activity before the prompt (a prompt_id
        checked again after it was recorded, ``own_row`` in the store, is left out of its
        own counts). Unless the caller already has ``own_row``, the store is asked for it
        only once a template matched: most live prompts match none, and the query was ~10%
        of a lookup."""
        template = self._templates.match(sig)
        if template is None:
            return None, None
        exclude = own_row if own_row is not None else self._own_row(record)
        features = self._templates.features(template, record.created_at_ms, record.account_id, record.org_id, exclude_row_id=exclude)
        return template, features

    def _assess(self, sig: Signature, template: Template | None, features: TemplateFeatures | None) -> CampaignAssessment:
        bank = self._banks.match(sig, template.core if template else None)
        return assess(features, bank, threshold=self._config.campaign_threshold, window_ms=self._config.template_window_ms)

    def assess_campaign(self, record: PromptRecord, sig: Signature | None = None) -> CampaignAssessment:
        """Campaign score of a prompt from its template's activity before the prompt
        (the prompt itself is not counted), with bank matches applied."""
        sig = sig if sig is not None else signature(record.text)
        return self._assess(sig, *self._template_view(record, sig))

    # -- banks -------------------------------------------------------------------------------
    def add_bank_entry(self, kind: str, text: str, note: str = "") -> BankEntry:
        """Add an allow or deny entry; it applies at once to indexed and new traffic."""
        return self._banks.add(kind, text, note)

    def remove_bank_entry(self, entry_id: int) -> BankEntry:
        return self._banks.remove(entry_id)

    def bank_entries(self, kind: str | None = None) -> list[BankEntry]:
        return self._banks.entries(kind)

    def _fanout(
        self, ids: np.ndarray, sims: np.ndarray, saturated: bool, own_account: int | None, own_org: int | None
    ) -> Fanout:
        if len(ids) == 0:
            return Fanout(0, 0, 0, 0, 0, None, None, 0.0, False)
        accounts, orgs, created = self._rows.lookup(ids)
        unique_accounts = np.unique(accounts)
        unique_orgs = np.unique(orgs[orgs != 0])
        other_accounts = len(unique_accounts) - (1 if own_account is not None and own_account in unique_accounts else 0)
        other_orgs = len(unique_orgs) - (1 if own_org is not None and own_org in unique_orgs else 0)
        return Fanout(
            matching_prompts=len(ids),
            distinct_accounts=len(unique_accounts),
            distinct_other_accounts=other_accounts,
            distinct_orgs=len(unique_orgs),
            distinct_other_orgs=other_orgs,
            first_seen_ms=int(created.min()),
            last_seen_ms=int(created.max()),
            max_similarity=float(sims.max()),
            saturated=saturated,
        )

    def stats(self) -> IndexStats:
        data_dir = Path(self._config.data_dir)
        disk = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
        return IndexStats(
            prompt_count=len(self),
            indexed_count=len(self._vectors),
            account_count=self._store.account_count(),
            org_count=self._store.org_count(),
            index_type=self._vectors.description,
            model=self._identity.model_id,
            dimension=self._identity.dimension,
            normalizer_version=self._identity.normalizer_version,
            disk_bytes=disk,
            index_memory_bytes=self._vectors.memory_bytes() + self._rows.nbytes(),
            snapshot_watermark=self._snapshot_watermark,
            snapshot_time_unix=self._snapshot_time,
            template_count=len(self._templates),
            pending_vectors=self._backlog.pending,
        )
