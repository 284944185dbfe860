"""Answer markers: the format an instruction asks its answer in, which no paraphrase or
translation of one campaign's instruction changes (real instructions of the adversarial
simulator's math campaigns)."""

from __future__ import annotations

from promptprint.text.answer_markers import answer_markers


def test_a_campaigns_wordings_and_translations_keep_their_markers() -> None:
    wordings = [
        "Please crack this question step by step - final answer goes after ####",
        "Could you figure out the following problem one step at a time then write the final number after '####'.",
        "Resuelve este ejercicio mostrando cada paso y da solo el número al final después de ####",
    ]
    assert {answer_markers(w) for w in wordings} == {frozenset("#")}
    socratic = [
        'Solve the problem below as a Socratic tutor would ... on the last line as "Final: <number>".',
        "Löse die folgende Aufgabe wie ein sokratischer Tutor ... als \"Final: <Zahl>\" an.",
    ]
    assert {answer_markers(w) for w in socratic} == {frozenset()}


def test_prose_and_emphasis_are_not_markers() -> None:
    """Ellipses, doubled ! and ?, a dash pair and bold text are how people write; fences,
    rules and repeated symbols are format."""
    assert answer_markers("Wait... what?!! Think -- then answer. **Be brief** and __clear__.") == frozenset()
    assert answer_markers("Reply in a ```json fence, then a --- rule, then <<ANSWER>>") == frozenset("`-<>")
