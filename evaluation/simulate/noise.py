"""Cosmetic noise: the evasions a campaign applies so its prompts differ byte by byte.

They change bytes but not meaning: what a normalizer must undo (zero-width
characters, Cyrillic look-alike letters, whitespace, casing) or what a masker must
ignore (request-id prefixes).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Literal

__all__ = ["NOISE_KINDS", "NoiseKind", "apply_noise"]

NoiseKind = Literal["zero_width", "homoglyph", "request_id", "whitespace", "casing"]
NOISE_KINDS: tuple[NoiseKind, ...] = ("zero_width", "homoglyph", "request_id", "whitespace", "casing")

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
