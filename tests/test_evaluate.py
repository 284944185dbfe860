"""The evaluator on a hand-made simulation: per-family recall and first flags, per-kind benign flags,
held-out groups apart, flags taken from the verdicts, and old simulation directories still read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evaluation.evaluate import family_report, load_simulation, promptprint_verdicts, score_detector, score_flags

REPO = Path(__file__).resolve().parents[1]

# account -> (label, family or None, kind, campaign_id); a-tp1 is written without "family", as old runs were.
ACCOUNTS: dict[str, tuple[str, str | None, str, str | None]] = {
    "a-sw1": ("campaign", "short_wrapper", "campaign", "short_wrapper-01"),
    "a-sw2": ("campaign", "short_wrapper", "campaign", "short_wrapper-01"),
    "a-ti1": ("campaign", "tail_instruction", "campaign", "tail_instruction-01"),
    "a-tp1": ("campaign", None, "campaign", "campaign-01"),
    "a-b1": ("benign", None, "ordinary", None),
    "a-b2": ("benign", None, "classroom_school_org", None),
    "a-b3": ("benign", None, "shared_tool", None),
}
# prompt -> (account, score, flagged); flagged None = an error verdict. p7 is flagged below the
# threshold and p8 left unflagged above it, so "as flagged" and "score >= threshold" differ.
PROMPTS: list[tuple[str, str, float, bool | None]] = [
    ("p1", "a-sw1", 0.2, False),
    ("p2", "a-sw2", 0.6, True),
    ("p3", "a-ti1", 0.3, False),
    ("p4", "a-ti1", 0.4, False),
    ("p5", "a-tp1", 0.9, True),
    ("p6", "a-b1", 0.1, False),
    ("p7", "a-b2", 0.45, True),
    ("p8", "a-b3", 0.7, False),
    ("p9", "a-sw1", 0.8, True),
    ("p10", "a-b1", 0.0, None),
]
HOLDOUT = ["tail_instruction", "shared_tool"]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _make_sim(directory: Path, *, with_summary: bool) -> Path:
    directory.mkdir()
    truth = []
    for account, (label, family, kind, campaign) in ACCOUNTS.items():
        row: dict[str, Any] = {"account_id": account, "org_id": None, "label": label, "campaign_id": campaign}
        if account != "a-tp1":
            row["family"] = family
        truth.append(row | {"kind": kind, "prompts": sum(1 for p in PROMPTS if p[1] == account)})
    _write_jsonl(directory / "truth.jsonl", truth)
    _write_jsonl(
        directory / "traffic.jsonl",
        [
            {"prompt_id": pid, "account_id": acc, "created_at": f"2026-02-01T00:{i:02d}:00Z", "text": f"{pid} of {acc}"}
            for i, (pid, acc, _, _) in enumerate(PROMPTS)
        ],
    )
    _write_jsonl(
        directory / "prompts_truth.jsonl",
        [
            {
                "prompt_id": pid,
                "account_id": acc,
                "label": ACCOUNTS[acc][0],
                "campaign_id": ACCOUNTS[acc][3],
                "kind": ACCOUNTS[acc][2],
            }
            for pid, acc, _, _ in PROMPTS
        ],
    )
    if with_summary:
        summary = {"holdout": {"names": HOLDOUT, "split": "test", "left_out": []}}
        (directory / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return directory


def _verdicts() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for pid, _, score, flagged in PROMPTS:
        if flagged is None:
            out.append({"prompt_id": pid, "error": {"code": "INTERNAL", "message": "boom"}})
        else:
            campaign = {"score": score, "flagged": flagged, "threshold": 0.5}
            out.append({"prompt_id": pid, "campaign": campaign, "fanout": {"distinct_other_accounts": 1}})
    return out


@pytest.fixture()
def sim_dir(tmp_path: Path) -> Path:
    return _make_sim(tmp_path / "sim", with_summary=True)


def test_flags_come_from_the_verdicts_and_disagreements_are_counted() -> None:
    replayed = promptprint_verdicts(_verdicts())
    assert replayed.flagged == {"p2", "p5", "p7", "p9"}
    assert replayed.threshold == 0.5
    assert (replayed.flagged_below_threshold, replayed.unflagged_above_threshold) == (1, 1)
    assert "p10" not in replayed.scores
    without_field = [
        v | {"campaign": {"score": v["campaign"]["score"], "threshold": 0.5}} for v in _verdicts() if "campaign" in v
    ]
    assert promptprint_verdicts(without_field).flagged == {"p2", "p5", "p8", "p9"}, "no field: score >= threshold"


def test_per_family_recall_first_flags_and_benign_kinds(sim_dir: Path) -> None:
    sim = load_simulation(sim_dir)
    assert sim.holdout == tuple(HOLDOUT)
    replayed = promptprint_verdicts(_verdicts())
    result = score_flags("pp", sim, replayed.scores, replayed.flagged, replayed.threshold)
    assert result.recall_by_family == {"short_wrapper": (2, 2), "tail_instruction": (0, 1), "templated": (1, 1)}
    assert result.first_flag_by_family == {"short_wrapper": [1], "tail_instruction": [None], "templated": [0]}
    assert result.benign_flagged_by_kind == {"classroom_school_org": (1, 1), "ordinary": (0, 1), "shared_tool": (0, 1)}
    assert (result.precision, result.recall) == (pytest.approx(3 / 4), pytest.approx(3 / 4))
    by_score = score_detector("score", sim, replayed.scores, 0.5)
    assert by_score.benign_flagged_by_kind["shared_tool"] == (1, 1)
    assert by_score.benign_flagged_by_kind["classroom_school_org"] == (0, 1)


def test_report_puts_held_out_families_and_kinds_apart(sim_dir: Path) -> None:
    sim = load_simulation(sim_dir)
    replayed = promptprint_verdicts(_verdicts())
    result = score_flags("pp", sim, replayed.scores, replayed.flagged, replayed.threshold)
    report = family_report([result], sim, first_n=1)
    assert "| tail_instruction (held out) | 0/1 (0.0%) |" in report
    assert "| shared_tool (held out) | 0/1 (0.0%) |" in report
    assert "| short_wrapper | 2/2 (100.0%) |" in report
    assert "| short_wrapper | 1 ✗ |" in report and "| templated | 0 ✓ |" in report
    assert "| tail_instruction (held out) | never (1/1 campaigns) ✗ |" in report
    assert "Tested on (held out): families tail_instruction; benign kinds shared_tool." in report
    assert "| pp | 3/3 (100.0%) | 0/1 (0.0%) | no | 1/2 (50.0%) | 0/1 (0.0%) |" in report
    overridden = load_simulation(sim_dir, holdout=[])
    plain = score_flags("pp", overridden, replayed.scores, replayed.flagged, 0.5)
    assert "holds nothing out" in family_report([plain], overridden)


def test_report_of_a_tuning_run_names_what_it_left_out(sim_dir: Path) -> None:
    summary = {"holdout": {"names": ["low_and_slow", "power_user_wrapper"], "split": "tune",
                           "left_out": ["low_and_slow", "power_user_wrapper"]}}
    (sim_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    sim = load_simulation(sim_dir)
    replayed = promptprint_verdicts(_verdicts())
    report = family_report([score_flags("pp", sim, replayed.scores, replayed.flagged, 0.5)], sim)
    assert "This is a tuning run: low_and_slow, power_user_wrapper were left out of it" in report


def test_evaluate_script_reports_families_on_an_old_simulation_dir(tmp_path: Path) -> None:
    sim = _make_sim(tmp_path / "old", with_summary=False)
    verdicts = tmp_path / "verdicts.jsonl"
    _write_jsonl(verdicts, _verdicts())
    out = tmp_path / "eval"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "evaluate.py"), "--out-dir", str(out), "--sim-dir", str(sim),
         "--verdicts", str(verdicts), "--holdout", "tail_instruction,shared_tool"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report in done.stdout
    assert "| templated |" in report and "tail_instruction (held out)" in report
    assert "## Tuned on these, tested on those" in report
    assert "1 prompts were flagged below the score threshold" in report
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results[0]["recall_by_family"]["short_wrapper"] == [2, 2]
