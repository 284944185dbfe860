"""Normalization folds cosmetic noise and nothing else."""

from __future__ import annotations

import re
import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.harness.stream import load_bench_pools
from promptprint.text import normalize as _normalize
from promptprint.text.normalize import ID_PLACEHOLDER, canonical_text, normalize


def test_zero_width_and_control_characters_vanish() -> None:
    assert normalize("he\u200bllo\u200d wor\ufeffld\x00!") == "hello world !"


def test_homoglyphs_fold_inside_latin_words() -> None:
    # Cyrillic а, е, о, р, с inside English words
    assert normalize("Ехрlаin the thеоry of rеlativity") == "explain the theory of relativity"


def test_real_cyrillic_text_is_kept() -> None:
    assert normalize("Привет, как дела?") == "привет, как дела?"


def test_fullwidth_and_whitespace() -> None:
    assert normalize("Ｈｅｌｌｏ\t\n  world ") == "hello world"


def test_request_id_prefixes_and_ids_are_masked() -> None:
    original = canonical_text("Explain the theory of relativity.")
    for noisy in (
        "[req 7f3a9c1e] Explain the theory of relativity.",
        "#4821: Explain the theory of relativity.",
        "(id: 550e8400-e29b-41d4-a716-446655440000) Explain the theory of relativity.",
    ):
        assert canonical_text(noisy) == original


def test_content_numbers_survive() -> None:
    assert "2+2" in canonical_text("What is 2+2?")
    assert canonical_text("1. First step") == "1. first step"


# -- the fast paths against the plain regex definition (norm-1) they must reproduce ---------

_OLD_CONTROL = re.compile("[" + "".join(re.escape(chr(c)) for c in range(sys.maxunicode + 1)
                                        if unicodedata.category(chr(c)) in ("Cc", "Zl", "Zp")) + "]")
_OLD_WHITESPACE = re.compile(r"\s+", re.UNICODE)


def oracle_normalize(text: str) -> str:
    """normalize as first written: one regex pass per step, no shortcuts."""
    text = unicodedata.normalize("NFKC", text)
    text = _normalize._INVISIBLE.sub("", text)
    text = _OLD_CONTROL.sub(" ", text)
    text = _normalize._fold_homoglyphs(text)
    return _OLD_WHITESPACE.sub(" ", text).strip().casefold()


def oracle_mask(text: str) -> str:
    """The identifier masks of mask_identifiers as first written, without its guards."""
    text = _normalize._UUID.sub(ID_PLACEHOLDER, text)
    text = _normalize._HEX.sub(ID_PLACEHOLDER, text)
    return _normalize._ALNUM_ID.sub(ID_PLACEHOLDER, text)


def oracle_canonical_text(text: str) -> str:
    """canonical_text as first written."""
    text = oracle_mask(oracle_normalize(text))
    stripped = _normalize._ID_PREFIX.sub("", text, count=1)
    return stripped if stripped else text


def test_the_written_out_control_class_is_unicodes() -> None:
    expected = "".join(
        chr(c) for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cc", "Zl", "Zp") and not chr(c).isspace()
    )
    assert "".join(_normalize._CONTROL_NOT_SPACE.findall(expected + "a \t\u2028")) == expected


def test_canonical_text_matches_the_plain_definition_on_every_real_prompt() -> None:
    pools = load_bench_pools()
    texts = [t for pool in pools.base.values() for t in pool] + pools.jailbreak_templates
    masked = 0
    for text in texts:
        expected = oracle_canonical_text(text)
        assert canonical_text(text) == expected, text[:200]
        masked += ID_PLACEHOLDER in expected
    assert masked > 10  # the identifier path was exercised, not only skipped


_ID_PIECES = st.sampled_from(
    ["7f3a9c1e", "deadbeef42", "abc123def456", "req-42", "x1", "a_b_c_d_e_1", "--", "-", "_", "0123456789",
     "123e4567-e89b-12d3-a456-426614174000", "ſ", "K", "ı", "İ", "٣", "²", "\x00", "\x1c", "\x85", "\u2028",
     "\t", "\n", " ", "\u200b", "\u00ad", "а", "е", "о", "Ω", "ß", "#12: ", "[req 9] ", "<id>", "(", ")"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(_ID_PIECES, st.text(max_size=10)), max_size=60))
def test_canonical_text_matches_the_plain_definition_on_generated_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert canonical_text(text) == oracle_canonical_text(text)
