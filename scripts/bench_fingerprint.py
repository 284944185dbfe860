#!/usr/bin/env python3
"""CPU per prompt of the fingerprint tier, step by step, in one process (no gRPC, no
forward pass): see evaluation/fingerprint_bench.py.

    .venv/bin/python scripts/bench_fingerprint.py --prompts 20000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.harness.report import emit_report  # noqa: E402
from evaluation.fingerprint_bench import render_fingerprint_markdown, run_fingerprint_bench  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="passes per signature step (the median is reported)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=None, help="the shared/data folder (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args()
    if args.prompts < 1 or args.repeats < 1:
        parser.error("--prompts and --repeats must be positive")
    report = run_fingerprint_bench(args.prompts, seed=args.seed, repeats=args.repeats, data_dir=args.data_dir)
    emit_report(report, render_fingerprint_markdown, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
