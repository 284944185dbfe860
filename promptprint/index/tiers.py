"""The two CheckPrompt tiers, behind one interface.

* :class:`FingerprintTier` (default): the fan-out is the matched template's prompts in
  the template window, from the template tracker, without a forward pass; vectors are
  computed behind the acknowledgement.
* :class:`SemanticTier`: the fan-out is the transformer neighbours above the similarity
  threshold in the lookback window; vectors are computed before the acknowledgement.

Campaign detection is the same in both: it only ever uses the template tracker.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Protocol, Sequence

import numpy as np

from promptprint.index.build import SearchTuning
from promptprint.index.config import Tier
from promptprint.index.queries import Lookups
from promptprint.index.results import NO_FANOUT, Fanout, Hit
from promptprint.records import PromptRecord
from promptprint.storage.store import RecordStore
from promptprint.templates.tracker import Template, TemplateFeatures, TemplateTracker
from promptprint.text.skeleton import Signature

@dataclasses.dataclass(frozen=True)
class FanoutRequest:
    """What a CheckPrompt asked for, validated."""

    min_similarity: float
    lookback_ms: int
    example_count: int
    tuning: SearchTuning | None


@dataclasses.dataclass(frozen=True)
class TierAnswer:
    """A tier's fan-out of one prompt, the window it covers, and the prompt's vector when
    the tier computed one (recording the prompt then reuses it)."""

    fanout: Fanout
    examples: list[Hit]
    window_start_ms: int
    window_end_ms: int
    vector: np.ndarray | None


@dataclasses.dataclass(frozen=True)
class TemplateMatch:
    """The template view of the checked prompt (promptprint.index.queries.Lookups.template_view)."""

    sig: Signature
    template: Template | None
    features: TemplateFeatures | None


class CheckTier(Protocol):
    """One way of answering CheckPrompt's fan-out, and when its vectors are computed."""

    name: Tier
    embeds_before_ack: bool  # ingest computes vectors before acknowledging

    def own_row(self, record: PromptRecord) -> int | None:
        """The prompt's store row if this tier needs it anyway (else None: the template
        view asks the store only when a template matched)."""
        ...

    def fanout(self, record: PromptRecord, match: TemplateMatch, own_row: int | None, request: FanoutRequest) -> TierAnswer: ...


class FingerprintTier:
    """Fan-out from the template tracker: no forward pass, well under a millisecond."""

    name: Tier = "fingerprint"
    embeds_before_ack = False

    def __init__(self, templates: TemplateTracker, store: RecordStore, template_window_ms: int) -> None:
        self._templates = templates
        self._store = store
        self._window_ms = template_window_ms

    def own_row(self, record: PromptRecord) -> int | None:
        return None

    def fanout(self, record: PromptRecord, match: TemplateMatch, own_row: int | None, request: FanoutRequest) -> TierAnswer:
        """The matched template's prompts in its window. Similarity is the share of the
        template's constant part the prompt contains."""
        end = record.created_at_ms
        start = max(0, end - self._window_ms)
        template, features = match.template, match.features
        if template is None or features is None or not features.volume:
            return TierAnswer(NO_FANOUT, [], start, end, None)
        share = template.shared(match.sig.sorted_shingles) / max(1, len(template.core))
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
        if request.example_count:
            ids = [i for i in self._templates.recent_rows(template, request.example_count + 1) if i][: request.example_count]
            rows = self._store.fetch(ids)
            examples = [
                Hit(r.prompt_id, r.account_id, r.org_id, r.created_at_ms, share)
                for i in ids
                if (r := rows.get(i)) is not None and r.prompt_id != record.prompt_id
            ][: request.example_count]
        return TierAnswer(fanout, examples, start, end, None)


class SemanticTier:
    """Fan-out by transformer near-duplicate search (one forward pass per check)."""

    name: Tier = "semantic"
    embeds_before_ack = True

    def __init__(
        self, lookups: Lookups, store: RecordStore, fingerprint: Callable[[Sequence[str]], np.ndarray], max_neighbors: int
    ) -> None:
        self._lookups = lookups
        self._store = store
        self._fingerprint = fingerprint
        self._max_neighbors = max_neighbors

    def own_row(self, record: PromptRecord) -> int | None:
        return self._lookups.own_row(record)  # the fan-out leaves the prompt itself out

    def fanout(self, record: PromptRecord, match: TemplateMatch, own_row: int | None, request: FanoutRequest) -> TierAnswer:
        """The neighbours above ``min_similarity`` in ``lookback_ms`` before the prompt."""
        vector = self._fingerprint([record.text])
        end = record.created_at_ms
        start = max(0, end - request.lookback_ms)
        self_row = own_row or -1
        own_account = self._store.account_code(record.account_id) if record.account_id else None
        own_org = self._store.org_code(record.org_id) if record.org_id else None

        def accept(ids: np.ndarray, accounts: np.ndarray, orgs: np.ndarray, created: np.ndarray) -> np.ndarray:
            return (ids != self_row) & (created >= start) & (created <= end)

        ids, sims, saturated = self._lookups.neighbours(
            vector[0], accept, request.min_similarity, None, self._max_neighbors, request.tuning
        )
        fanout = self._lookups.fanout_of(ids, sims, saturated, own_account, own_org)
        examples: list[Hit] = []
        count = request.example_count
        if count and len(ids):
            rows = self._store.fetch(ids[:count])
            examples = [
                Hit(r.prompt_id, r.account_id, r.org_id, r.created_at_ms, float(s))
                for i, s in zip(ids[:count].tolist(), sims[:count].tolist())
                if (r := rows.get(i)) is not None
            ]
        return TierAnswer(fanout, examples, start, end, vector)
