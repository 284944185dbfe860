"""The routing key of a prompt: what decides which process owns its template state.

The key is computed from the prompt's own text, so any process routes a call without a
central lookup, and prompts that the template tracker puts in one template should get
one key. The tracker joins a prompt to a template by its core shingles and its anchors,
and among candidates the one the prompt *starts* like wins
(:mod:`promptprint.templates.tracker`). The key is therefore the prompt's opening: the
hash of the first ``ANCHOR_TOKENS`` words of its skeleton (what the tracker's head anchor
covers), after a leading per-request identifier (a run of at most ``ID_PREFIX_TOKENS``
words ending in an ``<id>`` or ``<num>`` slot: ``request_id=<hex>``, ``ticket 4821``), which
the normalizer's own id-tag rule does not drop in every form and which is no part of a
template.

Measured on simulated traffic (docs/scaling.md, ``scripts/bench_shards.py --keys-only``):
this key keeps more of each template on its founder's owner than the tail anchor, the
smallest shingle hash (a one-permutation MinHash) or the text hash, because a template's
constant part is usually its opening instruction while its payload shingles and endings
vary. What stays split is templates whose members *start* differently: a payload placed
before the instruction, or variants the tracker joins through shared later text.

A prompt too short for an anchor carries no template; its key is the hash of all its
skeleton words, so copies of one text (and their cosmetic variants) meet on one process,
where the lexical copies view looks for them.
"""

from __future__ import annotations

import hashlib

from promptprint.text.skeleton import ANCHOR_TOKENS, skeleton_tokens

#: A leading identifier is looked for in this many first words (``request_id <id>``).
ID_PREFIX_TOKENS = 3
_SLOTS = frozenset({"<id>", "<num>"})


def opening(tokens: list[str]) -> list[str]:
    """The skeleton words a key is made of: the first ``ANCHOR_TOKENS`` after a leading
    identifier run, or all of them for a prompt shorter than that."""
    skip = 0
    for i, token in enumerate(tokens[:ID_PREFIX_TOKENS]):
        if token in _SLOTS:
            skip = i + 1
    rest = tokens[skip:]
    return rest[:ANCHOR_TOKENS] if len(rest) >= ANCHOR_TOKENS else tokens


def routing_key(text: str) -> int:
    """The 64-bit routing key of a raw prompt (see the module docstring)."""
    words = " ".join(opening(skeleton_tokens(text)))
    return int.from_bytes(hashlib.blake2b(words.encode("utf-8"), digest_size=8).digest(), "little")
