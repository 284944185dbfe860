"""Finishing a run: ids, the ground truth, the summary, and the four output files.

Ids are drawn only here, after every prompt exists, and prompts are numbered in time
order, so no id encodes a label or the order traffic was generated in.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.simulate.config import ACCOUNT_KINDS, CAMPAIGN_FAMILY_NAMES, PROMPT_KINDS
from evaluation.simulate.sampling import sub_rng
from evaluation.simulate.state import Run, format_time
from evaluation.simulate.templates import CAMPAIGN_FAMILIES

__all__ = ["GENERATOR_VERSION", "SimulationResult", "finish", "write_simulation"]

#: Bumped whenever the same config and data would produce different output
#: (2: ``family`` in truth.jsonl; the adversarial families, traps and held-out split in the summary).
GENERATOR_VERSION = 2


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """Everything a run produces, ready to be written (see :func:`write_simulation`)."""

    traffic: tuple[dict[str, Any], ...]
    accounts: tuple[dict[str, Any], ...]
    prompts_truth: tuple[dict[str, Any], ...]
    summary: dict[str, Any]


def finish(run: Run) -> SimulationResult:
    """Give out ids and turn the run into traffic records, per-account and per-prompt truth and a summary."""
    cfg = run.config
    id_rng = sub_rng(cfg.seed, "ids")
    used: set[str] = set()

    def fresh(prefix: str, bits: int) -> str:
        while True:
            candidate = f"{prefix}{id_rng.getrandbits(bits):0{bits // 4}x}"
            if candidate not in used:
                used.add(candidate)
                return candidate

    org_ids = [fresh("o-", 32) for _ in range(run.org_count)]
    for account in run.accounts:
        account.account_id = fresh("a-", 40)

    start = cfg.start_datetime()
    run.prompts.sort(key=lambda p: (p.t, p.tie))
    width = max(6, len(str(len(run.prompts))))
    traffic: list[dict[str, Any]] = []
    prompts_truth: list[dict[str, Any]] = []
    for number, p in enumerate(run.prompts, start=1):
        account = run.accounts[p.account]
        prompt_id = f"p-{number:0{width}d}"
        record: dict[str, Any] = {"prompt_id": prompt_id, "account_id": account.account_id}
        if account.org is not None:
            record["org_id"] = org_ids[account.org]
        record["created_at"] = format_time(start, p.t)
        record["text"] = p.text
        traffic.append(record)
        prompts_truth.append(
            {
                "prompt_id": prompt_id,
                "account_id": account.account_id,
                "label": "campaign" if p.kind == "campaign" else "benign",
                "campaign_id": p.campaign_id,
                "template_id": f"{p.family_id}/{p.variant}" if p.family_id else None,
                "kind": p.kind,
                "family_id": p.family_id,
                "variant": p.variant,
                "noise": list(p.noise),
                "payload_ref": p.payload_ref,
            }
        )

    counts: dict[int, int] = {}
    for p in run.prompts:
        counts[p.account] = counts.get(p.account, 0) + 1
    accounts_truth = sorted(
        (
            {
                "account_id": a.account_id,
                "org_id": org_ids[a.org] if a.org is not None else None,
                "label": a.label,
                "campaign_id": a.campaign_id,
                "family": a.family,
                "kind": a.kind,
                "prompts": counts.get(i, 0),
            }
            for i, a in enumerate(run.accounts)
            if counts.get(i, 0) > 0
        ),
        key=lambda row: str(row["account_id"]),
    )
    for info in run.campaign_info:
        info["hydra_accounts"] = sum(
            1 for a in run.accounts if a.campaign_id == info["campaign_id"] and a.kind == "hydra"
        )
    for entries in (*run.lookalike_info.values(), *run.trap_info.values()):
        for entry in entries:
            if "org" in entry:
                org = entry.pop("org")
                entry["org_id"] = org_ids[org] if org is not None else None
    summary = _summary(run, traffic, prompts_truth, accounts_truth)
    return SimulationResult(tuple(traffic), tuple(accounts_truth), tuple(prompts_truth), summary)


def _summary(
    run: Run,
    traffic: list[dict[str, Any]],
    prompts_truth: list[dict[str, Any]],
    accounts_truth: list[dict[str, Any]],
) -> dict[str, Any]:
    def tally(rows: list[dict[str, Any]], key: str, keys: Sequence[str]) -> dict[str, int]:
        out = {k: 0 for k in keys}
        for row in rows:
            out[row[key]] = out.get(row[key], 0) + 1
        return out

    campaign_orgs = {a["org_id"] for a in accounts_truth if a["label"] == "campaign"}
    benign_orgs = {a["org_id"] for a in accounts_truth if a["label"] == "benign" and a["org_id"] is not None}
    noisy = sum(1 for p in prompts_truth if p["kind"] == "campaign" and p["noise"])
    variants = {"base": 0, "paraphrase": 0, "translation": 0}
    for p in prompts_truth:
        if p["kind"] == "campaign":
            v = p["variant"]
            variants["base" if v == "base" else "paraphrase" if v.startswith("para") else "translation"] += 1
    return {
        "generator": "evaluation.simulate",
        "generator_version": GENERATOR_VERSION,
        "config": dataclasses.asdict(run.config),
        "resolved": {
            "campaign_accounts_range": list(run.config.campaign_account_range()),
            "budgets": run.config.budgets(),
        },
        "period": {
            "start": format_time(run.config.start_datetime(), 0),
            "end": format_time(run.config.start_datetime(), run.span),
        },
        "prompts": {
            "total": len(traffic),
            "by_label": tally(prompts_truth, "label", ("campaign", "benign")),
            "by_kind": tally(prompts_truth, "kind", PROMPT_KINDS),
            "campaign_with_noise": noisy,
            "campaign_by_variant": variants,
            "without_org_id": sum(1 for r in traffic if "org_id" not in r),
        },
        "accounts": {
            "total": len(accounts_truth),
            "by_label": tally(accounts_truth, "label", ("campaign", "benign")),
            "by_kind": tally(accounts_truth, "kind", ACCOUNT_KINDS),
            "by_family": tally(
                [a for a in accounts_truth if a["label"] == "campaign"], "family", CAMPAIGN_FAMILY_NAMES
            ),
        },
        "orgs": {
            "total": len(campaign_orgs | benign_orgs),
            "campaign": len(campaign_orgs),
            "benign": len(benign_orgs),
        },
        "campaigns": run.campaign_info,
        "lookalikes": run.lookalike_info,
        "traps": run.trap_info,
        "holdout": {
            "names": list(run.config.held_out()),
            "split": run.config.split,
            "left_out": list(run.config.held_out()) if run.config.split == "tune" else [],
        },
        "template_families": [
            {
                "family_id": f.family_id,
                "payload": f.payload,
                "style": f.style,
                "variants": [v for v, _ in f.variants],
            }
            for f in CAMPAIGN_FAMILIES
        ],
    }


def _write_atomic(path: Path, lines: Iterator[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line)
    os.replace(tmp, path)


def _jsonl(rows: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def write_simulation(result: SimulationResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``traffic.jsonl``, ``truth.jsonl``, ``prompts_truth.jsonl`` and ``summary.json``.

    Each file is written to a temporary name and moved into place, so a reader
    never sees half a file. Returns the paths written, by name.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "traffic": out / "traffic.jsonl",
        "truth": out / "truth.jsonl",
        "prompts_truth": out / "prompts_truth.jsonl",
        "summary": out / "summary.json",
    }
    _write_atomic(paths["traffic"], _jsonl(result.traffic))
    _write_atomic(paths["truth"], _jsonl(result.accounts))
    _write_atomic(paths["prompts_truth"], _jsonl(result.prompts_truth))
    _write_atomic(paths["summary"], iter([json.dumps(result.summary, ensure_ascii=False, indent=2) + "\n"]))
    return paths

