"""The C scanner (promptprint/text/_shingle_hash.h, through promptprint.text._canonical and _shingles) against the Python definition it replaced.

Stored signatures (privacy mode) and every template the tracker has learnt depend on the
exact hash values, so the C code must reproduce the regex tokenizer and the
join/encode/crc32/adler32 hashing bit for bit: on every real prompt of ../shared/data
that the benchmark and simulator draw from, and on generated text that mixes scripts,
digits of other scripts, placeholders, stray angle brackets and underscores.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.harness.stream import load_bench_pools
from promptprint.text import _canonical, _shingles
from promptprint.text.normalize import canonical_text
from promptprint.text.skeleton import (
    ANCHOR_TOKENS, HEAD_TOKENS, SHINGLE_WORDS, TAIL_TOKENS, canonical_hash, copy_hash, signature, signatures, skeleton,
)

_TOKEN = re.compile(r"<\w+>|\w+", re.UNICODE)


def _hash(gram: str) -> int:
    data = gram.encode("utf-8")
    return (zlib.crc32(data) << 32) | zlib.adler32(data)


def oracle(skel: str) -> tuple[frozenset[int], int, int]:
    """The pure-Python signature step as it was before the C scanner (skel-1)."""
    tokens = _TOKEN.findall(skel)
    parts = [tokens[:HEAD_TOKENS], tokens[-TAIL_TOKENS:]] if len(tokens) > HEAD_TOKENS + TAIL_TOKENS else [tokens]
    hashes = {
        _hash(" ".join(part[i : i + SHINGLE_WORDS])) for part in parts for i in range(len(part) - SHINGLE_WORDS + 1)
    }
    head = tail = 0
    if len(tokens) > ANCHOR_TOKENS + 1:
        head = _hash("\x02" + " ".join(tokens[:ANCHOR_TOKENS]))
        tail = _hash("\x03" + " ".join(tokens[-ANCHOR_TOKENS:]))
        hashes.update((head, tail))
    return frozenset(hashes), head, tail


def c_signature(skel: str) -> tuple[frozenset[int], int, int]:
    """The C pipeline entered at its last stage (3: the text is a skeleton)."""
    [(head, tail, sorted_bytes, text_hash, copy)] = _canonical.signatures([skel], b"\x03", SHINGLE_WORDS, HEAD_TOKENS, TAIL_TOKENS, ANCHOR_TOKENS)
    assert text_hash == zlib.crc32(skel.encode("utf-8"))
    assert copy == copy_hash(skel)
    hashes = np.frombuffer(sorted_bytes, dtype=np.uint64).tolist()
    assert hashes == sorted(set(hashes))
    return frozenset(hashes), head, tail


def test_scanner_matches_the_python_definition_on_every_real_prompt() -> None:
    pools = load_bench_pools()
    texts = [t for pool in pools.base.values() for t in pool] + pools.jailbreak_templates
    assert len(texts) > 20_000
    long_ones = 0
    for text in texts:
        canonical = canonical_text(text)
        skel = skeleton(canonical)
        assert _shingles.tokens(skel) == _TOKEN.findall(skel), text[:200]
        expected = oracle(skel)
        assert c_signature(skel) == expected, text[:200]
        sig = signature(text)
        assert (sig.shingles, sig.head, sig.tail, sig.text_hash) == (*expected, canonical_hash(canonical))
        assert sig.copy_hash == copy_hash(canonical)
        assert sig.sorted_shingles.tolist() == sorted(expected[0])
        long_ones += len(expected[0]) > 150
    assert long_ones > 100  # the head + tail split was exercised


def test_a_batch_gives_each_text_its_own_signature() -> None:
    """signatures() over batches (large enough to run without the GIL) equals the one-text
    path; texts that may start with an id tag, non-ASCII texts and empty ones included."""
    pools = load_bench_pools()
    texts = [t for pool in pools.base.values() for t in pool][:3000]
    texts += [
        "[req 7f3a9c1e] Summarize the following report in three bullet points please",
        "#4821: Summarize the following report in three bullet points please",
        "(id: a1b2c3d4e5f6) Summarize the following report in three bullet points please",
        "{ticket 42} Summarize the following report in three bullet points please",
        "<id> Summarize the following report in three bullet points please",
        "[not an id] Summarize the following report in three bullet points please",
        "［req 7f3a9c1e］ Ｓummarize the following report in three bullet points please",
        "", " ", "\u200b", "Привет, как дела? Расскажи мне о погоде в Москве сегодня",
    ]
    singles = [signature(t) for t in texts]
    for start in range(0, len(texts), 128):
        batch = texts[start : start + 128]
        assert signatures(batch) == singles[start : start + 128]
    tagged = signature(texts[-11])
    assert tagged == signature("Summarize the following report in three bullet points please")  # the tag was stripped


def test_a_batch_refuses_what_it_cannot_sign() -> None:
    with pytest.raises(UnicodeEncodeError):
        signatures(["a lone \ud800 surrogate in an otherwise long enough prompt text"])
    with pytest.raises(ValueError):
        _canonical.signatures(["café"], b"\x00", SHINGLE_WORDS, HEAD_TOKENS, TAIL_TOKENS, ANCHOR_TOKENS)
    with pytest.raises(ValueError):
        _canonical.signatures(["a", "b"], b"\x00", SHINGLE_WORDS, HEAD_TOKENS, TAIL_TOKENS, ANCHOR_TOKENS)
    with pytest.raises(ValueError):
        _canonical.signatures(["a"], b"\x04", SHINGLE_WORDS, HEAD_TOKENS, TAIL_TOKENS, ANCHOR_TOKENS)
    assert signatures([]) == []


_PIECES = st.sampled_from(
    ["<num>", "<id>", "<", ">", "<<", "<>", "_", "__init__", " ", "  ", "\n", "-", ".", "a_b", "x1", "٣", "²", "½",
     "Ⅻ", "é", "é", "ß", "ǅ", "日本語", "한국어", "Ωmega", "Привет", "नमस्ते", "🙂", "\u200b", "\u0301", "\uff21"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=400))
def test_scanner_matches_the_python_definition_on_generated_text(pieces: list[str]) -> None:
    skel = "".join(pieces)
    try:
        skel.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no real prompt carries them (signature() refuses them)
        return
    assert _shingles.tokens(skel) == _TOKEN.findall(skel)
    assert c_signature(skel) == oracle(skel)


def test_short_skeletons_have_no_anchors_and_the_split_point_is_exact() -> None:
    for n in range(0, 12):
        skel = " ".join(f"w{i}" for i in range(n))
        assert c_signature(skel) == oracle(skel)
    edge = HEAD_TOKENS + TAIL_TOKENS
    for n in (edge - 1, edge, edge + 1, edge + 2, 3 * edge):
        skel = " ".join(f"w{i}" for i in range(n))
        assert c_signature(skel) == oracle(skel)
    assert c_signature("") == (frozenset(), 0, 0)
