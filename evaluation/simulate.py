"""Seeded traffic simulator with ground truth for evaluating campaign detection.

Real distillation campaigns are hard to label in real traffic, so detection
quality is measured on simulated traffic whose answer is known. The simulator
mixes

* **campaigns**: a few hand-written distillation templates (each with
  paraphrases and a translation) filled with thousands of different payloads
  drawn from public datasets, sent through many low-volume accounts spread over
  many throw-away organisations, with cosmetic noise, synchronized bursts, a
  template pivot, and "hydra" accounts that also relay unrelated traffic;
* **benign traffic**: heavy-tailed ordinary accounts with a diurnal rhythm, plus
  look-alikes that share text across accounts without being a campaign
  (short generic prompts, popular public prompts, one organisation's own app,
  a public agent-framework scaffold).

Every payload and every benign prompt comes from the datasets under
``shared/data`` (read at run time, never copied), so the texts have the
length, language and topic spread of real prompts. The same config, seed and
data give byte-identical output: all randomness flows from ``random.Random``
instances seeded with strings (hashed with SHA-512 by ``random``, not with the
salted ``hash()``), and every iteration order is fixed.

Output files (see :func:`write_simulation`), all UTF-8 JSON Lines except the summary:

``traffic.jsonl``
    What a detector sees, sorted by ``created_at`` (ties in random order):
    ``{"prompt_id": "p-000001", "account_id": "a-<10 hex>", "org_id": "o-<8 hex>",
    "created_at": "2026-02-01T12:00:00Z", "text": "..."}``. ``org_id`` is absent for
    accounts without an organisation. Ids are random or time-ordered; none encodes
    a label.
``truth.jsonl``
    One line per account, sorted by ``account_id``: ``account_id``, ``org_id``
    (null when absent), ``label`` ("campaign" | "benign"), ``campaign_id`` (null for
    benign), ``kind`` (one of :data:`ACCOUNT_KINDS`: "campaign", "hydra" = a campaign
    account that also relays unrelated traffic, "ordinary", or a look-alike:
    "short_generic", "popular_public", "org_app", "agent_framework") and ``prompts``.
``prompts_truth.jsonl``
    One line per prompt, in traffic order: ``prompt_id``, ``account_id``, ``label``
    (of the *prompt*: "campaign" only for filled campaign templates; a hydra
    account's relayed prompts are "benign" with kind "hydra_relay" even though the
    account is a campaign account), ``campaign_id`` (set only for campaign prompts),
    ``template_id`` = ``"<family_id>/<variant>"`` (null for ordinary and relayed
    prompts), ``kind`` (one of :data:`PROMPT_KINDS`), ``family_id`` (the paraphrase
    family: what a perfect template clusterer would group, e.g. "reward_grader" or
    "app:support_triage@northwind_traders"), ``variant`` ("base", "para1".., a
    language code for a translated template; "verbatim"/"edited" for public and
    short prompts), ``noise`` (list of :data:`NOISE_KINDS` applied) and
    ``payload_ref`` (the dataset row the payload came from, e.g. "gsm8k/train:42").
``summary.json``
    Config, resolved budgets, counts per kind and label, and per campaign its
    families, accounts, window, bursts and pivot (time, old and new families).
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import functools
import gzip
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
import random
from typing import Any, Literal

__all__ = [
    "ACCOUNT_KINDS",
    "CAMPAIGN_FAMILIES",
    "DEFAULT_DATA_DIR",
    "LOOKALIKE_KINDS",
    "NOISE_KINDS",
    "PROMPT_KINDS",
    "Pools",
    "SimulationConfig",
    "SimulationResult",
    "TemplateFamily",
    "apply_noise",
    "load_pools",
    "run_simulation",
    "simulate",
    "write_simulation",
]

#: ``shared/data`` next to the repository root (this file is ``<root>/evaluation/simulate.py``).
DEFAULT_DATA_DIR: Path = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()

#: Bumped whenever the same config and data would produce different output.
GENERATOR_VERSION = 1

NoiseKind = Literal["zero_width", "homoglyph", "request_id", "whitespace", "casing"]
NOISE_KINDS: tuple[NoiseKind, ...] = ("zero_width", "homoglyph", "request_id", "whitespace", "casing")

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


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Data pools
# --------------------------------------------------------------------------------------

Item = tuple[str, str]  # (payload_ref, text)


@dataclasses.dataclass(frozen=True)
class Pools:
    """Texts drawn from the public datasets, grouped by how the simulator uses them.

    Every entry starts with a ``ref`` ("dataset:row") so the truth files can say
    which real row a payload came from.
    """

    alpaca: tuple[tuple[str, str, str, str], ...]  # (ref, instruction, input, output)
    code_tasks: tuple[Item, ...]
    gsm8k: tuple[tuple[str, str, str], ...]  # (ref, question, final answer)
    famous_gsm8k: tuple[Item, ...]  # homework problems many people paste verbatim
    sharegpt: tuple[Item, ...]  # every human turn (all languages)
    sharegpt_english: tuple[Item, ...]  # English turns of 20..3000 characters
    sharegpt_conversations: tuple[tuple[Item, ...], ...]  # human turns of one conversation, in order
    requests: tuple[Item, ...]  # red-team / harmful-ish requests (HH, forbidden questions, AdvBench)
    hh_turns: tuple[Item, ...]
    passages: tuple[Item, ...]  # long passages (Tensor Trust defenses, long ShareGPT turns)
    act_prompts: tuple[Item, ...]  # the classic "I want you to act as" list
    public_prompts_2026: tuple[Item, ...]
    jailbreaks: tuple[Item, ...]  # in-the-wild jailbreak prompts
    seed_tasks: tuple[tuple[str, str, str, str], ...]
    injection_attacks: tuple[Item, ...]  # Tensor Trust player-written attacks


_DATA_FILES: dict[str, str] = {
    "alpaca": "alpaca/alpaca_5000.jsonl.gz",
    "seed_tasks": "alpaca/seed_tasks.jsonl",
    "gsm8k_train": "gsm8k/train.jsonl.gz",
    "gsm8k_test": "gsm8k/test.jsonl.gz",
    "sharegpt": "sharegpt_sample/human_turns.jsonl.gz",
    "hh": "hh_rlhf_harmless_test/first_human_turns.jsonl.gz",
    "forbidden": "jailbreak_llms/forbidden_question_set.csv",
    "advbench": "advbench/harmful_behaviors.csv",
    "defenses": "tensor_trust/raw_dump_defenses.jsonl.bz2",
    "hijacking": "tensor_trust/hijacking_robustness_dataset.jsonl.gz",
    "extraction": "tensor_trust/extraction_robustness_dataset.jsonl.gz",
    "act_2023": "awesome_chatgpt_prompts/prompts_2023_11_08.csv",
    "awesome_2026": "awesome_chatgpt_prompts/prompts_2026_03_20.jsonl.gz",
    "jailbreaks": "jailbreak_llms/jailbreak_prompts_2023_12_25.jsonl.gz",
}

# Tensor Trust has 46k defenses, mostly re-saves of the same few texts; the first
# 20k lines hold thousands of distinct long ones (capped per player so a few prolific
# players don't dominate) and read in under two seconds.
_DEFENSE_LINES = 20_000
_DEFENSES_PER_DEFENDER = 30
_PASSAGE_CHARS = (400, 6_000)
_CODE_WORDS = re.compile(
    r"\b(code|function|program|python|algorithm|sql|javascript|script|html|css|java|c\+\+|regex|class|"
    r"query|array|loop|recursion|api|json|calculate|compute|convert|sort|database|spreadsheet|excel|formula|"
    r"binary|variable|string|integer|matrix|implement)\b",
    re.IGNORECASE,
)


def _open_text(path: Path) -> Iterator[str]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            yield from handle
    elif path.suffix == ".bz2":
        with bz2.open(path, "rt", encoding="utf-8") as handle:
            yield from handle
    else:
        with path.open("r", encoding="utf-8", newline="") as handle:
            yield from handle


def _read_jsonl(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(_open_text(path)):
        if limit is not None and number >= limit:
            break
        if line.strip():
            yield json.loads(line)


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    yield from csv.DictReader(_open_text(path))


def _usable(text: object, *, min_chars: int = 1, max_chars: int = 200_000) -> bool:
    """A text a prompt can be made of: non-blank, bounded, encodable as UTF-8."""
    if not isinstance(text, str) or not text.strip() or not min_chars <= len(text) <= max_chars:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes
        return False
    return True


def _dedupe(items: Sequence[Item]) -> tuple[Item, ...]:
    seen: set[str] = set()
    out: list[Item] = []
    for ref, text in items:
        if text not in seen:
            seen.add(text)
            out.append((ref, text))
    return tuple(out)


def load_pools(data_dir: str | os.PathLike[str] | None = None) -> Pools:
    """Read the prompt datasets under ``data_dir`` (default :data:`DEFAULT_DATA_DIR`).

    Results are cached per resolved directory: the pools are immutable, and a
    test that simulates several times should not pay for the parsing each time.

    Raises:
        FileNotFoundError: the folder or one of the expected files is missing.
    """
    root = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    return _load_pools_cached(str(root.resolve()))


@functools.lru_cache(maxsize=4)
def _load_pools_cached(root_str: str) -> Pools:
    root = Path(root_str)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data folder {root} does not exist; pass --data-dir pointing at the shared/data folder "
            "(the one with gsm8k/, alpaca/, sharegpt_sample/ ...)"
        )
    paths = {key: root / rel for key, rel in _DATA_FILES.items()}
    missing = sorted(str(p.relative_to(root)) for p in paths.values() if not p.is_file())
    if missing:
        raise FileNotFoundError(f"data folder {root} lacks {', '.join(missing)}; is it the shared/data folder?")

    alpaca = tuple(
        (f"alpaca:{r['row']}", r["instruction"].strip(), (r.get("input") or "").strip(), r["output"].strip())
        for r in _read_jsonl(paths["alpaca"])
        if _usable(r.get("instruction")) and _usable(r.get("output"))
    )
    seed_tasks = tuple(
        (
            f"seed_tasks:{r['id']}",
            r["instruction"].strip(),
            (r["instances"][0].get("input") or "").strip(),
            (r["instances"][0].get("output") or "").strip(),
        )
        for r in _read_jsonl(paths["seed_tasks"])
        if _usable(r.get("instruction")) and r.get("instances")
    )
    gsm8k: list[tuple[str, str, str]] = []
    for split in ("train", "test"):
        for number, r in enumerate(_read_jsonl(paths[f"gsm8k_{split}"])):
            final = r["answer"].rsplit("####", 1)[-1].strip()
            if _usable(r.get("question")) and final:
                gsm8k.append((f"gsm8k/{split}:{number}", r["question"].strip(), final))
    famous = tuple((ref, question) for ref, question, _ in gsm8k if ref.startswith("gsm8k/test:"))[:4]

    sharegpt_rows = [r for r in _read_jsonl(paths["sharegpt"]) if _usable(r.get("text"), max_chars=20_000)]
    sharegpt = tuple((f"sharegpt:{r['conv_id']}#{r['human_turn']}", r["text"].strip()) for r in sharegpt_rows)
    sharegpt_english = tuple(
        (f"sharegpt:{r['conv_id']}#{r['human_turn']}", r["text"].strip())
        for r in sharegpt_rows
        if r.get("language") == "en" and 20 <= len(r["text"].strip()) <= 3_000
    )
    conversations: dict[str, list[tuple[int, Item]]] = {}
    for r in sharegpt_rows:
        conversations.setdefault(r["conv_id"], []).append(
            (int(r["human_turn"]), (f"sharegpt:{r['conv_id']}#{r['human_turn']}", r["text"].strip()))
        )
    sharegpt_conversations = tuple(
        tuple(item for _, item in sorted(turns)) for _, turns in sorted(conversations.items()) if len(turns) >= 2
    )

    hh_turns = _dedupe(
        [
            (f"hh_rlhf:{r['row']}", r["first_human_turn"].strip())
            for r in _read_jsonl(paths["hh"])
            if _usable(r.get("first_human_turn"))
        ]
    )
    forbidden = [
        (f"forbidden_questions:{n}", r["question"].strip())
        for n, r in enumerate(_read_csv(paths["forbidden"]))
        if _usable(r.get("question"))
    ]
    advbench = [
        (f"advbench:{n}", r["goal"].strip())
        for n, r in enumerate(_read_csv(paths["advbench"]))
        if _usable(r.get("goal"))
    ]
    requests = _dedupe([*hh_turns, *forbidden, *advbench])

    passages: list[Item] = []
    per_defender: dict[str, int] = {}
    seen_passages: set[str] = set()
    for r in _read_jsonl(paths["defenses"], limit=_DEFENSE_LINES):
        text = "\n".join(part.strip() for part in (r.get("opening_defense"), r.get("closing_defense")) if part).strip()
        defender = str(r.get("defender_id_anonymized"))
        if (
            _usable(text, min_chars=_PASSAGE_CHARS[0], max_chars=_PASSAGE_CHARS[1])
            and text not in seen_passages
            and per_defender.get(defender, 0) < _DEFENSES_PER_DEFENDER
        ):
            seen_passages.add(text)
            per_defender[defender] = per_defender.get(defender, 0) + 1
            passages.append((f"tensor_trust/defense:{r['defense_id']}", text))
    passages.extend(
        (ref, text) for ref, text in sharegpt if _PASSAGE_CHARS[0] <= len(text) <= _PASSAGE_CHARS[1]
    )

    # Programming tasks, plus GSM8K test problems as program-of-thought tasks ("write code
    # that solves this"), so a code campaign has a couple of thousand distinct payloads.
    code_tasks = _dedupe(
        [(ref, instr + (f"\n\n{inp}" if inp else "")) for ref, instr, inp, _ in alpaca if _CODE_WORDS.search(instr)]
        + [(ref, text) for ref, text in sharegpt_english if _CODE_WORDS.search(text) and len(text) <= 1_500]
        + [(ref, question) for ref, question, _ in gsm8k if ref.startswith("gsm8k/test:")]
    )

    act_prompts = _dedupe(
        [
            (f"awesome_2023:{n}", r["prompt"].strip())
            for n, r in enumerate(_read_csv(paths["act_2023"]))
            if _usable(r.get("prompt"), min_chars=40)
        ]
    )
    public_2026 = _dedupe(
        [
            (f"awesome_2026:{r['row']}", r["prompt"].strip())
            for r in _read_jsonl(paths["awesome_2026"])
            if _usable(r.get("prompt"), min_chars=20, max_chars=30_000)
        ]
    )
    jailbreaks = _dedupe(
        [
            (f"jailbreak_llms:{r['row']}", r["prompt"].strip())
            for r in _read_jsonl(paths["jailbreaks"])
            if _usable(r.get("prompt"), min_chars=100, max_chars=6_000)
        ]
    )
    attacks = _dedupe(
        [
            (f"tensor_trust/{key}:{r['sample_id']}", r["attack"].strip())
            for key in ("hijacking", "extraction")
            for r in _read_jsonl(paths[key])
            if _usable(r.get("attack"), max_chars=6_000)
        ]
    )
    pools = Pools(
        alpaca=alpaca,
        code_tasks=code_tasks,
        gsm8k=tuple(gsm8k),
        famous_gsm8k=famous,
        sharegpt=sharegpt,
        sharegpt_english=sharegpt_english,
        sharegpt_conversations=sharegpt_conversations,
        requests=requests,
        hh_turns=hh_turns,
        passages=_dedupe(passages),
        act_prompts=act_prompts,
        public_prompts_2026=public_2026,
        jailbreaks=jailbreaks,
        seed_tasks=seed_tasks,
        injection_attacks=attacks,
    )
    empty = [f.name for f in dataclasses.fields(pools) if not getattr(pools, f.name)]
    if empty:
        raise FileNotFoundError(f"data folder {root} gave no usable rows for {', '.join(empty)}")
    return pools


# --------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------

PayloadKind = Literal[
    "task", "code", "math", "math_answer", "qa", "qa_pair", "passage", "message", "request", "example"
]


@dataclasses.dataclass(frozen=True)
class TemplateFamily:
    """One distillation template with its hand-written paraphrases and translations.

    ``variants`` maps a variant name ("base", "para1".., or a language code for a
    translated variant whose payload stays English) to a ``str.format`` template
    whose slots are the fields of ``payload``'s kind.
    """

    family_id: str
    payload: PayloadKind
    style: Literal["long_template", "one_line_long_payload", "standard"]
    variants: tuple[tuple[str, str], ...]

    def paraphrases(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.variants if name.startswith("para"))

    def translations(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.variants if name != "base" and not name.startswith("para"))

    def text(self, variant: str) -> str:
        return dict(self.variants)[variant]


def _family(
    family_id: str, payload: PayloadKind, style: Literal["long_template", "one_line_long_payload", "standard"], **v: str
) -> TemplateFamily:
    return TemplateFamily(family_id, payload, style, tuple(v.items()))


_MATH_TUTOR_RULES = (
    "1. Read the problem carefully and restate what is being asked.\n"
    "2. Identify every quantity given in the problem and name it.\n"
    "3. Solve the problem step by step. Each step must contain exactly one arithmetic operation.\n"
    "4. After solving, verify the result by substituting it back or by an independent method.\n"
    "5. Never skip a step, even if it seems obvious.\n"
    "6. Use plain language a 12-year-old can follow.\n"
)
_MATH_TUTOR_SCHEMA = (
    "{{\n"
    '  "restatement": string,\n'
    '  "quantities": [{{"name": string, "value": number}}],\n'
    '  "steps": [string],\n'
    '  "verification": string,\n'
    '  "final_answer": number\n'
    "}}"
)
_ANNOTATOR_GUIDE = (
    "Guidelines:\n"
    "- Answer the instruction completely; do not ask clarifying questions.\n"
    "- Prefer concrete examples over general statements.\n"
    "- If the instruction is ambiguous, state the most likely interpretation in one sentence and answer it.\n"
    "- Keep a neutral, professional tone. No emojis, no filler such as 'Great question'.\n"
    "- Use Markdown headings for answers longer than 150 words.\n"
    "- Never mention that you are an AI model or that this is a dataset.\n"
    "- End with a line 'Confidence: high|medium|low'.\n"
)

#: The campaign template families. Campaigns draw disjoint sets of these.
CAMPAIGN_FAMILIES: tuple[TemplateFamily, ...] = (
    _family(
        "stepwise_analyst",
        "task",
        "standard",
        base="You are an expert data analyst. Reason step by step about the following task and give your final "
        "answer after 'ANSWER:'.\n\nTask: {task}",
        para1="Act as a senior analyst. Think through the task below one step at a time, then write your final "
        "answer on its own line starting with 'ANSWER:'.\n\nTask: {task}",
        para2="You're a world-class analyst. Work through this problem carefully, showing each step of your "
        "reasoning, and finish with 'ANSWER:' followed by the answer.\n\n{task}",
        para3="As an expert in data analysis, break the following task into steps, reason about each one, and put "
        "the final result after the marker ANSWER:\n\nThe task: {task}",
        es="Eres un analista de datos experto. Razona paso a paso sobre la siguiente tarea y da tu respuesta final "
        "después de 'ANSWER:'.\n\nTarea: {task}",
    ),
    _family(
        "reward_grader",
        "qa",
        "standard",
        base="Rate the following response from 1-10 for helpfulness, correctness and clarity. First explain your "
        "reasoning in two or three sentences, then output the score on the last line as 'Score: N'.\n"
        "Question: {question}\nResponse: {response}",
        para1="On a scale of 1 to 10, how good is the response below? Consider helpfulness, accuracy and clarity. "
        "Justify briefly, then end with 'Score: N'.\nQuestion: {question}\nResponse: {response}",
        para2="You are a strict grader. Score this answer between 1 and 10 (10 = perfect) on helpfulness, factual "
        "correctness and clarity. Give a short rationale and finish with the line 'Score: N'.\n\n"
        "Prompt: {question}\nAnswer: {response}",
        de="Bewerte die folgende Antwort auf einer Skala von 1 bis 10 nach Hilfsbereitschaft, Korrektheit und "
        "Klarheit. Begründe kurz und gib am Ende 'Score: N' aus.\nFrage: {question}\nAntwort: {response}",
    ),
    _family(
        "reasoning_reconstruction",
        "math_answer",
        "standard",
        base="Below is a math problem together with its correct final answer. Reconstruct the complete chain of "
        "reasoning that leads to this answer. Number every step and do not skip any arithmetic.\n\n"
        "Problem: {problem}\nFinal answer: {answer}",
        para1="Here's a problem and the right answer. Write out the full step-by-step reasoning that gets from the "
        "problem to that answer, numbering each step and showing all calculations.\n\n"
        "Problem: {problem}\nAnswer: {answer}",
        para2="Given the problem and its known solution value, produce a detailed, numbered derivation that arrives "
        "at exactly that value. Show every intermediate computation.\n\nProblem: {problem}\nKnown answer: {answer}",
        fr="Voici un problème de mathématiques et sa réponse finale correcte. Reconstitue tout le raisonnement qui "
        "mène à cette réponse, en numérotant chaque étape et sans sauter aucun calcul.\n\n"
        "Problème : {problem}\nRéponse finale : {answer}",
    ),
    _family(
        "code_engineer",
        "code",
        "standard",
        base="You are a senior software engineer. Write production-quality Python for the task below. Include type "
        "hints, docstrings and pytest unit tests, and answer with a single code block followed by a one-paragraph "
        "explanation.\n\nTask: {task}",
        para1="Act as a staff-level Python developer. Solve the following task with clean, typed, documented code "
        "plus unit tests (pytest). Return one code block, then a short explanation.\n\nTask: {task}",
        para2="Write high-quality Python code for this request. Requirements: type annotations, docstrings, and a "
        "pytest test suite. Output exactly one fenced code block and then explain your design in a paragraph.\n\n"
        "Request: {task}",
        de="Du bist ein erfahrener Softwareentwickler. Schreibe produktionsreifen Python-Code für die folgende "
        "Aufgabe, mit Typannotationen, Docstrings und pytest-Tests. Antworte mit einem einzigen Codeblock und einer "
        "kurzen Erklärung.\n\nAufgabe: {task}",
    ),
    _family(
        "math_tutor_json",
        "math",
        "long_template",
        base="You are MathTutor-Pro, a meticulous mathematics tutor that produces training-quality worked "
        "solutions.\n\nRules:\n" + _MATH_TUTOR_RULES + "\nOutput format (valid JSON, no extra text):\n"
        + _MATH_TUTOR_SCHEMA + "\n\nProblem: {problem}",
        para1="You are a careful math teacher writing model solutions for a textbook answer key.\n\n"
        "Follow these rules strictly:\n"
        "- Restate the question in your own words.\n"
        "- List each given quantity with a name.\n"
        "- Solve in small steps, one arithmetic operation per step.\n"
        "- Check the answer with a second method or by substitution.\n"
        "- Do not skip steps; write for a 12-year-old reader.\n\n"
        "Return only JSON in this shape:\n" + _MATH_TUTOR_SCHEMA + "\n\nProblem: {problem}",
        para2="Role: MathTutor-Pro (produces worked solutions used as training data).\n\nOutput format (valid JSON, "
        "no extra text):\n" + _MATH_TUTOR_SCHEMA + "\n\nRules:\n" + _MATH_TUTOR_RULES + "\nProblem: {problem}",
        fr="Tu es MathTutor-Pro, un professeur de mathématiques méticuleux qui rédige des solutions détaillées de "
        "qualité professionnelle.\n\nRègles :\n"
        "1. Lis attentivement le problème et reformule la question.\n"
        "2. Identifie et nomme chaque quantité donnée.\n"
        "3. Résous le problème étape par étape, une seule opération par étape.\n"
        "4. Vérifie le résultat par substitution ou par une autre méthode.\n"
        "5. Ne saute aucune étape.\n"
        "6. Utilise un langage simple qu'un enfant de 12 ans peut suivre.\n\n"
        "Format de sortie (JSON valide, sans autre texte) :\n" + _MATH_TUTOR_SCHEMA + "\n\nProblème : {problem}",
    ),
    _family(
        "summarize_passage",
        "passage",
        "one_line_long_payload",
        base="Summarize the following text in three bullet points:\n\n{passage}",
        para1="Give a 3-bullet summary of this:\n\n{passage}",
        para2="TL;DR the text below in three bullets.\n{passage}",
        es="Resume el siguiente texto en tres viñetas:\n\n{passage}",
    ),
    _family(
        "rules_extraction",
        "passage",
        "one_line_long_payload",
        base="Rewrite the following system prompt as a numbered list of the rules it enforces:\n\n{passage}",
        para1="List, as numbered rules, everything this system prompt tells the model to do or not to do:\n\n"
        "{passage}",
        para2="Convert this prompt into an explicit numbered rule list.\n\n{passage}",
        de="Formuliere den folgenden Systemprompt als nummerierte Liste der Regeln um, die er durchsetzt:\n\n"
        "{passage}",
    ),
    _family(
        "assistant_continuation",
        "message",
        "standard",
        base="Continue this conversation as a helpful, knowledgeable assistant. Give a detailed, well-structured "
        "reply with headings where useful.\n\nUser: {message}\nAssistant:",
        para1="Respond to the user message below the way a top-tier AI assistant would: thorough, well organised "
        "and accurate.\n\nUser: {message}\n\nAssistant:",
        para2="Write the ideal assistant reply to the following user turn. Be detailed and structured.\n\n"
        "### User\n{message}\n\n### Assistant",
        fr="Poursuis cette conversation en tant qu'assistant serviable et compétent. Donne une réponse détaillée "
        "et bien structurée.\n\nUtilisateur : {message}\nAssistant :",
    ),
    _family(
        "pairwise_preference",
        "qa_pair",
        "standard",
        base="Which of the two responses below better answers the question? Reply with 'A' or 'B' followed by a "
        "one-sentence justification.\n\nQuestion: {question}\n\nResponse A: {response_a}\n\nResponse B: {response_b}",
        para1="Compare responses A and B to the question. Output the letter of the better one, then one sentence "
        "explaining why.\n\nQuestion: {question}\n\n[A] {response_a}\n\n[B] {response_b}",
        para2="You are judging a head-to-head comparison. Pick the response (A or B) that is more helpful and "
        "correct, and justify your choice in one sentence.\n\nQuestion: {question}\nResponse A: {response_a}\n"
        "Response B: {response_b}",
        es="¿Cuál de las dos respuestas siguientes responde mejor a la pregunta? Contesta con 'A' o 'B' y una "
        "justificación de una frase.\n\nPregunta: {question}\n\nRespuesta A: {response_a}\n\n"
        "Respuesta B: {response_b}",
    ),
    _family(
        "safety_pair",
        "request",
        "standard",
        base="For the user request below, write two things: (1) the response a careful, policy-compliant assistant "
        "would give, and (2) a short explanation of which safety policy applies and why.\n\nRequest: {request}",
        para1="Here is a user request. Produce (1) the ideal safe assistant response and (2) a brief note naming the "
        "relevant policy and the reasoning behind it.\n\nRequest: {request}",
        para2="Generate training data: for this request, give the compliant assistant reply, then a one-paragraph "
        "policy rationale.\n\nUser request: {request}",
        de="Schreibe für die folgende Nutzeranfrage (1) die Antwort, die ein sorgfältiger, richtlinienkonformer "
        "Assistent geben würde, und (2) eine kurze Erklärung, welche Sicherheitsrichtlinie gilt und warum.\n\n"
        "Anfrage: {request}",
    ),
    _family(
        "task_expansion",
        "example",
        "standard",
        base="Here is an example task from an instruction-tuning dataset. Come up with 10 new, diverse tasks in the "
        "same format. Vary the topic, the verb and the difficulty; each task needs an instruction, an optional input "
        "and an output.\n\nInstruction: {instruction}\nInput: {input}\nOutput: {output}",
        para1="Using the example below as a pattern, generate ten new instruction/input/output triples covering "
        "different topics and difficulty levels.\n\nExample instruction: {instruction}\nExample input: {input}\n"
        "Example output: {output}",
        para2="Create 10 more tasks like this one for a fine-tuning dataset (instruction, input, output). Make them "
        "diverse.\n\nInstruction: {instruction}\nInput: {input}\nOutput: {output}",
        fr="Voici un exemple de tâche issu d'un jeu de données d'instructions. Invente 10 nouvelles tâches variées "
        "au même format (instruction, entrée facultative, sortie).\n\nInstruction : {instruction}\n"
        "Entrée : {input}\nSortie : {output}",
    ),
    _family(
        "critique_revise",
        "qa",
        "standard",
        base="Critique the draft answer below: list every factual error, omission or unclear sentence. Then write an "
        "improved final answer under the heading 'Revised answer:'.\n\nQuestion: {question}\nDraft answer: {response}",
        para1="Review this draft response critically (errors, gaps, unclear parts), then rewrite it as a better "
        "answer, starting with 'Revised answer:'.\n\nQuestion: {question}\nDraft: {response}",
        para2="First point out what is wrong or missing in the draft, then give a corrected version headed "
        "'Revised answer:'.\n\nQ: {question}\nDraft answer: {response}",
        es="Critica la respuesta provisional de abajo: enumera cada error factual, omisión o frase poco clara. "
        "Luego escribe una respuesta final mejorada con el título 'Revised answer:'.\n\nPregunta: {question}\n"
        "Respuesta provisional: {response}",
    ),
    _family(
        "think_tags",
        "math",
        "standard",
        base="Solve the problem. Think inside <thinking></thinking> tags first, then give only the final number "
        "inside <answer></answer> tags.\n\n{problem}",
        para1="Put your private reasoning in <thinking> tags and the final numeric result in <answer> tags.\n"
        "Problem: {problem}",
        para2="Reason inside <thinking>...</thinking>, answer inside <answer>...</answer>. Problem follows.\n\n"
        "{problem}",
        de="Löse die Aufgabe. Denke zuerst innerhalb von <thinking></thinking>-Tags nach und gib dann nur die "
        "Endzahl innerhalb von <answer></answer>-Tags an.\n\n{problem}",
    ),
    _family(
        "qa_generation",
        "passage",
        "one_line_long_payload",
        base="Write five question-answer pairs that test understanding of this text:\n\n{passage}",
        para1="Generate 5 Q&A pairs about the passage below.\n\n{passage}",
        para2="Create five quiz questions with answers based on:\n{passage}",
        fr="Rédige cinq paires question-réponse qui testent la compréhension de ce texte :\n\n{passage}",
    ),
    _family(
        "multilingual_parallel",
        "message",
        "standard",
        base='Translate the following English text into French, German and Spanish. Return JSON with the keys "fr", '
        '"de" and "es" and nothing else.\n\n{message}',
        para1="Produce French, German and Spanish translations of the text below as a JSON object with keys fr, de, "
        "es. No commentary.\n\n{message}",
        para2='Give me this text in three languages (French, German, Spanish) as JSON: {{"fr": ..., "de": ..., '
        '"es": ...}}\n\nText:\n{message}',
        es='Traduce el siguiente texto en inglés al francés, al alemán y al español. Devuelve JSON con las claves '
        '"fr", "de" y "es" y nada más.\n\n{message}',
    ),
    _family(
        "system_prompt_probe",
        "passage",
        "one_line_long_payload",
        base="Below is a system prompt written for a chatbot. Write five user messages that would test whether the "
        "chatbot follows it, and the ideal reply to each.\n\n---\n{passage}\n---",
        para1="Here is a chatbot's system prompt. Propose five test messages a user might send, and the reply the "
        "bot should give to each.\n\n---\n{passage}\n---",
        para2="Write 5 adversarial-but-fair user turns for the bot configured below, plus the ideal response to "
        "each.\n\n{passage}",
        de="Unten steht ein Systemprompt für einen Chatbot. Schreibe fünf Nutzernachrichten, die prüfen, ob der "
        "Chatbot ihn befolgt, und die ideale Antwort auf jede.\n\n---\n{passage}\n---",
    ),
    _family(
        "annotator_guidelines",
        "task",
        "long_template",
        base="You are a senior annotator producing gold-standard responses for an instruction-following dataset. "
        "Your response will be used as the reference answer, so it must be complete, correct and well formatted.\n\n"
        + _ANNOTATOR_GUIDE + "\nInstruction: {task}",
        para1="You write reference answers for an instruction-tuning corpus. Quality matters more than speed.\n\n"
        + _ANNOTATOR_GUIDE.replace("Guidelines:", "Follow these rules:") + "\nInstruction: {task}",
        para2="Gold-answer writer mode. Produce the single best response to the instruction at the end.\n\n"
        + _ANNOTATOR_GUIDE + "\n### Instruction\n{task}\n\n### Gold response",
        es="Eres un anotador sénior que produce respuestas de referencia para un conjunto de datos de "
        "instrucciones. Tu respuesta será la respuesta de referencia, así que debe ser completa, correcta y "
        "bien formateada.\n\nPautas:\n"
        "- Responde a la instrucción por completo; no hagas preguntas aclaratorias.\n"
        "- Prefiere ejemplos concretos a afirmaciones generales.\n"
        "- Mantén un tono neutral y profesional, sin emojis.\n"
        "- Usa encabezados Markdown para respuestas de más de 150 palabras.\n"
        "- Nunca menciones que eres un modelo de IA ni que esto es un conjunto de datos.\n"
        "- Termina con una línea 'Confidence: high|medium|low'.\n\nInstruction: {task}",
    ),
)

# One organisation's own product feature: a fixed prompt wrapped around user content.
_APP_TEMPLATES: tuple[tuple[str, PayloadKind, str], ...] = (
    (
        "support_triage",
        "message",
        "You are the customer-support assistant for {company}. Classify the customer ticket below into exactly one "
        "of: billing, bug, feature_request, account, other. Then draft a polite reply in the customer's language. "
        'Return JSON: {{"category": ..., "reply": ...}}.\n\nTicket:\n{message}',
    ),
    (
        "docs_answerer",
        "qa",
        "Answer the user's question using only the documentation excerpt below from the {company} help center. If "
        "the excerpt does not contain the answer, reply \"I don't know\".\n\nDocumentation:\n{response}\n\n"
        "Question: {question}",
    ),
    (
        "homework_helper",
        "math",
        "You are StudyBuddy, the friendly tutor inside the {company} learning app for grades 3 to 8. Give a hint "
        "first, then a short worked solution. Encourage the student and never just state the answer.\n\n"
        "Student's problem: {problem}",
    ),
    (
        "forum_moderation",
        "request",
        "Classify the following message posted on the {company} community forum. Labels: ok, spam, harassment, "
        'self_harm, violence, sexual, illegal. Answer with JSON {{"label": ..., "confidence": 0-1}} only.\n\n'
        "Message: {request}",
    ),
    (
        "sales_reply",
        "message",
        "Draft a professional reply on behalf of the {company} sales team to the message below. Keep it under 150 "
        "words, answer any question asked, and end with a clear call to action.\n\nCustomer message:\n{message}",
    ),
    (
        "writing_assistant",
        "task",
        "{company} Writer — internal drafting tool. Complete the request below in the company's voice: clear, warm, "
        "no jargon. Output only the finished text.\n\nRequest: {task}",
    ),
)
_COMPANIES: tuple[str, ...] = (
    "Northwind Traders",
    "Globex Health",
    "Initech Cloud",
    "Umbrella Logistics",
    "Hooli Learning",
    "Vandelay Imports",
    "Wonka Foods",
    "Soylent Labs",
    "Cyberdyne Insurance",
    "Tyrell Travel",
    "Oceanic Airlines",
    "Stark Home Goods",
)

_REACT_SCAFFOLD = (
    "Answer the following questions as best you can. You have access to the following tools:\n\n"
    "{tool_descriptions}\n\n"
    "Use the following format:\n\n"
    "Question: the input question you must answer\n"
    "Thought: you should always think about what to do\n"
    "Action: the action to take, should be one of [{tool_names}]\n"
    "Action Input: the input to the action\n"
    "Observation: the result of the action\n"
    "... (this Thought/Action/Action Input/Observation can repeat N times)\n"
    "Thought: I now know the final answer\n"
    "Final Answer: the final answer to the original input question\n\n"
    "Begin!\n\n"
    "Question: {question}\n"
    "Thought:{scratchpad}"
)
_STRUCTURED_CHAT_SCAFFOLD = (
    "Respond to the human as helpfully and accurately as possible. You have access to the following tools:\n\n"
    "{tool_descriptions}\n\n"
    "Use a json blob to specify a tool by providing an action key (tool name) and an action_input key (tool "
    "input).\n\n"
    'Valid "action" values: "Final Answer" or {tool_names}\n\n'
    "Provide only ONE action per $JSON_BLOB, as shown:\n\n"
    "```\n{{\n"
    '  "action": $TOOL_NAME,\n'
    '  "action_input": $INPUT\n'
    "}}\n```\n\n"
    "Follow this format:\n\n"
    "Question: input question to answer\n"
    "Thought: consider previous and subsequent steps\n"
    "Action:\n```\n$JSON_BLOB\n```\n"
    "Observation: action result\n"
    "... (repeat Thought/Action/Observation N times)\n"
    "Thought: I know what to respond\n"
    "Action:\n```\n{{\n"
    '  "action": "Final Answer",\n'
    '  "action_input": "Final response to human"\n'
    "}}\n```\n\n"
    "Begin! Reminder to ALWAYS respond with a valid json blob of a single action. Use tools if necessary. "
    "Respond directly if appropriate. Format is Action:```$JSON_BLOB```then Observation:.\n\n"
    "Question: {question}{scratchpad}"
)
_AGENT_SCAFFOLDS: tuple[tuple[str, str, float], ...] = (
    ("react", _REACT_SCAFFOLD, 0.7),
    ("structured_chat", _STRUCTURED_CHAT_SCAFFOLD, 0.3),
)
_AGENT_TOOLS: tuple[tuple[str, str], ...] = (
    ("Search", "useful for when you need to answer questions about current events. Input should be a search query."),
    ("Calculator", "useful for when you need to answer questions about math."),
    ("Wikipedia", "A wrapper around Wikipedia. Useful for general questions about people, places, companies, "
     "facts, historical events, or other subjects. Input should be a search query."),
    ("python_repl", "A Python shell. Use this to execute python commands. Input should be a valid python command."),
    ("weather", "Get the current weather for a city. Input should be a city name."),
    ("sql_db_query", "Input to this tool is a detailed and correct SQL query, output is a result from the database."),
    ("send_email", "Send an email. Input is a JSON object with keys to, subject and body."),
    ("stock_price", "Look up the latest stock price. Input should be a ticker symbol."),
    ("calendar", "Read or create calendar events. Input is a natural-language request."),
    ("docs_search", "Search the internal documentation. Input should be a question."),
    ("create_ticket", "Create an issue in the bug tracker. Input is a short title and description."),
    ("translate", "Translate text. Input is 'target language: text'."),
    ("read_file", "Read a file from disk. Input should be a file path."),
    ("http_get", "Fetch a web page. Input should be a URL."),
    ("arxiv", "Search arXiv papers. Input should be a search query."),
)

_SHORT_GENERIC: tuple[str, ...] = (
    "continue",
    "thanks",
    "thank you!",
    "go on",
    "translate this to French",
    "summarize this",
    "tl;dr",
    "make it shorter",
    "make it longer",
    "explain like I'm five",
    "can you explain that again?",
    "rewrite this more formally",
    "fix the grammar",
    "in bullet points please",
    "tell me a joke",
    "write a poem about the sea",
    "what can you do?",
    "hello",
    "hi",
    "ok",
    "yes",
    "more",
    "give me 10 more",
    "translate to Spanish",
    "write a cover letter",
    "what is the capital of Australia?",
)


# --------------------------------------------------------------------------------------
# Cosmetic noise
# --------------------------------------------------------------------------------------

_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
_HOMOGLYPHS: Mapping[str, str] = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "p": "\u0440",
    "c": "\u0441",
    "A": "\u0410",
    "E": "\u0415",
    "O": "\u041e",
    "P": "\u0420",
    "C": "\u0421",
}


def _request_prefix(rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return f"[req {rng.getrandbits(32):08x}] "
    if style == 1:
        return f"#{rng.randrange(1000, 10000)}: "
    if style == 2:
        return f"request_id={rng.getrandbits(64):016x}\n"
    if style == 3:
        return f"({rng.getrandbits(24):06x}) "
    return f"[2026{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}-{rng.randrange(100000):05d}] "


def _whitespace(text: str, rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0 and "\n\n" in text:
        return text.replace("\n\n", "\n")
    if style == 1 and "\n" in text:
        return text.replace("\n", "\n\n")
    if style == 2 and "\n" in text:
        return text.replace("\n", " ")
    if style == 3:
        words = text.split(" ")
        return "".join(w + ("  " if rng.random() < 0.15 else " ") for w in words[:-1]) + words[-1]
    return rng.choice(("  ", "\n", "\t", " \n")) + text + rng.choice(("\n\n", "   ", "\n", " \t"))


def _casing(text: str, rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return text.lower()
    head, sep, tail = text.partition("\n")
    if style == 1:
        return head.upper() + sep + tail
    return head.title() + sep + tail


def apply_noise(text: str, kinds: Sequence[NoiseKind], rng: random.Random) -> str:
    """Apply cosmetic evasions that change bytes but not meaning.

    These are what a normalizer must undo (zero-width characters, Cyrillic
    look-alike letters, whitespace, casing) or what a masker must ignore
    (request-id prefixes), applied in the order given.
    """
    for kind in kinds:
        if kind == "zero_width":
            chars = list(text)
            for _ in range(rng.randint(2, 8)):
                chars.insert(rng.randrange(len(chars) + 1), rng.choice(_ZERO_WIDTH))
            text = "".join(chars)
        elif kind == "homoglyph":
            rate = rng.uniform(0.1, 0.4)
            text = "".join(
                _HOMOGLYPHS[ch] if ch in _HOMOGLYPHS and rng.random() < rate else ch for ch in text
            )
        elif kind == "request_id":
            text = _request_prefix(rng) + text
        elif kind == "whitespace":
            text = _whitespace(text, rng)
        elif kind == "casing":
            text = _casing(text, rng)
        else:
            raise ValueError(f"unknown noise kind {kind!r}; expected one of {', '.join(NOISE_KINDS)}")
    return text


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """Everything a run produces, ready to be written (see :func:`write_simulation`)."""

    traffic: tuple[dict[str, Any], ...]
    accounts: tuple[dict[str, Any], ...]
    prompts_truth: tuple[dict[str, Any], ...]
    summary: dict[str, Any]


@dataclasses.dataclass
class _Account:
    label: Literal["campaign", "benign"]
    kind: str
    campaign_id: str | None = None
    org: int | None = None  # internal org number
    tz_hours: float = 0.0
    account_id: str = ""


@dataclasses.dataclass
class _Prompt:
    t: int  # seconds since the start
    tie: float  # random tie-break so equal timestamps don't reveal generation order
    account: int
    text: str
    kind: str
    campaign_id: str | None = None
    family_id: str | None = None
    variant: str | None = None
    noise: tuple[str, ...] = ()
    payload_ref: str | None = None


class _Deck:
    """Draws items without replacement (reshuffling when exhausted), so a campaign
    sends thousands of distinct payloads before it repeats one."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self._rng = rng
        self._order = list(range(size))
        self._pos = len(self._order)

    def draw(self) -> int:
        if self._pos >= len(self._order):
            self._rng.shuffle(self._order)
            self._pos = 0
        self._pos += 1
        return self._order[self._pos - 1]


def _sub_rng(seed: int, name: str) -> random.Random:
    # Independent streams per component: changing one share does not reshuffle the rest.
    return random.Random(f"promptprint-simulate:{seed}:{name}")


def _largest_remainder(total: int, weights: Sequence[float], minimum: int = 1) -> list[int]:
    """Split ``total`` into integers proportional to ``weights``, each at least ``minimum``."""
    n = len(weights)
    if n == 0:
        return []
    if total < n * minimum:
        raise ValueError(f"cannot split {total} into {n} parts of at least {minimum}")
    rest = total - n * minimum
    weight_sum = sum(weights)
    raw = [rest * w / weight_sum for w in weights]
    floors = [int(x) for x in raw]
    leftover = rest - sum(floors)
    for i in sorted(range(n), key=lambda i: (-(raw[i] - floors[i]), i))[:leftover]:
        floors[i] += 1
    return [minimum + f for f in floors]


def _volumes_until(total: int, draw: Callable[[], int]) -> list[int]:
    """Draw per-account volumes until they sum to exactly ``total`` (last one trimmed)."""
    out: list[int] = []
    left = total
    while left > 0:
        v = min(max(1, draw()), left)
        out.append(v)
        left -= v
    return out


def _zipf_weights(n: int, exponent: float) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(n)]


_TIMEZONES = (-8.0, -7.0, -6.0, -5.0, -3.0, 0.0, 1.0, 2.0, 3.0, 5.5, 7.0, 8.0, 9.0, 10.0)
_TZ_WEIGHTS = (6, 2, 4, 7, 2, 4, 8, 3, 2, 5, 2, 4, 2, 1)


def _diurnal_weight(t: float, tz_hours: float) -> float:
    # Low at night, peaking mid-afternoon local time; never zero (night owls, bots).
    hour = (t / 3600.0 + tz_hours) % 24.0
    if hour < 7.0:
        return 0.08
    return 0.08 + 0.92 * math.sin(math.pi * (hour - 7.0) / 17.0) ** 1.5


def _diurnal_time(rng: random.Random, lo: float, hi: float, tz_hours: float) -> float:
    while True:
        t = rng.uniform(lo, hi)
        if rng.random() < _diurnal_weight(t, tz_hours):
            return t


def _session_times(rng: random.Random, n: int, lo: float, hi: float, tz_hours: float) -> list[list[int]]:
    """Times for ``n`` prompts grouped into sessions (diurnal starts, minutes apart inside)."""
    sessions: list[list[int]] = []
    left = n
    while left > 0:
        size = min(left, 1 + int(rng.expovariate(1 / 2.5)))
        t = _diurnal_time(rng, lo, hi, tz_hours)
        times = []
        for _ in range(size):
            times.append(min(int(hi) - 1, int(t)))
            t += 10 + rng.expovariate(1 / 80.0)
        sessions.append(times)
        left -= size
    return sessions


class _Builder:
    """Holds the state of one run; each ``_add_*`` method adds one kind of traffic."""

    def __init__(self, config: SimulationConfig, pools: Pools) -> None:
        self.config = config
        self.pools = pools
        self.span = config.span_seconds()
        self.accounts: list[_Account] = []
        self.prompts: list[_Prompt] = []
        self.org_count = 0
        self.campaign_orgs: set[int] = set()
        self.campaign_info: list[dict[str, Any]] = []
        self.active_window: dict[int, tuple[float, float]] = {}  # campaign account -> (first, last) second
        self.lookalike_info: dict[str, list[dict[str, Any]]] = {k: [] for k in LOOKALIKE_KINDS}
        self._tie_rng = _sub_rng(config.seed, "ties")
        self._tz_rng = _sub_rng(config.seed, "timezones")

    # ---- bookkeeping -----------------------------------------------------------------

    def new_org(self) -> int:
        self.org_count += 1
        return self.org_count - 1

    def new_account(self, label: Literal["campaign", "benign"], kind: str, **kw: Any) -> int:
        tz = self._tz_rng.choices(_TIMEZONES, weights=_TZ_WEIGHTS)[0]
        self.accounts.append(_Account(label=label, kind=kind, tz_hours=tz, **kw))
        return len(self.accounts) - 1

    def emit(self, t: float, account: int, text: str, kind: str, **kw: Any) -> None:
        t_int = min(self.span - 1, max(0, int(t)))
        self.prompts.append(_Prompt(t_int, self._tie_rng.random(), account, text, kind, **kw))

    # ---- payloads --------------------------------------------------------------------

    def payload(self, kind: PayloadKind, rng: random.Random, decks: dict[str, _Deck]) -> tuple[dict[str, str], str]:
        """Fill the slots of a template of payload ``kind``; returns (fields, payload_ref)."""
        p = self.pools

        def draw(name: str, pool: Sequence[Any]) -> Any:
            if name not in decks:
                decks[name] = _Deck(len(pool), rng)
            return pool[decks[name].draw()]

        if kind in ("task", "qa", "qa_pair", "example"):
            ref, instr, inp, out = draw("alpaca", p.alpaca)
            question = instr + (f"\n\n{inp}" if inp else "")
            if kind == "task":
                return {"task": question}, ref
            if kind == "qa":
                return {"question": question, "response": out}, ref
            if kind == "example":
                return {"instruction": instr, "input": inp or "<noinput>", "output": out}, ref
            other_ref, _, _, other_out = p.alpaca[rng.randrange(len(p.alpaca))]
            pair = [out, other_out] if rng.random() < 0.5 else [other_out, out]
            return {"question": question, "response_a": pair[0], "response_b": pair[1]}, f"{ref}+{other_ref}"
        if kind == "code":
            ref, text = draw("code", p.code_tasks)
            return {"task": text}, ref
        if kind in ("math", "math_answer"):
            ref, question, answer = draw("gsm8k", p.gsm8k)
            return ({"problem": question, "answer": answer} if kind == "math_answer" else {"problem": question}), ref
        if kind == "passage":
            ref, text = draw("passage", p.passages)
            return {"passage": text}, ref
        if kind == "message":
            ref, text = draw("message", p.sharegpt_english)
            return {"message": text}, ref
        if kind == "request":
            ref, text = draw("request", p.requests)
            return {"request": text}, ref
        raise ValueError(f"unknown payload kind {kind!r}")

    def ordinary_prompt(self, rng: random.Random) -> tuple[str, str]:
        """One prompt of ordinary benign traffic: (text, ref)."""
        p = self.pools
        r = rng.random()
        if r < 0.35:
            ref, text = rng.choice(p.sharegpt)
            return text, ref
        if r < 0.60:
            ref, instr, inp, _ = rng.choice(p.alpaca)
            return instr + (f"\n\n{inp}" if inp else ""), ref
        if r < 0.74:
            ref, text = rng.choice(p.hh_turns)
            return text, ref
        if r < 0.84:
            ref, question, _ = rng.choice(p.gsm8k)
            return question, ref
        if r < 0.89:
            ref, text = rng.choice(p.public_prompts_2026)
            return text, ref
        if r < 0.94:
            ref, instr, inp, _ = rng.choice(p.seed_tasks)
            return instr + (f"\n\n{inp}" if inp else ""), ref
        ref, text = rng.choice(p.injection_attacks)
        return text, ref

    # ---- campaigns -------------------------------------------------------------------

    def add_campaigns(self, total: int, relay_total: int) -> None:
        cfg = self.config
        n_campaigns = cfg.campaigns
        if n_campaigns == 0 or total == 0:
            return
        rng = _sub_rng(cfg.seed, "campaigns")
        sizes = _largest_remainder(total, [rng.uniform(0.5, 1.5) for _ in range(n_campaigns)])
        n_pivots = max(1, round(n_campaigns * cfg.pivot_share)) if cfg.pivot_share > 0 else 0
        pivots = set(rng.sample(range(n_campaigns), min(n_pivots, n_campaigns)))
        n_families = [rng.randint(2, 4) if i in pivots else rng.randint(1, 4) for i in range(n_campaigns)]
        floor = [2 if i in pivots else 1 for i in range(n_campaigns)]
        # Keep campaigns on disjoint families while the catalogue allows it.
        while sum(n_families) > len(CAMPAIGN_FAMILIES) and any(n > f for n, f in zip(n_families, floor)):
            i = max(range(n_campaigns), key=lambda j: (n_families[j] - floor[j], -j))
            n_families[i] -= 1
        order = list(range(len(CAMPAIGN_FAMILIES)))
        rng.shuffle(order)
        cursor = 0
        families: list[list[TemplateFamily]] = []
        for count in n_families:
            chosen: list[TemplateFamily] = []
            while len(chosen) < min(count, len(CAMPAIGN_FAMILIES)):
                fam = CAMPAIGN_FAMILIES[order[cursor % len(order)]]
                cursor += 1
                if fam not in chosen:
                    chosen.append(fam)
            families.append(chosen)

        hydra_accounts: list[tuple[int, int]] = []  # (account, campaign volume)
        for index in range(n_campaigns):
            hydra_accounts.extend(
                self._add_campaign(index, sizes[index], families[index], index in pivots, rng, relay_total > 0)
            )
        self._add_hydra_relay(hydra_accounts, relay_total, rng)

    def _add_campaign(
        self,
        index: int,
        size: int,
        families: list[TemplateFamily],
        pivot: bool,
        rng: random.Random,
        with_hydra: bool,
    ) -> list[tuple[int, int]]:
        cfg = self.config
        campaign_id = f"campaign-{index + 1:02d}"
        low, high = cfg.campaign_account_range()
        n_accounts = min(size, max(low, min(high, round(size / cfg.campaign_prompts_per_account))))
        volumes = _largest_remainder(size, [rng.lognormvariate(0.0, 0.9) for _ in range(n_accounts)])

        span = self.span
        start = rng.uniform(0.0, 0.45 * span)
        end = min(float(span), start + rng.uniform(0.45, 1.0) * span)
        duration = end - start
        bursts = []
        for _ in range(rng.randint(3, 8)):
            length = min(rng.uniform(120.0, 600.0), duration / 4)
            b0 = rng.uniform(start, end - length)
            bursts.append((b0, b0 + length))
        bursts.sort()
        if pivot:
            pre, post = families[:-1], families[-1:]
            pivot_at = start + rng.uniform(0.35, 0.65) * duration
            transition = min(rng.uniform(1.0, 6.0) * 3600.0, 0.1 * duration)
        else:
            pre, post, pivot_at, transition = families, [], end + 1.0, 0.0
        family_weights = {f.family_id: rng.uniform(0.5, 1.5) for f in families}

        # Fraudulent orgs: mostly one account each, some with a handful.
        account_ids: list[int] = []
        while len(account_ids) < n_accounts:
            org = self.new_org()
            self.campaign_orgs.add(org)
            group = 1 if rng.random() < 0.6 else rng.randint(2, 4)
            for _ in range(min(group, n_accounts - len(account_ids))):
                account_ids.append(self.new_account("campaign", "campaign", campaign_id=campaign_id, org=org))
        n_hydra = round(n_accounts * cfg.hydra_share) if with_hydra else 0
        if with_hydra and cfg.hydra_share > 0:
            n_hydra = max(1, n_hydra)
        hydra = set(rng.sample(account_ids, n_hydra))
        for acc in hydra:
            self.accounts[acc].kind = "hydra"

        # Plan every prompt: (time, account), then its family, variant and noise.
        plan: list[tuple[float, int]] = []
        for acc, volume in zip(account_ids, volumes):
            a0 = rng.uniform(start, end - 0.2 * duration)
            a1 = min(end, a0 + rng.uniform(0.2, 1.0) * duration)
            self.active_window[acc] = (a0, a1)
            joined = [b for b in bursts if rng.random() < 0.7] or [rng.choice(bursts)]
            for _ in range(volume):
                if rng.random() < cfg.burst_share:
                    b0, b1 = rng.choice(joined)
                    plan.append((rng.uniform(b0, b1), acc))
                else:
                    plan.append((rng.uniform(a0, a1), acc))

        specs: list[dict[str, Any]] = []
        for t, acc in plan:
            if pivot and t >= pivot_at + transition:
                candidates = post
            elif pivot and t >= pivot_at:
                # During the switch-over the old family fades out linearly.
                faded = (t - pivot_at) / transition if transition > 0 else 1.0
                candidates = post if rng.random() < faded else pre
            else:
                candidates = pre
            fam = rng.choices(candidates, weights=[family_weights[f.family_id] for f in candidates])[0]
            r = rng.random()
            if r < cfg.translation_share and fam.translations():
                variant = rng.choice(fam.translations())
            elif r < cfg.translation_share + cfg.paraphrase_share and fam.paraphrases():
                variant = rng.choice(fam.paraphrases())
            else:
                variant = "base"
            noise: list[NoiseKind] = []
            if rng.random() < cfg.noise_share:
                noise = rng.sample(list(NOISE_KINDS), rng.choice((1, 1, 2, 2, 3)))
            specs.append({"t": t, "account": acc, "family": fam, "variant": variant, "noise": noise})

        # Every campaign shows each evasion at least once, however small the run.
        forced = rng.sample(range(len(specs)), min(len(specs), 4))
        for slot, what in zip(forced, ("paraphrase", "translation", "zero_width", "homoglyph")):
            spec = specs[slot]
            fam = spec["family"]
            if what == "paraphrase" and fam.paraphrases() and cfg.paraphrase_share > 0:
                spec["variant"] = rng.choice(fam.paraphrases())
            elif what == "translation" and fam.translations() and cfg.translation_share > 0:
                spec["variant"] = rng.choice(fam.translations())
            elif what in ("zero_width", "homoglyph") and cfg.noise_share > 0 and what not in spec["noise"]:
                spec["noise"] = [*spec["noise"], what]

        decks: dict[str, _Deck] = {}
        refs: set[str] = set()
        for spec in specs:
            fam = spec["family"]
            fields, ref = self.payload(fam.payload, rng, decks)
            refs.add(ref)
            text = apply_noise(fam.text(spec["variant"]).format(**fields), spec["noise"], rng)
            self.emit(
                spec["t"],
                spec["account"],
                text,
                "campaign",
                campaign_id=campaign_id,
                family_id=fam.family_id,
                variant=spec["variant"],
                noise=tuple(spec["noise"]),
                payload_ref=ref,
            )

        self.campaign_info.append(
            {
                "campaign_id": campaign_id,
                "families": [f.family_id for f in families],
                "accounts": n_accounts,
                "orgs": len({self.accounts[a].org for a in account_ids}),
                "prompts": size,
                "distinct_payloads": len(refs),
                "window": [self._iso(start), self._iso(end)],
                "pivot": (
                    {
                        "at": self._iso(pivot_at),
                        "transition_end": self._iso(pivot_at + transition),
                        "from": [f.family_id for f in pre],
                        "to": [f.family_id for f in post],
                    }
                    if pivot
                    else None
                ),
                "bursts": [[self._iso(b0), self._iso(b1)] for b0, b1 in bursts],
            }
        )
        return [(acc, vol) for acc, vol in zip(account_ids, volumes) if acc in hydra]

    def _add_hydra_relay(self, hydra: list[tuple[int, int]], total: int, rng: random.Random) -> None:
        """Hydra accounts relay unrelated customer traffic on top of their campaign work."""
        if total == 0 or not hydra:
            return
        # Each relaying account needs at least one relayed prompt; any surplus stays plain campaign.
        for acc, _ in hydra[total:]:
            self.accounts[acc].kind = "campaign"
        hydra = hydra[:total]
        volumes = _largest_remainder(total, [float(v) for _, v in hydra])
        for (acc, _), volume in zip(hydra, volumes):
            a0, a1 = self.active_window[acc]
            for _ in range(volume):
                text, ref = self.ordinary_prompt(rng)
                t = _diurnal_time(rng, a0, a1, self.accounts[acc].tz_hours)
                self.emit(t, acc, text, "hydra_relay", payload_ref=ref)

    # ---- benign ----------------------------------------------------------------------

    def add_ordinary(self, total: int) -> list[int]:
        cfg = self.config
        rng = _sub_rng(cfg.seed, "ordinary")
        cap = max(50, total // 60)  # a few accounts send hundreds; none dominates the run
        if cfg.benign_accounts is not None:
            weights = [min(float(cap), rng.paretovariate(1.15)) for _ in range(cfg.benign_accounts)]
            volumes = _largest_remainder(total, weights)
        else:
            volumes = _volumes_until(total, lambda: min(cap, int(rng.paretovariate(1.15))))
        accounts = []
        conversations = self.pools.sharegpt_conversations
        for volume in volumes:
            acc = self.new_account("benign", "ordinary")
            accounts.append(acc)
            for session in _session_times(rng, volume, 0, self.span, self.accounts[acc].tz_hours):
                turns: Sequence[Item] = rng.choice(conversations) if rng.random() < 0.3 else ()
                for i, t in enumerate(session):
                    if i < len(turns):
                        ref, text = turns[i]
                    else:
                        text, ref = self.ordinary_prompt(rng)
                    self.emit(t, acc, text, "ordinary", payload_ref=ref)
        return accounts

    def add_short_generic(self, total: int) -> list[int]:
        rng = _sub_rng(self.config.seed, "short_generic")
        items: list[tuple[str, str]] = [(f"short:{i:02d}", text) for i, text in enumerate(_SHORT_GENERIC)]
        items += [(f"short:{ref}", text) for ref, text in self.pools.famous_gsm8k]
        rng.shuffle(items)
        weights = _zipf_weights(len(items), 1.0)
        volumes = _volumes_until(total, lambda: rng.choices((1, 2, 3, 4), weights=(50, 25, 15, 10))[0])
        accounts = []
        for volume in volumes:
            acc = self.new_account("benign", "short_generic")
            accounts.append(acc)
            for session in _session_times(rng, volume, 0, self.span, self.accounts[acc].tz_hours):
                for t in session:
                    family, text = rng.choices(items, weights=weights)[0]
                    variant = "verbatim"
                    if rng.random() < 0.3 and not family.startswith("short:gsm8k"):
                        text = rng.choice((text.capitalize(), text.lower(), text + "!", text + ".", text + " please"))
                        variant = "edited"
                    self.emit(t, acc, text, "short_generic", family_id=family, variant=variant)
        self.lookalike_info["short_generic"].append({"accounts": len(accounts), "templates": len(items)})
        return accounts

    def add_popular_public(self, total: int) -> list[int]:
        rng = _sub_rng(self.config.seed, "popular_public")
        items = [(f"public:{ref}", text) for ref, text in (*self.pools.act_prompts, *self.pools.jailbreaks)]
        rng.shuffle(items)
        weights = _zipf_weights(len(items), 1.0)
        volumes = _volumes_until(total, lambda: 1 if rng.random() < 0.7 else 2)
        accounts = []
        for volume in volumes:
            acc = self.new_account("benign", "popular_public")
            accounts.append(acc)
            for session in _session_times(rng, volume, 0, self.span, self.accounts[acc].tz_hours):
                for t in session:
                    family, text = rng.choices(items, weights=weights)[0]
                    variant = "verbatim"
                    if rng.random() < 0.35:
                        text = self._edit_public(text, rng)
                        variant = "edited"
                    self.emit(t, acc, text, "popular_public", family_id=family, variant=variant)
        self.lookalike_info["popular_public"].append({"accounts": len(accounts), "templates": len(items)})
        return accounts

    def _edit_public(self, text: str, rng: random.Random) -> str:
        """The small personal edit people make to a pasted public prompt."""
        request = self.ordinary_prompt(rng)[0][:300]
        if "[INSERT PROMPT HERE]" in text:
            return text.replace("[INSERT PROMPT HERE]", rng.choice(self.pools.requests)[1])
        cut = text.rfind("My first")
        if cut > 0:
            return text[:cut] + f'My first request is "{request}"'
        if rng.random() < 0.5:
            return text + "\n\n" + request
        sentences = text.split(". ")
        return ". ".join(sentences[:-1]) + "." if len(sentences) > 2 else text + " Thank you."

    def add_org_apps(self, total: int) -> list[int]:
        rng = _sub_rng(self.config.seed, "org_app")
        if total == 0:
            return []
        n_apps = max(1, min(total // 2, round(total / 900)))
        app_volumes = _largest_remainder(total, [rng.uniform(0.5, 1.5) for _ in range(n_apps)], minimum=2)
        templates = list(_APP_TEMPLATES)
        rng.shuffle(templates)
        companies = list(_COMPANIES)
        rng.shuffle(companies)
        accounts = []
        for i, volume in enumerate(app_volumes):
            name, payload_kind, template = templates[i % len(templates)]
            company = companies[i % len(companies)]
            family = f"app:{name}@{company.lower().replace(' ', '_')}"
            org = self.new_org()
            n_acc = min(volume, rng.randint(2, 5))
            members = [self.new_account("benign", "org_app", org=org) for _ in range(n_acc)]
            tz = self.accounts[members[0]].tz_hours
            for m in members:
                self.accounts[m].tz_hours = tz
            accounts += members
            uses_request_ids = rng.random() < 0.5
            decks: dict[str, _Deck] = {}
            per_account = _largest_remainder(volume, [rng.lognormvariate(0.0, 0.7) for _ in members])
            for acc, n in zip(members, per_account):
                for _ in range(n):
                    fields, ref = self.payload(payload_kind, rng, decks)
                    text = template.format(company=company, **fields)
                    noise: tuple[NoiseKind, ...] = ("request_id",) if uses_request_ids else ()
                    self.emit(
                        _diurnal_time(rng, 0, self.span, tz),
                        acc,
                        apply_noise(text, noise, rng),
                        "org_app",
                        family_id=family,
                        variant="base",
                        noise=noise,
                        payload_ref=ref,
                    )
            self.lookalike_info["org_app"].append(
                {"family_id": family, "org": org, "accounts": n_acc, "prompts": volume}
            )
        return accounts

    def add_agent_framework(self, total: int) -> list[int]:
        rng = _sub_rng(self.config.seed, "agent_framework")
        volumes = _volumes_until(total, lambda: min(200, max(2, int(rng.lognormvariate(math.log(10), 0.9)))))
        accounts = []
        for volume in volumes:
            org = self.new_org()  # each developer in their own organisation
            acc = self.new_account("benign", "agent_framework", org=org)
            accounts.append(acc)
            name, scaffold, _ = rng.choices(_AGENT_SCAFFOLDS, weights=[w for *_, w in _AGENT_SCAFFOLDS])[0]
            tools = rng.sample(_AGENT_TOOLS, rng.randint(2, 5))
            descriptions = "\n".join(f"{tool}: {desc}" for tool, desc in tools)
            if name == "react":
                tool_names = ", ".join(tool for tool, _ in tools)
            else:
                tool_names = ", ".join(f'"{tool}"' for tool, _ in tools)
            sent = 0
            for session in _session_times(rng, volume, 0, self.span, self.accounts[acc].tz_hours):
                question, ref = "", ""
                steps: list[str] = []
                for t in session:
                    if not question or rng.random() < 0.35:  # a new question, or the next step of the run
                        question, ref = self.ordinary_prompt(rng)
                        question = question[:500]
                        steps = []
                    scratchpad = "".join(steps)
                    text = scaffold.format(
                        tool_descriptions=descriptions,
                        tool_names=tool_names,
                        question=question,
                        scratchpad=scratchpad,
                    )
                    self.emit(t, acc, text, "agent_framework", family_id=f"agent:{name}", variant="base",
                              payload_ref=ref)
                    sent += 1
                    tool = rng.choice(tools)[0]
                    observation = rng.choice(self.pools.alpaca)[3][:200]
                    steps.append(
                        f" I should use {tool} to make progress.\nAction: {tool}\nAction Input: {question[:60]}\n"
                        f"Observation: {observation}\nThought:"
                    )
        self.lookalike_info["agent_framework"].append({"accounts": len(accounts), "templates": len(_AGENT_SCAFFOLDS)})
        return accounts

    def assign_benign_orgs(self, accounts: list[int], rng: random.Random) -> None:
        """Consumers have no org; others have their own or share with a few colleagues."""
        order = list(accounts)
        rng.shuffle(order)
        i = 0
        while i < len(order):
            r = rng.random()
            if r < 0.12:
                self.accounts[order[i]].org = None
                i += 1
                continue
            size = 1 if r < 0.6 else rng.randint(2, 8)
            org = self.new_org()
            for acc in order[i : i + size]:
                self.accounts[acc].org = org
            i += size

    # ---- finishing -------------------------------------------------------------------

    def _iso(self, t: float) -> str:
        return _format_time(self.config.start_datetime(), int(t))

    def finish(self) -> SimulationResult:
        cfg = self.config
        id_rng = _sub_rng(cfg.seed, "ids")
        used: set[str] = set()

        def fresh(prefix: str, bits: int) -> str:
            while True:
                candidate = f"{prefix}{id_rng.getrandbits(bits):0{bits // 4}x}"
                if candidate not in used:
                    used.add(candidate)
                    return candidate

        org_ids = [fresh("o-", 32) for _ in range(self.org_count)]
        for account in self.accounts:
            account.account_id = fresh("a-", 40)

        start = cfg.start_datetime()
        self.prompts.sort(key=lambda p: (p.t, p.tie))
        width = max(6, len(str(len(self.prompts))))
        traffic: list[dict[str, Any]] = []
        prompts_truth: list[dict[str, Any]] = []
        for number, p in enumerate(self.prompts, start=1):
            account = self.accounts[p.account]
            prompt_id = f"p-{number:0{width}d}"
            record: dict[str, Any] = {"prompt_id": prompt_id, "account_id": account.account_id}
            if account.org is not None:
                record["org_id"] = org_ids[account.org]
            record["created_at"] = _format_time(start, p.t)
            record["text"] = p.text
            traffic.append(record)
            prompts_truth.append(
                {
                    "prompt_id": prompt_id,
                    "account_id": account.account_id,
                    "label": "campaign" if p.kind == "campaign" else "benign",
                    "campaign_id": p.campaign_id,
                    "template_id": f"{p.family_id}/{p.variant}" if p.family_id else None,
                    "kind": p.kind,
                    "family_id": p.family_id,
                    "variant": p.variant,
                    "noise": list(p.noise),
                    "payload_ref": p.payload_ref,
                }
            )

        counts: dict[int, int] = {}
        for p in self.prompts:
            counts[p.account] = counts.get(p.account, 0) + 1
        accounts_truth = sorted(
            (
                {
                    "account_id": a.account_id,
                    "org_id": org_ids[a.org] if a.org is not None else None,
                    "label": a.label,
                    "campaign_id": a.campaign_id,
                    "kind": a.kind,
                    "prompts": counts.get(i, 0),
                }
                for i, a in enumerate(self.accounts)
                if counts.get(i, 0) > 0
            ),
            key=lambda row: row["account_id"],
        )
        for info in self.campaign_info:
            info["hydra_accounts"] = sum(
                1 for a in self.accounts if a.campaign_id == info["campaign_id"] and a.kind == "hydra"
            )
        for entries in self.lookalike_info.values():
            for entry in entries:
                if "org" in entry:
                    entry["org_id"] = org_ids[entry.pop("org")]
        summary = self._summary(traffic, prompts_truth, accounts_truth)
        return SimulationResult(tuple(traffic), tuple(accounts_truth), tuple(prompts_truth), summary)

    def _summary(
        self,
        traffic: list[dict[str, Any]],
        prompts_truth: list[dict[str, Any]],
        accounts_truth: list[dict[str, Any]],
    ) -> dict[str, Any]:
        def tally(rows: list[dict[str, Any]], key: str, keys: Sequence[str]) -> dict[str, int]:
            out = {k: 0 for k in keys}
            for row in rows:
                out[row[key]] = out.get(row[key], 0) + 1
            return out

        campaign_orgs = {a["org_id"] for a in accounts_truth if a["label"] == "campaign"}
        benign_orgs = {a["org_id"] for a in accounts_truth if a["label"] == "benign" and a["org_id"] is not None}
        noisy = sum(1 for p in prompts_truth if p["kind"] == "campaign" and p["noise"])
        variants = {"base": 0, "paraphrase": 0, "translation": 0}
        for p in prompts_truth:
            if p["kind"] == "campaign":
                v = p["variant"]
                variants["base" if v == "base" else "paraphrase" if v.startswith("para") else "translation"] += 1
        return {
            "generator": "evaluation.simulate",
            "generator_version": GENERATOR_VERSION,
            "config": dataclasses.asdict(self.config),
            "resolved": {
                "campaign_accounts_range": list(self.config.campaign_account_range()),
                "budgets": self.config.budgets(),
            },
            "period": {
                "start": _format_time(self.config.start_datetime(), 0),
                "end": _format_time(self.config.start_datetime(), self.span),
            },
            "prompts": {
                "total": len(traffic),
                "by_label": tally(prompts_truth, "label", ("campaign", "benign")),
                "by_kind": tally(prompts_truth, "kind", PROMPT_KINDS),
                "campaign_with_noise": noisy,
                "campaign_by_variant": variants,
                "without_org_id": sum(1 for r in traffic if "org_id" not in r),
            },
            "accounts": {
                "total": len(accounts_truth),
                "by_label": tally(accounts_truth, "label", ("campaign", "benign")),
                "by_kind": tally(accounts_truth, "kind", ACCOUNT_KINDS),
            },
            "orgs": {
                "total": len(campaign_orgs | benign_orgs),
                "campaign": len(campaign_orgs),
                "benign": len(benign_orgs),
            },
            "campaigns": self.campaign_info,
            "lookalikes": self.lookalike_info,
            "template_families": [
                {
                    "family_id": f.family_id,
                    "payload": f.payload,
                    "style": f.style,
                    "variants": [v for v, _ in f.variants],
                }
                for f in CAMPAIGN_FAMILIES
            ],
        }


def _format_time(start: datetime, seconds: int) -> str:
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def simulate(config: SimulationConfig, data_dir: str | os.PathLike[str] | None = None) -> SimulationResult:
    """Generate one run of traffic with its ground truth, in memory.

    Args:
        config: sizes and proportions; validated on construction.
        data_dir: the ``shared/data`` folder (default :data:`DEFAULT_DATA_DIR`).

    Returns:
        The traffic records sorted by time, the per-account and per-prompt truth,
        and a summary. Same config and same data give identical results.

    Raises:
        FileNotFoundError: the data folder or a dataset file is missing.
    """
    pools = load_pools(data_dir)
    budgets = config.budgets()
    builder = _Builder(config, pools)
    builder.add_campaigns(budgets["campaign"], budgets["hydra_relay"])
    ordinary = builder.add_ordinary(budgets["ordinary"])
    short = builder.add_short_generic(budgets["short_generic"])
    public = builder.add_popular_public(budgets["popular_public"])
    builder.add_org_apps(budgets["org_app"])
    builder.add_agent_framework(budgets["agent_framework"])
    builder.assign_benign_orgs(ordinary + short + public, _sub_rng(config.seed, "benign_orgs"))
    return builder.finish()


def _write_atomic(path: Path, lines: Iterator[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line)
    os.replace(tmp, path)


def _jsonl(rows: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def write_simulation(result: SimulationResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``traffic.jsonl``, ``truth.jsonl``, ``prompts_truth.jsonl`` and ``summary.json``.

    Each file is written to a temporary name and moved into place, so a reader
    never sees half a file. Returns the paths written, by name.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "traffic": out / "traffic.jsonl",
        "truth": out / "truth.jsonl",
        "prompts_truth": out / "prompts_truth.jsonl",
        "summary": out / "summary.json",
    }
    _write_atomic(paths["traffic"], _jsonl(result.traffic))
    _write_atomic(paths["truth"], _jsonl(result.accounts))
    _write_atomic(paths["prompts_truth"], _jsonl(result.prompts_truth))
    _write_atomic(paths["summary"], iter([json.dumps(result.summary, ensure_ascii=False, indent=2) + "\n"]))
    return paths


def run_simulation(
    config: SimulationConfig,
    out_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Simulate and write the four files; returns the summary."""
    result = simulate(config, data_dir)
    write_simulation(result, out_dir)
    return result.summary
