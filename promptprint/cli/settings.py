"""Shared flags -> library settings, for the verbs that run the library in this process
(serve, reindex, purge, campaigns). Importing this loads FAISS: only those verbs do."""

from __future__ import annotations

import argparse
from pathlib import Path

from promptprint.executors import InProcess, RayExecutor, executor_for
from promptprint.index.ivf_index import IvfParams
from promptprint.index.config import IndexConfig


def index_config(args: argparse.Namespace, **extra: object) -> IndexConfig:
    """The IndexConfig of --data-dir and the index-choice flags, plus ``extra`` fields."""
    return IndexConfig(
        data_dir=Path(args.data_dir),
        index_kind=args.index,
        hnsw_threshold=args.hnsw_threshold,
        ivf_threshold=args.ivf_threshold,
        ivf=IvfParams(nlist=args.nlist, pq_m=args.pq_m, nprobe=args.nprobe, k_factor=args.rerank_factor),
        **extra,  # type: ignore[arg-type]
    )


def open_engine(args: argparse.Namespace) -> InProcess | RayExecutor:
    """The executor the --ray-address flag asks for (in-process without it).

    Raises:
        ValueError: --ray-workers without --ray-address.
    """
    if args.ray_workers is not None and not args.ray_address:
        raise ValueError("--ray-workers needs --ray-address")
    return executor_for(args.ray_address, workers=args.ray_workers)
