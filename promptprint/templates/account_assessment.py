"""The campaign verdict on one account: which template groups it takes part in, how much
of its traffic each holds, and a graded level.

Abuse systems act on accounts, and act differently on early signs than on proof, so an
account's verdict is graded like CheckPrompt's (``none`` / ``watch`` / ``flagged``) and
built from the same evidence: for every linked template group (see
:mod:`promptprint.templates.tracker`) the account used in the window, the group's campaign
assessment (:func:`promptprint.templates.scoring.assess`) on the features of the account's
strongest template in it, seen from this account.

The account's score is its strongest group's score weighted by the account's share of
traffic in it. That weight is scoring's bystander rule, which ``assess`` already applies
to the features seen from the account (an account with ``BYSTANDER_MIN_PROMPTS`` prompts
or more in the window, of which less than ``BYSTANDER_SHARE`` went to the group, counts
``share / BYSTANDER_SHARE`` of it, nothing while one prompt is all it sent there:
``bystander_weight``); here it also applies to a deny-bank floor, which
``assess`` raises after the rule. So a user with fifty prompts of its own and one on a
campaign's template is not flagged: it is watched (an account that touched a group that
is flagged on its own is at least watched), and so is a student whose class pastes one
assignment within the hour (early coordination without dedicated accounts).

An allow-bank match caps a template's score as it does on CheckPrompt; which entry
matches a template is the caller's to say (``bank_of``): banks match prompt texts, which
the index keeps and the tracker does not.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from promptprint.errors import NotFound
from promptprint.templates.scoring import (
    bystander_weight,
    BankHit,
    CampaignAssessment,
    Level,
    assess,
)
from promptprint.templates.accounts import CampaignMark
from promptprint.templates.tracker import TemplateTracker

LEVEL_RANK: dict[Level, int] = {"none": 0, "watch": 1, "flagged": 2}


@dataclasses.dataclass(frozen=True)
class AccountGroup:
    """One template group an account used in the window (a template linked with no other
    is a group of one, its id the template's)."""

    group_id: int  # the group's root template
    template_ids: tuple[int, ...]  # every template of the group, in the order they joined it
    prompts: int  # the account's prompts on the group's templates in the window
    share: float  # ... as a share of all its prompts in the window
    first_use_ms: int
    last_use_ms: int
    campaign: CampaignAssessment  # the group seen from this account (its strongest template of it)
    score: float  # the campaign score weighted by the account's share (see the module docstring)
    level: Level


@dataclasses.dataclass(frozen=True)
class AccountAssessment:
    """The campaign verdict on one account; ``groups`` strongest first."""

    account_id: str
    score: float
    level: Level
    flagged: bool  # score >= the flag threshold, as on CheckPrompt
    reasons: tuple[str, ...]
    first_seen_ms: int | None  # the account's first prompt the tracker saw (may precede the window)
    last_seen_ms: int | None
    prompts: int  # in the window
    groups: tuple[AccountGroup, ...]


def standing_mark(
    tracker: TemplateTracker, account_id: str, now_ms: int, bank_of: Callable[[int], BankHit | None]
) -> CampaignMark | None:
    """The account's campaign mark (see TemplateTracker.note_flagged), unless the template
    flagged then is allow-listed since: an operator's word that it is no campaign. What
    CheckPrompt and the account verdict both carry."""
    mark = tracker.campaign_mark(account_id, now_ms)
    if mark is None:
        return None
    bank = bank_of(mark.template_id)
    return None if bank is not None and bank.kind == "allow" else mark


def _not_found(account_id: str) -> NotFound:
    return NotFound(f"no prompt of account {account_id!r} in the template window", reason="ACCOUNT_NOT_FOUND", field="account_id")


def _strongest(assessments: list[CampaignAssessment]) -> CampaignAssessment:
    return max(assessments, key=lambda a: (LEVEL_RANK[a.level], a.score))


def assess_account(
    tracker: TemplateTracker,
    account_id: str,
    now_ms: int | None,
    bank_of: Callable[[int], BankHit | None],
    *,
    threshold: float,
    window_ms: int,
) -> AccountAssessment:
    """The account's verdict over the window ending at ``now_ms``.

    Args:
        tracker: the template tracker that saw the traffic.
        account_id: the account.
        now_ms: the end of the window; None: the account's latest prompt (the verdict as
            CheckPrompt saw its last prompt, so an account that paused, or traffic
            replayed from the past, is judged on its last window, not an empty one).
        bank_of: the bank entry matching a template id, if any.
        threshold: the campaign flag threshold.
        window_ms: the tracker's window (for the reasons).

    Raises:
        NotFound: ``ACCOUNT_NOT_FOUND``, the tracker knows no prompt of the account (never
            seen, or nothing of it in the window for a while).
    """
    if now_ms is None:
        probe = tracker.account(account_id, 0)
        if probe is None:
            raise _not_found(account_id)
        now_ms = probe[0].last_seen_ms or probe[0].first_seen_ms or 0
    found = tracker.account(account_id, now_ms)
    if found is None:
        raise _not_found(account_id)
    snapshot, roots = found
    members: dict[int, list[int]] = {}
    for template_id, root in roots.items():
        members.setdefault(root, []).append(template_id)
    groups: list[tuple[AccountGroup, bool]] = []  # and whether the group is flagged on its own
    for root, used in members.items():
        seen: list[CampaignAssessment] = []
        alone_flagged = False
        for template_id in used:
            tracked = tracker.tracked(template_id)
            if tracked is None:
                continue
            features = tracker.features(tracked, now_ms, account_id)
            bank = bank_of(template_id)
            seen.append(assess(features, bank, threshold=threshold, window_ms=window_ms))
            # the group as a newcomer sees it: is it a campaign, whatever this account's part?
            newcomer = dataclasses.replace(features, account_prompts=0, account_group_prompts=0)
            alone_flagged |= assess(newcomer, bank, threshold=threshold, window_ms=window_ms).flagged
        if not seen:
            continue
        uses = [snapshot.uses[t] for t in used]
        prompts = sum(u.count for u in uses)
        # a prompt can hold two templates of one group (its shingle template and its line)
        share = min(1.0, prompts / snapshot.prompts) if snapshot.prompts else 0.0
        campaign = _strongest(seen)
        score = campaign.score
        if campaign.bank is not None and campaign.bank.kind == "deny":
            score = round(score * bystander_weight(prompts, snapshot.prompts), 4)
        level: Level = (
            "flagged" if score >= threshold
            else "watch" if campaign.level != "none" or alone_flagged
            else "none"
        )
        group = AccountGroup(
            group_id=root,
            template_ids=tuple(tracker.group_templates(root)),
            prompts=prompts,
            share=share,
            first_use_ms=min(u.first_ms for u in uses),
            last_use_ms=max(u.last_ms for u in uses),
            campaign=campaign,
            score=score,
            level=level,
        )
        groups.append((group, alone_flagged))
    groups.sort(key=lambda pair: (LEVEL_RANK[pair[0].level], pair[0].score, pair[0].share), reverse=True)
    best = groups[0][0] if groups else None
    score, level = (best.score, best.level) if best else (0.0, "none")
    reasons = _reasons(snapshot.prompts, groups, threshold)
    mark = standing_mark(tracker, account_id, now_ms, bank_of) if score < threshold else None
    if mark is not None:  # a campaign it was dedicated to was flagged
        score, level = max(score, mark.score), "flagged"
        reasons += (f"it was dedicated to campaign group {mark.group} when that was flagged at {mark.score:.2f}",)
    return AccountAssessment(
        account_id=account_id,
        score=score,
        level=level,
        flagged=level == "flagged",
        reasons=reasons,
        first_seen_ms=snapshot.first_seen_ms,
        last_seen_ms=snapshot.last_seen_ms,
        prompts=snapshot.prompts,
        groups=tuple(group for group, _ in groups),
    )


def _reasons(prompts: int, groups: list[tuple[AccountGroup, bool]], threshold: float) -> tuple[str, ...]:
    """Why the account stands where it does, in words (each group's own reasons are in its
    campaign assessment)."""
    if not groups:
        return (f"{prompts} prompts in the window, none on a template another account shares",)
    marked = sum(1 for group, _ in groups if group.level != "none")
    reasons = [f"{prompts} prompts in the window; it used {len(groups)} shared template group{'s' if len(groups) > 1 else ''} ({marked} watched or flagged)"]
    best, alone_flagged = groups[0]
    line = best.campaign.features is not None and best.campaign.features.kind == "line"
    what = (
        f"group {best.group_id} ({len(best.template_ids)} templates)" if len(best.template_ids) > 1
        else f"{'instruction line' if line else 'template'} {best.group_id}"
    )
    reasons.append(
        f"{best.share:.0%} of its prompts ({best.prompts}) went to {what}, whose campaign score seen from it is "
        f"{best.campaign.score:.2f} ({best.campaign.level})"
    )
    if alone_flagged and best.level != "flagged":
        reasons.append(
            f"that group is flagged on its own, but so little of this account's traffic went to it that it scores "
            f"{best.score:.2f} (threshold {threshold:.2f}): a bystander, watched rather than flagged"
        )
    return tuple(reasons)
