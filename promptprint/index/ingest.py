"""Recording prompts: idempotent on prompt_id, durable before the acknowledgement.

A batch is split into new records and repeats (promptprint.index.dedupe); the new ones
are signed (template signatures, computed without the GIL), embedded now or behind the
acknowledgement, committed to the record store, queued into the live index and fed to
the template tracker, all in one writer-lock section so batches commit one after
another.

Signing is its own step (:meth:`Ingestor.sign`) so that a caller pipelining batches,
the server's ingest stream, can sign the next batch while the previous one commits.
"""

from __future__ import annotations

import itertools
from typing import Callable, Mapping, Sequence

import numpy as np

from promptprint.errors import AlreadyExists, ResourceExhausted
from promptprint.index.dedupe import Repeat, split_repeats
from promptprint.index.embedding_policy import EmbeddingPolicy
from promptprint.index.live import LiveIndex
from promptprint.index.results import IngestOutcome, IngestStatus
from promptprint.records import PromptRecord
from promptprint.storage.store import RecordStore
from promptprint.templates.tracker import Event, TemplateTracker
from promptprint.text.skeleton import Signature, signature_to_bytes
from promptprint.text.skeleton import signatures as compute_signatures


#: ``visit(position, own_row)``: called under the writer lock for each prompt of a batch
#: that is not a CONFLICT, in batch order, after the prompts before it joined the template
#: tracker and before it does; ``own_row`` is the store row already holding its prompt_id
#: (0 when none: a new prompt). So a visit sees exactly what a CheckPrompt of that prompt,
#: sent after the ones before it, would see.
Visit = Callable[[int, int], None]


def _repeat_outcome(record: PromptRecord, repeat: Repeat) -> IngestOutcome:
    if repeat.same_text:
        return IngestOutcome(IngestStatus.DUPLICATE)
    return IngestOutcome(
        IngestStatus.CONFLICT,
        AlreadyExists(
            f"prompt_id {record.prompt_id!r} is already recorded with a different text",
            reason="PROMPT_ID_CONFLICT",
            field="prompt_id",
        ),
    )


class Ingestor:
    """The write path of a PromptIndex.

    Args:
        live: the live index (its writer lock serializes every commit).
        store: the record store.
        templates: the template tracker, fed every recorded prompt.
        fingerprint: raw texts -> stored-precision vectors, for vectors computed before
            the acknowledgement.
        privacy_mode: store signatures instead of text; vectors are then always
            computed before the acknowledgement (no text is kept to embed later).
        policy: which rows recorded without a vector get one (the others are declined
            in the backlog and marked skipped by the vectorizer).
        max_backlog / backlog_wait_s: the bound on rows waiting for their vector: shed
            past it, or waited for and refused under the ``all`` policy (see
            IndexConfig.max_vector_backlog).
    """

    def __init__(
        self,
        live: LiveIndex,
        store: RecordStore,
        templates: TemplateTracker,
        fingerprint: Callable[[Sequence[str]], np.ndarray],
        *,
        privacy_mode: bool,
        policy: EmbeddingPolicy,
        max_backlog: int,
        backlog_wait_s: float,
    ) -> None:
        self._live = live
        self._store = store
        self._templates = templates
        self._fingerprint = fingerprint
        self._privacy_mode = privacy_mode
        self._policy = policy
        self._max_backlog = max_backlog
        self._backlog_wait_s = backlog_wait_s

    @staticmethod
    def sign(records: Sequence[PromptRecord]) -> list[Signature]:
        """Template signatures of a batch, computed outside every lock and without the GIL."""
        return compute_signatures([r.text for r in records])

    def ingest(
        self,
        records: Sequence[PromptRecord],
        vectors: np.ndarray | None,
        signatures: Sequence[Signature] | None,
        *,
        embed_now: bool,
        visit: Visit | None = None,
    ) -> list[IngestOutcome]:
        """Record a batch (see PromptIndex.ingest). ``embed_now``: the tier computes
        vectors before the acknowledgement. ``visit``: see :data:`Visit` (a batched
        CheckPrompt judges each prompt there, between the ones before and after it)."""
        if not records:
            return []
        outcomes: list[IngestOutcome | None] = [None] * len(records)
        stored = self._store.existing([r.prompt_id for r in records])
        positions, repeats = split_repeats(records, stored)
        for repeat in repeats:
            outcomes[repeat.position] = _repeat_outcome(records[repeat.position], repeat)
        new_vectors: np.ndarray | None = None
        if positions:
            if vectors is not None:
                new_vectors = vectors[positions]
            elif embed_now or self._privacy_mode:
                # privacy mode keeps no text to embed later: vectors before the acknowledgement
                new_vectors = self._fingerprint([records[p].text for p in positions])
            elif not self._policy.sheds:
                self._wait_for_backlog_room()
        if positions or visit is not None:
            new_signatures = [signatures[p] for p in positions] if signatures is not None else self.sign([records[p] for p in positions])
            self._record(records, positions, new_vectors, new_signatures, stored, outcomes, visit)
        return [o if o is not None else IngestOutcome(IngestStatus.RECORDED) for o in outcomes]

    def _record(
        self,
        batch: Sequence[PromptRecord],
        positions: list[int],
        vectors: np.ndarray | None,
        signatures: list[Signature],
        stored: Mapping[str, tuple[int, bytes]],
        outcomes: list[IngestOutcome | None],
        visit: Visit | None,
    ) -> None:
        """Commit the new records of ``batch`` (at ``positions``; ``vectors`` and
        ``signatures`` are theirs), then walk the batch in order: each new record joins
        the template tracker, after ``visit`` saw the prompt (when given)."""
        with self._live.write_lock:
            records = [batch[p] for p in positions]
            # Another writer may have recorded some of these since we looked.
            raced_rows = self._store.existing([r.prompt_id for r in records])
            keep, raced = split_repeats(records, raced_rows)
            for repeat in raced:
                outcomes[positions[repeat.position]] = _repeat_outcome(records[repeat.position], repeat)
            new: dict[int, tuple[int, Signature]] = {}  # batch position -> (its new row, its signature)
            if keep:
                stored_signatures = [signature_to_bytes(signatures[i]) for i in keep] if self._privacy_mode else None
                rows = self._store.insert(
                    [records[i] for i in keep], vectors[keep] if vectors is not None else None, stored_signatures,
                    copy_hashes=[signatures[i].copy_hash for i in keep],
                )
                self._live.append(rows)
                new = {positions[i]: (row_id, signatures[i]) for i, row_id in zip(keep, rows.ids.tolist())}
            # prompt_id -> the row holding it, as of the walk's position
            holder = {prompt_id: row for prompt_id, (row, _) in itertools.chain(stored.items(), raced_rows.items())}
            declined: list[int] = []
            for position in range(len(batch)) if visit is not None else sorted(new):
                r = batch[position]
                outcome = outcomes[position]
                if outcome is not None and outcome.status is IngestStatus.CONFLICT:
                    continue
                if visit is not None:
                    visit(position, holder.get(r.prompt_id, 0))
                if position not in new:
                    continue
                row_id, sig = new[position]
                holder[r.prompt_id] = row_id
                template_id = self._templates.record(sig, Event(r.created_at_ms, r.account_id, r.org_id, row_id))
                if vectors is None and not self._policy.wants(row_id, self._templates.members(template_id)):
                    declined.append(row_id)
            if new and vectors is None:
                backlog = self._live.current.backlog
                backlog.decline(declined)
                if self._policy.sheds:
                    backlog.shed(self._max_backlog)

    def _wait_for_backlog_room(self) -> None:
        live = self._live
        limit = self._max_backlog
        if len(live.current.backlog) < limit:
            return
        with live.changed:
            room = live.changed.wait_for(lambda: len(live.current.backlog) < limit, self._backlog_wait_s)
        if not room:
            raise ResourceExhausted(
                f"{len(live.current.backlog):,} recorded prompts are waiting for their vectors (limit {limit:,}); "
                "prompts arrive faster than the embedder keeps up: retry with backoff",
                reason="VECTOR_BACKLOG_FULL",
            )
