"""What one simulated run is: its sizes and proportions, validated, and the kinds it labels.

Shares are checked where they are given (a share of 20 instead of 0.20, an impossible
mix of budgets) so that a mistyped flag fails with a sentence, not with a skewed run.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timezone
from typing import Any

__all__ = ["ACCOUNT_KINDS", "LOOKALIKE_KINDS", "PROMPT_KINDS", "SimulationConfig"]

#: ``kind`` values in ``truth.jsonl`` (one per account).
ACCOUNT_KINDS: tuple[str, ...] = (
    "campaign",
    "hydra",
    "ordinary",
    "short_generic",
    "popular_public",
    "org_app",
    "agent_framework",
)
#: ``kind`` values in ``prompts_truth.jsonl`` (one per prompt).
PROMPT_KINDS: tuple[str, ...] = (
    "campaign",
    "hydra_relay",
    "ordinary",
    "short_generic",
    "popular_public",
    "org_app",
    "agent_framework",
)
LOOKALIKE_KINDS: tuple[str, ...] = ("short_generic", "popular_public", "org_app", "agent_framework")

_SECONDS_PER_DAY = 86_400


def _share_field(default: float, help_text: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """Sizes and proportions of one simulated run.

    Shares ending in ``_share`` that describe traffic volume are fractions of
    *all* prompts; ``ordinary`` benign traffic gets whatever is left. The other
    shares are fractions within their own population (e.g. ``noise_share`` is
    the fraction of campaign prompts that carry cosmetic noise). Account ranges
    left as ``None`` scale with ``prompts`` (50–400 accounts per campaign at
    50,000 prompts), so small test runs keep the same shape as big ones.
    """

    prompts: int = dataclasses.field(default=50_000, metadata={"help": "total number of prompts"})
    seed: int = dataclasses.field(default=7, metadata={"help": "random seed; same seed + same data = same bytes"})
    campaigns: int = dataclasses.field(
        default=6, metadata={"help": "number of distillation campaigns (0 = benign only)"}
    )
    campaign_share: float = _share_field(0.20, "fraction of all prompts that are campaign template prompts")
    min_accounts_per_campaign: int | None = dataclasses.field(
        default=None, metadata={"help": "fewest accounts a campaign uses (default: 50 per 50k prompts)"}
    )
    max_accounts_per_campaign: int | None = dataclasses.field(
        default=None, metadata={"help": "most accounts a campaign uses (default: 400 per 50k prompts)"}
    )
    campaign_prompts_per_account: float = dataclasses.field(
        default=14.0, metadata={"help": "mean prompts per campaign account (sets account count within the range)"}
    )
    benign_accounts: int | None = dataclasses.field(
        default=None,
        metadata={"help": "number of ordinary benign accounts (default: drawn from a heavy-tailed volume law)"},
    )
    hydra_share: float = _share_field(0.15, "fraction of campaign accounts that also relay unrelated traffic")
    hydra_relay_share: float = _share_field(0.02, "fraction of all prompts that hydra accounts relay")
    paraphrase_share: float = _share_field(0.35, "fraction of campaign prompts using a paraphrased template")
    translation_share: float = _share_field(0.10, "fraction of campaign prompts using a translated template")
    noise_share: float = _share_field(0.35, "fraction of campaign prompts with cosmetic noise")
    burst_share: float = _share_field(0.40, "fraction of campaign prompts sent in synchronized bursts")
    pivot_share: float = _share_field(0.50, "fraction of campaigns that pivot to a new template family")
    short_generic_share: float = _share_field(0.03, "fraction of all prompts: short generic prompts")
    popular_public_share: float = _share_field(0.04, "fraction of all prompts: pasted popular public prompts")
    org_app_share: float = _share_field(0.08, "fraction of all prompts: one organisation's own app")
    agent_framework_share: float = _share_field(0.04, "fraction of all prompts: public agent-framework scaffolds")
    start: str = dataclasses.field(
        default="2026-02-01T00:00:00Z", metadata={"help": "start of the simulated period (UTC, ISO-8601)"}
    )
    days: float = dataclasses.field(default=3.0, metadata={"help": "length of the simulated period in days"})

    def __post_init__(self) -> None:
        _check_int("prompts", self.prompts, minimum=200, hint="every traffic kind needs a few prompts")
        _check_int("seed", self.seed, minimum=None)
        _check_int("campaigns", self.campaigns, minimum=0, hint="use 0 for benign-only traffic")
        for name in (
            "campaign_share",
            "hydra_share",
            "hydra_relay_share",
            "paraphrase_share",
            "translation_share",
            "noise_share",
            "burst_share",
            "pivot_share",
            "short_generic_share",
            "popular_public_share",
            "org_app_share",
            "agent_framework_share",
        ):
            _check_fraction(name, getattr(self, name))
        volume = self._volume_shares()
        if sum(volume.values()) > 0.95:
            listed = " + ".join(f"{k}={v:g}" for k, v in volume.items())
            raise ValueError(
                f"the traffic shares add up to {sum(volume.values()):.3g} ({listed}); they are fractions of all "
                "prompts and must leave at least 5% for ordinary benign traffic"
            )
        if self.paraphrase_share + self.translation_share > 1:
            raise ValueError(
                f"paraphrase_share + translation_share = {self.paraphrase_share + self.translation_share:.3g} > 1; "
                "both are fractions of the same campaign prompts"
            )
        for name in ("min_accounts_per_campaign", "max_accounts_per_campaign", "benign_accounts"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, minimum=1, hint="or leave it unset to scale with --prompts")
        if (
            self.min_accounts_per_campaign is not None
            and self.max_accounts_per_campaign is not None
            and self.min_accounts_per_campaign > self.max_accounts_per_campaign
        ):
            raise ValueError(
                f"min_accounts_per_campaign ({self.min_accounts_per_campaign}) is larger than "
                f"max_accounts_per_campaign ({self.max_accounts_per_campaign}); did you swap them?"
            )
        if isinstance(self.campaign_prompts_per_account, bool) or not isinstance(
            self.campaign_prompts_per_account, (int, float)
        ):
            raise ValueError(
                f"campaign_prompts_per_account must be a number, got {self.campaign_prompts_per_account!r}"
            )
        if not (self.campaign_prompts_per_account >= 1 and math.isfinite(self.campaign_prompts_per_account)):
            raise ValueError(
                f"campaign_prompts_per_account must be at least 1 (a mean number of prompts), "
                f"got {self.campaign_prompts_per_account!r}"
            )
        if isinstance(self.days, bool) or not isinstance(self.days, (int, float)) or not math.isfinite(self.days):
            raise ValueError(f"days must be a number of days, got {self.days!r}")
        if not 0.01 <= self.days <= 366:
            raise ValueError(f"days must be between 0.01 and 366 (a length in days, e.g. 3), got {self.days!r}")
        self.start_datetime()  # raises ValueError on a malformed start
        budgets = self.budgets()
        if self.campaigns > 0 and budgets["campaign"] > 0:
            low, _ = self.campaign_account_range()
            # Campaign sizes are drawn with weights in [0.5, 1.5], so the smallest one gets
            # at least total / (3 * campaigns) prompts; each account needs one prompt.
            if budgets["campaign"] // (3 * self.campaigns) < low:
                raise ValueError(
                    f"{budgets['campaign']} campaign prompts over {self.campaigns} campaigns cannot give every "
                    f"campaign {low} accounts; raise prompts or campaign_share, or lower campaigns or "
                    "min_accounts_per_campaign"
                )
        if self.benign_accounts is not None and self.benign_accounts > budgets["ordinary"]:
            raise ValueError(
                f"benign_accounts={self.benign_accounts} is more than the {budgets['ordinary']} ordinary prompts "
                "left for them (each account sends at least one); lower it or raise prompts"
            )

    def _volume_shares(self) -> dict[str, float]:
        return {
            "campaign_share": self.campaign_share if self.campaigns > 0 else 0.0,
            "hydra_relay_share": self.hydra_relay_share if self.campaigns > 0 else 0.0,
            "short_generic_share": self.short_generic_share,
            "popular_public_share": self.popular_public_share,
            "org_app_share": self.org_app_share,
            "agent_framework_share": self.agent_framework_share,
        }

    def start_datetime(self) -> datetime:
        """The start of the simulated period as an aware UTC datetime."""
        if not isinstance(self.start, str):
            raise ValueError(f"start must be an ISO-8601 string such as '2026-02-01T00:00:00Z', got {self.start!r}")
        try:
            parsed = datetime.fromisoformat(self.start.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"start {self.start!r} is not an ISO-8601 timestamp; use e.g. '2026-02-01T00:00:00Z'"
            ) from None
        if parsed.tzinfo is None:
            raise ValueError(f"start {self.start!r} has no time zone; append 'Z' for UTC")
        return parsed.astimezone(timezone.utc)

    def span_seconds(self) -> int:
        """Length of the simulated period in whole seconds."""
        return max(60, int(round(self.days * _SECONDS_PER_DAY)))

    def campaign_account_range(self) -> tuple[int, int]:
        """(fewest, most) accounts per campaign, scaled with ``prompts`` unless set."""
        scale = self.prompts / 50_000
        low = self.min_accounts_per_campaign
        high = self.max_accounts_per_campaign
        if low is None:
            low = max(2, round(50 * scale))
            if high is not None:
                low = min(low, high)
        if high is None:
            high = max(low, round(400 * scale))
        return low, high

    def budgets(self) -> dict[str, int]:
        """Exact number of prompts of each prompt kind; they add up to ``prompts``."""
        n = self.prompts
        with_campaigns = self.campaigns > 0
        out = {
            "campaign": round(n * self.campaign_share) if with_campaigns else 0,
            "hydra_relay": round(n * self.hydra_relay_share) if with_campaigns else 0,
            "short_generic": round(n * self.short_generic_share),
            "popular_public": round(n * self.popular_public_share),
            "org_app": round(n * self.org_app_share),
            "agent_framework": round(n * self.agent_framework_share),
        }
        if out["campaign"] == 0 or self.hydra_share == 0:
            out["hydra_relay"] = 0  # nobody to relay it
        out["ordinary"] = n - sum(out.values())
        return out


def _check_int(name: str, value: object, *, minimum: int | None, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            raise ValueError(f"{name} must be a whole number; did you mean {int(value)}?")
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        extra = f" ({hint})" if hint else ""
        raise ValueError(f"{name} must be at least {minimum}, got {value}{extra}")


def _check_fraction(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")
    if value < 0 or value > 1:
        hint = f"; did you mean {value / 100:g} ({value:g}%)?" if 1 < value <= 100 else ""
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value:g}{hint}")

