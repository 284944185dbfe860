"""promptprint/text/_canonical.c against the regex definition it reproduces.

Stored fingerprints and every template the tracker has learnt depend on the canonical
text and the skeleton, so the C code must give exactly what the regexes of
promptprint/text/normalize.py and promptprint/text/skeleton.py give (norm-1, skel-1): on every prompt of
../shared/data, and on generated text built from the pieces the patterns turn on (digits
with separators, signs, '%', '$', '<', '>', quotes, fences, URLs, e-mail addresses, hex
runs, hyphenated ids, control characters, upper case), with the non-ASCII characters
where Unicode classes and re.IGNORECASE differ from ASCII (other scripts' digits and
letters, ſ, K, ı, İ, curly quotes, exotic spaces).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.harness.stream import load_bench_pools
from promptprint.text import _canonical
from promptprint.text import normalize as _normalize
from promptprint.text import skeleton as _skeleton
from promptprint.text.normalize import canonical_text, normalize
from promptprint.text.skeleton import skeleton
from test_normalize import oracle_mask, oracle_normalize


def oracle_skeleton(text: str) -> str:
    """skeleton.skeleton as the regex steps. Its guards stay: on upper-case input "HTTP"
    is left alone because the guard looks for "http" (canonical text is lower case)."""
    if "```" in text:
        text = _skeleton._CODE.sub(" <code> ", text)
    if "http" in text or "www." in text:
        text = _skeleton._URL.sub("<url>", text)
    text = _skeleton._EMAIL.sub("<email>", text)
    text = _skeleton._QUOTE.sub("<quote>", text)
    return _skeleton._NUMBER.sub("<num>", text)


def assert_c_path_matches(text: str) -> None:
    if text.isascii():
        assert _canonical.normalize(text) == oracle_normalize(text)
    spaced = _normalize._CONTROL_NOT_SPACE.sub(" ", _normalize._INVISIBLE.sub("", text))
    assert _canonical.strip_and_collapse(text, _normalize._FORMAT_RANGES) == " ".join(spaced.split())
    assert normalize(text) == oracle_normalize(text)
    assert _canonical.mask_identifiers(text) == oracle_mask(text)
    assert _canonical.skeleton(text) == oracle_skeleton(text)


def test_the_ignorecase_classes_are_the_ones_re_uses() -> None:
    for pattern, extras in _canonical.IGNORECASE_EXTRAS.items():
        expected = "".join(chr(c) for c in range(128, 0x110000) if re.fullmatch(pattern, chr(c), re.I))
        assert extras == expected, pattern


def test_every_real_prompt_gets_what_the_regexes_give() -> None:
    pools = load_bench_pools()
    texts = [t for pool in pools.base.values() for t in pool] + pools.jailbreak_templates
    assert sum(not t.isascii() for t in texts) > 1_000
    changed = {"mask": 0, "num": 0, "quote": 0, "url": 0, "code": 0, "email": 0}
    for text in texts:
        assert_c_path_matches(text)
        normalized = oracle_normalize(text)
        masked = oracle_mask(normalized)
        assert _canonical.mask_identifiers(normalized) == masked, text[:200]
        skel = oracle_skeleton(canonical_text(text))
        assert skeleton(canonical_text(text)) == skel, text[:200]
        changed["mask"] += masked != normalized
        for slot in ("num", "quote", "url", "code", "email"):
            changed[slot] += f"<{slot}>" in skel
    # every pattern actually replaced something on real text, not only passed it through
    assert min(changed.values()) > 5, changed


_PIECES = st.sampled_from(
    ["1", "12", "3.5", "1,000", "7.", ",", ".", "%", "$", "-", "+", "<", ">", "<num>", "<id>", "a", "f", "x", "_",
     "A", "F", "Q", " ", "  ", "\t", "\n", "\x00", "\x1c", "\x1f", "\x7f", '"', "```", "http://", "https://x.y/z",
     "www.", "HTTP://", "Www.", "@", "a@b.c", "foo.bar@baz-q.com", "x@-y.z-", "deadbeef42", "7f3a9c1e", "DEADBEEF99",
     "abc123def456", "ab12cd34ef", "a1b2c3d4e5-", "123e4567-e89b-12d3-a456-426614174000", "--", "-x-", "0123456789",
     "(", "[", "]", "#12: ", "[req 9] ", "q" * 40, "z" * 85]
)
_UNICODE_PIECES = st.sampled_from(
    ["ſ", "K", "ı", "İ", "ß", "é", "٣", "１", "²", "½", "Ⅻ", "日本", "Ωx", "\u201c", "\u201d", "«", "»", "\u00a0",
     "\u2028", "\u2029", "\u3000", "\x85", "\x9f", "\u200b", "\u00ad", "\U000e0041", "\ufeff", "а", "е", "Ехр", "ꝁ", "ﬀ", "ǅ", "𝟏", "🙂", "-", "a1", "f" * 6, "ab٣cdef12", "hTtP://", "ſ@x.y"]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(alphabet=st.characters(max_codepoint=127), max_size=8)), max_size=40))
def test_generated_ascii_text_gets_what_the_regexes_give(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert_c_path_matches(text)
    assert skeleton(canonical_text(text)) == oracle_skeleton(canonical_text(text))


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(_PIECES, _UNICODE_PIECES, st.text(max_size=6)), max_size=40))
def test_generated_unicode_text_gets_what_the_regexes_give(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert_c_path_matches(text)
    assert skeleton(canonical_text(text)) == oracle_skeleton(canonical_text(text))


def test_backtracking_decides_where_a_match_ends() -> None:
    # [\d,]* gives back the digit before a letter, and stops at the comma
    assert _canonical.skeleton("12,abc 3.14x 5% 6%x -$7,0") == "<num>,abc <num>.14x <num> <num>%x <num>"
    # an id run gives back a trailing hyphen so that it ends on a word boundary
    assert _canonical.mask_identifiers("see a1b2c3d4e5- now") == "see <id>- now"
    # a quote needs 80 characters before the next quote
    assert _canonical.skeleton('"' + "x" * 79 + '" "' + "y" * 80 + '"') == '"' + "x" * 79 + '" <quote>'


@pytest.mark.parametrize(
    "text",
    [
        "see ```code\n",  # an open fence ends at $, before a final newline
        "see ```code\n\n",
        "```a``` ```",
        "deadbeefcafe and req a1b2c3d4e5f6",  # hex run without a digit stays; the id goes
        "12345678 x 1234567890",  # digits only: no hex letter, no id letter
        "x\x1cy\x7fz\x85",
        "mail a.b+c@d-e.f.g- or @x.y or a@b. or a@.b",
        "www.x HTTPS://y hTTp://z http:/ www x",
        "ab٣cdef12 ſſſſſ12345 ı1ı1ı1ı1ı1 K2345678901 http://ſ htt\u017fp:// httpſ://x",  # re.I and \\d outside ASCII
        "\u201c" + "x" * 80 + "\u201d \u00ab" + "y" * 79 + "\u00bb \u00ab\u201c" + "z" * 80 + '"',
        "१२,३४५.६७% of x٣",
    ],
)
def test_edge_cases_get_what_the_regexes_give(text: str) -> None:
    assert_c_path_matches(text)


def test_what_c_cannot_do_is_refused_not_misread() -> None:
    with pytest.raises(ValueError):  # NFKC and case folding outside ASCII stay in Python
        _canonical.normalize("café")
    with pytest.raises(TypeError):
        _canonical.skeleton(b"bytes")  # type: ignore[arg-type]
