"""Cluster the in-the-wild jailbreak prompts and score the clusters against the
authors' communities (ARI, NMI on rows in communities of >= 5): thin CLI over
:mod:`evaluation.reconstruction` and :mod:`promptprint.reconstruct`.

    python scripts/jailbreak_clusters.py [--vectors-cache /tmp/jb.npy] [--k 30] [--min-weight 0.05]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation import reconstruction as ev  # noqa: E402
from evaluation.datasets import DEFAULT_DATA_DIR  # noqa: E402
from promptprint.text.normalize import canonical_text  # noqa: E402
from promptprint.reconstruct.clustering import ClusterParams  # noqa: E402
from promptprint.reconstruct.corpus import corpus_from_records  # noqa: E402
from promptprint.reconstruct.graph import GraphParams  # noqa: E402
from promptprint.reconstruct.knn_graph import KnnParams  # noqa: E402
from promptprint.reconstruct.pipeline import ReconstructConfig, template_clusters  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the shared/data folder")
    parser.add_argument("--vectors-cache", type=Path, default=None, help="reuse (or write) the MiniLM vectors here (.npy)")
    parser.add_argument("--k", type=int, default=KnnParams.k)
    parser.add_argument("--min-weight", type=float, default=GraphParams.min_weight)
    parser.add_argument("--semantic-weight", type=float, default=GraphParams.semantic_weight)
    parser.add_argument("--resolution", type=float, default=ClusterParams.resolution)
    parser.add_argument("--no-lexical-templates", action="store_true")
    args = parser.parse_args(argv)
    rows = ev.load_jailbreak(args.data_dir)
    if args.vectors_cache and args.vectors_cache.exists():
        cached = np.load(args.vectors_cache)
        embed = lambda texts: cached[[index[t] for t in texts]]  # noqa: E731
        index = {canonical_text(r.text): i for i, r in enumerate(rows.records)}  # corpus embeds canonical text
    else:
        from promptprint.vectors.embedder import SentenceTransformerEmbedder

        embed = SentenceTransformerEmbedder(threads=2).embed
    started = time.perf_counter()
    corpus = corpus_from_records(rows.records, embed)
    embed_s = time.perf_counter() - started
    if args.vectors_cache and not args.vectors_cache.exists():
        order = {p: i for i, p in enumerate(corpus.prompt_ids)}
        np.save(args.vectors_cache, corpus.vectors[[order[r.prompt_id] for r in rows.records]])
    config = ReconstructConfig(
        knn=KnnParams(k=args.k),
        graph=GraphParams(min_weight=args.min_weight, semantic_weight=args.semantic_weight, lexical_templates=not args.no_lexical_templates),
        clusters=ClusterParams(resolution=args.resolution),
    )
    view = template_clusters(corpus, config)
    position = {p: i for i, p in enumerate(corpus.prompt_ids)}
    labels = view.labels[[position[r.prompt_id] for r in rows.records]]
    score = ev.score_clusters(labels, rows.community)
    print(json.dumps({"config": dataclasses.asdict(config), "embed_s": round(embed_s, 1), "edges": view.edge_count,
                      "timings_s": {k: round(v, 2) for k, v in view.timings_s.items()}, **dataclasses.asdict(score)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
