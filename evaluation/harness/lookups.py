"""Lookups for the latency phases: ingested prompts, exact or lightly edited.

Queries come from a uniform sample of everything ingested so they cover the whole
index, not only the latest prompts, and half of them are edited copies so latency is
not measured on exact repeats only.
"""

from __future__ import annotations

import random
import re

__all__ = ["EXACT_QUERY_SHARE", "Reservoir", "edit_text", "make_queries"]

EXACT_QUERY_SHARE = 0.5  # the rest are edited copies of ingested prompts


def edit_text(text: str, rng: random.Random) -> str:
    """A lightly edited copy, as a campaign would send it: 1-3 of word drop, adjacent swap,
    typo, number change, greeting prefix or polite suffix. Lookups use these so latency is
    not measured on exact repeats only."""
    for _ in range(rng.randint(1, 3)):
        words = text.split(" ")
        op = rng.randrange(6)
        if op == 0 and len(words) > 3:
            del words[rng.randrange(len(words))]
            text = " ".join(words)
        elif op == 1 and len(words) > 3:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
            text = " ".join(words)
        elif op == 2 and len(text) > 10:
            i = rng.randrange(len(text) - 1)
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif op == 3 and re.search(r"\d+", text):
            text = re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), text, count=1)
        elif op == 4:
            text = rng.choice(("Hi, ", "Hello! ", "Please: ", "OK so ")) + text
        else:
            text = text + rng.choice((" Thanks.", " Please answer quickly.", " :)", "\n\nBe concise."))
    return text


class Reservoir:
    """A uniform, seeded sample of the ingested texts (lookups are drawn from it), so
    queries cover the whole index, not only the latest prompts, in bounded memory."""

    def __init__(self, capacity: int, rng: random.Random) -> None:
        self.capacity, self.rng = capacity, rng
        self.items: list[str] = []
        self.seen = 0

    def add(self, text: str) -> None:
        self.seen += 1
        if len(self.items) < self.capacity:
            self.items.append(text)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.capacity:
                self.items[j] = text


def make_queries(reservoir: Reservoir, count: int, rng: random.Random) -> tuple[list[str], int]:
    """``count`` lookups: ingested prompts, exact or lightly edited. Returns (texts, exact count)."""
    texts, exact = [], 0
    for _ in range(count):
        text = rng.choice(reservoir.items)
        if rng.random() < EXACT_QUERY_SHARE:
            exact += 1
            texts.append(text)
        else:
            texts.append(edit_text(text, rng))
    return texts, exact
