"""The fingerprint recipe: what a prompt's semantic vector is, wherever it is computed.

    raw text -> canonical text (promptprint.text.normalize) -> embed -> stored precision

Every vector the index searches, the reindex job stores and a reconstruction clusters
comes from this one function, so a prompt fingerprinted live, in a batch job or from a
file lands on the same vector (bit for bit, see to_stored_precision).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from promptprint.storage.store import to_stored_precision
from promptprint.text.normalize import canonical_text

Embed = Callable[[Sequence[str]], np.ndarray]  # canonical texts -> unit vectors (n, d)


def fingerprint_texts(embed: Embed, texts: Sequence[str]) -> np.ndarray:
    """Semantic fingerprints of raw texts: canonicalized, embedded by ``embed``, rounded
    through the stored float16 form. float32, shape (len(texts), dimension)."""
    return to_stored_precision(embed([canonical_text(t) for t in texts]))
