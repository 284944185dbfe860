"""From template clusters to campaigns: the account × template graph, and the score.

A campaign is a set of templates plus the accounts that ran them. Campaigns rotate
templates (a pivot to a new paraphrase family, a translation), but their accounts stay:
so templates are linked when they share *regulars* — accounts that used each of them
at least ``min_regular_prompts`` times — at least ``min_shared_accounts`` of them and at
least ``link_share`` of the smaller template's regulars. An ordinary user who touched
two templates once each links nothing (measured on simulated traffic: linking on any
shared account chained every campaign, an org's app and ordinary traffic into one
group). A campaign is a connected group of linked templates that reaches
``min_accounts`` accounts of its own (:func:`core_accounts`).
The accounts keep their mixed traffic: each one's share of prompts inside the campaign
(*dedication*) is reported, not used to cut them out.

Score. The online score (:func:`promptprint.templates.scoring.assess`) is applied to the
campaign's whole history — its window is the campaign's span — and multiplied by how
dedicated its accounts are::

    score = assess(features over the span).score × (0.25 + 0.75 × dedication)

* assess: coordination (accounts that reuse the templates + accounts together in the
  busiest 10-minute bucket) × payload diversity (distinct texts) × org spread ×
  specificity; see that module for the mappings and why;
* dedication: the share of the campaign accounts' traffic that is campaign traffic
  (volume-weighted). Throw-away accounts send almost only the campaign (~1.0); people
  who paste a popular prompt now and then send mostly other things (< 0.3).

Banks apply as online: an allow-bank match caps the score at 0.05, a deny match
raises it to 0.95.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from promptprint.templates.scoring import ALLOW_CAP, DENY_FLOOR, BankHit, assess
from promptprint.reconstruct.corpus import Corpus
from promptprint.templates.tracker import BUCKET_MS, TemplateFeatures

DAY_MS = 24 * 3600 * 1000


@dataclasses.dataclass(frozen=True)
class CampaignParams:
    """How templates are grouped into campaigns.

    Attributes:
        min_accounts: fewest distinct accounts a reported campaign has.
        min_template_accounts: a template needs this many accounts to be linked.
        min_shared_accounts / link_share: when two templates are linked (see module).
        min_regular_prompts: prompts of a template that make an account one of its
            regulars; only regulars link templates.
    """

    min_accounts: int = 3
    min_template_accounts: int = 2
    min_shared_accounts: int = 3
    link_share: float = 0.2
    min_regular_prompts: int = 2

    def __post_init__(self) -> None:
        if self.min_accounts < 1 or self.min_template_accounts < 1 or self.min_shared_accounts < 1:
            raise ValueError("min_accounts, min_template_accounts and min_shared_accounts must be >= 1")
        if not 0.0 < self.link_share <= 1.0:
            raise ValueError(f"link_share must be in (0, 1], got {self.link_share}")


@dataclasses.dataclass(frozen=True)
class CampaignStats:
    """What the score is computed from, over the campaign's whole span."""

    prompts: int
    accounts: int
    orgs: int
    repeat_accounts: int
    burst_accounts: int
    distinct_texts: int
    top_org_prompts: int
    dedication: float
    first_seen_ms: int
    last_seen_ms: int
    busiest_day_share: float


def group_templates(corpus: Corpus, labels: np.ndarray, params: CampaignParams) -> list[np.ndarray]:
    """Campaigns as arrays of template (cluster) labels, from templates linked by accounts."""
    n_templates = int(labels.max()) + 1 if len(labels) else 0
    n_accounts = len(corpus.account_names)
    if not n_templates:
        return []
    # account x template prompt counts; "regulars" of a template used it at least twice
    counts = csr_matrix(
        (np.ones(len(labels), dtype=np.int32), (corpus.accounts, labels)), shape=(n_accounts, n_templates)
    )
    counts.sum_duplicates()
    incidence = counts.copy()
    incidence.data[:] = 1
    regulars = counts.copy()
    regulars.data = (regulars.data >= params.min_regular_prompts).astype(np.int32)
    regulars.eliminate_zeros()
    template_accounts = np.asarray(incidence.sum(axis=0)).ravel()
    eligible = np.flatnonzero(template_accounts >= params.min_template_accounts)
    if not len(eligible):
        return []
    sub = regulars[:, eligible].tocsc()
    template_regulars = np.asarray(sub.sum(axis=0)).ravel()
    shared = coo_matrix(sub.T @ sub)  # templates x templates: regulars in common (scipy-stubs: @ may be dense)
    a, b, count = shared.row, shared.col, shared.data
    keep = a < b
    a, b, count = a[keep], b[keep], count[keep]
    smaller = np.minimum(template_regulars[a], template_regulars[b])
    linked = (count >= params.min_shared_accounts) & (count >= params.link_share * smaller)
    graph = coo_matrix((np.ones(int(linked.sum())), (a[linked], b[linked])), shape=(len(eligible), len(eligible)))
    _, groups = connected_components(graph, directed=False)
    campaigns: list[np.ndarray] = []
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    account_totals = np.bincount(corpus.accounts, minlength=n_accounts)
    for members in np.split(order, bounds):
        templates = eligible[members]
        block = counts[:, templates]
        per_account = np.asarray(block.sum(axis=1)).ravel()
        used = np.flatnonzero(per_account)
        own = (per_account[used] >= params.min_regular_prompts) | (per_account[used] == account_totals[used])
        if own.sum() >= params.min_accounts:
            campaigns.append(np.sort(templates))
    return campaigns


def core_accounts(accounts: np.ndarray, account_totals: np.ndarray, params: CampaignParams) -> np.ndarray:
    """The campaign's own accounts among those with prompts in its templates: regulars
    (``min_regular_prompts`` or more of them) and accounts that sent nothing else.
    The rest are incidental — an ordinary user whose one prompt resembles the template
    or shares its payload, a person pasting a popular prompt once among many others —
    and neither they nor their prompts count as the campaign's."""
    uniq, counts = np.unique(accounts, return_counts=True)
    return uniq[(counts >= params.min_regular_prompts) | (counts == account_totals[uniq])]


def campaign_stats(corpus: Corpus, rows: np.ndarray, account_totals: np.ndarray, text_hashes: np.ndarray) -> CampaignStats:
    """Counts over the campaign's prompts (``rows``: positions in the corpus)."""
    accounts = corpus.accounts[rows]
    times = corpus.created_at_ms[rows]
    org_keys = corpus.org_key()[rows]
    uniq_accounts, per_account = np.unique(accounts, return_counts=True)
    _, per_org = np.unique(org_keys, return_counts=True)
    bucket_pairs = np.unique(np.column_stack([times // BUCKET_MS, accounts]), axis=0)
    _, per_bucket = np.unique(bucket_pairs[:, 0], return_counts=True)
    _, per_day = np.unique(times // DAY_MS, return_counts=True)
    return CampaignStats(
        prompts=len(rows),
        accounts=len(uniq_accounts),
        orgs=len(per_org),
        repeat_accounts=int((per_account >= 2).sum()),
        burst_accounts=int(per_bucket.max()),
        distinct_texts=len(np.unique(text_hashes[rows])),
        top_org_prompts=int(per_org.max()),
        dedication=float(len(rows) / account_totals[uniq_accounts].sum()),
        first_seen_ms=int(times.min()),
        last_seen_ms=int(times.max()),
        busiest_day_share=float(per_day.max() / len(rows)),
    )


def score_campaign(stats: CampaignStats, core_size: int, bank: BankHit | None) -> tuple[float, list[str]]:
    """The ranking score in [0, 1] and the reasons a person reads next to it."""
    span = max(stats.last_seen_ms - stats.first_seen_ms + 1, BUCKET_MS)
    features = TemplateFeatures(
        template_id=0,
        core_size=core_size,
        members_total=stats.prompts,
        volume=stats.prompts,
        accounts=stats.accounts,
        other_accounts=stats.accounts,
        orgs=stats.orgs,
        named_orgs=stats.orgs,  # not used by the score
        other_named_orgs=stats.orgs,
        repeat_accounts=stats.repeat_accounts,
        distinct_texts=stats.distinct_texts,
        top_org_volume=stats.top_org_prompts,
        burst_accounts=stats.burst_accounts,
        payload_share=0.0,
        first_seen_ms=stats.first_seen_ms,
        last_seen_ms=stats.last_seen_ms,
        kind="offline",
    )
    base = assess(features, None, window_ms=span)
    score = base.score * (0.25 + 0.75 * stats.dedication)
    reasons = [r.replace(f" ({stats.accounts} other than this one)", "") for r in base.reasons]
    reasons.append(f"its accounts sent {stats.dedication:.0%} of their traffic through it")
    if stats.busiest_day_share >= 0.5 and stats.last_seen_ms - stats.first_seen_ms > DAY_MS:
        reasons.append(f"{stats.busiest_day_share:.0%} of it came on its busiest day")
    if bank is not None:
        if bank.kind == "allow":
            score = min(score, ALLOW_CAP)
        else:
            score = max(score, DENY_FLOOR)
        reasons.append(f"matches {bank.kind}-bank entry {bank.entry_id}" + (f" ({bank.note})" if bank.note else ""))
    return round(score, 4), reasons
