"""Adding a bank entry is idempotent on (kind, canonical text): a retried add returns
the entry the first one made, also after a restart."""

from __future__ import annotations

from pathlib import Path

from promptprint.templates.banks import Banks

TEMPLATE = "Translate the following passage into formal legal English, preserving every clause number: {passage}"


def test_a_retried_add_returns_the_same_entry(tmp_path: Path) -> None:
    banks = Banks(tmp_path / "records.sqlite", seed_builtin=False)
    first = banks.add("deny", TEMPLATE, note="seen in campaign 42")
    again = banks.add("deny", TEMPLATE, note="seen in campaign 42")
    assert again == first and len(banks.entries()) == 1
    # the same canonical text (case, spacing) with another note: the first note stays
    variant = banks.add("deny", "  " + TEMPLATE.upper().replace(" ", "  ") + " ", note="another note")
    assert variant == first and variant.note == "seen in campaign 42"
    # another kind is another entry
    allowed = banks.add("allow", TEMPLATE)
    assert allowed.entry_id != first.entry_id and len(banks.entries()) == 2
    banks.close()

    reopened = Banks(tmp_path / "records.sqlite", seed_builtin=False)
    assert reopened.add("deny", TEMPLATE) == first and len(reopened.entries()) == 2
    reopened.remove(first.entry_id)
    readded = reopened.add("deny", TEMPLATE, note="back")
    assert readded.entry_id != first.entry_id and readded.note == "back"
    reopened.close()


def test_a_builtin_entry_is_returned_for_its_own_text(tmp_path: Path) -> None:
    banks = Banks(tmp_path / "records.sqlite")
    builtin = banks.entries("allow")[0]
    count = len(banks.entries())
    assert banks.add("allow", builtin.text, note="mine") == builtin and len(banks.entries()) == count
    banks.close()
