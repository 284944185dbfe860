"""What one simulated run is: its sizes and proportions, validated, and the kinds it labels.

Shares are checked where they are given (a share of 20 instead of 0.20, an impossible
mix of budgets) so that a mistyped flag fails with a sentence, not with a skewed run.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "ACCOUNT_KINDS",
    "ADVERSARIAL_FAMILIES",
    "CAMPAIGN_FAMILY_NAMES",
    "HOLDOUT_CHOICES",
    "LOOKALIKE_KINDS",
    "PROMPT_KINDS",
    "SPLITS",
    "TEMPLATED_FAMILY",
    "TRAP_KINDS",
    "SimulationConfig",
]

LOOKALIKE_KINDS: tuple[str, ...] = ("short_generic", "popular_public", "org_app", "agent_framework")
#: Benign traps: people who do what a campaign does, one prompt at a time or as a class (the account's and
#: the wrapped prompts' ``kind``; their other traffic is "ordinary").
TRAP_KINDS: tuple[str, ...] = (
    "paste_instruction",
    "classroom_school_org",
    "classroom_personal_orgs",
    "power_user_wrapper",
    "shared_tool",
    "reworded_requests",
)
#: ``kind`` values in ``truth.jsonl`` (one per account).
ACCOUNT_KINDS: tuple[str, ...] = ("campaign", "hydra", "ordinary", *LOOKALIKE_KINDS, *TRAP_KINDS)
#: ``kind`` values in ``prompts_truth.jsonl`` (one per prompt).
PROMPT_KINDS: tuple[str, ...] = ("campaign", "hydra_relay", "ordinary", *LOOKALIKE_KINDS, *TRAP_KINDS)
#: The ``family`` of the campaigns built from the hand-written template families (``campaign_families.toml``).
TEMPLATED_FAMILY = "templated"
#: Campaign shapes built to evade a template detector (``family`` in ``truth.jsonl``), in generation order.
ADVERSARIAL_FAMILIES: tuple[str, ...] = (
    "short_wrapper",
    "tail_instruction",
    "per_account_paraphrase",
    "pivot",
    "translated_variants",
    "low_and_slow",
    "per_prompt_paraphrase",
)
CAMPAIGN_FAMILY_NAMES: tuple[str, ...] = (TEMPLATED_FAMILY, *ADVERSARIAL_FAMILIES)
#: What ``holdout`` may name: a family or a kind of benign traffic that tuning must not see.
HOLDOUT_CHOICES: tuple[str, ...] = (*ADVERSARIAL_FAMILIES, *TRAP_KINDS, *LOOKALIKE_KINDS)
#: ``split="tune"`` leaves the held-out families and traps out; ``"test"`` keeps everything.
SPLITS: tuple[str, ...] = ("tune", "test")
#: A tuning run must hold out at least this many campaign families and this many benign kinds.
_MIN_HELD_OUT = 2

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
    # -- adversarial campaign families (fractions of all prompts; 0 = not generated) --
    short_wrapper_share: float = _share_field(
        0.0, "fraction of all prompts: campaigns of a 3-6 word instruction line over a long paste"
    )
    short_wrapper_min_prompts: int = dataclasses.field(
        default=5, metadata={"help": "fewest prompts a short_wrapper account sends"}
    )
    short_wrapper_max_prompts: int = dataclasses.field(
        default=30, metadata={"help": "most prompts a short_wrapper account sends"}
    )
    tail_instruction_share: float = _share_field(
        0.0, "fraction of all prompts: campaigns of a long paste with the instruction on its last line"
    )
    per_account_paraphrase_share: float = _share_field(
        0.0, "fraction of all prompts: campaigns whose accounts each word one instruction their own way"
    )
    per_prompt_paraphrase_share: float = _share_field(
        0.0, "fraction of all prompts: campaigns that word their instruction afresh in every prompt"
    )
    pivot_family_share: float = _share_field(
        0.0, "fraction of all prompts: campaigns whose accounts switch to a new template mid-campaign "
        "(family 'pivot'; not pivot_share, the templated campaigns' pivot rate)"
    )
    pivot_switch_hours: float = dataclasses.field(
        default=24.0, metadata={"help": "hours over which a pivot campaign's accounts switch template"}
    )
    translated_variants_share: float = _share_field(
        0.0, "fraction of all prompts: campaigns spreading paraphrased and translated variants over accounts"
    )
    low_and_slow_share: float = _share_field(
        0.0, "fraction of all prompts: campaigns whose accounts send a prompt or two a day"
    )
    low_and_slow_days: float = dataclasses.field(
        default=14.0, metadata={"help": "days a low_and_slow campaign lasts (at most the run's days)"}
    )
    family_campaigns: int = dataclasses.field(
        default=2, metadata={"help": "campaigns per adversarial family that has a share"}
    )
    # -- benign traps (fractions of all prompts, the trap accounts' other traffic included) --
    paste_instruction_share: float = _share_field(
        0.0, "fraction of all prompts: ordinary accounts that now and then send 'Summarize this:' + a paste"
    )
    paste_instruction_rate: float = _share_field(
        0.2, "fraction of a paste_instruction account's prompts that are an instruction + a paste"
    )
    classroom_school_org_share: float = _share_field(
        0.0, "fraction of all prompts: classes pasting one assignment with their own essays, under a school org"
    )
    classroom_personal_orgs_share: float = _share_field(
        0.0, "fraction of all prompts: classes pasting one assignment with their own essays, personal orgs"
    )
    class_min_students: int = dataclasses.field(default=25, metadata={"help": "fewest students in a class"})
    class_max_students: int = dataclasses.field(default=40, metadata={"help": "most students in a class"})
    class_minutes: float = dataclasses.field(
        default=90.0, metadata={"help": "minutes within which a class sends its assignment prompts"}
    )
    power_user_wrapper_share: float = _share_field(
        0.0, "fraction of all prompts: accounts reusing their own wrapper ('Translate to Spanish:') for days"
    )
    shared_tool_share: float = _share_field(
        0.0, "fraction of all prompts: users of public extensions whose fixed prompt wraps their own content"
    )
    reworded_requests_share: float = _share_field(
        0.0, "fraction of all prompts: new users each asking one common thing over their own pastes, "
        "in their own words every time, in a day's sittings"
    )
    # -- held-out split --
    holdout: str = dataclasses.field(
        default="",
        metadata={
            "help": "comma-separated families and benign kinds that tuning must not see "
            f"(any of {', '.join(HOLDOUT_CHOICES)})"
        },
    )
    split: str = dataclasses.field(
        default="test",
        metadata={"help": "'tune' leaves the holdout out of the run; 'test' keeps everything"},
    )
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
            "short_wrapper_share",
            "tail_instruction_share",
            "per_account_paraphrase_share",
            "per_prompt_paraphrase_share",
            "pivot_family_share",
            "translated_variants_share",
            "low_and_slow_share",
            "paste_instruction_share",
            "paste_instruction_rate",
            "classroom_school_org_share",
            "classroom_personal_orgs_share",
            "power_user_wrapper_share",
            "shared_tool_share",
            "reworded_requests_share",
        ):
            _check_fraction(name, getattr(self, name))
        self._check_adversarial()
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

    def _check_adversarial(self) -> None:
        for name in (
            "short_wrapper_min_prompts",
            "short_wrapper_max_prompts",
            "family_campaigns",
            "class_min_students",
            "class_max_students",
        ):
            _check_int(name, getattr(self, name), minimum=1)
        for low, high in (
            ("short_wrapper_min_prompts", "short_wrapper_max_prompts"),
            ("class_min_students", "class_max_students"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(
                    f"{low} ({getattr(self, low)}) is larger than {high} ({getattr(self, high)}); did you swap them?"
                )
        for name in ("pivot_switch_hours", "low_and_slow_days", "class_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.holdout, str):
            raise ValueError(f"holdout must be a comma-separated string of names, got {self.holdout!r}")
        unknown = [name for name in self.held_out() if name not in HOLDOUT_CHOICES]
        if unknown:
            raise ValueError(
                f"holdout names {', '.join(unknown)}, which is no family or benign kind; "
                f"choose from {', '.join(HOLDOUT_CHOICES)}"
            )
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.split == "tune":
            families = [n for n in self.held_out() if n in ADVERSARIAL_FAMILIES]
            benign = [n for n in self.held_out() if n not in ADVERSARIAL_FAMILIES]
            if len(families) < _MIN_HELD_OUT or len(benign) < _MIN_HELD_OUT:
                raise ValueError(
                    f"a tuning run must hold out at least {_MIN_HELD_OUT} campaign families and {_MIN_HELD_OUT} "
                    f"benign kinds (holdout={self.holdout!r}); otherwise nothing measures generalization"
                )

    def held_out(self) -> tuple[str, ...]:
        """The names in ``holdout``, in the order given."""
        return tuple(name.strip() for name in self.holdout.split(",") if name.strip())

    def _leaves_out(self, name: str) -> bool:
        return self.split == "tune" and name in self.held_out()

    def family_shares(self) -> dict[str, float]:
        """Share of all prompts per adversarial family, 0 for a family this split leaves out."""
        shares = {
            "short_wrapper": self.short_wrapper_share,
            "tail_instruction": self.tail_instruction_share,
            "per_account_paraphrase": self.per_account_paraphrase_share,
            "pivot": self.pivot_family_share,
            "translated_variants": self.translated_variants_share,
            "low_and_slow": self.low_and_slow_share,
            "per_prompt_paraphrase": self.per_prompt_paraphrase_share,
        }
        return {name: 0.0 if self._leaves_out(name) else share for name, share in shares.items()}

    def trap_shares(self) -> dict[str, float]:
        """Share of all prompts per benign trap, 0 for a trap this split leaves out."""
        shares = {
            "paste_instruction": self.paste_instruction_share,
            "classroom_school_org": self.classroom_school_org_share,
            "classroom_personal_orgs": self.classroom_personal_orgs_share,
            "power_user_wrapper": self.power_user_wrapper_share,
            "shared_tool": self.shared_tool_share,
            "reworded_requests": self.reworded_requests_share,
        }
        return {name: 0.0 if self._leaves_out(name) else share for name, share in shares.items()}

    def _volume_shares(self) -> dict[str, float]:
        return {
            "campaign_share": self.campaign_share if self.campaigns > 0 else 0.0,
            "hydra_relay_share": self.hydra_relay_share if self.campaigns > 0 else 0.0,
            "short_generic_share": self.short_generic_share,
            "popular_public_share": self.popular_public_share,
            "org_app_share": self.org_app_share,
            "agent_framework_share": self.agent_framework_share,
            **{f"{name}_share": share for name, share in self.family_shares().items()},
            **{f"{name}_share": share for name, share in self.trap_shares().items()},
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
        """Exact number of prompts of each kind of traffic; they add up to ``prompts``.

        Keys: the prompt kinds of the templated campaigns and look-alikes, each adversarial
        family (its campaign prompts) and each trap (every prompt of its accounts, their other
        traffic included); "ordinary" gets the rest.
        """
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
        for kind in LOOKALIKE_KINDS:
            if self._leaves_out(kind):
                out[kind] = 0
        out |= {name: round(n * share) for name, share in self.family_shares().items()}
        out |= {name: round(n * share) for name, share in self.trap_shares().items()}
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

