#!/usr/bin/env python3
"""Real reindex through the embedding model: prompts/s of `promptprint reindex`.

    nice -n 10 .venv/bin/python scripts/bench_reindex.py --prompts 2000

Writes --prompts distinct realistic prompts (evaluation.benchmark.PromptStream over
../shared/data, seeded) to a JSONL file, then runs the reindex job on a fresh data
directory in-process. Reports lines, recorded, embedding prompts/s, index build time
and the wall time of the whole job, as JSON. (A Ray engine is not built yet.)
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.benchmark import PromptStream, load_bench_pools  # noqa: E402
from indexer.prompt_index import IndexConfig  # noqa: E402
from indexer.records import format_timestamp  # noqa: E402
from indexer.reindex import open_job  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--workdir", default="build/bench_reindex")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    stream = PromptStream(load_bench_pools(), args.seed)
    source = work / "prompts.jsonl"
    with open(source, "w", encoding="utf-8") as fh:
        for i in range(args.prompts):
            _, text = stream.next()
            row = {"prompt_id": f"p-{i}", "account_id": f"a-{i % 97}", "created_at": format_timestamp(1_767_225_600_000 + i * 1000), "text": text}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    reports = {}
    for name in ("in-process",):
        config = IndexConfig(data_dir=work / name)
        started = time.monotonic()
        with open_job(config, sources=[str(source)], threads=args.threads) as job:
            opened = time.monotonic()
            summary = job.run([str(source)])
        wall = time.monotonic() - opened
        reports[name] = {
            "lines": summary.lines, "recorded": summary.recorded, "bad": summary.bad,
            "embed_prompts_per_s": round(summary.prompts_per_second, 1),
            "job_prompts_per_s": round(summary.recorded / wall, 1),
            "build_s": round(summary.build_seconds, 2), "index": summary.index_description,
            "startup_s": round(opened - started, 1),
        }
        logging.info("%s: %s", name, reports[name])
    print(json.dumps({"command": " ".join(sys.argv), "prompts": args.prompts, "reports": reports}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
