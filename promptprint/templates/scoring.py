"""The campaign score of a template, with the reasons behind it.

Reach alone does not make a campaign: a popular public prompt, a homework problem or an
idiom ("I want you to act as a ...") reaches hundreds of unrelated accounts. Measured on
simulated mixed traffic, scoring by distinct accounts alone flags 2-6% of benign
accounts. What sets a distillation campaign apart is *coordination* around a template
that carries *varying payloads*:

* coordination — accounts that use the template repeatedly within the window, plus
  the accounts active together in its busiest 10-minute bucket (synchronized bursts);
  ``1 - exp(-coordinated / 5)``: 5 such accounts give 0.63, 10 give 0.86, 15 give 0.95;
* payload diversity — the share of the template's prompts with a text of their own,
  ``(distinct - 1) / (volume - 1)``, mapped 0.5 -> 0 and 0.9 -> 1: verbatim copies of a
  popular prompt score 0, a template filled with a new payload each time scores 1;
* spread — one minus the share of the busiest org; mapped 0.2 -> 0 and 0.7 -> 1, so
  one organisation's own app (all traffic from one org) scores 0;
* specificity — templates whose constant part is short (< 16 shingles, ~18 words)
  count half: short shared phrasings are common in ordinary traffic.

``score = coordination x diversity x spread x (0.5 + 0.5 specificity)``, in [0, 1].
The default threshold 0.5 was set on simulated traffic (see ``scripts/evaluate.py``):
there it flags every campaign account and ~0.01% of benign accounts, outside the
public agent frameworks that the built-in allow bank covers.

Banks override the features: an allow-bank match caps the score at 0.05 (sanctioned
or public framework templates), a deny-bank match raises it to at least 0.95.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from promptprint.templates.tracker import TemplateFeatures

DEFAULT_FLAG_THRESHOLD = 0.5
ALLOW_CAP = 0.05
DENY_FLOOR = 0.95
BankKind = Literal["allow", "deny"]


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


def _clip(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _hours(ms: int) -> str:
    hours = ms / 3_600_000
    return f"{hours:.0f} h" if hours >= 1 else f"{ms / 60_000:.0f} min"


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
    score = 0.0
    if features is None:
        reasons.append("no known template (new, or too short to carry one)")
    else:
        f = features
        coordinated = f.repeat_accounts + f.burst_accounts
        coordination = 1.0 - math.exp(-coordinated / 5.0)
        diversity = (f.distinct_texts - 1) / (f.volume - 1) if f.volume >= 2 else 0.0
        spread = 1.0 - f.top_org_volume / f.volume if f.volume else 0.0
        specificity = _clip((f.core_size - 6) / 10)
        score = coordination * _clip((diversity - 0.5) / 0.4) * _clip((spread - 0.2) / 0.5) * (0.5 + 0.5 * specificity)
        reasons.append(
            f"{f.accounts} accounts in {f.orgs} orgs used this template {f.volume} times in {_hours(window_ms)}"
            f" ({f.other_accounts} other than this one)"
        )
        if f.accounts:
            reasons.append(f"{f.repeat_accounts} accounts ({f.repeat_accounts / f.accounts:.0%}) used it repeatedly")
        if f.burst_accounts >= 3:
            reasons.append(f"{f.burst_accounts} accounts sent it within one 10-minute burst")
        if f.volume >= 2:
            reasons.append(f"{diversity:.0%} of its prompts carry a payload of their own")
        if f.volume and f.top_org_volume / f.volume >= 0.8:
            reasons.append(f"{f.top_org_volume / f.volume:.0%} of it comes from a single org")
        if f.core_size < 16:
            reasons.append(f"its constant part is short ({f.core_size} shingles), which common phrasings share too")
    if bank is not None:
        if bank.kind == "allow":
            score = min(score, ALLOW_CAP)
            reasons.append(f"matches allow-bank entry {bank.entry_id}" + (f" ({bank.note})" if bank.note else ""))
        else:
            score = max(score, DENY_FLOOR)
            reasons.append(f"matches deny-bank entry {bank.entry_id}" + (f" ({bank.note})" if bank.note else ""))
    score = round(score, 4)
    return CampaignAssessment(
        template_id=features.template_id if features else 0,
        score=score,
        flagged=score >= threshold,
        reasons=tuple(reasons),
        features=features,
        bank=bank,
    )
