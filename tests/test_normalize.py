"""Normalization folds cosmetic noise and nothing else."""

from __future__ import annotations

from indexer.normalize import canonical_text, normalize


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
