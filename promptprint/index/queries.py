"""Lookups that change nothing: near-duplicate search, the template view of a prompt and
its campaign assessment, an account's campaign verdict.

Lookups run in parallel with each other and with writes: each takes the live build once
(:attr:`promptprint.index.live.LiveIndex.current`) and uses it throughout.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from promptprint.errors import InvalidArgument, NotFound
from promptprint.index.build import SearchTuning, search
from promptprint.index.config import IndexConfig
from promptprint.index.live import LiveIndex
from promptprint.index.results import NO_FANOUT, Fanout, Hit, MatchView, NearDuplicateQuery
from promptprint.records import PromptRecord, validate_id, validate_text, validate_time_ms
from promptprint.storage.row_metadata import NO_TIME
from promptprint.storage.store import RecordStore
from promptprint.templates import account_assessment
from promptprint.templates.account_assessment import AccountAssessment
from promptprint.templates.banks import Banks
from promptprint.templates.scoring import BankHit, CampaignAssessment, assess
from promptprint.templates.tracker import Template, TemplateFeatures, TemplateTracker, TrackedTemplate
from promptprint.text.skeleton import Signature, signature

# Which neighbours a search keeps: (ids, account codes, org codes, created_at_ms) -> mask.
Accept = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


_LEVELS = {"none": 0, "watch": 1, "flagged": 2}


def check_similarity(value: float, field: str) -> float:
    """A similarity threshold from a request, checked to be in [0, 1]."""
    if not (0.0 <= value <= 1.0):  # also rejects NaN
        raise InvalidArgument(f"{field} must be in [0, 1], got {value}", reason="SIMILARITY_OUT_OF_RANGE", field=field)
    return float(value)


def window(start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
    """A request's [start, end) time window, open ends unbounded."""
    start = validate_time_ms(start_ms, "window.start_time") if start_ms is not None else np.iinfo(np.int64).min
    end = validate_time_ms(end_ms, "window.end_time") if end_ms is not None else np.iinfo(np.int64).max
    if start >= end:
        raise InvalidArgument("window.start_time must be before window.end_time", reason="WINDOW_EMPTY", field="window")
    return int(start), int(end)


class Lookups:
    """The read side of a PromptIndex.

    Args:
        config: the index settings (limits, thresholds, search choice).
        live: the live index.
        store: the record store (texts, metadata, codes).
        templates: the template tracker.
        banks: the allow and deny banks.
        fingerprint: raw texts -> stored-precision vectors.
    """

    def __init__(
        self,
        config: IndexConfig,
        live: LiveIndex,
        store: RecordStore,
        templates: TemplateTracker,
        banks: Banks,
        fingerprint: Callable[[Sequence[str]], np.ndarray],
    ) -> None:
        self._config = config
        self._live = live
        self._store = store
        self._templates = templates
        self._banks = banks
        self._fingerprint = fingerprint
        # template id -> (banks version, the entry one of its prompts matched): see assess
        self._template_hits: dict[int, tuple[int, BankHit]] = {}

    def neighbours(
        self,
        vector: np.ndarray,
        accept: Accept,
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
        live = self._live.current  # one build for the whole lookup, even across a hot swap
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
        """Top-k indexed prompts most similar to a text or to an indexed prompt, from two views.

        The lexical view (the store's canonical-text hashes) gives the copies: prompts whose
        canonical text equals the query's (cosmetic noise, ids, whitespace and case aside),
        newest first, found the moment they are recorded, vector or not. They lead the
        answer with similarity 1.0 (so any ``min_similarity`` keeps them), and a row both
        views find is reported once, by the lexical view: that it is a copy says more than
        its cosine. The semantic view (the vectors) fills the rest of ``k``, most similar
        first."""
        if (query.text is None) == (query.prompt_id is None):
            raise InvalidArgument("set exactly one of text or prompt_id", reason="QUERY_MISSING", field="query")
        if not 1 <= query.k <= self._config.max_k:
            raise InvalidArgument(
                f"k must be in 1..{self._config.max_k}, got {query.k}", reason="K_OUT_OF_RANGE", field="k"
            )
        threshold = -1.0 if query.min_similarity is None else check_similarity(query.min_similarity, "min_similarity")
        start, end = window(query.start_ms, query.end_ms)
        self_row = -1
        copy_hash: int | None = None
        if query.text is not None:
            text = validate_text(query.text, self._config.max_text_bytes)
            vector = self._fingerprint([text])[0]
            copy_hash = signature(text).copy_hash
        else:
            found = self._store.vector_of(query.prompt_id or "")
            if found is None:
                raise NotFound(f"no prompt with prompt_id {query.prompt_id!r}", reason="PROMPT_NOT_FOUND", field="prompt_id")
            self_row, stored_vector, text = found
            vector = stored_vector if stored_vector is not None else self._fingerprint([text])[0]
        exclude_account = self._store.account_code(query.exclude_account_id) if query.exclude_account_id else None
        exclude_org = self._store.org_code(query.exclude_org_id) if query.exclude_org_id else None

        def accept(ids: np.ndarray, accounts: np.ndarray, orgs: np.ndarray, created: np.ndarray) -> np.ndarray:
            mask = (ids != self_row) & (created >= start) & (created < end)
            if exclude_account is not None:
                mask &= accounts != exclude_account
            if exclude_org is not None:
                mask &= orgs != exclude_org
            return mask

        copies = self._store.copies(
            copy_hash=copy_hash, of_row=None if copy_hash is not None else self_row, start_ms=start, end_ms=end,
            exclude_account=exclude_account, exclude_org=exclude_org, limit=query.k,
        )
        picked: list[tuple[int, float, MatchView]] = [(i, 1.0, MatchView.LEXICAL) for i in copies]
        if len(picked) < query.k:
            cap = max(self._config.max_fanout_neighbors, 4 * query.k)
            ids, sims, _ = self.neighbours(vector, accept, threshold, query.k + len(copies), cap, query.tuning)
            lexical = set(copies)
            semantic = [(i, s, MatchView.SEMANTIC) for i, s in zip(ids.tolist(), sims.tolist()) if i not in lexical]
            picked += semantic[: query.k - len(picked)]
        rows = self._store.fetch([i for i, _, _ in picked], with_text=query.include_text)
        return [
            Hit(r.prompt_id, r.account_id, r.org_id, r.created_at_ms, float(s), r.text, view)
            for i, s, view in picked
            if (r := rows.get(i)) is not None
        ]

    def own_row(self, record: PromptRecord) -> int:
        """The store row of a prompt_id already recorded (a replay), else 0."""
        own = self._store.existing([record.prompt_id]) if record.prompt_id else {}
        return own[record.prompt_id][0] if own else 0

    def template_view(
        self, record: PromptRecord, sig: Signature, own_row: int | None = None
    ) -> tuple[Template | None, TemplateFeatures | None, list[TemplateFeatures]]:
        """The shingle template a prompt matches with its activity before the prompt, and
        the activity of its instruction lines' templates and of its account's task (see the
        tracker's TaskTemplate; a prompt_id checked again after
        it was recorded, ``own_row`` in the store, is left out of its own counts). Unless
        the caller already has ``own_row``, the store is asked for it once, and only when
        some template matched: most live prompts match none, and the query was ~10% of a
        lookup."""
        template = self._templates.match(sig)
        lines: list[TrackedTemplate] = list(self._templates.line_templates(sig))
        task = self._templates.task_of(record.account_id)
        if task is not None:
            lines.append(task)
        if template is None and not lines:
            return None, None, []
        exclude = own_row if own_row is not None else self.own_row(record)

        def features(tracked: TrackedTemplate) -> TemplateFeatures:
            return self._templates.features(tracked, record.created_at_ms, record.account_id, record.org_id, exclude_row_id=exclude)

        return template, features(template) if template is not None else None, [features(line) for line in lines]

    def assess(
        self, sig: Signature, template: Template | None, features: TemplateFeatures | None,
        line_features: Sequence[TemplateFeatures] = (),
    ) -> CampaignAssessment:
        """Campaign assessment of a prompt (its :meth:`template_view`), with bank matches
        applied: the strongest of its shingle template's and its instruction lines' (a
        short wrapper over a long paste has little else). A shingle template that is a
        document pasted under other instruction lines than the prompt's is payload, not
        assessed (see PASTED_DOCUMENT_CORE in the tracker).

        A bank entry one prompt of a shingle template matched holds for the template's
        other prompts (until the banks change): a framework's users fill its scaffold
        with tools and inputs of their own, and one prompt in three no longer holds 60%
        of the entry (measured on the simulator's structured-chat users, 44 of 63 match
        the built-in entry) though it joined the scaffold's template. Not an
        instruction line's: a campaign that opens with a public framework's first line
        would inherit its allow entry."""
        bank = self._banks.match(sig, template.core if template else None)
        if template is not None:
            if bank is not None:
                self._template_hits[template.template_id] = (self._banks.version, bank)
            else:
                bank = self._remembered_hit(template.template_id)
        threshold, window = self._config.campaign_threshold, self._config.template_window_ms
        views: list[TemplateFeatures | None] = [features, *line_features]
        if template is not None and line_features and template.pasted_document(sig):
            views = list(line_features)  # a pasted document: the prompt's instruction line is its template
        # the first of the strongest: the shingle template's on a tie
        return max((assess(view, bank, threshold=threshold, window_ms=window) for view in views),
                   key=lambda candidate: (_LEVELS[candidate.level], candidate.score))

    def _remembered_hit(self, template_id: int) -> BankHit | None:
        """The entry a prompt of the template matched, while the banks are as they were then."""
        remembered = self._template_hits.get(template_id)
        return remembered[1] if remembered is not None and remembered[0] == self._banks.version else None

    def template_bank(self, template_id: int) -> BankHit | None:
        """The bank entry matching a tracked template: by its latest prompt, as CheckPrompt
        matched that prompt (a privacy-mode store keeps no text: then by a shingle
        template's core alone, and a line template matches none), or the entry one of
        its prompts matched (see :meth:`assess`)."""
        remembered = self._remembered_hit(template_id)
        if remembered is not None:
            return remembered
        tracked = self._templates.tracked(template_id)
        if tracked is None:
            return None
        latest = self._store.fetch(self._templates.recent_rows(tracked, 1), with_text=True)
        text = next(iter(latest.values())).text if latest else None
        template = self._templates.template(template_id)
        return self._banks.match(signature(text or ""), template.core if template is not None else None)

    def assess_account(self, account_id: str, now_ms: int | None) -> AccountAssessment:
        """An account's campaign verdict (see :mod:`promptprint.templates.account_assessment`)."""
        validate_id(account_id, "account_id", required=True)
        return account_assessment.assess_account(
            self._templates, account_id, now_ms, self.template_bank,
            threshold=self._config.campaign_threshold, window_ms=self._config.template_window_ms,
        )

    def fanout_of(
        self, ids: np.ndarray, sims: np.ndarray, saturated: bool, own_account: int | None, own_org: int | None
    ) -> Fanout:
        """Fan-out statistics of neighbours found by :meth:`neighbours`; ``own_account`` and
        ``own_org`` (codes) are the checked prompt's, left out of the "other" counts."""
        if len(ids) == 0:
            return NO_FANOUT
        accounts, orgs, created = self._live.current.rows.lookup(ids)
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
