#!/usr/bin/env python3
"""Real reindex through the embedding model: prompts/s of `promptprint reindex`,
in-process versus local Ray, on the same prompts, in one run.

    nice -n 10 .venv/bin/python scripts/bench_reindex.py --prompts 2000 --ray-workers 2

Writes --prompts distinct realistic prompts (evaluation.harness.stream.PromptStream over
../shared/data, seeded) to a JSONL file, then runs the reindex job on a fresh data
directory in-process, then (unless --ray-workers 0) on another fresh data directory
with a private local Ray instance of --ray-workers one-CPU actors (what
``--ray-address local`` does). Reports per engine: lines, recorded, embedding
prompts/s, job prompts/s (wall time of the whole job, model loading on the workers
included), index build time and start-up time, as JSON.
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

from evaluation.harness.stream import PromptStream, load_bench_pools  # noqa: E402
from promptprint.index.config import IndexConfig  # noqa: E402
from promptprint.records import format_timestamp  # noqa: E402
from promptprint.executors import RayExecutor  # noqa: E402
from promptprint.jobs.reindex import open_job  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--workdir", default="build/bench_reindex")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ray-workers", type=int, default=2, help="actors of the local Ray run (0: in-process only)")
    parser.add_argument("--batch-size", type=int, default=256, help="lines per embed + commit + checkpoint")
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
    engines = ["in-process"] + (["ray-local"] if args.ray_workers else [])
    for name in engines:
        config = IndexConfig(data_dir=work / name)
        started = time.monotonic()
        engine = RayExecutor("local", workers=args.ray_workers, num_cpus=args.ray_workers) if name == "ray-local" else None
        try:
            with open_job(config, sources=[str(source)], threads=args.threads, executor=engine, batch_size=args.batch_size) as job:
                opened = time.monotonic()
                summary = job.run([str(source)])
            wall = time.monotonic() - opened
        finally:
            if engine is not None:
                engine.close()
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
