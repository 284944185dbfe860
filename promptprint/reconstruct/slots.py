"""A template's text with its slots marked, by token alignment over masked skeletons.

Members of one template share a constant part and differ in their payloads. As in
log-template miners (Drain), the template is what the members have in common,
position by position: each member's skeleton (see :mod:`promptprint.text.skeleton`: numbers,
URLs, code, long quotes already masked as typed placeholders) is aligned to a
*reference* member with ``difflib.SequenceMatcher``; a reference token that at least
half of the members match is constant, a run of the others is a slot ``{1}``, and so
is a place where at least half of the members insert tokens the reference lacks.
Typed placeholders (``<num>``, ``<url>``...) are slots by construction.

The reference is the most *typical* member (highest mean document frequency of its
word 3-grams within the sample), so one odd member cannot set the template. Alignment
covers the first ``MAX_TOKENS`` tokens: enough to show a template, and it bounds
the cost (SequenceMatcher is quadratic in the worst case).
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import re
from typing import Literal, Sequence

from promptprint.text.normalize import canonical_text
from promptprint.text.skeleton import skeleton

MAX_TOKENS = 400
MAX_MEMBERS = 16
CONSTANT_SUPPORT = 0.5
ISLAND_TOKENS = 2
ISLAND_SUPPORT = 0.95
_DISPLAY_TOKEN = re.compile(r"<\w+>|\w+|[^\w\s]", re.UNICODE)
_PLACEHOLDER = re.compile(r"<(\w+)>")
_NO_SPACE_BEFORE = set(",.;:!?)]}%'’»”")
_NO_SPACE_AFTER = set("([{«“'‘$#@/")


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    """A stretch of template text, or a slot (``value`` is then the slot's type)."""

    kind: Literal["text", "slot"]
    value: str


@dataclasses.dataclass(frozen=True)
class TemplateText:
    """A template as text and slots, in order."""

    parts: tuple[Part, ...]
    members_aligned: int

    @property
    def slot_count(self) -> int:
        return sum(p.kind == "slot" for p in self.parts)

    def render(self) -> str:
        """The template as one string, slots written ``{1}``, ``{2:num}``..."""
        out: list[str] = []
        slot = 0
        for part in self.parts:
            if part.kind == "slot":
                slot += 1
                out.append("{" + str(slot) + ("" if part.value == "text" else ":" + part.value) + "}")
            else:
                out.append(part.value)
        return " ".join(out)


def display_tokens(text: str) -> list[str]:
    """Skeleton tokens of a raw prompt with punctuation kept (for reading, not matching)."""
    return _DISPLAY_TOKEN.findall(skeleton(canonical_text(text)))[:MAX_TOKENS]


def _join(tokens: Sequence[str]) -> str:
    out = ""
    for token in tokens:
        if out and token[0] not in _NO_SPACE_BEFORE and out[-1] not in _NO_SPACE_AFTER:
            out += " "
        out += token
    return out


def _reference(token_lists: Sequence[list[str]]) -> int:
    df: collections.Counter[tuple[str, ...]] = collections.Counter()
    grams = []
    for tokens in token_lists:
        g = {tuple(tokens[i : i + 3]) for i in range(max(1, len(tokens) - 2))}
        grams.append(g)
        df.update(g)
    best, best_key = 0, (-1.0, 0)
    for i, g in enumerate(grams):
        key = (sum(df[x] for x in g) / max(1, len(g)), -len(token_lists[i]))
        if key > best_key:
            best, best_key = i, key
    return best


def extract_template(texts: Sequence[str], *, max_members: int = MAX_MEMBERS) -> TemplateText:
    """The constant part and slots of the given member texts (raw prompts).

    Args:
        texts: members of one template; at most ``max_members`` evenly spaced ones
            are aligned.
        max_members: bound on the alignment work.
    """
    if not texts:
        return TemplateText((), 0)
    step = max(1, len(texts) // max_members)
    sample = [display_tokens(t) for t in list(texts)[::step][:max_members]]
    sample = [s for s in sample if s] or [[]]
    ref_index = _reference(sample)
    ref = sample[ref_index]
    m = len(sample)
    matched = [1] * len(ref)  # the reference matches itself
    inserted = [0] * (len(ref) + 1)  # members inserting tokens before ref position i
    for j, tokens in enumerate(sample):
        if j == ref_index:
            continue
        matcher = difflib.SequenceMatcher(None, ref, tokens, autojunk=False)
        prev_a = prev_b = 0
        for a, b, size in matcher.get_matching_blocks():
            if b > prev_b and a == prev_a:  # tokens the reference lacks, inserted before ref[a]
                inserted[a] += 1
            for i in range(a, a + size):
                matched[i] += 1
            prev_a, prev_b = a + size, b + size
    need = CONSTANT_SUPPORT * m
    parts: list[Part] = []
    supports: list[float] = []  # per part: the weakest support of its tokens (1 for slots)
    run: list[str] = []
    run_support: list[float] = []

    def flush() -> None:
        if run:
            parts.append(Part("text", _join(run)))
            supports.append(min(run_support))
            run.clear()
            run_support.clear()

    def slot(kind: str) -> None:
        flush()
        if not (parts and parts[-1].kind == "slot" and parts[-1].value == kind == "text"):
            parts.append(Part("slot", kind))
            supports.append(1.0)

    for i, token in enumerate(ref):
        if m > 1 and inserted[i] >= need:
            slot("text")
        placeholder = _PLACEHOLDER.fullmatch(token)
        if placeholder:
            slot(placeholder.group(1))
        elif m == 1 or matched[i] >= need:
            run.append(token)
            run_support.append(matched[i] / m)
        else:
            slot("text")
    if m > 1 and inserted[len(ref)] >= need:
        slot("text")
    flush()
    return TemplateText(_absorb_islands(parts, supports), m)


def _absorb_islands(parts: list[Part], supports: list[float]) -> tuple[Part, ...]:
    """Fold into the slot around them the short constant runs (at most ``ISLAND_TOKENS``
    tokens, not shared by every member) that sit between two free-text slots or between
    one and the end: a common word or the final full stop that most payloads happen to
    share is payload, not template. A label every member has ("answer:") stays."""
    out: list[Part] = []
    for i, part in enumerate(parts):
        if part.kind == "text" and supports[i] < ISLAND_SUPPORT and len(_DISPLAY_TOKEN.findall(part.value)) <= ISLAND_TOKENS:
            before = out[-1] if out else None
            after = parts[i + 1] if i + 1 < len(parts) else None
            free_before = before is not None and before.kind == "slot" and before.value == "text"
            free_after = after is not None and after.kind == "slot" and after.value == "text"
            if free_before and (free_after or after is None):
                continue  # the slot before absorbs it
        if part.kind == "slot" and part.value == "text" and out and out[-1] == part:
            continue  # two free-text slots in a row are one
        if part.kind == "text" and out and out[-1] == Part("slot", "text"):
            value = part.value.lstrip(".?!… ")  # the payload's own full stop
            if not value:
                continue
            part = Part("text", value)
        out.append(part)
    return tuple(out)
