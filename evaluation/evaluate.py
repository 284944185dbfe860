"""Account-level evaluation of campaign detection, with two baselines side by side.

Input: a simulation directory (``traffic.jsonl``, ``truth.jsonl``, ``prompts_truth.jsonl``,
see :mod:`evaluation.simulate`) and the verdicts ``promptprint replay`` wrote for its
traffic (one CheckPrompt response per prompt, sent in created_at order with recording
on, exactly as an abuse system would).

An account counts as flagged when any of its prompts was flagged *online* (at the
moment it was checked, with only the past known): that is what an abuse system acting
on CheckPrompt sees. Scores for PR-AUC are the account's highest prompt score.

Baselines, on the same traffic in the same order:

* **MinHash-LSH on raw text** (datasketch, 128 permutations, word 5-shingles, LSH at
  Jaccard 0.5): per prompt, the distinct *other* accounts among its LSH near-duplicates
  in the last 24 h;
* **semantic kNN fan-out**: per prompt, ``fanout.distinct_other_accounts`` from the same
  CheckPrompt call (MiniLM cosine >= 0.8 in the last 24 h), i.e. promptprint's own
  near-duplicate fan-out without the template view.

A fan-out is a count, not a calibrated score, so each baseline is reported at the
threshold that maximises its account F1 *on the truth* (an advantage ours does not get:
it runs at its documented default).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from promptprint.records import parse_timestamp

DAY_MS = 24 * 3600 * 1000


@dataclasses.dataclass(frozen=True)
class Simulation:
    """The traffic and its ground truth."""

    traffic: list[dict]  # type: ignore[type-arg]
    accounts: dict[str, dict]  # type: ignore[type-arg]  # account_id -> truth row
    prompts: dict[str, dict]  # type: ignore[type-arg]  # prompt_id -> truth row


def load_simulation(directory: str | Path) -> Simulation:
    d = Path(directory)

    def lines(name: str) -> list[dict]:  # type: ignore[type-arg]
        with open(d / name, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    return Simulation(
        traffic=lines("traffic.jsonl"),
        accounts={row["account_id"]: row for row in lines("truth.jsonl")},
        prompts={row["prompt_id"]: row for row in lines("prompts_truth.jsonl")},
    )


@dataclasses.dataclass(frozen=True)
class DetectorResult:
    """Account-level quality of one detector on one traffic."""

    name: str
    threshold: float
    precision: float
    recall: float
    f1: float
    pr_auc: float
    benign_flag_rate: float
    benign_flagged_by_kind: dict[str, tuple[int, int]]  # kind -> (flagged, total)
    first_flag: dict[str, int | None]  # campaign -> campaign prompts seen before its first flag (None: never)


def _prompt_scores_to_accounts(
    sim: Simulation, prompt_scores: Mapping[str, float]
) -> dict[str, float]:
    best: dict[str, float] = collections.defaultdict(float)
    for row in sim.traffic:
        score = prompt_scores.get(row["prompt_id"], 0.0)
        if score > best[row["account_id"]]:
            best[row["account_id"]] = score
    return best


def score_detector(name: str, sim: Simulation, prompt_scores: Mapping[str, float], threshold: float) -> DetectorResult:
    """Account metrics for prompt-level scores; a prompt is flagged when score >= threshold."""
    from sklearn.metrics import average_precision_score

    account_scores = _prompt_scores_to_accounts(sim, prompt_scores)
    labels = {a: row["label"] == "campaign" for a, row in sim.accounts.items()}
    flagged = {a: account_scores.get(a, 0.0) >= threshold for a in sim.accounts}
    tp = sum(1 for a in sim.accounts if labels[a] and flagged[a])
    fp = sum(1 for a in sim.accounts if not labels[a] and flagged[a])
    fn = sum(1 for a in sim.accounts if labels[a] and not flagged[a])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ids = sorted(sim.accounts)
    pr_auc = float(average_precision_score([labels[a] for a in ids], [account_scores.get(a, 0.0) for a in ids]))
    benign_total = collections.Counter(row["kind"] for row in sim.accounts.values() if row["label"] != "campaign")
    benign_hit = collections.Counter(
        row["kind"] for a, row in sim.accounts.items() if row["label"] != "campaign" and flagged[a]
    )
    seen: collections.Counter[str] = collections.Counter()
    first: dict[str, int | None] = {}
    for row in sim.traffic:
        truth = sim.prompts[row["prompt_id"]]
        campaign = truth.get("campaign_id")
        if truth["label"] != "campaign" or not campaign:
            continue
        first.setdefault(campaign, None)
        if first[campaign] is None and prompt_scores.get(row["prompt_id"], 0.0) >= threshold:
            first[campaign] = seen[campaign]
        seen[campaign] += 1
    n_benign = sum(benign_total.values())
    return DetectorResult(
        name=name,
        threshold=threshold,
        precision=precision,
        recall=recall,
        f1=f1,
        pr_auc=pr_auc,
        benign_flag_rate=sum(benign_hit.values()) / n_benign if n_benign else 0.0,
        benign_flagged_by_kind={k: (benign_hit[k], n) for k, n in sorted(benign_total.items())},
        first_flag=dict(sorted(first.items())),
    )


def best_threshold(name: str, sim: Simulation, prompt_scores: Mapping[str, float], candidates: Iterable[float]) -> DetectorResult:
    """The candidate threshold with the best account F1 (ties: the higher threshold)."""
    results = [score_detector(name, sim, prompt_scores, t) for t in candidates]
    return max(results, key=lambda r: (r.f1, r.threshold))


# -- the detectors ---------------------------------------------------------------------------
def promptprint_scores(verdicts: Sequence[dict]) -> tuple[dict[str, float], dict[str, float]]:  # type: ignore[type-arg]
    """(campaign scores, semantic fan-out counts) per prompt_id, from replay verdicts."""
    campaign: dict[str, float] = {}
    semantic: dict[str, float] = {}
    for v in verdicts:
        if "error" in v:
            continue
        campaign[v["prompt_id"]] = float(v.get("campaign", {}).get("score", 0.0))
        semantic[v["prompt_id"]] = float(v.get("fanout", {}).get("distinct_other_accounts", 0))
    return campaign, semantic


_WORD = re.compile(r"\w+")


def minhash_lsh_fanout(sim: Simulation, *, threshold: float = 0.5, num_perm: int = 128, shingle: int = 5) -> dict[str, float]:
    """Per prompt: distinct other accounts among its MinHash-LSH near-duplicates (raw
    text, word 5-shingles) sent in the previous 24 h, replayed in created_at order."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    meta: dict[str, tuple[str, int]] = {}
    out: dict[str, float] = {}
    order = sorted(range(len(sim.traffic)), key=lambda i: (parse_timestamp(sim.traffic[i]["created_at"]), i))
    for i in order:
        row = sim.traffic[i]
        words = _WORD.findall(row["text"].lower())
        grams = {" ".join(words[j : j + shingle]) for j in range(max(1, len(words) - shingle + 1))}
        mh = MinHash(num_perm=num_perm)
        mh.update_batch([g.encode("utf-8") for g in grams])
        now = parse_timestamp(row["created_at"])
        others = {
            meta[key][0]
            for key in lsh.query(mh)
            if meta[key][0] != row["account_id"] and now - meta[key][1] <= DAY_MS
        }
        out[row["prompt_id"]] = float(len(others))
        if row["prompt_id"] not in meta:
            lsh.insert(row["prompt_id"], mh)
            meta[row["prompt_id"]] = (row["account_id"], now)
    return out


# -- report ----------------------------------------------------------------------------------
def markdown_table(results: Sequence[DetectorResult]) -> str:
    lines = [
        "| detector | threshold | precision | recall | F1 | PR-AUC | benign accounts flagged |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.threshold:g} | {r.precision:.3f} | {r.recall:.3f} | {r.f1:.3f} | {r.pr_auc:.3f} | {r.benign_flag_rate:.2%} |"
        )
    kinds = sorted({k for r in results for k in r.benign_flagged_by_kind})
    lines += ["", "Benign accounts flagged, by kind:", "", "| detector | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for r in results:
        cells = []
        for k in kinds:
            hit, total = r.benign_flagged_by_kind.get(k, (0, 0))
            cells.append(f"{hit}/{total} ({hit / total:.1%})" if total else "-")
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    campaigns = sorted({c for r in results for c in r.first_flag})
    lines += [
        "",
        "Campaign prompts seen before each campaign's first flagged prompt (lower is better; 'never' = not flagged):",
        "",
        "| detector | " + " | ".join(campaigns) + " |",
        "|---" * (len(campaigns) + 1) + "|",
    ]
    for r in results:
        cells = ["never" if r.first_flag.get(c) is None else str(r.first_flag[c]) for c in campaigns]
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
