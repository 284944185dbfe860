"""The template view of a prompt: its skeleton and the lexical shingles of it.

A campaign template is the part of a prompt that stays constant while the payload
changes. Two steps make that part comparable across prompts:

1. **Skeleton**: the canonical text (see :mod:`promptprint.text.normalize`) with slots replaced
   by typed placeholders — fenced code (``<code>``), URLs, e-mail addresses, numbers
   (``<num>``) and long quoted passages (``<quote>``). "What is 17+4?" and "What is 3+9?"
   then read the same.
2. **Shingles**: hashed word 3-grams of the skeleton, from its head and its tail only
   (templates put their instructions before and after the payload; a long paste in the
   middle is payload). Punctuation is dropped, so it cannot be used to dodge matching.
   Two *anchors* are added: the hashed first and last ``ANCHOR_TOKENS`` words. A short
   instruction wrapped around a long payload ("Give a 3-bullet summary of this: ...")
   shares few shingles with its siblings, but always the same head anchor.

Bump :data:`SKELETON_VERSION` whenever the output changes. The regexes below are the
definition; :func:`skeleton` runs them in C (promptprint/text/_canonical.c), bit for bit (see
tests/test_canonical_c.py). Edit both together.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from typing import Sequence

import numpy as np

from promptprint.text import _canonical, _shingles
from promptprint.text.lines import instruction_line_keys
from promptprint.text.normalize import canonical_text, mask_identifiers, normalize

SKELETON_VERSION = "skel-1"
SHINGLE_WORDS = 3
HEAD_TOKENS = 160
TAIL_TOKENS = 60
ANCHOR_TOKENS = 6

_CODE = re.compile(r"```.*?(?:```|$)", re.S)
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_NUMBER = re.compile(r"(?<![\w<])[-+]?\$?\d[\d,]*(?:\.\d+)?%?(?![\w>])")
_QUOTE = re.compile(r"([\"“«])[^\"”»]{80,}?([\"”»])")


def skeleton(canonical: str) -> str:
    """Mask the slots of a canonical text (lower case, from normalize.canonical_text)."""
    return _canonical.skeleton(canonical)  # _CODE, _URL, _EMAIL, _QUOTE, _NUMBER in turn


def skeleton_tokens(text: str) -> list[str]:
    """Word tokens of a raw prompt's skeleton (placeholders count as words): what
    ``re.findall(r"<\\w+>|\\w+", skeleton)`` returns, from the same C scanner that hashes them."""
    return _shingles.tokens(skeleton(canonical_text(text)))


def canonical_hash(canonical: str) -> int:
    """A 32-bit hash of a canonical text: cosmetic variants of one text hash alike."""
    return zlib.crc32(canonical.encode("utf-8"))


_FNV_OFFSET, _FNV_PRIME, _U64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def copy_hash(canonical: str) -> int:
    """The 64-bit FNV-1a hash of a canonical text's UTF-8 (unsigned): the key of the record
    store's lexical view, which finds copies of a prompt before its vector exists. 32 bits
    (:func:`canonical_hash`) would collide too often among 100M prompts for an exact-copy
    view; FNV-1a rides in the C scanner's pass that computes the crc32, so ingest pays
    nothing for it. This loop is the definition the C code reproduces."""
    value = _FNV_OFFSET
    for byte in canonical.encode("utf-8"):
        value = ((value ^ byte) * _FNV_PRIME) & _U64
    return value


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Signature:
    """The lexical template signature of one prompt."""

    # 64-bit shingle hashes, anchors included, sorted and unique (uint64): what the
    # template tracker reads, straight from the C scanner.
    sorted_shingles: np.ndarray = dataclasses.field(repr=False)
    head: int  # hash of the first ANCHOR_TOKENS words (0 when the prompt is too short)
    tail: int  # hash of the last ANCHOR_TOKENS words (0 when the prompt is too short)
    text_hash: int  # canonical_hash of the whole canonical text (tells payloads apart)
    # copy_hash of the whole canonical text: what the store's lexical view is keyed by. Not
    # part of the template identity (equality), nor of the privacy-mode bytes (the store
    # keeps it beside them), so a signature read back from those bytes has 0 here.
    copy_hash: int = 0
    # instruction-line keys (promptprint.text.lines): the short first / last line set off
    # from a long paste, 0 where there is none. Not part of the template identity nor of
    # the privacy-mode bytes: a signature read back from those bytes has 0 here.
    head_line: int = 0
    tail_line: int = 0

    @property
    def shingles(self) -> frozenset[int]:
        """The hashes as a set, built on each call: for set algebra off the ingest path
        (bank entries, offline reconstruction). Not kept, because every prompt would pay
        ~10 us and ~5 KB for a set the tracker never reads."""
        return frozenset(self.sorted_shingles.tolist())

    def __len__(self) -> int:
        return len(self.sorted_shingles)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signature):
            return NotImplemented
        return (self.head, self.tail, self.text_hash) == (other.head, other.tail, other.text_hash) and bool(
            np.array_equal(self.sorted_shingles, other.sorted_shingles)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking array inside: not a dict key


def signature(text: str) -> Signature:
    """The template signature of a raw prompt (see :func:`signatures`)."""
    return signatures([text])[0]


_RAW_ASCII, _NORMALIZED, _CANONICAL = 0, 1, 2  # where a text enters _canonical.signatures


def signatures(texts: Sequence[str]) -> list[Signature]:
    """The template signatures of raw prompts, in order.

    Every step runs in C, in one call for the batch (promptprint/text/_canonical.c): the canonical
    text, the skeleton, tokenizing and hashing, each reproducing its Python definition bit
    for bit. A batch of ingested prompts is worked on with the GIL released, so another
    thread's Python (the tracker, the store, gRPC) overlaps it. Two steps stay here:
    normalizing non-ASCII text (NFKC, homoglyphs and case folding need Unicode tables the
    C API lacks) and, for the few texts that may start with an id tag, the canonical text
    (``_ID_PREFIX`` is a Python regex)."""
    prepared = list(texts)
    stages = bytearray(len(prepared))
    for i, text in enumerate(prepared):
        if not text.isascii():
            prepared[i], stages[i] = normalize(text), _NORMALIZED
    parts = _canonical.signatures(prepared, bytes(stages), SHINGLE_WORDS, HEAD_TOKENS, TAIL_TOKENS, ANCHOR_TOKENS)
    out = []
    for text, normalized, stage, part in zip(texts, prepared, stages, parts):
        if part is None:  # may start with an id tag: the canonical text from Python, the rest in C
            canonical = mask_identifiers(normalized if stage == _NORMALIZED else normalize(text))
            part = _canonical.signatures([canonical], bytes([_CANONICAL]), SHINGLE_WORDS, HEAD_TOKENS, TAIL_TOKENS, ANCHOR_TOKENS)[0]
            if part is None:  # a lone surrogate: no UTF-8 to hash
                canonical.encode("utf-8")  # raises UnicodeEncodeError, as canonical_hash would
                raise AssertionError("the C scanner refused a canonical text that encodes to UTF-8")
        head, tail, sorted_bytes, text_hash, copy = part
        head_line, tail_line = instruction_line_keys(text)
        out.append(
            Signature(np.frombuffer(sorted_bytes, dtype=np.uint64), head, tail, text_hash, copy, head_line, tail_line)
        )
    return out


def signature_to_bytes(sig: Signature) -> bytes:
    """A signature as stored in privacy mode (instead of the text it was computed from):
    head, tail, text hash, then the sorted shingle hashes, as little-endian uint64."""
    header = np.array([sig.head, sig.tail, sig.text_hash], dtype="<u8")
    return header.tobytes() + sig.sorted_shingles.astype("<u8", copy=False).tobytes()


def signature_from_bytes(data: bytes) -> Signature:
    """Inverse of :func:`signature_to_bytes`."""
    values = np.frombuffer(data, dtype="<u8")
    shingles = values[3:].astype(np.uint64)  # stored sorted (signature_to_bytes)
    return Signature(shingles, int(values[0]), int(values[1]), int(values[2]))
