#!/usr/bin/env python3
"""Sustained ingest at a live rate through `promptprint ingest --rate`, against a fresh
`promptprint serve`: acknowledged rate, RESOURCE_EXHAUSTED answers, RSS and disk per
prompt, and whether just-ingested prompts are found by their exact text (issue 16). See
evaluation/sustained.py for what is measured and how.

The prompt file (rate x seconds prompts) is written first, outside the timed run: about
50 s and 0.9 GB per million prompts on this machine (1.2M for the defaults: ~1 min,
~1.1 GB); reused when --prompts names one written for the same rate, seconds, seed and
lookup counts. The achieved rate counts the CLI's start and its last acknowledgement
(a second or two), so a run paced at exactly 2,000/s lands just under it.

    .venv/bin/python scripts/bench_sustained.py --out var/sustained.json        # 2,000/s for 10 min
    .venv/bin/python scripts/bench_sustained.py --rate 500 --seconds 20 --server-arg=--max-vector-backlog=1000000
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.harness.report import emit_report  # noqa: E402
from evaluation.sustained import SustainedConfig, default_work_dir, run_sustained  # noqa: E402
from evaluation.sustained_report import render_sustained_markdown  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2000.0, help="prompts per second offered (default 2000)")
    parser.add_argument("--seconds", type=float, default=600.0, help="how long the rate is offered (default 600)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between readings of the server (default 10)")
    parser.add_argument("--lookups", type=int, default=1000, help="prompts looked up, spread over the run (default 1000)")
    parser.add_argument("--recent-lookups", type=int, default=1000, help="the last prompts of the run looked up too (default 1000)")
    parser.add_argument("--lookup-callers", type=int, default=16, help="lookups in flight (default 16: they share forward passes)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="FLAG",
                        help="a `promptprint serve` flag, repeated for several; write it as --server-arg=--flag=value")
    parser.add_argument("--work-dir", type=Path, default=None, help="prompt file, logs, samples.csv, data dir (default: a new temp dir)")
    parser.add_argument("--prompts", type=Path, default=None, help="the prompt file (default WORK_DIR/prompts.jsonl); reused if it matches")
    parser.add_argument("--data-dir", type=Path, default=None, help="the server's data dir: empty or absent, kept (default WORK_DIR/data, removed)")
    parser.add_argument("--keep-data", action="store_true", help="keep WORK_DIR/data after the run")
    parser.add_argument("--pools", type=Path, default=None, help="the shared/data folder (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="[sustained %(asctime)s] %(message)s", datefmt="%H:%M:%S")
    try:
        config = SustainedConfig(
            rate=args.rate, seconds=args.seconds, seed=args.seed, sample_every_s=args.sample_every,
            spread_lookups=args.lookups, recent_lookups=args.recent_lookups, lookup_callers=args.lookup_callers,
            server_args=tuple(args.server_arg),
        )
    except ValueError as error:
        parser.error(str(error))
    work_dir = args.work_dir or default_work_dir()
    report = run_sustained(config, work_dir=work_dir, prompts_path=args.prompts, data_dir=args.data_dir,
                           pools_dir=args.pools, keep_data=args.keep_data)
    emit_report(report, render_sustained_markdown, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
