"""The bench prompt stream: distinct, realistic prompt texts at any size, seeded.

Prompt length drives embedding cost and index memory, so the prompts are real ones:
the public datasets that :func:`evaluation.simulate.pools.load_pools` reads (Alpaca,
GSM8K, ShareGPT human turns, HH-RLHF first turns, Tensor Trust defenses, in-the-wild
jailbreaks, awesome-chatgpt prompts), mixed with template-filled variants of them (the
Alpaca fine-tuning wrapper, chain-of-thought wrappers around GSM8K questions, "act as"
prompts with a new request, jailbreak templates with a payload, chat turns with a
prefix/suffix) so that 100k distinct texts are reachable. The wrappers are data
(``evaluation/data/bench_stream.toml``). The same seed gives the same texts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import re
from pathlib import Path
from typing import Sequence

from evaluation.data import load_toml
from evaluation.datasets import DEFAULT_DATA_DIR, read_csv
from evaluation.simulate.pools import load_pools
from promptprint.records import PromptRecord

__all__ = ["LOOKBACK_SPREAD_MS", "BenchPools", "PromptStream", "bench_record", "load_bench_pools"]

LOOKBACK_SPREAD_MS = 20 * 3600 * 1000  # created_at spread: inside CheckPrompt's default 24 h lookback

# Probability of each kind per prompt. Base kinds take distinct dataset texts without
# replacement; once one runs dry its share goes to the composed kinds.
BASE_WEIGHTS = {
    "alpaca": 0.12,
    "gsm8k": 0.10,
    "sharegpt": 0.12,
    "hh_rlhf": 0.08,
    "tensor_trust": 0.10,
    "jailbreak": 0.03,
    "awesome": 0.03,
}
COMPOSED_WEIGHTS = {
    "alpaca_template": 0.10,
    "math_cot": 0.10,
    "act_as_request": 0.12,
    "jailbreak_filled": 0.06,
    "chat_wrapped": 0.04,
}

# The wrappers the composed kinds put around dataset texts.
_WRAPPERS = load_toml("bench_stream")
ALPACA_WITH_INPUT: str = _WRAPPERS["alpaca_with_input"]
ALPACA_NO_INPUT: str = _WRAPPERS["alpaca_no_input"]
MATH_COT: tuple[str, ...] = tuple(_WRAPPERS["math_cot"])
ACT_AS_TAILS: tuple[str, ...] = tuple(_WRAPPERS["act_as_tails"])
CHAT_PREFIXES: tuple[str, ...] = tuple(_WRAPPERS["chat_prefixes"])
CHAT_SUFFIXES: tuple[str, ...] = tuple(_WRAPPERS["chat_suffixes"])

_MY_FIRST = re.compile(r"\s*My first [^.\n]{0,40}? (?:is|will be)\b.*$", re.S | re.I)
_SLOT = "[INSERT PROMPT HERE]"
# Jailbreak templates with an explicit payload slot: the one dataset only the benchmark reads.
_TEMPLATE_FILES = ("jailbreak_prompts.csv", "jailbreak_prompts_train.csv", "jailbreak_prompts_itw.csv")


def _clean(texts: Sequence[str | None], min_chars: int = 3) -> list[str]:
    """Stripped, non-empty, first occurrence only, input order kept."""
    out: list[str] = []
    seen: set[str] = set()
    for text in texts:
        if not text:
            continue
        text = text.strip()
        if len(text) >= min_chars and text not in seen:
            seen.add(text)
            out.append(text)
    return out


@dataclasses.dataclass(frozen=True)
class BenchPools:
    """Texts the prompt stream draws from: ``base`` kinds verbatim, the rest as parts."""

    base: dict[str, list[str]]
    alpaca_rows: list[tuple[str, str]]  # (instruction, input)
    math_questions: list[str]
    act_as: list[str]  # awesome prompts with their "My first request ..." tail cut off
    jailbreak_templates: list[str]  # bodies with the [INSERT PROMPT HERE] slot
    harmful_payloads: list[str]
    task_payloads: list[str]  # short instructions / chat turns
    chat_turns: list[str]

    def sizes(self) -> dict[str, int]:
        """Pool sizes, for the report (how far each base kind can go before running dry)."""
        return {k: len(v) for k, v in self.base.items()} | {
            "act_as_templates": len(self.act_as), "jailbreak_templates": len(self.jailbreak_templates),
            "harmful_payloads": len(self.harmful_payloads), "task_payloads": len(self.task_payloads),
        }


def load_bench_pools(data_dir: str | os.PathLike[str] | None = None) -> BenchPools:
    """The simulator's dataset pools (:func:`evaluation.simulate.pools.load_pools`, cached), regrouped
    for the stream, plus the slot-bearing jailbreak templates only the benchmark uses.

    Raises:
        FileNotFoundError: ``data_dir`` is not the shared/data folder.
    """
    root = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    sim = load_pools(root)
    template_dir = root / "jailbreak_templates_selfreminder"
    missing = [name for name in _TEMPLATE_FILES if not (template_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{template_dir} lacks {', '.join(missing)}: is {root} the shared/data folder?")
    templates = _clean([r["prompt"] for name in _TEMPLATE_FILES for r in read_csv(template_dir / name)])

    alpaca_rows = [(instruction, extra) for _, instruction, extra, _ in sim.alpaca]
    gsm8k = _clean([question for _, question, _ in sim.gsm8k])
    sharegpt = _clean([text for _, text in sim.sharegpt])
    hh = _clean([text for _, text in sim.hh_turns])
    awesome = _clean([text for _, text in (*sim.act_prompts, *sim.public_prompts_2026)])
    return BenchPools(
        base={
            "alpaca": _clean([f"{i}\n\n{x}" if x else i for i, x in alpaca_rows]),
            "gsm8k": gsm8k,
            "sharegpt": sharegpt,
            "hh_rlhf": hh,
            "tensor_trust": _clean([text for ref, text in sim.passages if ref.startswith("tensor_trust/")]),
            "jailbreak": _clean([text for _, text in sim.jailbreaks]),
            "awesome": awesome,
        },
        alpaca_rows=alpaca_rows,
        math_questions=gsm8k,
        act_as=_clean([_MY_FIRST.sub("", t) for t in awesome if len(t) <= 4000], min_chars=40),
        jailbreak_templates=[t for t in templates if _SLOT in t],
        harmful_payloads=_clean([text for _, text in sim.requests]),
        task_payloads=_clean([i for i, _ in alpaca_rows] + [t for t in sharegpt if len(t) <= 300]),
        chat_turns=[t for t in sharegpt if len(t) <= 2000],
    )


class PromptStream:
    """A deterministic stream of distinct prompt texts: ``next()`` -> (kind, text).

    Distinct because an exact repeat is an idempotent no-op for the index, which would
    make a size unreachable and the throughput meaningless.
    """

    MAX_RETRIES = 50

    def __init__(self, pools: BenchPools, seed: int) -> None:
        self._pools = pools
        self._rng = random.Random(f"promptprint-bench-stream-{seed}")
        self._base: dict[str, list[str]] = {}
        for kind in BASE_WEIGHTS:
            texts = list(pools.base[kind])
            self._rng.shuffle(texts)
            self._base[kind] = texts
        self._cursor = {kind: 0 for kind in BASE_WEIGHTS}
        self._seen: set[bytes] = set()
        self.duplicates = 0  # texts given out twice (only when retries ran out)

    def _composed(self, kind: str) -> str:
        p, rng = self._pools, self._rng
        if kind == "alpaca_template":
            if rng.random() < 0.5:
                instruction, extra = rng.choice(p.alpaca_rows)
            else:  # the same wrapper around another task
                instruction, extra = rng.choice(p.task_payloads + p.math_questions), ""
            if extra:
                return ALPACA_WITH_INPUT.format(instruction=instruction, input=extra)
            return ALPACA_NO_INPUT.format(instruction=instruction)
        if kind == "math_cot":
            return rng.choice(MATH_COT).format(q=rng.choice(p.math_questions))
        if kind == "act_as_request":
            return rng.choice(p.act_as) + rng.choice(ACT_AS_TAILS).format(p=rng.choice(p.task_payloads))
        if kind == "jailbreak_filled":
            return rng.choice(p.jailbreak_templates).replace(_SLOT, rng.choice(p.harmful_payloads))
        if kind == "chat_wrapped":
            return (rng.choice(CHAT_PREFIXES) + rng.choice(p.chat_turns) + rng.choice(CHAT_SUFFIXES)).strip()
        raise AssertionError(kind)

    def _draw(self) -> tuple[str, str]:
        kinds = list(BASE_WEIGHTS) + list(COMPOSED_WEIGHTS)
        weights = list(BASE_WEIGHTS.values()) + list(COMPOSED_WEIGHTS.values())
        kind = self._rng.choices(kinds, weights)[0]
        if kind in BASE_WEIGHTS:
            texts, i = self._base[kind], self._cursor[kind]
            if i < len(texts):
                self._cursor[kind] = i + 1
                return kind, texts[i]
            kind = self._rng.choices(list(COMPOSED_WEIGHTS), list(COMPOSED_WEIGHTS.values()))[0]
        return kind, self._composed(kind)

    def next(self) -> tuple[str, str]:
        for _ in range(self.MAX_RETRIES):
            kind, text = self._draw()
            key = hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()
            if key not in self._seen:
                self._seen.add(key)
                return kind, text
        self.duplicates += 1
        return kind, text


def bench_record(rng: random.Random, prompt_id: str, text: str, epoch_ms: int) -> PromptRecord:
    """One bench prompt as a record: 30% of traffic from 200 heavy accounts, the rest from
    a long tail of 20,000, a third of accounts in one of 500 orgs, ``created_at`` spread
    over the 20 h before ``epoch_ms`` (inside CheckPrompt's default lookback)."""
    account = rng.randrange(200) if rng.random() < 0.3 else rng.randrange(200, 20_000)
    org = f"org-{account % 500:03d}" if account % 3 == 0 else ""
    created = epoch_ms - rng.randrange(LOOKBACK_SPREAD_MS)
    return PromptRecord(prompt_id, f"acct-{account:05d}", org, created, text)
