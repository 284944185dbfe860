#!/usr/bin/env python3
"""Resident memory per indexed prompt at 10k and 100k, without embedding (see
evaluation/memory_bench.py for what is real and what is precomputed).

    .venv/bin/python scripts/bench_memory.py --sizes 10000,100000
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.harness.report import emit_report  # noqa: E402
from evaluation.memory_bench import render_memory_markdown, run_memory_bench  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated, ascending (default 10000,100000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=None, help="the shared/data folder (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="[membench %(asctime)s] %(message)s", datefmt="%H:%M:%S")
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        parser.error("--sizes: comma-separated integers")
    if not sizes or min(sizes) < 1:
        parser.error("--sizes: positive integers")
    report = run_memory_bench(sizes, seed=args.seed, data_dir=args.data_dir)
    emit_report(report, render_memory_markdown, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
