"""Campaign ids that survive a rerun and a growing corpus.

An analyst quotes a campaign id in a ticket; the next reconstruction, over more
weeks of traffic, must call the same operation the same. A rank (``c-0001``) does
not survive that; the campaign's *first prompt* does: prompts are read in time
order, so a corpus that grows later (or is cut later) keeps every campaign's first
prompt, and its id, as long as the campaign still holds that prompt. The id is
``c-`` and 12 hex digits of the SHA-256 of that prompt's canonical text (the
recipe every other path uses, :func:`promptprint.text.normalize.canonical_text`),
so cosmetic noise in it does not change the id and the text is not given away.

Two campaigns of one run whose first prompts have the same canonical text (a copy)
are told apart by a ``-2``, ``-3`` … suffix in rank order.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from promptprint.text.normalize import canonical_text

ID_HEX_DIGITS = 12


def campaign_id(first_prompt_text: str) -> str:
    """The id of a campaign whose earliest prompt has this text."""
    digest = hashlib.sha256(canonical_text(first_prompt_text).encode("utf-8")).hexdigest()
    return f"c-{digest[:ID_HEX_DIGITS]}"


def campaign_ids(first_prompt_texts: Sequence[str]) -> list[str]:
    """Ids of one run's campaigns (in rank order), unique within the run."""
    seen: dict[str, int] = {}
    out = []
    for text in first_prompt_texts:
        base = campaign_id(text)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out
