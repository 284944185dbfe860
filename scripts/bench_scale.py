#!/usr/bin/env python3
"""Index at scale on synthetic clustered 384-d vectors (no embedding): build time, RAM per
vector, recall@10 against exact search, single-query latency.

    nice -n 10 .venv/bin/python scripts/bench_scale.py --sizes 1000000,10000000

For each size: generate the vectors chunk by chunk (deterministic) into a float16 vector
file while computing exact top-10 ground truth for 1,000 held-out queries; train the
IVF-PQ coarse quantizer and codebooks on a sample; add everything; save. Then a fresh
process loads the saved index plus per-row metadata, as a server would, and measures
RssAnon per vector, recall@10 and p50/p99 at the defaults (plus an nprobe/k_factor sweep).
What is measured and why: evaluation/scale.py. Prints one JSON report per size and
writes them all to --out.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.scale import run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated vector counts")
    parser.add_argument("--workdir", default="build/bench_scale", help="where indexes are built (needs ~0.8 KB/vector of disk)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--pq-m", type=int, default=64, help="4-bit PQ sub-quantizers (default 64 = 32 bytes per vector)")
    parser.add_argument("--nlist", type=int, default=0, help="inverted lists (default: by size)")
    parser.add_argument("--workers", type=int, default=1, help="processes generating vectors and ground truth (encoding runs in one)")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes")
    parser.add_argument("--out", default="build/bench_scale.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    reports = run(sizes, Path(args.workdir), queries=args.queries, pq_m=args.pq_m, nlist=args.nlist, workers=args.workers, keep=args.keep)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": shlex.join(sys.argv), "reports": reports}, indent=2))
    for report in reports:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
