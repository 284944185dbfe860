#!/usr/bin/env python3
"""Evaluate campaign detection on simulated traffic, next to two baselines.

    python scripts/evaluate.py --out-dir eval-out --prompts 50000 --seed 7
    python scripts/evaluate.py --out-dir eval-out --sim-dir /tmp/sim50k   # reuse a simulation
    python scripts/evaluate.py --out-dir eval-adv --preset adversarial --prompts 20000 --seed 202

Steps: simulate (unless --sim-dir), start a fresh real server, `promptprint replay` the
traffic through CheckPrompt (recording on, created_at order), then score promptprint as
the server flagged (campaign.flagged) and the baselines (MinHash-LSH raw-text fan-out,
semantic kNN fan-out) at their best thresholds. The report adds recall and
prompts-to-first-flag per campaign family, benign flags per kind (look-alikes, traps),
and the held-out families and kinds (the simulation's summary.json, or --holdout) apart
from the tuned ones. Writes report.md, results.json and verdicts.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.evaluate import (  # noqa: E402
    best_threshold,
    family_report,
    load_simulation,
    markdown_table,
    minhash_lsh_fanout,
    promptprint_verdicts,
    score_flags,
)
from evaluation.simulate.presets import PRESETS  # noqa: E402
from promptprint.local_server import LocalServer  # noqa: E402

FANOUT_THRESHOLDS = [1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 60, 80, 100, 150, 200]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--sim-dir", help="an existing simulation directory (skips simulating)")
    parser.add_argument("--prompts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--preset", choices=sorted(PRESETS), help="simulate with this preset (see scripts/simulate.py)")
    parser.add_argument("--holdout", help="comma-separated held-out families and kinds (default: the simulation's own)")
    parser.add_argument("--first-n", type=int, default=100,
                        help="a family is caught in time when each campaign's first flag is within its first N prompts")
    parser.add_argument("--target", help="replay against this running server instead of starting a fresh one")
    parser.add_argument("--verdicts", help="reuse verdicts from an earlier replay (skips the server)")
    parser.add_argument("--batch-size", type=int, default=256, help="prompts per CheckPrompts message of the replay (see promptprint replay)")
    parser.add_argument("--tier", choices=("fingerprint", "semantic"), default="semantic",
                        help="CheckPrompt tier of the replay (default semantic: its fan-out is the semantic kNN baseline)")
    args = parser.parse_args()

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sim_dir = Path(args.sim_dir) if args.sim_dir else out / "simulation"
    started = time.monotonic()
    if not args.sim_dir:
        preset = ["--preset", args.preset] if args.preset else []
        subprocess.run(
            [sys.executable, str(REPO / "scripts" / "simulate.py"), "--out-dir", str(sim_dir),
             "--prompts", str(args.prompts), "--seed", str(args.seed), *preset],
            check=True,
        )
    holdout = [name.strip() for name in args.holdout.split(",") if name.strip()] if args.holdout is not None else None
    sim = load_simulation(sim_dir, holdout)

    verdicts_path = Path(args.verdicts) if args.verdicts else out / "verdicts.jsonl"
    replay_seconds = None
    if not args.verdicts:
        def replay(target: str) -> None:
            subprocess.run(
                [sys.executable, "-m", "promptprint.cli", "replay", str(sim_dir / "traffic.jsonl"),
                 "--out", str(verdicts_path), "--target", target, "--timeout", "120",
                 "--batch-size", str(args.batch_size), "--tier", args.tier, "--no-progress"],
                check=True,
                env=os.environ | {"HF_HUB_OFFLINE": "1"},
            )

        t0 = time.monotonic()
        if args.target:
            replay(args.target)
        else:
            with tempfile.TemporaryDirectory(prefix="promptprint-eval-") as data_dir:
                with LocalServer(data_dir, ["--snapshot-every", "0"], log_path=out / "server.log") as server:
                    replay(server.target)
        replay_seconds = time.monotonic() - t0
    with open(verdicts_path, encoding="utf-8") as fh:
        verdicts = [json.loads(line) for line in fh if line.strip()]

    replayed = promptprint_verdicts(verdicts)
    campaign, semantic = replayed.scores, replayed.fanout
    ours = score_flags(
        "promptprint, as flagged (default settings)", sim, campaign, replayed.flagged, replayed.threshold
    )
    ours_best = best_threshold("promptprint, best threshold on the truth", sim, campaign, [i / 20 for i in range(1, 20)])
    lsh = best_threshold("baseline: MinHash-LSH raw-text fan-out", sim, minhash_lsh_fanout(sim), FANOUT_THRESHOLDS)
    fanout_name = (
        "baseline: semantic kNN fan-out (cos >= 0.8)" if args.tier == "semantic" else "baseline: template fan-out (fingerprint tier)"
    )
    knn = best_threshold(fanout_name, sim, semantic, FANOUT_THRESHOLDS)
    results = [ours, ours_best, lsh, knn]

    table = markdown_table(results) + "\n\n" + family_report(results, sim, args.first_n)
    if replayed.flagged_below_threshold or replayed.unflagged_above_threshold:
        table += (
            f"\n\nNote: {replayed.flagged_below_threshold} prompts were flagged below the score threshold "
            f"{replayed.threshold:g} and {replayed.unflagged_above_threshold} unflagged at or above it; the "
            "'as flagged' row follows campaign.flagged, the 'best threshold' row the score alone."
        )
    header = (
        f"# Campaign detection on {len(sim.traffic):,} simulated prompts, "
        f"{len(sim.accounts):,} accounts ({sum(1 for a in sim.accounts.values() if a['label'] == 'campaign'):,} campaign)\n\n"
        f"Simulation: `{sim_dir}`; CheckPrompt tier {args.tier}; replay {'%.0f s' % replay_seconds if replay_seconds else 'reused'}; "
        f"command: `{' '.join(sys.argv)}`\n\n"
    )
    (out / "report.md").write_text(header + table + "\n")
    (out / "results.json").write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    print(header + table)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
