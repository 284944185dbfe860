"""Offline jobs on a data directory (a server may be serving it): `promptprint reindex`
and `promptprint purge` (load the embedder and FAISS)."""

from __future__ import annotations

import argparse
import logging
import sys

from tqdm import tqdm

from promptprint.cli.settings import index_config, open_engine
from promptprint.errors import PromptprintError
from promptprint.executors import RayExecutor
from promptprint.jobs.reindex import BadLine, ReindexJob, open_job, purge_data_dir
from promptprint.records import now_ms


def reindex(args: argparse.Namespace) -> int:
    """Take prompt files (or the stored vectors) into a freshly built, published index; 2 on errors."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(args.sources) == args.from_store:
        print("promptprint reindex: give SOURCE files, or --from-store (not both)", file=sys.stderr)
        return 2
    bar = tqdm(unit="prompt", disable=args.no_progress, desc="reindex", dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    def bad(line: BadLine) -> None:
        bar.clear()
        print(f"{line}", file=sys.stderr)

    engine = None
    try:
        config = index_config(args, max_text_bytes=args.max_text_bytes)
        engine = open_engine(args) if args.ray_address else None
        job: ReindexJob
        with open_job(config, sources=args.sources, model=args.model, threads=args.threads, strict=args.strict,
                      batch_size=args.batch_size, on_bad=bad, on_progress=progress, executor=engine) as job:
            summary = job.run(args.sources)
    except (PromptprintError, ValueError, OSError, RuntimeError) as error:
        bar.close()
        print(f"promptprint reindex: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    finally:
        if isinstance(engine, RayExecutor):
            engine.close()
    bar.close()
    rate = f", {summary.prompts_per_second:.1f} prompts/s embedded" if summary.embedded else ""
    print(
        f"lines {summary.lines} (resumed after {summary.resumed_at_line}): recorded {summary.recorded}, "
        f"duplicate {summary.duplicates}, bad {summary.bad}{rate}; index {summary.index_description} of "
        f"{summary.indexed} prompts built in {summary.build_seconds:.1f}s; now serving snapshot {summary.snapshot}"
    )
    return 0


def purge(args: argparse.Namespace) -> int:
    """Retention: delete prompts older than --older-than-days, then rebuild the index."""
    if args.older_than_days <= 0:
        print("promptprint purge: --older-than-days must be positive", file=sys.stderr)
        return 2
    try:
        purged, snapshot = purge_data_dir(index_config(args), now_ms() - int(args.older_than_days * 86_400_000))
    except (PromptprintError, ValueError, OSError) as error:
        print(f"promptprint purge: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    print(f"purged {purged} prompts older than {args.older_than_days:g} days; index rebuilt as snapshot {snapshot}")
    return 0
