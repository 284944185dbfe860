"""Text normalization: make cosmetic variants of one prompt look identical.

Campaigns dodge exact matching with noise that a human reader does not see or does not
notice: zero-width characters, Cyrillic or Greek letters that look Latin, full-width
forms, odd whitespace, request-id prefixes. Everything that fingerprints a prompt works
on the output of :func:`canonical_text`; the original text is kept for display.

Bump :data:`NORMALIZER_VERSION` whenever the output of any function here changes:
stored fingerprints are bound to it and a mismatch is refused at start-up.

The regexes below are the definition. The identifier masks, and the whole of
:func:`normalize` for ASCII text (most prompts), run in C (promptprint/text/_canonical.c), which
reproduces them bit for bit at a fraction of the cost; tests/test_canonical_c.py compares
the two on every real prompt and on generated text. Edit both together.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from array import array

from promptprint.text import _canonical

NORMALIZER_VERSION = "norm-1"

# Look-alikes of Latin letters from other scripts (the common subset of Unicode's
# confusables.txt that survives NFKC). Folded only where a word is written in Latin
# (see _fold_homoglyphs), so genuine Cyrillic or Greek text is left alone.
_CONFUSABLES: dict[str, str] = {
    # Cyrillic lower case
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g",
    # Cyrillic upper case
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ԛ": "Q",
    "Ԝ": "W", "Ү": "Y",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}
_CONFUSABLE_CHARS = frozenset(_CONFUSABLES)
_HAS_CONFUSABLE = re.compile("[" + "".join(sorted(_CONFUSABLES)) + "]")


def _category_ranges(categories: tuple[str, ...]) -> list[tuple[int, int]]:
    """Every code point in the given Unicode categories, as sorted inclusive (first, last)
    ranges."""
    ranges: list[tuple[int, int]] = []
    for c in range(sys.maxunicode + 1):
        if unicodedata.category(chr(c)) in categories:
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1] = (ranges[-1][0], c)
            else:
                ranges.append((c, c))
    return ranges


# Format characters (Cf: zero-width, bidi controls, soft hyphens) vanish. Cf grows with
# Unicode versions, so the table comes from this Python's unicodedata (one scan at import).
_FORMAT = _category_ranges(("Cf",))
_INVISIBLE = re.compile(
    "[" + "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _FORMAT) + "]+"
)
_FORMAT_RANGES = array("I", [bound for pair in _FORMAT for bound in pair])  # what the C step reads
# Control characters (Cc, Zl, Zp) that are not whitespace become spaces; with whitespace,
# they are then collapsed to one space. Cc is closed (Unicode assigns no new controls) and
# Zl/Zp are whitespace, so the class is written out (tests/test_normalize.py checks it
# against unicodedata).
_CONTROL_NOT_SPACE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_WORD = re.compile(r"\w+", re.UNICODE)

# Identifiers that vary per request and say nothing about the prompt: UUIDs, long hex,
# tokens that mix letters and digits (request ids, nonces, hashes).
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_HEX = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I)
_ALNUM_ID = re.compile(r"\b(?=\w*\d)(?=\w*[a-z])[a-z0-9_-]{10,}\b", re.I)
# (In C, mask_identifiers runs _HEX and _ALNUM_ID only where a run of word characters
# and hyphens holds a digit and is at least 8 long: both match inside such a run.)
ID_PLACEHOLDER = "<id>"
# A leading tag that carries an id or a number: "[req 7f3a9c1e] ", "#4821: ", "(id: <id>) ".
_ID_PREFIX = re.compile(
    r"^\s*(?:[\[(<{]\s*[^\]\)>}\n]{0,40}?(?:<id>|\d)[^\]\)>}\n]{0,20}[\])>}]|#\s*\d+|<id>)\s*[:\-|]?\s*"
)


def _fold_homoglyphs(text: str) -> str:
    """Fold confusable letters to Latin inside words that are written in Latin.

    A word is folded when it mixes Latin letters with look-alikes, or when it consists
    only of look-alikes while most letters of the whole text are Latin. Real Russian or
    Greek text (mostly non-Latin letters) therefore keeps its letters.
    """
    if not _HAS_CONFUSABLE.search(text):
        return text
    letters = [ch for ch in text if ch.isalpha()]
    latin = sum(1 for ch in letters if ch.isascii())
    mostly_latin = latin * 2 > len(letters)

    def fold(match: re.Match[str]) -> str:
        word = match.group(0)
        if not _HAS_CONFUSABLE.search(word):
            return word
        has_latin = any(ch.isascii() and ch.isalpha() for ch in word)
        all_confusable_or_latin = all(ch.isascii() or ch in _CONFUSABLE_CHARS for ch in word)
        if all_confusable_or_latin and (has_latin or mostly_latin):
            return "".join(_CONFUSABLES.get(ch, ch) for ch in word)
        return word

    return _WORD.sub(fold, text)


def normalize(text: str) -> str:
    """Canonical Unicode form of a prompt: NFKC, invisible characters removed, homoglyphs
    folded, whitespace collapsed, case folded. Meaning is kept; only cosmetics go."""
    if text.isascii():
        return _canonical.normalize(text)  # every step at once, in C
    text = unicodedata.normalize("NFKC", text)
    # _INVISIBLE removed, _CONTROL_NOT_SPACE replaced, whitespace collapsed (re's \s and
    # str.split agree: str.isspace), in C. Folding homoglyphs after the collapse gives what
    # folding before it would: it only swaps letters inside words.
    text = _canonical.strip_and_collapse(text, _FORMAT_RANGES)
    return _fold_homoglyphs(text).casefold()


def mask_identifiers(normalized: str) -> str:
    """Replace per-request identifiers with ``<id>`` and drop a leading id tag.

    Expects :func:`normalize` output (lower case)."""
    text = _canonical.mask_identifiers(normalized)  # _UUID, then _HEX and _ALNUM_ID
    stripped = _ID_PREFIX.sub("", text, count=1)
    return stripped if stripped else text


def canonical_text(text: str) -> str:
    """What gets fingerprinted: the normalized text without per-request identifiers."""
    return mask_identifiers(normalize(text))
