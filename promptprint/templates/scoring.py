"""The campaign score of a template (with its linked group), its level, and the reasons.

Reach alone does not make a campaign: a popular public prompt, a homework problem or an
idiom reaches hundreds of unrelated accounts, and a class pasting one assignment sends it
in one synchronized burst. What sets a distillation campaign apart is accounts *committed*
to a template that carries *varying payloads*: accounts that send almost nothing else
and keep at it (see :mod:`promptprint.templates.tracker` for how accounts are judged and
templates linked into groups). Over the template's group:

* coordination — ``1 - exp(-committed / s)``, s = 3 for a specific template (a constant
  part of 16+ shingles), 4 for a group linked by wording, 5 for a short template or an
  instruction line;
* payload diversity — ``(distinct - 1) / (volume - 1)`` mapped 0.5 -> 0 and 0.9 -> 1:
  verbatim copies of a popular prompt score 0;
* spread — one minus the busiest org's share (of the prompts, or of the committed
  accounts when that is less concentrated), mapped 0.1 -> 0 and 0.5 -> 1: one
  organisation's own app scores 0;
* dedication — committed accounts among those judged (committed or undedicated), mapped
  0.25 -> 0 and 0.6 -> 1: a public tool whose users mostly send much else scores low.

``score = coordination x diversity x spread x dedication``, times the checking account's
own share of its traffic on the group when it is an established account (a bystander).
``flagged`` is score >= threshold (0.5). The level grades it: *flagged*; *watch* for
early coordination (repeat use and bursts of accounts, the score of earlier versions, or
half the threshold of the score) that is not yet proof; *none*.

Banks override the features: an allow-bank match caps the score at 0.05 (sanctioned
or public framework templates), a deny-bank match raises it to at least 0.95.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from promptprint.templates.accounts import CampaignMark
from promptprint.templates.tracker import GroupFeatures, TemplateFeatures

DEFAULT_FLAG_THRESHOLD = 0.5
ALLOW_CAP = 0.05
DENY_FLOOR = 0.95
BankKind = Literal["allow", "deny"]
Level = Literal["none", "watch", "flagged"]
# committed accounts that give coordination 0.63: a template whose constant part is long
# and specific needs fewer of them than an instruction line or a short phrasing
COMMITTED_SCALE_SPECIFIC = 3.0
COMMITTED_SCALE_SHORT = 5.0
# a group held together by wording or an org (and co-activity) rather than by its accounts
COMMITTED_SCALE_WORDED = 4.0
# a group of accounts' tasks alone (each account words every prompt its own way, see the
# tracker's TaskTemplate): people who each word one common request their own way, prompt
# after prompt, exist; it takes more of them at once to be an operation
COMMITTED_SCALE_TASKS = 6.0
# An account with this many prompts in the window, of which less than BYSTANDER_SHARE use
# the template's group, is a bystander: its prompt counts that much less, and not at all
# while it is its only prompt there (one prompt is weak evidence, as offline attribution
# holds: a power user who pastes a public document a campaign pastes too, among five
# prompts of his own, lands once in the campaign's template; at 1/6 of his traffic a
# campaign group scoring 0.9 still flagged him, adversarial test split seed 808).
BYSTANDER_MIN_PROMPTS = 4
BYSTANDER_SHARE = 0.25


def bystander_weight(group_prompts: int, prompts: int) -> float:
    """How much of a group's evidence is an account's, from its ``prompts`` in the window
    and ``group_prompts`` of them on the group (see BYSTANDER_SHARE)."""
    if prompts < BYSTANDER_MIN_PROMPTS or group_prompts >= BYSTANDER_SHARE * prompts:
        return 1.0
    return group_prompts / prompts / BYSTANDER_SHARE if group_prompts > 1 else 0.0
WATCH_SHARE = 0.5  # a score this share of the threshold is worth watching


@dataclasses.dataclass(frozen=True)
class BankHit:
    """A bank entry that matched the prompt or its template."""

    entry_id: int
    kind: BankKind
    note: str


@dataclasses.dataclass(frozen=True)
class CampaignAssessment:
    """What CheckPrompt says about the campaign side of one prompt."""

    template_id: int  # 0: the prompt is too short to carry a template
    score: float
    flagged: bool
    reasons: tuple[str, ...]
    features: TemplateFeatures | None
    bank: BankHit | None
    level: Level = "none"  # "watch": early coordination; "flagged": the evidence holds


def carried(assessment: CampaignAssessment, mark: CampaignMark, now_ms: int) -> CampaignAssessment:
    """A prompt's assessment with its account's campaign mark carried onto it: the account
    was committed to a campaign group when the group was flagged (``mark``), so whatever
    it sends now (a template the campaign just pivoted to, with no evidence of its own
    yet) is the campaign's account's. An allow-bank match keeps its cap."""
    if assessment.flagged or (assessment.bank is not None and assessment.bank.kind == "allow"):
        return assessment
    reason = (
        f"this account was dedicated to campaign group {mark.group} when it was flagged at {mark.score:.2f},"
        f" {_hours(max(0, now_ms - mark.flagged_ms))} ago"
    )
    return dataclasses.replace(
        assessment, score=max(assessment.score, mark.score), flagged=True, level="flagged",
        reasons=(*assessment.reasons, reason),
    )


def _clip(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _hours(ms: int) -> str:
    hours = ms / 3_600_000
    return f"{hours:.0f} h" if hours >= 1 else f"{ms / 60_000:.0f} min"


def _watch_score(f: TemplateFeatures, diversity_factor: float, spread_factor: float, specificity: float) -> float:
    """Early coordination: accounts repeating the template plus the busiest 10-minute burst
    of accounts, whatever their dedication. A class pasting one assignment within an hour
    scores here as high as a campaign's first burst: worth watching, not yet proof."""
    coordination = 1.0 - math.exp(-(f.repeat_accounts + f.burst_accounts) / 5.0)
    return coordination * diversity_factor * spread_factor * (0.5 + 0.5 * specificity)


def _spread(g: GroupFeatures) -> float:
    """One minus the busiest org's share, of the group's prompts or of its committed
    accounts, whichever is less concentrated. An org's own app is one org either way
    (its accounts are the org's); a campaign whose throw-away orgs each hold an account
    is spread however unevenly its accounts send: one sending forty prompts beside two
    sending four (adversarial splits: translated variants, heavy-user split) is three
    orgs, not 85% of one."""
    by_volume = 1.0 - g.top_org_volume / g.volume if g.volume else 0.0
    by_accounts = 1.0 - g.committed_top_org / g.committed_in_orgs if g.committed_in_orgs else 0.0
    return max(by_volume, by_accounts)


def _group_of(f: TemplateFeatures) -> GroupFeatures:
    return f.group or GroupFeatures(
        f.template_id, 1, f.volume, f.accounts, f.committed_accounts, f.undedicated_accounts, f.distinct_texts,
        f.top_org_volume,
    )


def assess(
    features: TemplateFeatures | None,
    bank: BankHit | None,
    *,
    threshold: float = DEFAULT_FLAG_THRESHOLD,
    window_ms: int = 24 * 3600 * 1000,
) -> CampaignAssessment:
    """Score a template's activity (as seen before the checked prompt joins it)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    reasons: list[str] = []
    score = watch = 0.0
    if features is None:
        reasons.append("no known template (new, or too short to carry one)")
    else:
        f, g = features, _group_of(features)
        specificity = _clip((f.core_size - 6) / 10)
        diversity = (g.distinct_texts - 1) / (g.volume - 1) if g.volume >= 2 else 0.0
        spread = _spread(g)
        diversity_factor, spread_factor = _clip((diversity - 0.5) / 0.4), _clip((spread - 0.1) / 0.4)
        watch = _watch_score(f, diversity_factor, spread_factor, specificity)
        judged = g.committed_accounts + g.undedicated_accounts
        dedication = g.committed_accounts / judged if judged else 0.0
        if g.tasks and g.tasks == g.templates:
            scale = COMMITTED_SCALE_TASKS
        elif specificity < 1.0:
            scale = COMMITTED_SCALE_SHORT
        elif g.worded_alike or g.org_linked:  # held by wording or an org: more accounts than one template needs
            scale = COMMITTED_SCALE_WORDED
        else:
            scale = COMMITTED_SCALE_SPECIFIC
        coordination = 1.0 - math.exp(-g.committed_accounts / scale)
        score = coordination * diversity_factor * spread_factor * _clip((dedication - 0.25) / 0.35)
        if f.account_prompts >= BYSTANDER_MIN_PROMPTS:
            own_share = f.account_group_prompts / f.account_prompts
            score *= bystander_weight(f.account_group_prompts, f.account_prompts)
            if own_share < BYSTANDER_SHARE:
                reasons.append(
                    f"only {own_share:.0%} of this account's {f.account_prompts} prompts in the window use it"
                    " (a bystander counts less)"
                )
        what = {"line": "this instruction line", "task": "this account's task (its own wordings of one request)"}.get(
            f.kind, "this template"
        )
        reasons.append(
            f"{f.accounts} accounts in {f.orgs} orgs used {what} {f.volume} times in {_hours(window_ms)}"
            f" ({f.other_accounts} other than this one)"
        )
        if g.templates > 1:
            how = "by accounts that send mostly them"
            if g.worded_alike:
                how += f", {g.worded_alike} of them also by an instruction worded alike"
            if g.org_linked:
                how += f", {g.org_linked} of them by dedicated accounts of one org working in the same hours"
            reasons.append(
                f"it is linked with {g.templates - 1} other templates {how} ({g.volume} prompts, {g.accounts} account uses in all)"
            )
        if g.committed_accounts or g.undedicated_accounts:
            reasons.append(
                f"{g.committed_accounts} accounts send almost only it and kept at it (dedicated), "
                f"{g.undedicated_accounts} repeat it among much else"
            )
        if f.accounts:
            reasons.append(f"{f.repeat_accounts} accounts ({f.repeat_accounts / f.accounts:.0%}) used it repeatedly")
        if f.burst_accounts >= 3:
            reasons.append(f"{f.burst_accounts} accounts sent it within one 10-minute burst")
        if g.volume >= 2:
            reasons.append(f"{diversity:.0%} of its prompts carry a payload of their own")
        if g.volume and spread > 1.0 - g.top_org_volume / g.volume:  # its committed accounts' orgs counted
            reasons.append(
                f"{g.top_org_volume / g.volume:.0%} of it comes from one org, but {g.committed_in_orgs - g.committed_top_org}"
                f" of its {g.committed_in_orgs} dedicated accounts are of other orgs"
            )
        elif g.volume and g.top_org_volume / g.volume >= 0.8:
            reasons.append(f"{g.top_org_volume / g.volume:.0%} of it comes from a single org")
        if f.core_size < 16:
            reasons.append(f"its constant part is short ({f.core_size} shingles), which common phrasings share too")
    if bank is not None:
        if bank.kind == "allow":
            score = min(score, ALLOW_CAP)
            watch = min(watch, ALLOW_CAP)
            reasons.append(f"matches allow-bank entry {bank.entry_id}" + (f" ({bank.note})" if bank.note else ""))
        else:
            score = max(score, DENY_FLOOR)
            reasons.append(f"matches deny-bank entry {bank.entry_id}" + (f" ({bank.note})" if bank.note else ""))
    score = round(score, 4)
    flagged = score >= threshold
    level: Level = "flagged" if flagged else "watch" if (watch >= threshold or score >= WATCH_SHARE * threshold) else "none"
    return CampaignAssessment(
        template_id=features.template_id if features else 0,
        score=score,
        flagged=flagged,
        reasons=tuple(reasons),
        features=features,
        bank=bank,
        level=level,
    )
