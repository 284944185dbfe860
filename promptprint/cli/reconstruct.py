"""`promptprint campaigns`: reconstruct campaigns offline, from a data dir or prompt files,
and write JSONL, Parquet and report.html (loads the embedder, FAISS, igraph; Ray only
with --ray-address)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from promptprint.cli.settings import open_engine
from promptprint.errors import PromptprintError
from promptprint.executors import InProcess, RayExecutor
from promptprint.reconstruct.attribution import AttributionParams
from promptprint.reconstruct.clustering import ClusterParams
from promptprint.reconstruct.corpus import corpus_from_files, corpus_from_store
from promptprint.reconstruct.graph import GraphParams
from promptprint.reconstruct.knn_graph import KnnParams
from promptprint.reconstruct.outputs import RECONSTRUCTIONS_DIR, publish, write_reconstruction
from promptprint.reconstruct.pipeline import ReconstructConfig, reconstruct
from promptprint.reconstruct.progress import Advance, Progress
from promptprint.reconstruct.report import write_report
from promptprint.records import parse_timestamp
from promptprint.templates.banks import Banks
from promptprint.vectors.embedder import ModelLoader, PooledEmbedder, SentenceTransformerEmbedder


def bars(quiet: bool) -> Progress:
    """A tqdm bar on stderr per stage of the reconstruction; none when ``quiet``."""

    @contextlib.contextmanager
    def stage(name: str, total: int, unit: str) -> Iterator[Advance]:
        with tqdm(total=total, unit=unit, desc=name, disable=quiet, dynamic_ncols=True, file=sys.stderr) as bar:

            def advance(n: int) -> None:
                bar.update(n)

            yield advance

    return stage  # type: ignore[return-value]  # contextmanager's wrapper is a Progress


def campaigns(args: argparse.Namespace) -> int:
    """Reconstruct and write the outputs; 2 on bad flags, unreadable input or no prompts."""
    try:
        engine = open_engine(args)
    except (ValueError, ConnectionError, RuntimeError) as error:
        print(f"promptprint campaigns: {error}", file=sys.stderr)
        return 2
    try:
        return _run(args, engine)
    finally:
        if isinstance(engine, RayExecutor):  # the in-process engine holds nothing to release
            engine.close()


def _run(args: argparse.Namespace, engine: InProcess | RayExecutor) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(args.data_dir) == bool(args.sources):
        print("promptprint campaigns: give either --data-dir or SOURCE files (not both)", file=sys.stderr)
        return 2
    if args.sources and not args.out:
        print("promptprint campaigns: --out is required with SOURCE files", file=sys.stderr)
        return 2
    try:
        since = parse_timestamp(args.since, "since") if args.since else None
        until = parse_timestamp(args.until, "until") if args.until else None
        config = ReconstructConfig(
            knn=KnnParams(k=args.k),
            graph=GraphParams(min_weight=args.min_weight),
            clusters=ClusterParams(resolution=args.resolution),
            attribution=AttributionParams(min_accounts=args.min_accounts),
            min_score=args.min_score,
        )
        progress = bars(args.no_progress)

        @functools.cache  # loaded once, when first needed: a data dir's corpus may need none
        def model() -> SentenceTransformerEmbedder:
            return SentenceTransformerEmbedder(args.model, threads=args.threads)

        if args.data_dir:
            # the model loads only if some stored prompt has no vector (the server's policy skipped it)
            corpus = corpus_from_store(
                args.data_dir, embedder=model,
                since_ms=since, until_ms=until, progress=progress,
            )
            banks = Banks(Path(args.data_dir) / "records.sqlite", seed_builtin=False)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            out = Path(args.out) if args.out else Path(args.data_dir) / RECONSTRUCTIONS_DIR / stamp
        elif args.ray_address:
            pooled = PooledEmbedder(engine, ModelLoader(args.model))
            try:
                corpus, unreadable = corpus_from_files(
                    args.sources, pooled, since_ms=since, until_ms=until, batch_size=256 * engine.workers, progress=progress
                )
            finally:
                pooled.close()
        else:
            corpus, unreadable = corpus_from_files(args.sources, model(), since_ms=since, until_ms=until, progress=progress)
        if args.sources:
            if unreadable:
                print(f"skipped {unreadable} unreadable or incomplete lines", file=sys.stderr)
            banks = Banks(Path(":memory:"))  # the built-in allow bank of public agent scaffolds
            out = Path(args.out)
    except (PromptprintError, ValueError, OSError) as error:
        print(f"promptprint campaigns: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    if not len(corpus):
        print("promptprint campaigns: no prompts in the given time range", file=sys.stderr)
        return 2
    try:
        # the model also embeds the instructions of templates worded per account (a forward pass per template)
        result = reconstruct(corpus, config, bank_match=banks.match, executor=engine, progress=progress,
                             embed=lambda texts: model().embed(texts))
    finally:
        banks.close()
    write_reconstruction(result, out, since_ms=since, until_ms=until)
    report = write_report(result, out, max_campaigns=args.report_campaigns)
    if args.data_dir:
        publish(args.data_dir, out)
    print(f"{len(result.campaigns)} campaigns scoring {config.min_score:.2f} or more from {len(corpus)} prompts; "
          f"wrote {out}/campaigns.jsonl, *.parquet and {report}")
    for c in result.campaigns[:10]:
        text = c.templates[0].template.render() if c.templates else ""
        print(f"  {c.campaign_id}  score {c.score:.2f}  {c.stats.accounts:>5} accounts  {c.stats.prompts:>6} prompts  {text[:70]}")
    if len(result.campaigns) > 10:
        print(f"  ... {len(result.campaigns) - 10} more in {out}/campaigns.jsonl")
    print(result.unreported.line())
    return 0
