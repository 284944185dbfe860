"""Payloads: what fills a template's slots, and the prompts of ordinary benign traffic.

Both come from the dataset pools. A campaign draws its payloads from a :class:`Deck`
per pool, so it sends thousands of distinct payloads before it repeats one, as a real
distillation campaign does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from evaluation.simulate.pools import Pools
from evaluation.simulate.templates import PayloadKind

__all__ = ["Deck", "draw_item", "fill_payload", "ordinary_prompt"]


class Deck:
    """Draws items without replacement (reshuffling when exhausted), so a campaign
    sends thousands of distinct payloads before it repeats one."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self._rng = rng
        self._order = list(range(size))
        self._pos = len(self._order)

    def draw(self) -> int:
        if self._pos >= len(self._order):
            self._rng.shuffle(self._order)
            self._pos = 0
        self._pos += 1
        return self._order[self._pos - 1]


def draw_item(name: str, pool: Sequence[Any], rng: random.Random, decks: dict[str, Deck]) -> Any:
    """The next item of ``pool`` from the deck named ``name`` in ``decks`` (made on first use, shuffled
    with ``rng``): whoever shares ``decks`` never sends the same item twice before the pool is used up."""
    if name not in decks:
        decks[name] = Deck(len(pool), rng)
    return pool[decks[name].draw()]


def fill_payload(pools: Pools, kind: PayloadKind, rng: random.Random, decks: dict[str, Deck]) -> tuple[dict[str, str], str]:
    """Fill the slots of a template of payload ``kind``; returns (fields, payload_ref)."""
    p = pools

    def draw(name: str, pool: Sequence[Any]) -> Any:
        return draw_item(name, pool, rng, decks)

    if kind in ("task", "qa", "qa_pair", "example"):
        ref, instr, inp, out = draw("alpaca", p.alpaca)
        question = instr + (f"\n\n{inp}" if inp else "")
        if kind == "task":
            return {"task": question}, ref
        if kind == "qa":
            return {"question": question, "response": out}, ref
        if kind == "example":
            return {"instruction": instr, "input": inp or "<noinput>", "output": out}, ref
        other_ref, _, _, other_out = p.alpaca[rng.randrange(len(p.alpaca))]
        pair = [out, other_out] if rng.random() < 0.5 else [other_out, out]
        return {"question": question, "response_a": pair[0], "response_b": pair[1]}, f"{ref}+{other_ref}"
    if kind == "code":
        ref, text = draw("code", p.code_tasks)
        return {"task": text}, ref
    if kind in ("math", "math_answer"):
        ref, question, answer = draw("gsm8k", p.gsm8k)
        return ({"problem": question, "answer": answer} if kind == "math_answer" else {"problem": question}), ref
    if kind == "passage":
        ref, text = draw("passage", p.passages)
        return {"passage": text}, ref
    if kind == "message":
        ref, text = draw("message", p.sharegpt_english)
        return {"message": text}, ref
    if kind == "request":
        ref, text = draw("request", p.requests)
        return {"request": text}, ref
    raise ValueError(f"unknown payload kind {kind!r}")


def ordinary_prompt(pools: Pools, rng: random.Random) -> tuple[str, str]:
    """One prompt of ordinary benign traffic: (text, ref)."""
    p = pools
    r = rng.random()
    if r < 0.35:
        ref, text = rng.choice(p.sharegpt)
        return text, ref
    if r < 0.60:
        ref, instr, inp, _ = rng.choice(p.alpaca)
        return instr + (f"\n\n{inp}" if inp else ""), ref
    if r < 0.74:
        ref, text = rng.choice(p.hh_turns)
        return text, ref
    if r < 0.84:
        ref, question, _ = rng.choice(p.gsm8k)
        return question, ref
    if r < 0.89:
        ref, text = rng.choice(p.public_prompts_2026)
        return text, ref
    if r < 0.94:
        ref, instr, inp, _ = rng.choice(p.seed_tasks)
        return instr + (f"\n\n{inp}" if inp else ""), ref
    ref, text = rng.choice(p.injection_attacks)
    return text, ref

