"""The hand-written texts a run sends: campaign template families, look-alike texts, and the
instructions, templates and wrappers of the adversarial families and benign traps.

The texts themselves are data (``evaluation/data/campaign_families.toml``,
``lookalikes.toml`` and ``adversarial.toml``); this turns them into typed tuples, in file
order, checking the payload kinds on load so a typo in a data file fails at import, not mid-run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_args

from evaluation.data import load_toml

__all__ = [
    "ADVERSARIAL",
    "AGENT_SCAFFOLDS",
    "AGENT_TOOLS",
    "APP_TEMPLATES",
    "CAMPAIGN_FAMILIES",
    "COMPANIES",
    "SHORT_GENERIC",
    "PayloadKind",
    "AdversarialTexts",
    "ParaphraseConcept",
    "TemplateFamily",
]

PayloadKind = Literal[
    "task", "code", "math", "math_answer", "qa", "qa_pair", "passage", "message", "request", "example"
]
Style = Literal["long_template", "one_line_long_payload", "standard"]


@dataclasses.dataclass(frozen=True)
class TemplateFamily:
    """One distillation template with its hand-written paraphrases and translations.

    ``variants`` maps a variant name ("base", "para1".., or a language code for a
    translated variant whose payload stays English) to a ``str.format`` template
    whose slots are the fields of ``payload``'s kind.
    """

    family_id: str
    payload: PayloadKind
    style: Style
    variants: tuple[tuple[str, str], ...]

    def paraphrases(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.variants if name.startswith("para"))

    def translations(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.variants if name != "base" and not name.startswith("para"))

    def text(self, variant: str) -> str:
        return dict(self.variants)[variant]


def _checked(value: Any, allowed: Any, what: str) -> Any:
    if value not in get_args(allowed):
        raise ValueError(f"{what} {value!r} in evaluation/data is not one of {', '.join(get_args(allowed))}")
    return value


def _campaign_families() -> tuple[TemplateFamily, ...]:
    return tuple(
        TemplateFamily(
            family["id"],
            _checked(family["payload"], PayloadKind, f"payload of family {family['id']}"),
            _checked(family["style"], Style, f"style of family {family['id']}"),
            tuple(family["variants"].items()),
        )
        for family in load_toml("campaign_families")["family"]
    )


_LOOKALIKES = load_toml("lookalikes")

#: The campaign template families. Campaigns draw disjoint sets of these.
CAMPAIGN_FAMILIES: tuple[TemplateFamily, ...] = _campaign_families()
#: One organisation's own product feature: (name, payload kind, template with a {company} slot).
APP_TEMPLATES: tuple[tuple[str, PayloadKind, str], ...] = tuple(
    (app["name"], _checked(app["payload"], PayloadKind, f"payload of org app {app['name']}"), app["template"])
    for app in _LOOKALIKES["org_app"]
)
COMPANIES: tuple[str, ...] = tuple(_LOOKALIKES["companies"])
#: Public agent-framework scaffolds: (name, template, share of developers).
AGENT_SCAFFOLDS: tuple[tuple[str, str, float], ...] = tuple(
    (scaffold["name"], scaffold["template"], scaffold["weight"]) for scaffold in _LOOKALIKES["agent_scaffold"]
)
AGENT_TOOLS: tuple[tuple[str, str], ...] = tuple(
    (tool["name"], tool["description"]) for tool in _LOOKALIKES["agent_tool"]
)
SHORT_GENERIC: tuple[str, ...] = tuple(_LOOKALIKES["short_generic"])


@dataclasses.dataclass(frozen=True)
class ParaphraseConcept:
    """One instruction that campaign accounts each word their own way: every combination of
    one part from each list is a paraphrase (thousands from a few dozen parts)."""

    concept_id: str
    openers: tuple[str, ...]
    verbs: tuple[str, ...]
    objects: tuple[str, ...]
    methods: tuple[str, ...]
    finishers: tuple[str, ...]

    def combinations(self) -> int:
        return len(self.openers) * len(self.verbs) * len(self.objects) * len(self.methods) * len(self.finishers)

    def phrase(self, index: int) -> str:
        """The ``index``-th paraphrase (0 <= index < :meth:`combinations`), capitalised as a sentence."""
        parts = []
        for options in (self.finishers, self.methods, self.objects, self.verbs, self.openers):
            index, pick = divmod(index, len(options))
            parts.append(options[pick])
        finisher, method, obj, verb, opener = parts
        text = " ".join(part for part in (opener, verb, obj, method, finisher) if part)
        return text[0].upper() + text[1:]


@dataclasses.dataclass(frozen=True)
class AdversarialTexts:
    """The hand-written parts of the adversarial families and benign traps (``adversarial.toml``)."""

    short_wrapper: tuple[str, ...]
    tail_instruction: tuple[str, ...]
    paraphrase_concepts: tuple[ParaphraseConcept, ...]
    fresh_paraphrase_concepts: tuple[ParaphraseConcept, ...]  # per_prompt_paraphrase's own
    reworded_requests: tuple[ParaphraseConcept, ...]  # the reworded_requests trap's common requests
    paraphrase_layouts: tuple[str, ...]
    pivot_templates: tuple[TemplateFamily, ...]
    translated_templates: tuple[TemplateFamily, ...]
    slow_templates: tuple[TemplateFamily, ...]
    paste_head: tuple[str, ...]
    paste_tail: tuple[str, ...]
    classroom_assignments: tuple[str, ...]
    classroom_topics: tuple[str, ...]
    classroom_asks: tuple[str, ...]
    classroom_followups: tuple[str, ...]
    classroom_frames: tuple[str, ...]
    power_user_wrappers: tuple[str, ...]
    shared_tools: tuple[tuple[str, str], ...]  # (name, template with a {content} slot)


def _one_variant_families(entries: list[dict[str, Any]], what: str) -> tuple[TemplateFamily, ...]:
    return tuple(
        TemplateFamily(
            entry["id"],
            _checked(entry["payload"], PayloadKind, f"payload of {what} {entry['id']}"),
            "standard",
            (("base", entry["text"]),),
        )
        for entry in entries
    )


def _concepts(entries: list[dict[str, Any]]) -> tuple[ParaphraseConcept, ...]:
    return tuple(
        ParaphraseConcept(
            c["id"], tuple(c["openers"]), tuple(c["verbs"]), tuple(c["objects"]), tuple(c["methods"]), tuple(c["finishers"])
        )
        for c in entries
    )


def _adversarial() -> AdversarialTexts:
    data = load_toml("adversarial")
    short = tuple(data["short_wrapper"])
    for line in short:
        if not 3 <= len(line.split()) <= 6 or "\n" in line:
            raise ValueError(f"short_wrapper instruction {line!r} in evaluation/data is not one line of 3-6 words")
    return AdversarialTexts(
        short_wrapper=short,
        tail_instruction=tuple(data["tail_instruction"]),
        paraphrase_concepts=_concepts(data["paraphrase_concept"]),
        fresh_paraphrase_concepts=_concepts(data["fresh_paraphrase_concept"]),
        reworded_requests=_concepts(data["reworded_request"]),
        paraphrase_layouts=tuple(data["paraphrase_layouts"]),
        pivot_templates=_one_variant_families(data["pivot_template"], "pivot template"),
        translated_templates=tuple(
            TemplateFamily(
                t["id"],
                _checked(t["payload"], PayloadKind, f"payload of translated template {t['id']}"),
                "standard",
                tuple(t["variants"].items()),
            )
            for t in data["translated_template"]
        ),
        slow_templates=_one_variant_families(data["slow_template"], "slow template"),
        paste_head=tuple(data["paste_head"]),
        paste_tail=tuple(data["paste_tail"]),
        classroom_assignments=tuple(data["classroom_assignments"]),
        classroom_topics=tuple(data["classroom_topics"]),
        classroom_asks=tuple(data["classroom_asks"]),
        classroom_followups=tuple(data["classroom_followups"]),
        classroom_frames=tuple(data["classroom_frames"]),
        power_user_wrappers=tuple(data["power_user_wrappers"]),
        shared_tools=tuple((tool["name"], tool["text"]) for tool in data["shared_tool"]),
    )


#: The texts of the adversarial families and benign traps.
ADVERSARIAL: AdversarialTexts = _adversarial()
