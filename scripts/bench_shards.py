#!/usr/bin/env python3
"""One serving process against several (docs/scaling.md): CheckPrompt calls/s and p99 with
16 callers through 1 and 2 processes, the forward hop, and the flagged accounts of a
simulator replay through 1, 2 and 4 processes; or, with --keys-only, how well each
candidate routing key keeps a template's prompts on one process.

    python scripts/simulate.py --out-dir /tmp/sim --prompts 20000 --seed 7
    python scripts/bench_shards.py --sim-dir /tmp/sim                     # the whole comparison
    python scripts/bench_shards.py --sim-dir /tmp/sim --keys-only         # the routing-key table (no server)

What is measured and why: evaluation/shard_bench.py. Servers run without embedding
(--embedding-policy none) unless --server-arg says otherwise: the template view is what
routing changes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.shard_bench import ShardBenchConfig, render, run  # noqa: E402
from evaluation.shard_keys import measure, render as render_keys  # noqa: E402


def _counts(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split(",") if v.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim-dir", type=Path, required=True, help="output folder of scripts/simulate.py")
    parser.add_argument("--keys-only", action="store_true", help="only the routing-key table (no servers)")
    parser.add_argument("--members", type=_counts, default=(1, 2), help="member counts for throughput (default 1,2)")
    parser.add_argument("--replay-members", type=_counts, default=(2, 4), help="member counts compared with one process (default 2,4)")
    parser.add_argument("--prompts", type=int, default=20_000, help="prompts ingested before the throughput phase")
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--calls-per-caller", type=int, default=200)
    parser.add_argument("--hop-calls", type=int, default=300, help="one-caller calls for the forward hop, each way")
    parser.add_argument("--replay-prompts", type=int, default=3000, help="prompts replayed for the flagged-account comparison")
    parser.add_argument("--server-arg", action="append", default=None,
                        help="`promptprint serve` flag, repeatable (default: --embedding-policy=none --embed-workers=0)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/shards.json"))
    args = parser.parse_args(argv)
    if args.keys_only:
        print(render_keys(measure(args.sim_dir)))
        return 0
    logging.basicConfig(level=logging.INFO, format="[bench %(asctime)s] %(message)s", datefmt="%H:%M:%S")
    config = ShardBenchConfig(
        sim_dir=args.sim_dir, members=args.members, replay_members=args.replay_members, prompts=args.prompts,
        callers=args.callers, calls_per_caller=args.calls_per_caller, hop_calls=args.hop_calls,
        replay_prompts=args.replay_prompts,
        server_args=tuple(args.server_arg or ("--embedding-policy=none", "--embed-workers=0")),
    )
    report = run(config)
    report["command"] = " ".join([sys.executable, *sys.argv])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
