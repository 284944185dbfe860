"""The constant part two prompts of one template share: their common opening and closing
words.

A template wraps a payload with an instruction before it, after it, or both. Given two
prompts of one template, the words they open with alike and the words they close with
alike are that instruction, and the payload between drops out. This is the text whose
meaning is compared when a campaign gives each account its own wording of one
instruction (the template tracker's semantic links): the payload would drown it.
"""

from __future__ import annotations

import re

MIN_WORDS = 3
# Chinese and Japanese write no spaces between words: a sentence is one "word" to
# str.split. Two of their characters count as a word (a Japanese instruction line of
# forty characters shared by two prompts is an instruction, not one word).
_SPACELESS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CHARACTERS_PER_WORD = 2


def _words(tokens: list[str]) -> int:
    """How many words ``tokens`` (split on whitespace) hold, a run of Chinese or Japanese
    characters counting one word per CHARACTERS_PER_WORD of them."""
    return sum(max(1, len(_SPACELESS.findall(token)) // CHARACTERS_PER_WORD) for token in tokens)


def constant_part(first: str, second: str) -> str:
    """The words two prompts open with alike, then those they close with alike ("" when
    fewer than ``MIN_WORDS`` words are shared; see CHARACTERS_PER_WORD)."""
    a, b = first.split(), second.split()
    limit = min(len(a), len(b))
    head = 0
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    words = a[:head] + a[len(a) - tail :]
    return " ".join(words) if _words(words) >= MIN_WORDS else ""
