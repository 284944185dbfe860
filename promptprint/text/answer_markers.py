"""The answer markers an instruction asks for: what an operation's parser looks for.

A distillation campaign harvests answers with a script, and the script needs the answer
where it expects it: after ``####``, between ``***``, in a fenced block. Every wording
of one campaign's instruction keeps that marker, paraphrase or translation alike (the
adversarial simulator's math campaigns: each of a per-account-paraphrase campaign's
wordings ends on ``####``; a translated campaign asks for ``Final: <number>`` in every
language, with no marker run). Two operations can word one task alike, the same hours,
and embed at 0.55-0.75; their markers tell them apart. Only runs of one symbol
repeated count (``##``, ``===``, ``---``, fences): they are format, not prose, and no
language translates them. Single punctuation, ``...``, ``!!`` and ``??`` are prose.
"""

from __future__ import annotations

import re

# a symbol repeated: two or more of these; three or more dashes or backticks (a dash pair
# is prose, a fence is three). Not emphasis ("**bold**", "__this__"): a paraphrase adds
# or drops it as it pleases.
_RUNS = re.compile(r"([#=~|$%^+<>])\1+|-{3,}|`{3,}")


def answer_markers(instruction: str) -> frozenset[str]:
    """The symbols an instruction repeats as markers (``"#"`` for ``####``), empty when
    it has none. Two instructions are one operation's only with equal markers, none on
    both sides included: one asking for ``####`` and one asking for nothing are two
    parsers."""
    return frozenset(run.group()[0] for run in _RUNS.finditer(instruction))
