"""The hand-written texts a run sends: campaign template families and look-alike texts.

The texts themselves are data (``evaluation/data/campaign_families.toml`` and
``lookalikes.toml``); this turns them into typed tuples, in file order, checking the
payload kinds on load so a typo in a data file fails at import, not mid-run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_args

from evaluation.data import load_toml

__all__ = [
    "AGENT_SCAFFOLDS",
    "AGENT_TOOLS",
    "APP_TEMPLATES",
    "CAMPAIGN_FAMILIES",
    "COMPANIES",
    "SHORT_GENERIC",
    "PayloadKind",
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
