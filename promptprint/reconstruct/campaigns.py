"""A campaign's statistics and its score (which accounts and templates make a campaign
is :mod:`promptprint.reconstruct.attribution`).

Score. The online score (:func:`promptprint.templates.scoring.assess`) is applied to the
campaign's whole history — its window is the campaign's span — and multiplied by how
dedicated its accounts are::

    score = assess(features over the span).score × (0.25 + 0.75 × dedication)

* assess: coordination (accounts committed to the campaign: dedicated to it and kept at
  it, judged per account as the online tracker judges them) × payload diversity
  (distinct texts) × org spread × dedication among judged accounts; see that module for
  the mappings and why. A class pasting one assignment within an hour has no committed
  account and scores 0;
* dedication: the share of the member accounts' traffic that is campaign traffic
  (volume-weighted). Throw-away accounts send almost only the campaign (~1.0); people
  who paste a popular prompt now and then send mostly other things (< 0.3).

Banks apply as online: an allow-bank match caps the score at 0.05, a deny match
raises it to 0.95.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from promptprint.templates.scoring import ALLOW_CAP, DENY_FLOOR, BankHit, assess
from promptprint.reconstruct.corpus import Corpus
from promptprint.templates.tracker import BUCKET_MS, COMMIT_PROMPTS, DEDICATED_SHARE, SITTING_MS, GroupFeatures, TemplateFeatures

DAY_MS = 24 * 3600 * 1000


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
    committed_accounts: int = 0  # dedicated to it and kept at it (as online: promptprint.templates.tracker)
    undedicated_accounts: int = 0  # sent it among mostly other traffic
    committed_top_org: int = 0  # committed accounts of the org that holds the most of them


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
    # per account, as the online tracker judges it: dedicated when at least DEDICATED_SHARE
    # of its prompts are the campaign's; committed when it also kept at it (COMMIT_PROMPTS
    # of them, or two sittings within a day: SITTING_MS to DAY_MS apart)
    order = np.lexsort((times, accounts))
    starts = np.searchsorted(accounts[order], uniq_accounts)
    dedicated = per_account >= DEDICATED_SHARE * account_totals[uniq_accounts]
    kept_at = (per_account >= COMMIT_PROMPTS) | _two_sittings_in_a_day(accounts[order], times[order], len(uniq_accounts), starts)
    committed = dedicated & kept_at
    # each committed account's org (its first prompt's here), counted per org
    _, committed_per_org = np.unique(org_keys[order][starts][committed], return_counts=True)
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
        committed_accounts=int(committed.sum()),
        undedicated_accounts=int(((~dedicated) & (per_account >= 2)).sum()),
        committed_top_org=int(committed_per_org.max(initial=0)),
    )


def _two_sittings_in_a_day(accounts: np.ndarray, times: np.ndarray, n_accounts: int, starts: np.ndarray) -> np.ndarray:
    """Per account (``accounts`` sorted, ``times`` sorted within each, ``starts`` where each
    of the ``n_accounts`` begins), whether two of its prompts are SITTING_MS to DAY_MS
    apart: it came back within the online template window, as the tracker's commitment by
    sittings asks. Two prompts eleven days apart are a person who used a popular prompt
    twice (a public "act as an essay writer" template filled by 97 people, one or two
    prompts each over two weeks, was a reported campaign at 0.39 on the fresh adversarial
    split, seed 1515, when first-to-last counted whatever the gap)."""
    relative = times - times.min(initial=0)
    key = accounts.astype(np.int64) * (int(relative.max(initial=0)) + DAY_MS + 1) + relative
    reach = np.searchsorted(key, key + DAY_MS, side="right") - 1  # the last prompt of the account within a day
    came_back = relative[reach] - relative >= SITTING_MS
    return np.logical_or.reduceat(came_back, starts) if len(starts) else np.zeros(n_accounts, dtype=bool)


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
        committed_accounts=stats.committed_accounts,
        undedicated_accounts=stats.undedicated_accounts,
        # the campaign is one group: its committed accounts' orgs count as online (scoring._spread)
        group=GroupFeatures(
            0, 1, stats.prompts, stats.accounts, stats.committed_accounts, stats.undedicated_accounts,
            stats.distinct_texts, stats.top_org_prompts,
            committed_in_orgs=stats.committed_accounts, committed_top_org=stats.committed_top_org,
        ),
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
