"""When two instructions are worded alike: the one rule that the online tracker's links
(:mod:`promptprint.templates.tracker`) and offline attribution's
(:mod:`promptprint.reconstruct.wording`) both apply to their instruction vectors.

Two instructions are worded alike when their vectors are close enough, and *closer*
when both read as English than when one of them is in another language (the default
model places a translation lower than a paraphrase: see :mod:`promptprint.text.language`),
and when they ask for the same answer markers (:mod:`promptprint.text.answer_markers`:
two operations can word one task alike, but their parsers take the answer from different
places). Closeness is never a link on its own: each caller adds what makes it evidence
(committed accounts, prompts sent at once).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ENGLISH, OTHER, UNKNOWN = 1, 2, 0  # language codes (promptprint.text.language's "en", "other", "")
_CODES = {"en": ENGLISH, "other": OTHER}


def language_code(name: str) -> int:
    """The code of a language as :func:`promptprint.text.language.language` names it."""
    return _CODES.get(name, UNKNOWN)


def worded_alike(
    cosines: np.ndarray, own_languages: Any, other_languages: Any, own_markers: Any, other_markers: Any,
    *, cosine: float, cross_lingual_cosine: float,
) -> np.ndarray:
    """Which pairs are worded alike, elementwise over broadcast arrays: their ``cosines``,
    each side's language codes and answer markers (anything compared with ``==``: codes
    or frozensets). Within ``cosine`` when both are English or either is too short to
    tell, ``cross_lingual_cosine`` when either is in another language."""
    own, other = np.asarray(own_languages), np.asarray(other_languages)
    crossing = ((own == OTHER) | (other == OTHER)) & (own != UNKNOWN) & (other != UNKNOWN)
    same_markers = np.asarray(own_markers) == np.asarray(other_markers)  # codes compare as numbers, sets as objects
    return (np.asarray(cosines) >= np.where(crossing, cross_lingual_cosine, cosine)) & same_markers
