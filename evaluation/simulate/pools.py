"""The simulator's prompt pools: rows of the public datasets, grouped by how a run uses them.

Every payload and every benign prompt comes from the datasets under ``shared/data``
(read at run time, never copied), so the texts have the length, language and topic
spread of real prompts.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path

from evaluation.data import load_toml
from evaluation.datasets import DEFAULT_DATA_DIR, read_csv, read_jsonl

__all__ = ["Item", "Pools", "load_pools"]

Item = tuple[str, str]  # (payload_ref, text)


@dataclasses.dataclass(frozen=True)
class Pools:
    """Texts drawn from the public datasets, grouped by how the simulator uses them.

    Every entry starts with a ``ref`` ("dataset:row") so the truth files can say
    which real row a payload came from.
    """

    alpaca: tuple[tuple[str, str, str, str], ...]  # (ref, instruction, input, output)
    code_tasks: tuple[Item, ...]
    gsm8k: tuple[tuple[str, str, str], ...]  # (ref, question, final answer)
    famous_gsm8k: tuple[Item, ...]  # homework problems many people paste verbatim
    sharegpt: tuple[Item, ...]  # every human turn (all languages)
    sharegpt_english: tuple[Item, ...]  # English turns of 20..3000 characters
    sharegpt_conversations: tuple[tuple[Item, ...], ...]  # human turns of one conversation, in order
    requests: tuple[Item, ...]  # red-team / harmful-ish requests (HH, forbidden questions, AdvBench)
    hh_turns: tuple[Item, ...]
    passages: tuple[Item, ...]  # long passages (Tensor Trust defenses, long ShareGPT turns)
    act_prompts: tuple[Item, ...]  # the classic "I want you to act as" list
    public_prompts_2026: tuple[Item, ...]
    jailbreaks: tuple[Item, ...]  # in-the-wild jailbreak prompts
    seed_tasks: tuple[tuple[str, str, str, str], ...]
    injection_attacks: tuple[Item, ...]  # Tensor Trust player-written attacks
    # Long pasted documents (600+ characters: Alpaca outputs, Tensor Trust defenses, HH dialogue
    # transcripts), split in two disjoint halves so that a campaign never pastes a document a
    # benign trap also pastes: accidental payload overlap between a campaign and a benign account
    # would be evidence no real traffic gives. Only the first document with a given opening or
    # ending (12 words) is kept (players re-save edited defenses, dialogues branch), and a Tensor
    # Trust player's defenses all go to one half.
    campaign_documents: tuple[Item, ...]
    benign_documents: tuple[Item, ...]
    essays: tuple[Item, ...]  # essay-like prose (Alpaca outputs), never a campaign document
    contents: tuple[Item, ...]  # a person's own short texts to rewrite or translate (never a campaign document)


_DATA_FILES: dict[str, str] = {
    "alpaca": "alpaca/alpaca_5000.jsonl.gz",
    "seed_tasks": "alpaca/seed_tasks.jsonl",
    "gsm8k_train": "gsm8k/train.jsonl.gz",
    "gsm8k_test": "gsm8k/test.jsonl.gz",
    "sharegpt": "sharegpt_sample/human_turns.jsonl.gz",
    "hh": "hh_rlhf_harmless_test/first_human_turns.jsonl.gz",
    "forbidden": "jailbreak_llms/forbidden_question_set.csv",
    "advbench": "advbench/harmful_behaviors.csv",
    "defenses": "tensor_trust/raw_dump_defenses.jsonl.bz2",
    "hijacking": "tensor_trust/hijacking_robustness_dataset.jsonl.gz",
    "extraction": "tensor_trust/extraction_robustness_dataset.jsonl.gz",
    "act_2023": "awesome_chatgpt_prompts/prompts_2023_11_08.csv",
    "awesome_2026": "awesome_chatgpt_prompts/prompts_2026_03_20.jsonl.gz",
    "jailbreaks": "jailbreak_llms/jailbreak_prompts_2023_12_25.jsonl.gz",
    "hh_dialogues": "hh_rlhf_harmless_test/harmless_base_test.jsonl.gz",
}

# Tensor Trust has 46k defenses, mostly re-saves of the same few texts; the first
# 20k lines hold thousands of distinct long ones (capped per player so a few prolific
# players don't dominate) and read in under two seconds.
_DEFENSE_LINES = 20_000
_DEFENSES_PER_DEFENDER = 30
_PASSAGE_CHARS = (400, 6_000)
_DOCUMENT_MIN_CHARS = 600
_DOCUMENT_END_WORDS = 12  # a re-saved defense with the same first or last 12 words is a copy
_ESSAY_CHARS = (300, _DOCUMENT_MIN_CHARS - 1)
_CONTENT_CHARS = (80, _DOCUMENT_MIN_CHARS - 1)
# A dataset row whose text has one of these words (whole word, any case) is a programming task.
_CODE_WORDS = re.compile(
    r"\b(" + "|".join(re.escape(word) for word in load_toml("payload_words")["code_words"]) + r")\b",
    re.IGNORECASE,
)


def _usable(text: object, *, min_chars: int = 1, max_chars: int = 200_000) -> bool:
    """A text a prompt can be made of: non-blank, bounded, encodable as UTF-8."""
    if not isinstance(text, str) or not text.strip() or not min_chars <= len(text) <= max_chars:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes
        return False
    return True


def _dedupe(items: Sequence[Item]) -> tuple[Item, ...]:
    seen: set[str] = set()
    out: list[Item] = []
    for ref, text in items:
        if text not in seen:
            seen.add(text)
            out.append((ref, text))
    return tuple(out)


def load_pools(data_dir: str | os.PathLike[str] | None = None) -> Pools:
    """Read the prompt datasets under ``data_dir`` (default :data:`DEFAULT_DATA_DIR`).

    Results are cached per resolved directory: the pools are immutable, and a
    test that simulates several times should not pay for the parsing each time.

    Raises:
        FileNotFoundError: the folder or one of the expected files is missing.
    """
    root = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    return _load_pools_cached(str(root.resolve()))


@functools.lru_cache(maxsize=4)
def _load_pools_cached(root_str: str) -> Pools:
    root = Path(root_str)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data folder {root} does not exist; pass --data-dir pointing at the shared/data folder "
            "(the one with gsm8k/, alpaca/, sharegpt_sample/ ...)"
        )
    paths = {key: root / rel for key, rel in _DATA_FILES.items()}
    missing = sorted(str(p.relative_to(root)) for p in paths.values() if not p.is_file())
    if missing:
        raise FileNotFoundError(f"data folder {root} lacks {', '.join(missing)}; is it the shared/data folder?")

    alpaca = tuple(
        (f"alpaca:{r['row']}", r["instruction"].strip(), (r.get("input") or "").strip(), r["output"].strip())
        for r in read_jsonl(paths["alpaca"])
        if _usable(r.get("instruction")) and _usable(r.get("output"))
    )
    seed_tasks = tuple(
        (
            f"seed_tasks:{r['id']}",
            r["instruction"].strip(),
            (r["instances"][0].get("input") or "").strip(),
            (r["instances"][0].get("output") or "").strip(),
        )
        for r in read_jsonl(paths["seed_tasks"])
        if _usable(r.get("instruction")) and r.get("instances")
    )
    gsm8k: list[tuple[str, str, str]] = []
    for split in ("train", "test"):
        for number, r in enumerate(read_jsonl(paths[f"gsm8k_{split}"])):
            final = r["answer"].rsplit("####", 1)[-1].strip()
            if _usable(r.get("question")) and final:
                gsm8k.append((f"gsm8k/{split}:{number}", r["question"].strip(), final))
    famous = tuple((ref, question) for ref, question, _ in gsm8k if ref.startswith("gsm8k/test:"))[:4]

    sharegpt_rows = [r for r in read_jsonl(paths["sharegpt"]) if _usable(r.get("text"), max_chars=20_000)]
    sharegpt = tuple((f"sharegpt:{r['conv_id']}#{r['human_turn']}", r["text"].strip()) for r in sharegpt_rows)
    sharegpt_english = tuple(
        (f"sharegpt:{r['conv_id']}#{r['human_turn']}", r["text"].strip())
        for r in sharegpt_rows
        if r.get("language") == "en" and 20 <= len(r["text"].strip()) <= 3_000
    )
    conversations: dict[str, list[tuple[int, Item]]] = {}
    for r in sharegpt_rows:
        conversations.setdefault(r["conv_id"], []).append(
            (int(r["human_turn"]), (f"sharegpt:{r['conv_id']}#{r['human_turn']}", r["text"].strip()))
        )
    sharegpt_conversations = tuple(
        tuple(item for _, item in sorted(turns)) for _, turns in sorted(conversations.items()) if len(turns) >= 2
    )

    hh_turns = _dedupe(
        [
            (f"hh_rlhf:{r['row']}", r["first_human_turn"].strip())
            for r in read_jsonl(paths["hh"])
            if _usable(r.get("first_human_turn"))
        ]
    )
    forbidden = [
        (f"forbidden_questions:{n}", r["question"].strip())
        for n, r in enumerate(read_csv(paths["forbidden"]))
        if _usable(r.get("question"))
    ]
    advbench = [
        (f"advbench:{n}", r["goal"].strip())
        for n, r in enumerate(read_csv(paths["advbench"]))
        if _usable(r.get("goal"))
    ]
    requests = _dedupe([*hh_turns, *forbidden, *advbench])

    passages: list[Item] = []
    per_defender: dict[str, int] = {}
    seen_passages: set[str] = set()
    documents: list[tuple[str, Item]] = []  # (group that must stay in one half, item)
    for r in read_jsonl(paths["defenses"], limit=_DEFENSE_LINES):
        text = "\n".join(part.strip() for part in (r.get("opening_defense"), r.get("closing_defense")) if part).strip()
        defender = str(r.get("defender_id_anonymized"))
        if _usable(text, min_chars=_DOCUMENT_MIN_CHARS, max_chars=_PASSAGE_CHARS[1]):
            documents.append((f"tensor_trust:{defender}", (f"tensor_trust/defense:{r['defense_id']}", text)))
        if (
            _usable(text, min_chars=_PASSAGE_CHARS[0], max_chars=_PASSAGE_CHARS[1])
            and text not in seen_passages
            and per_defender.get(defender, 0) < _DEFENSES_PER_DEFENDER
        ):
            seen_passages.add(text)
            per_defender[defender] = per_defender.get(defender, 0) + 1
            passages.append((f"tensor_trust/defense:{r['defense_id']}", text))
    passages.extend(
        (ref, text) for ref, text in sharegpt if _PASSAGE_CHARS[0] <= len(text) <= _PASSAGE_CHARS[1]
    )

    # Programming tasks, plus GSM8K test problems as program-of-thought tasks ("write code
    # that solves this"), so a code campaign has a couple of thousand distinct payloads.
    code_tasks = _dedupe(
        [(ref, instr + (f"\n\n{inp}" if inp else "")) for ref, instr, inp, _ in alpaca if _CODE_WORDS.search(instr)]
        + [(ref, text) for ref, text in sharegpt_english if _CODE_WORDS.search(text) and len(text) <= 1_500]
        + [(ref, question) for ref, question, _ in gsm8k if ref.startswith("gsm8k/test:")]
    )

    act_prompts = _dedupe(
        [
            (f"awesome_2023:{n}", r["prompt"].strip())
            for n, r in enumerate(read_csv(paths["act_2023"]))
            if _usable(r.get("prompt"), min_chars=40)
        ]
    )
    public_2026 = _dedupe(
        [
            (f"awesome_2026:{r['row']}", r["prompt"].strip())
            for r in read_jsonl(paths["awesome_2026"])
            if _usable(r.get("prompt"), min_chars=20, max_chars=30_000)
        ]
    )
    jailbreaks = _dedupe(
        [
            (f"jailbreak_llms:{r['row']}", r["prompt"].strip())
            for r in read_jsonl(paths["jailbreaks"])
            if _usable(r.get("prompt"), min_chars=100, max_chars=6_000)
        ]
    )
    attacks = _dedupe(
        [
            (f"tensor_trust/{key}:{r['sample_id']}", r["attack"].strip())
            for key in ("hijacking", "extraction")
            for r in read_jsonl(paths[key])
            if _usable(r.get("attack"), max_chars=6_000)
        ]
    )
    # Documents go to the two halves group by group, alternately, in file order (so the halves are fixed).
    documents += [(ref, (ref, out)) for ref, _, _, out in alpaca if len(out) >= _DOCUMENT_MIN_CHARS]
    dialogues = ((n, str(r.get("chosen") or "").strip()) for n, r in enumerate(read_jsonl(paths["hh_dialogues"])))
    documents += [
        (f"hh_rlhf_dialogue:{n}", (f"hh_rlhf_dialogue:{n}", text))
        for n, text in dialogues
        if _usable(text, min_chars=_DOCUMENT_MIN_CHARS, max_chars=_PASSAGE_CHARS[1])
    ]
    groups: dict[str, int] = {}
    halves: tuple[list[Item], list[Item]] = ([], [])
    ends_seen: set[str] = set()
    for group, item in documents:
        words = item[1].lower().split()
        ends = {" ".join(words[:_DOCUMENT_END_WORDS]), " ".join(words[-_DOCUMENT_END_WORDS:])}
        if not ends & ends_seen:
            ends_seen |= ends
            halves[groups.setdefault(group, len(groups)) % 2].append(item)
    campaign_documents, benign_documents = (_dedupe(half) for half in halves)
    essays = _dedupe([(ref, out) for ref, _, _, out in alpaca if _ESSAY_CHARS[0] <= len(out) <= _ESSAY_CHARS[1]])
    contents = _dedupe(
        [(ref, text) for ref, text in sharegpt_english if _CONTENT_CHARS[0] <= len(text) <= _CONTENT_CHARS[1]]
        + [(ref, inp) for ref, _, inp, _ in alpaca if _CONTENT_CHARS[0] <= len(inp) <= _CONTENT_CHARS[1]]
        + [(ref, out) for ref, _, _, out in alpaca if _CONTENT_CHARS[0] <= len(out) < _ESSAY_CHARS[0]]
    )
    pools = Pools(
        alpaca=alpaca,
        code_tasks=code_tasks,
        gsm8k=tuple(gsm8k),
        famous_gsm8k=famous,
        sharegpt=sharegpt,
        sharegpt_english=sharegpt_english,
        sharegpt_conversations=sharegpt_conversations,
        requests=requests,
        hh_turns=hh_turns,
        passages=_dedupe(passages),
        act_prompts=act_prompts,
        public_prompts_2026=public_2026,
        jailbreaks=jailbreaks,
        seed_tasks=seed_tasks,
        injection_attacks=attacks,
        campaign_documents=campaign_documents,
        benign_documents=benign_documents,
        essays=essays,
        contents=contents,
    )
    empty = [f.name for f in dataclasses.fields(pools) if not getattr(pools, f.name)]
    if empty:
        raise FileNotFoundError(f"data folder {root} gave no usable rows for {', '.join(empty)}")
    return pools

