#!/usr/bin/env python3
"""Overload run: more CheckPrompt callers than the server admits, with and without limits.

    .venv/bin/python scripts/load.py                          # 48 callers, limit 4, 20 s per phase
    .venv/bin/python scripts/load.py --callers 16 --seconds 5 # a quick check

Prints a JSON report: per phase, calls admitted and refused (RESOURCE_EXHAUSTED),
p50/p99 of admitted calls, p99 time to a refusal, and the server's resident memory.
What is measured and why: evaluation/overload.py.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.overload import OverloadConfig, run_overload  # noqa: E402

DEFAULT_PROMPTS = REPO.parent / "shared" / "data" / "alpaca" / "alpaca_5000.jsonl.gz"


def _texts(path: Path) -> list[str]:
    """Real prompts (Alpaca instructions with their inputs), deduplicated."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return list(dict.fromkeys(r["instruction"] + ("\n" + r["input"] if r.get("input") else "") for r in rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=48)
    parser.add_argument("--limit", type=int, default=4, help="--max-concurrent of the limited phase")
    parser.add_argument("--queued", type=int, default=4, help="--max-queued of the limited phase")
    parser.add_argument("--queue-wait", type=float, default=0.5, help="--max-queue-wait of the limited phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each phase")
    parser.add_argument("--seed-prompts", type=int, default=500, help="prompts indexed before the run")
    parser.add_argument("--tier", choices=("semantic", "fingerprint"), default="semantic",
                        help="CheckPrompt tier (default semantic: one forward pass per call, where overload bites)")
    parser.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS, help="Alpaca-format JSONL.gz of prompts")
    parser.add_argument("--out", default=None, help="also write the report here")
    args = parser.parse_args()
    if args.callers <= args.limit:
        parser.error("--callers must exceed --limit: the point is more callers than the limit")
    texts = _texts(args.prompts)
    config = OverloadConfig(
        args.callers, args.limit, args.queued, args.queue_wait, args.seconds, args.seed_prompts, tier=args.tier
    )
    report = run_overload(config, texts)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
