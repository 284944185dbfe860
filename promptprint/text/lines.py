"""Instruction lines: the short first or last line of a prompt that wraps a long paste.

A campaign can be nearly all payload: "Summarize the key risks:", a blank line, then a
different 2,000-character document every time. Its shingle template (see
:mod:`promptprint.text.skeleton`) is then a handful of shingles out of hundreds, too few to
join on, and its head anchor (the first six words) runs into the paste. What stays
constant is the *line*. So a prompt whose first line is short and set off from a long
body (a blank line after it, or a colon ending it) gets a head-line key: a hash of that
line's skeleton words; a prompt whose last line is set off the same way from a long body
before it gets a tail-line key (payload first, instruction last).

Ordinary people write "Summarize this:" over a paste too, one prompt at a time; the key
only says which line a prompt carries. Whether a line is a campaign is for the evidence
about the accounts that send it (:mod:`promptprint.templates.scoring`).

Keys are computed from the raw text because the canonical text folds newlines into
spaces; the line itself goes through the same canonical text and skeleton as everything
else, so case, homoglyphs, numbers and punctuation do not tell two lines apart.
"""

from __future__ import annotations

import hashlib
import re

from promptprint.text import _canonical, _shingles
from promptprint.text.normalize import canonical_text

MIN_LINE_WORDS = 2
MAX_LINE_WORDS = 24
# the body the line wraps: at least this many characters, and this many times the line.
# As long as the line, not longer: a 20-word instruction over a 200-character math problem
# is as much a wrapper as a 4-word one over a document, and its shingle template misses
# it too (the payload is two thirds of the shingles, so no two prompts share enough).
MIN_BODY_CHARS = 100
BODY_TO_LINE = 1
_HEAD, _TAIL = b"head\x00", b"tail\x00"


def _key(line: str, body: str, side: bytes) -> int:
    if len(body) < max(MIN_BODY_CHARS, BODY_TO_LINE * len(line)):
        return 0
    words = _shingles.tokens(_canonical.skeleton(canonical_text(line)))  # skeleton.skeleton_tokens
    if not MIN_LINE_WORDS <= len(words) <= MAX_LINE_WORDS:
        return 0
    digest = hashlib.blake2b(side + " ".join(words).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


def _blank_line_follows(text: str, at: int) -> bool:
    """Whether the line starting at ``at`` holds nothing but whitespace."""
    end = text.find("\n", at)
    return not text[at : end if end >= 0 else len(text)].strip()


def instruction_line_keys(text: str) -> tuple[int, int]:
    """(head-line key, tail-line key) of a raw prompt; 0 where the prompt has no such line.

    A head line is the first non-blank line when a blank line follows it or it ends with
    a colon; a tail line is the last non-blank line when a blank line precedes it. Either
    must hold 2-24 words and sit beside a body of at least 100 characters and at least
    its own length."""
    stripped = text.strip()
    first = stripped.find("\n")
    if first < 0:
        return 0, 0
    head_line, rest = stripped[:first], stripped[first + 1 :]
    head = 0
    if head_line.rstrip().endswith(":") or _blank_line_follows(stripped, first + 1):
        head = _key(head_line, rest, _HEAD)
    last = stripped.rfind("\n")
    tail_line, before = stripped[last + 1 :], stripped[:last]
    tail = 0
    previous = before.rfind("\n")
    if previous >= 0 and not before[previous + 1 :].strip():
        tail = _key(tail_line, before, _TAIL)
    return head, tail


MAX_INSTRUCTION_WORDS = 40
MAX_PAYLOAD_WORDS = 48
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def instruction_and_payload(text: str) -> tuple[str, str]:
    """The part of a raw prompt that most likely says what to do with the rest, and the
    start of that rest: its head line (see :func:`instruction_line_keys`), else its tail
    line, else its first sentence (at most MAX_INSTRUCTION_WORDS words); the payload is
    what is left (its first MAX_PAYLOAD_WORDS words). A short first line over more lines
    is the instruction too, set off or not.

    An operation that has every prompt's instruction worded afresh (a paraphrasing model
    in the loop) leaves no wording that repeats, but its prompts' instructions still mean
    one thing, and its payloads are items of one dataset; embedding each part alone
    shows both. A guess, not a parse: "Solve this. John has 3 apples..." gives "Solve
    this." and "John has 3 apples...", and a question with no instruction gives its own
    first sentence, which is what it asks."""
    stripped = text.strip()
    head, tail = instruction_line_keys(stripped)
    if head:
        part, rest = stripped.split("\n", 1)
    elif tail:
        rest, part = stripped.rsplit("\n", 1)
    else:
        first, _, after = stripped.partition("\n")
        if after.strip() and len(first.split()) <= MAX_INSTRUCTION_WORDS:  # a line of its own
            part, rest = first, after
        else:
            sentences = _SENTENCE_END.split(first.strip(), 1)
            part, rest = sentences[0], " ".join([*sentences[1:], after])
    return " ".join(part.split()[:MAX_INSTRUCTION_WORDS]), " ".join(rest.split()[:MAX_PAYLOAD_WORDS])
