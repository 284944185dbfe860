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

The parts, one module each: settings (config), answers (results), the live index and
its snapshots (live), the background vectors (vectorizer), writes (ingest, dedupe),
reads (queries), the two tiers (tiers) and the fingerprint recipe (fingerprint). This
module only wires them together.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from promptprint.errors import AlreadyExists, InvalidArgument, PromptprintError
from promptprint.executors import one_ahead
from promptprint.index.build import SearchTuning
from promptprint.index.config import TIERS, IndexConfig, Tier
from promptprint.index.fingerprint import fingerprint_texts
from promptprint.index.ingest import Ingestor
from promptprint.index.live import LiveIndex
from promptprint.index.queries import Lookups, check_similarity
from promptprint.index.results import Hit, IndexStats, IngestOutcome, IngestStatus, NearDuplicateQuery, Verdict
from promptprint.index.template_linker import TemplateLinker
from promptprint.index.tiers import CheckTier, FanoutRequest, FingerprintTier, SemanticTier, TemplateMatch, TierAnswer
from promptprint.index.vectorizer import Vectorizer
from promptprint.records import PromptRecord, now_ms, validate_id
from promptprint.storage.snapshot import SnapshotDirectory
from promptprint.storage.store import RecordStore
from promptprint.storage.identity import StoreIdentity
from promptprint.templates.account_assessment import AccountAssessment, standing_mark
from promptprint.templates.banks import BankEntry, Banks
from promptprint.templates.scoring import CampaignAssessment, carried
from promptprint.templates.tracker import Event, TemplateTracker
from promptprint.text.skeleton import Signature, signature, signature_from_bytes
from promptprint.text.skeleton import signatures as compute_signatures
from promptprint.vectors.embedder import Embedder

log = logging.getLogger(__name__)

_REPLAY_CHUNK = 512  # rows signed at once when the tracker is rebuilt on start


class PromptIndex:
    """Durable prompt records plus a FAISS index over their fingerprints.

    Use :meth:`open` (it loads the snapshot and replays newer records), then
    :meth:`ingest`, :meth:`find_near_duplicates`, :meth:`check` and :meth:`stats`;
    :meth:`close` writes a final snapshot.
    """

    def __init__(self, config: IndexConfig, embedder: Embedder, background_embedder: Embedder | None = None) -> None:
        self._config = config
        self._embedder = embedder
        self._identity = StoreIdentity.current(embedder.model_id, embedder.dimension)
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self._store = RecordStore(config.store_path, self._identity, store_text=not config.privacy_mode)
        self._banks = Banks(config.store_path, max_text_bytes=config.max_text_bytes, seed_builtin=config.builtin_allow_bank)
        self._templates = TemplateTracker(config.template_window_ms, semantic_links=config.semantic_links)
        self._templates.set_members(config.cluster_members)
        self._live = LiveIndex(
            self._store, SnapshotDirectory(config.snapshot_root), self._identity, config.choice, config.snapshot_every
        )
        self._ingestor = Ingestor(
            self._live, self._store, self._templates, self.fingerprint,
            privacy_mode=config.privacy_mode, policy=config.embedding_policy,
            max_backlog=config.max_vector_backlog, backlog_wait_s=config.backlog_wait_s,
        )
        self._lookups = Lookups(config, self._live, self._store, self._templates, self._banks, self.fingerprint)
        tiers: tuple[CheckTier, ...] = (
            FingerprintTier(self._templates, self._store, config.template_window_ms),
            SemanticTier(self._lookups, self._store, self.fingerprint, config.max_fanout_neighbors),
        )
        self._tiers: dict[str, CheckTier] = {tier.name: tier for tier in tiers}
        background = (
            functools.partial(fingerprint_texts, background_embedder.embed)
            if background_embedder is not None
            else functools.partial(self.fingerprint, background=True)
        )
        # the linker's texts are few and short, and a link delayed is detection delayed: they go
        # at the lookups' priority, ahead of the vector backlog's batches
        self._linker = TemplateLinker(self._templates, self._store, self.fingerprint) if config.semantic_links else None
        self._vectorizer = Vectorizer(self._live, self._store, background, config.embed_batch)
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(cls, config: IndexConfig, embedder: Embedder, background_embedder: Embedder | None = None) -> "PromptIndex":
        """Open the data directory: load the snapshot, replay newer records.

        ``background_embedder`` computes the vectors behind the acknowledgement (e.g. a
        PooledEmbedder over worker processes, so this process runs no forward pass for
        ingest); None: ``embedder`` does, at background priority. Both must be the same
        model."""
        if background_embedder is not None and (background_embedder.model_id, background_embedder.dimension) != (
            embedder.model_id, embedder.dimension
        ):
            raise ValueError(
                f"the background embedder ({background_embedder.model_id}, {background_embedder.dimension}) must be "
                f"the model of the lookups ({embedder.model_id}, {embedder.dimension})"
            )
        index = cls(config, embedder, background_embedder)
        index._load()
        index._vectorizer.start()
        if index._linker is not None:
            index._linker.start()
        return index

    def _load(self) -> None:
        started = time.monotonic()
        replayed = self._live.load()
        self._replay_templates()
        live = self._live.current
        policy = self._config.embedding_policy
        waiting = live.backlog.next_pending(live.backlog.pending)
        live.backlog.decline([row_id for row_id in waiting if not policy.on_replay(row_id)])
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

    def snapshot_changed(self) -> bool:
        """Whether CURRENT names a snapshot other than the one in use (a file read)."""
        return self._live.snapshot_changed()

    @property
    def snapshot_name(self) -> str:
        """Folder name of the snapshot in use ("" before the first one)."""
        return self._live.snapshot_name

    def reload(self) -> bool:
        """Hot swap to the snapshot a reindex switched CURRENT to, while lookups continue
        (see promptprint.index.live.LiveIndex.reload). False when nothing changed."""
        return self._live.reload()

    def close(self) -> None:
        """Write a final snapshot (when anything changed) and close the store."""
        if self._closed:
            return
        if self._linker is not None:
            self._linker.close()
        self._live.close()
        self._vectorizer.join()
        self._live.snapshot_if_changed()
        self._banks.close()
        self._store.close()
        self._closed = True

    def snapshot(self) -> None:
        """Write the index and row metadata as a new snapshot (atomic, see snapshot.py)."""
        self._live.snapshot()

    @property
    def config(self) -> IndexConfig:
        return self._config

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def __len__(self) -> int:
        """Recorded prompts, those still waiting for their vector and those the embedding
        policy skipped included."""
        return self._store.recorded

    @property
    def pending_vectors(self) -> int:
        """Recorded prompts whose transformer vector is not computed yet."""
        return self._live.current.backlog.pending

    @property
    def skipped_vectors(self) -> int:
        """Recorded prompts the embedding policy left without a vector since start."""
        return self._vectorizer.skipped

    @property
    def embedding_lag_s(self) -> float:
        """How long the oldest prompt waiting for its vector has waited (0.0: none)."""
        with self._live.write_lock:  # the backlog is walked; writers change it under this lock
            return self._live.current.backlog.oldest_pending_age_s()

    def wait_indexed(self, timeout_s: float | None = None) -> bool:
        """Block until every recorded prompt is in the vector index (what a batch job or
        a test does before semantic lookups). Returns False on timeout."""
        return self._live.wait_indexed(timeout_s)

    @property
    def unsnapshotted(self) -> int:
        """Records written since the last snapshot (what a restart would replay)."""
        return self._live.unsnapshotted

    @property
    def recovery_point_unix(self) -> float:
        """When the newest snapshot was written, or when the index was opened if it has
        none yet: records newer than this are only in the record store."""
        return self._live.recovery_point_unix

    @property
    def snapshot_time_unix(self) -> float | None:
        return self._live.snapshot_time_unix

    # -- fingerprints and signatures ---------------------------------------------------------
    def fingerprint(self, texts: Sequence[str], *, background: bool = False) -> np.ndarray:
        """Semantic fingerprints of raw texts (promptprint.index.fingerprint's recipe).
        ``background``: nobody waits on the answer (the vector backlog); an embedder that
        can tell (promptprint.vectors.batching) then keeps it out of lookups' forward passes."""
        embed = getattr(self._embedder, "embed_background", self._embedder.embed) if background else self._embedder.embed
        return fingerprint_texts(embed, texts)

    def sign(self, records: Sequence[PromptRecord]) -> list[Signature]:
        """Template signatures of a batch, for :meth:`ingest`. Computed without the GIL and
        outside every lock, so a caller pipelining batches (the server's ingest stream)
        signs the next batch while the previous one commits."""
        return self._ingestor.sign(records)

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
            signatures: their template signatures (from :meth:`sign`), when the caller
                computed them ahead; otherwise computed here.
            tier: overrides ``IndexConfig.tier`` for this call.
        """
        embed_now = self._tier(tier or self._config.tier).embeds_before_ack
        return self._ingestor.ingest(records, vectors, signatures, embed_now=embed_now)

    def _tier(self, name: str) -> CheckTier:
        found = self._tiers.get(name)
        if found is None:
            raise InvalidArgument(f"tier must be one of {', '.join(TIERS)}, got {name!r}", reason="TIER_UNKNOWN", field="tier")
        return found

    def set_cluster_size(self, members: int) -> None:
        """This index serves one of ``members`` processes that route prompts by template
        (promptprint.cluster): accounts' volumes are estimated accordingly."""
        self._templates.set_members(members)

    # -- reads -------------------------------------------------------------------------------
    def find_near_duplicates(self, query: NearDuplicateQuery) -> list[Hit]:
        """Top-k indexed prompts most similar to a text or to an indexed prompt."""
        return self._lookups.find_near_duplicates(query)

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
        chosen = self._tier(tier or self._config.tier)
        request = self._fanout_request(min_similarity, lookback_ms, example_count, tuning)
        sig = signature(record.text)
        campaign, answer = self._judge(chosen, record, sig, chosen.own_row(record), request, remember=store)
        recorded: IngestStatus | None = None
        if store:
            outcome = self.ingest([record], answer.vector, [sig], tier=chosen.name)[0]
            if outcome.error is not None:
                raise outcome.error
            recorded = outcome.status
            self._link_now()
        return _verdict(record, recorded, campaign, answer, request, chosen)

    def check_many(
        self,
        records: Sequence[PromptRecord],
        *,
        store: bool,
        min_similarity: float | None = None,
        lookback_ms: int | None = None,
        example_count: int = 5,
        tier: Tier | None = None,
        tuning: SearchTuning | None = None,
        signatures: Sequence[Signature] | None = None,
    ) -> list[Verdict | PromptprintError]:
        """:meth:`check` of each record, in order, as one batch: each verdict is the one a
        check of that record, made after the records before it, would give (they count in
        its template's activity; a prompt_id repeated in the batch is a DUPLICATE or a
        CONFLICT). A CONFLICT's entry is its AlreadyExists error; other errors fail the batch.
        ``signatures``: the records' template signatures (:meth:`sign`), when the caller
        computed them ahead (the server's stream signs the next batch meanwhile).

        In the fingerprint tier the batch is signed at once (C, without the GIL), then
        each prompt is judged under the writer lock between the store commit of the whole
        batch (one transaction) and its own join of the template tracker
        (promptprint.index.ingest.Visit): what cost one transaction and several store
        queries per prompt costs one per batch. The semantic tier runs a forward pass
        per prompt anyway and checks them one by one."""
        chosen = self._tier(tier or self._config.tier)
        request = self._fanout_request(min_similarity, lookback_ms, example_count, tuning)
        if chosen.embeds_before_ack:
            return [self._check_or_conflict(r, store, request, chosen) for r in records]
        signed = list(signatures) if signatures is not None else self.sign(records)
        if not store:
            held = self._store.existing([r.prompt_id for r in records if r.prompt_id])
            return [
                _verdict(r, None, *self._judge(chosen, r, sig, held[r.prompt_id][0] if r.prompt_id in held else 0, request), request, chosen)
                for r, sig in zip(records, signed)
            ]
        judged: list[tuple[CampaignAssessment, TierAnswer] | None] = [None] * len(records)

        def visit(position: int, own_row: int) -> None:
            self._link_now()  # a batch is hours of a fast replay's traffic: links may not wait for its end
            judged[position] = self._judge(chosen, records[position], signed[position], own_row, request, remember=True)

        outcomes = self._ingestor.ingest(records, None, signed, embed_now=False, visit=visit)
        results: list[Verdict | PromptprintError] = []
        for record, outcome, judgement in zip(records, outcomes, judged):
            if outcome.error is not None:
                results.append(outcome.error)
                continue
            assert judgement is not None  # every prompt but a CONFLICT was visited
            results.append(_verdict(record, outcome.status, *judgement, request, chosen))
        return results

    def _link_now(self) -> None:
        """Wait, outside every lock but the caller's, for the links by wording of templates
        that have waited ``IndexConfig.link_lag_ms`` of the traffic's own clock: the
        linker's thread keeps up with live traffic (a forward pass is never minutes
        behind the wall clock), but a fast replay (hours of traffic a second) would outrun
        it and judge a campaign's accounts without its links. So a check waits for the
        thread's pass under way, then embeds what is left: at most once per that much
        replayed traffic, never in live traffic. Ingest never waits: its templates go to
        the thread."""
        lag = self._config.link_lag_ms
        if self._linker is not None and lag and self._templates.waiting_for_embedding(lag):
            self._linker.run_once()

    def _check_or_conflict(self, record: PromptRecord, store: bool, request: FanoutRequest, chosen: CheckTier) -> Verdict | PromptprintError:
        """One check of a batch taken one by one; a CONFLICT is that prompt's answer."""
        try:
            return self.check(
                record, store=store, min_similarity=request.min_similarity, lookback_ms=request.lookback_ms,
                example_count=request.example_count, tier=chosen.name, tuning=request.tuning,
            )
        except AlreadyExists as error:
            return error

    def _fanout_request(
        self, min_similarity: float | None, lookback_ms: int | None, example_count: int, tuning: SearchTuning | None
    ) -> FanoutRequest:
        """A check's options, validated, with the configured defaults filled in."""
        threshold = (
            self._config.default_min_similarity if min_similarity is None else check_similarity(min_similarity, "min_similarity")
        )
        lookback = self._config.default_lookback_ms if lookback_ms is None else lookback_ms
        if lookback <= 0:
            raise InvalidArgument(f"lookback must be positive, got {lookback} ms", reason="LOOKBACK_OUT_OF_RANGE", field="lookback")
        if not 0 <= example_count <= 100:
            raise InvalidArgument(
                f"example_count must be in 0..100, got {example_count}", reason="EXAMPLE_COUNT_OUT_OF_RANGE", field="example_count"
            )
        return FanoutRequest(threshold, lookback, example_count, tuning)

    def _judge(
        self, chosen: CheckTier, record: PromptRecord, sig: Signature, own_row: int | None, request: FanoutRequest,
        *, remember: bool = False,
    ) -> tuple[CampaignAssessment, TierAnswer]:
        """A prompt's campaign assessment and fan-out against the index as it stands. A
        flagged prompt that is recorded (``remember``) marks its group's committed
        accounts as the campaign's; a prompt of a marked account is flagged as the
        campaign's account's (see TemplateTracker.note_flagged). A check that records
        nothing changes nothing: its verdict does not depend on the lookups before it."""
        template, features, lines = self._lookups.template_view(record, sig, own_row)
        campaign = self._lookups.assess(sig, template, features, lines)
        if campaign.flagged:
            if remember and campaign.template_id:
                self._templates.note_flagged(campaign.template_id, record.created_at_ms, campaign.score)
        elif (mark := standing_mark(self._templates, record.account_id, record.created_at_ms, self._lookups.template_bank)) is not None:
            campaign = carried(campaign, mark, record.created_at_ms)
        return campaign, chosen.fanout(record, TemplateMatch(sig, template, features), own_row, request)

    def assess_campaign(self, record: PromptRecord, sig: Signature | None = None) -> CampaignAssessment:
        """Campaign score of a prompt from its template's activity before the prompt
        (the prompt itself is not counted), with bank matches applied."""
        sig = sig if sig is not None else signature(record.text)
        return self._lookups.assess(sig, *self._lookups.template_view(record, sig))

    def assess_account(self, account_id: str, now_ms: int | None = None) -> AccountAssessment:
        """The campaign verdict on an account: the template groups it used in the window
        ending at ``now_ms`` (default: its latest prompt), its share of traffic in each,
        a score and a level (none / watch / flagged), with bank matches applied.

        Raises:
            InvalidArgument: an empty or malformed ``account_id``.
            NotFound: ``ACCOUNT_NOT_FOUND``, no prompt of the account in the template window.
        """
        return self._lookups.assess_account(account_id, now_ms)

    # -- banks -------------------------------------------------------------------------------
    def add_bank_entry(self, kind: str, text: str, note: str = "") -> BankEntry:
        """Add an allow or deny entry; it applies at once to indexed and new traffic.
        Idempotent on (kind, text): see promptprint.templates.banks.Banks.add."""
        return self._banks.add(kind, text, note)

    def remove_bank_entry(self, entry_id: int) -> BankEntry:
        return self._banks.remove(entry_id)

    def bank_entries(self, kind: str | None = None) -> list[BankEntry]:
        return self._banks.entries(kind)

    # -- deletion and retention -----------------------------------------------------------
    def delete_account(self, account_id: str) -> int:
        """Delete every prompt of an account from the store, the index and the stats;
        returns how many. Durable when this returns (the store commits first; the index
        follows, and a restart re-derives it from the store)."""
        validate_id(account_id, "account_id", required=True)
        with self._live.write_lock:
            return self._forget(self._store.delete_account(account_id))

    def purge_older_than(self, cutoff_ms: int) -> int:
        """Retention: delete every prompt created before ``cutoff_ms``; returns how many."""
        with self._live.write_lock:
            return self._forget(self._store.purge_older_than(cutoff_ms))

    def purge_expired(self, now: int | None = None) -> int:
        """Apply ``retention_ms`` (no-op when it is 0); returns how many were purged."""
        if not self._config.retention_ms:
            return 0
        return self.purge_older_than((now if now is not None else now_ms()) - self._config.retention_ms)

    def _forget(self, ids: np.ndarray) -> int:
        """Take deleted rows out of the live index and the template tracker (under the
        writer lock)."""
        if len(ids):
            self._live.forget(ids)
            self._templates.forget_rows(set(ids.tolist()))
        return len(ids)

    def stats(self) -> IndexStats:
        data_dir = Path(self._config.data_dir)
        disk = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
        live = self._live.current
        return IndexStats(
            prompt_count=len(self),
            indexed_count=len(live.vectors),
            account_count=self._store.account_count(),
            org_count=self._store.org_count(),
            index_type=live.vectors.description,
            model=self._identity.model_id,
            dimension=self._identity.dimension,
            normalizer_version=self._identity.normalizer_version,
            disk_bytes=disk,
            index_memory_bytes=live.vectors.memory_bytes() + live.rows.nbytes(),
            snapshot_watermark=self._live.snapshot_watermark,
            snapshot_time_unix=self._live.snapshot_time_unix,
            template_count=len(self._templates),
            pending_vectors=live.backlog.pending,
            embedding_policy=self._config.embedding_policy.describe(),
            skipped_vectors=self.skipped_vectors,
            embedding_lag_s=self.embedding_lag_s,
        )


def _verdict(
    record: PromptRecord, recorded: IngestStatus | None, campaign: CampaignAssessment, answer: TierAnswer,
    request: FanoutRequest, chosen: CheckTier,
) -> Verdict:
    return Verdict(
        record.prompt_id, recorded, answer.fanout, answer.examples, request.min_similarity,
        answer.window_start_ms, answer.window_end_ms, campaign, chosen.name,
    )
