"""Account-level evaluation of campaign detection, with two baselines side by side.

Input: a simulation directory (``traffic.jsonl``, ``truth.jsonl``, ``prompts_truth.jsonl``,
see :mod:`evaluation.simulate`) and the verdicts ``promptprint replay`` wrote for its
traffic (one CheckPrompt response per prompt, sent in created_at order with recording
on, exactly as an abuse system would).

An account counts as flagged when any of its prompts was flagged *online* (at the
moment it was checked, with only the past known): that is what an abuse system acting
on CheckPrompt sees. For promptprint that is the verdict's ``campaign.flagged`` (the
server's own decision, ``score >= threshold`` today; a verdict without it falls back to
that comparison); scores for PR-AUC are the account's highest prompt score.

Campaigns come in families (``family`` in ``truth.jsonl``; "templated" for simulations
made before families existed) and benign accounts in kinds (ordinary, look-alikes, traps).
The report gives recall and prompts-to-first-flag per family, benign flags per kind, and
"tuned on these, tested on those": the same figures for the families and kinds the
simulation held out of tuning (``holdout`` in ``summary.json``) apart from the rest.

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
from collections.abc import Iterable, Mapping, Sequence, Set
from pathlib import Path

from promptprint.records import parse_timestamp

DAY_MS = 24 * 3600 * 1000


#: The family of a campaign account whose truth row predates families.
TEMPLATED_FAMILY = "templated"


@dataclasses.dataclass(frozen=True)
class Simulation:
    """The traffic and its ground truth."""

    traffic: list[dict]  # type: ignore[type-arg]
    accounts: dict[str, dict]  # type: ignore[type-arg]  # account_id -> truth row
    prompts: dict[str, dict]  # type: ignore[type-arg]  # prompt_id -> truth row
    holdout: tuple[str, ...] = ()  # families and benign kinds held out of tuning
    left_out: tuple[str, ...] = ()  # held-out ones this (tuning) run does not contain

    def group(self, account_id: str) -> str:
        """The account's campaign family, or its kind when benign."""
        row = self.accounts[account_id]
        if row["label"] == "campaign":
            return str(row.get("family") or TEMPLATED_FAMILY)
        return str(row["kind"])


def load_simulation(directory: str | Path, holdout: Sequence[str] | None = None) -> Simulation:
    """Read a simulation directory; ``holdout`` overrides the one its ``summary.json`` names (if any)."""
    d = Path(directory)

    def lines(name: str) -> list[dict]:  # type: ignore[type-arg]
        with open(d / name, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    left_out: Sequence[str] = ()
    if holdout is None:
        summary_path = d / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
        holdout = summary.get("holdout", {}).get("names", [])
        left_out = summary.get("holdout", {}).get("left_out", [])
    return Simulation(
        traffic=lines("traffic.jsonl"),
        accounts={row["account_id"]: row for row in lines("truth.jsonl")},
        prompts={row["prompt_id"]: row for row in lines("prompts_truth.jsonl")},
        holdout=tuple(holdout),
        left_out=tuple(left_out),
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
    recall_by_family: dict[str, tuple[int, int]]  # family -> (flagged, total) campaign accounts
    first_flag_by_family: dict[str, list[int | None]]  # family -> first_flag of each of its campaigns


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
    flagged = {p for p, score in prompt_scores.items() if score >= threshold}
    return score_flags(name, sim, prompt_scores, flagged, threshold)


def score_flags(
    name: str, sim: Simulation, prompt_scores: Mapping[str, float], flagged_prompts: Set[str], threshold: float
) -> DetectorResult:
    """Account metrics when the detector decided itself which prompts it flags (``flagged_prompts``);
    ``prompt_scores`` only rank accounts for PR-AUC."""
    from sklearn.metrics import average_precision_score

    account_scores = _prompt_scores_to_accounts(sim, prompt_scores)
    labels = {a: row["label"] == "campaign" for a, row in sim.accounts.items()}
    flagged = dict.fromkeys(sim.accounts, False)
    for row in sim.traffic:
        if row["prompt_id"] in flagged_prompts:
            flagged[row["account_id"]] = True
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
    family_total = collections.Counter(sim.group(a) for a in sim.accounts if labels[a])
    family_hit = collections.Counter(sim.group(a) for a in sim.accounts if labels[a] and flagged[a])
    seen: collections.Counter[str] = collections.Counter()
    first: dict[str, int | None] = {}
    family_of_campaign: dict[str, str] = {}
    for row in sim.traffic:
        truth = sim.prompts[row["prompt_id"]]
        campaign = truth.get("campaign_id")
        if truth["label"] != "campaign" or not campaign:
            continue
        first.setdefault(campaign, None)
        family_of_campaign.setdefault(campaign, sim.group(row["account_id"]))
        if first[campaign] is None and row["prompt_id"] in flagged_prompts:
            first[campaign] = seen[campaign]
        seen[campaign] += 1
    by_family: dict[str, list[int | None]] = collections.defaultdict(list)
    for campaign, index in sorted(first.items()):
        by_family[family_of_campaign[campaign]].append(index)
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
        recall_by_family={f: (family_hit[f], n) for f, n in sorted(family_total.items())},
        first_flag_by_family=dict(sorted(by_family.items())),
    )


def best_threshold(name: str, sim: Simulation, prompt_scores: Mapping[str, float], candidates: Iterable[float]) -> DetectorResult:
    """The candidate threshold with the best account F1 (ties: the higher threshold)."""
    results = [score_detector(name, sim, prompt_scores, t) for t in candidates]
    return max(results, key=lambda r: (r.f1, r.threshold))


# -- the detectors ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ReplayVerdicts:
    """What ``promptprint replay`` said about each prompt."""

    scores: dict[str, float]  # prompt_id -> campaign score
    flagged: frozenset[str]  # prompt_ids whose verdict has campaign.flagged
    fanout: dict[str, float]  # prompt_id -> fanout.distinct_other_accounts (the kNN baseline)
    threshold: float  # the server's flag threshold
    flagged_below_threshold: int  # flagged verdicts with score < threshold (the server flags on more than the score)
    unflagged_above_threshold: int  # unflagged verdicts with score >= threshold


def promptprint_verdicts(verdicts: Sequence[dict]) -> ReplayVerdicts:  # type: ignore[type-arg]
    """Scores, flags and semantic fan-out counts per prompt_id, from replay verdicts (errors skipped).

    A prompt is flagged when its verdict's ``campaign.flagged`` is true; a verdict written
    without the field (none today: replay writes every field) counts as ``score >= threshold``.
    """
    scores: dict[str, float] = {}
    fanout: dict[str, float] = {}
    flagged: set[str] = set()
    threshold = next((float(v["campaign"]["threshold"]) for v in verdicts if "threshold" in v.get("campaign", {})), 0.5)
    below = above = 0
    for v in verdicts:
        if "error" in v:
            continue
        campaign = v.get("campaign", {})
        score = float(campaign.get("score", 0.0))
        scores[v["prompt_id"]] = score
        fanout[v["prompt_id"]] = float(v.get("fanout", {}).get("distinct_other_accounts", 0))
        is_flagged = bool(campaign["flagged"]) if "flagged" in campaign else score >= threshold
        if is_flagged:
            flagged.add(v["prompt_id"])
        below += is_flagged and score < threshold
        above += (not is_flagged) and score >= threshold
    return ReplayVerdicts(scores, frozenset(flagged), fanout, threshold, below, above)


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
    """Account metrics per detector, then each campaign's prompts before its first flag
    (per family and per benign kind: :func:`family_report`)."""
    lines = [
        "| detector | threshold | precision | recall | F1 | PR-AUC | benign accounts flagged |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.threshold:g} | {r.precision:.3f} | {r.recall:.3f} | {r.f1:.3f} | {r.pr_auc:.3f} | {r.benign_flag_rate:.2%} |"
        )
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


def _ratio(hit: int, total: int) -> str:
    return f"{hit}/{total} ({hit / total:.1%})" if total else "-"


def _first_flag_cell(indices: Sequence[int | None], first_n: int) -> str:
    """The worst campaign's prompts before its first flag, and whether every campaign was flagged in time."""
    if not indices:
        return "-"
    if any(i is None for i in indices):
        never = sum(1 for i in indices if i is None)
        return f"never ({never}/{len(indices)} campaigns) ✗"
    worst = max(i for i in indices if i is not None)
    return f"{worst} {'✓' if worst < first_n else '✗'}"


def _sum_pairs(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    hit = total = 0
    for h, t in pairs:
        hit, total = hit + h, total + t
    return hit, total


def family_report(results: Sequence[DetectorResult], sim: Simulation, first_n: int = 100) -> str:
    """Per campaign family and per benign kind, with held-out ones marked, then "tuned on these,
    tested on those": the same figures summed over the tuned and over the held-out groups."""
    held = set(sim.holdout)

    def label(group: str) -> str:
        return f"{group} (held out)" if group in held else group

    families = sorted({f for r in results for f in r.recall_by_family}, key=lambda f: (f in held, f))
    names = [r.name for r in results]
    header = "| family | " + " | ".join(names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    lines = ["Campaign accounts flagged, by family:", "", header, rule]
    for family in families:
        cells = [_ratio(*r.recall_by_family.get(family, (0, 0))) for r in results]
        lines.append(f"| {label(family)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Campaign prompts before the first flag, worst campaign of each family (✓: every campaign flagged "
        f"within its first {first_n} prompts):",
        "",
        header,
        rule,
    ]
    for family in families:
        cells = [_first_flag_cell(r.first_flag_by_family.get(family, []), first_n) for r in results]
        lines.append(f"| {label(family)} | " + " | ".join(cells) + " |")
    kinds = sorted({k for r in results for k in r.benign_flagged_by_kind}, key=lambda k: (k in held, k))
    lines += ["", "Benign accounts flagged, by kind (ordinary, look-alikes, traps):", "",
              "| kind | " + " | ".join(names) + " |", rule]
    for kind in kinds:
        cells = [_ratio(*r.benign_flagged_by_kind.get(kind, (0, 0))) for r in results]
        lines.append(f"| {label(kind)} | " + " | ".join(cells) + " |")
    lines += ["", "## Tuned on these, tested on those", ""]
    held_families = [f for f in families if f in held]
    held_kinds = [k for k in kinds if k in held]
    if not held_families and not held_kinds:
        if sim.left_out:
            lines.append(
                f"This is a tuning run: {', '.join(sim.left_out)} were left out of it; the test set's report "
                "has them."
            )
        else:
            lines.append("This simulation holds nothing out (no `holdout` in its summary.json).")
        return "\n".join(lines)
    tuned_families = [f for f in families if f not in held]
    tuned_kinds = [k for k in kinds if k not in held]
    lines += [
        f"Tuned on: families {', '.join(tuned_families) or '-'}; benign kinds {', '.join(tuned_kinds) or '-'}.",
        f"Tested on (held out): families {', '.join(held_families) or '-'}; "
        f"benign kinds {', '.join(held_kinds) or '-'}.",
        "",
        "| detector | recall, tuned families | recall, held-out families | all held-out families flagged "
        f"within {first_n} | benign flagged, tuned kinds | benign flagged, held-out kinds |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        held_first = [i for f in held_families for i in r.first_flag_by_family.get(f, [])]
        in_time = bool(held_first) and all(i is not None and i < first_n for i in held_first)
        lines.append(
            f"| {r.name} | {_ratio(*_sum_pairs(r.recall_by_family.get(f, (0, 0)) for f in tuned_families))} "
            f"| {_ratio(*_sum_pairs(r.recall_by_family.get(f, (0, 0)) for f in held_families))} "
            f"| {'yes' if in_time else 'no' if held_first else '-'} "
            f"| {_ratio(*_sum_pairs(r.benign_flagged_by_kind.get(k, (0, 0)) for k in tuned_kinds))} "
            f"| {_ratio(*_sum_pairs(r.benign_flagged_by_kind.get(k, (0, 0)) for k in held_kinds))} |"
        )
    return "\n".join(lines)
