"""Reconstruct campaigns from simulated traffic and score them against the truth:
thin CLI over :mod:`promptprint.reconstruct` and :mod:`evaluation.reconstruction`.

    python scripts/simulate.py --out-dir /tmp/sim8k --prompts 8000
    python scripts/reconstruct_sim.py --sim-dir /tmp/sim8k --out /tmp/rec8k [--vectors-cache /tmp/sim8k.npy]
    python scripts/reconstruct_sim.py --sim-dir /tmp/sim8k --out /tmp/rec8k --vectors-cache /tmp/sim8k.npy --ablation

Prints, per true campaign, the best-matching reported campaign (account Jaccard,
prompt recall and precision, rank, score), each reported campaign's share of bystander
accounts, and every other reported campaign with the kinds of prompts it holds
(benign look-alikes), plus wall time and peak memory. ``--ablation`` clusters once and
attributes with each combination of link evidence (dedicated accounts alone, + synchronized
bursts, + embedding support, + instructions worded alike, all but wording, all), at the default
threshold and at 0, one line each. The traffic's vectors come from the cache when given; the
templates' instructions (a few hundred texts) are embedded by the model.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation import reconstruction as ev  # noqa: E402
from promptprint.text.normalize import canonical_text  # noqa: E402
from promptprint.templates.banks import Banks  # noqa: E402
from promptprint.readers import read_records  # noqa: E402
from promptprint.reconstruct.corpus import corpus_from_records  # noqa: E402
from promptprint.reconstruct.outputs import write_reconstruction  # noqa: E402
from promptprint.reconstruct.attribution import AttributionParams  # noqa: E402
from promptprint.reconstruct.pipeline import ReconstructConfig, reconstruct, template_clusters  # noqa: E402
from promptprint.reconstruct.report import write_report  # noqa: E402
from promptprint.vectors.embedder import SentenceTransformerEmbedder  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="where the reconstruction is written")
    parser.add_argument("--vectors-cache", type=Path, default=None, help="reuse (or write) the traffic's vectors (.npy, traffic order)")
    parser.add_argument("--min-score", type=float, default=ReconstructConfig.min_score)
    parser.add_argument("--ablation", action="store_true", help="one line per combination of link evidence instead")
    args = parser.parse_args(argv)
    records = [line.record for line in read_records(args.sim_dir / "traffic.jsonl") if line.record is not None]
    model = functools.cache(lambda: SentenceTransformerEmbedder(threads=2))
    embed: Callable[[Sequence[str]], np.ndarray] = lambda texts: model().embed(texts)  # noqa: E731
    if args.vectors_cache and args.vectors_cache.exists():
        cached = np.load(args.vectors_cache)
        texts_index = {canonical_text(r.text): i for i, r in enumerate(records)}  # corpus embeds canonical text

        def embed(texts: Sequence[str]) -> np.ndarray:
            """The cached vectors of the traffic; the model for what is not (templates' instructions)."""
            if all(t in texts_index for t in texts):
                return cached[[texts_index[t] for t in texts]]
            return model().embed(texts)
    started = time.perf_counter()
    corpus = corpus_from_records(records, embed)
    embed_s = time.perf_counter() - started
    if args.vectors_cache and not args.vectors_cache.exists():
        order = {p: i for i, p in enumerate(corpus.prompt_ids)}
        np.save(args.vectors_cache, corpus.vectors[[order[r.prompt_id] for r in records]])
    banks = Banks(Path(":memory:"))  # the built-in allow bank, as a new data dir has it
    config = ReconstructConfig(min_score=args.min_score)
    if args.ablation:
        return _ablation(corpus, config, banks, args.sim_dir, embed)
    started = time.perf_counter()
    result = reconstruct(corpus, config, bank_match=banks.match, embed=embed)
    reconstruct_s = time.perf_counter() - started
    write_reconstruction(result, args.out)
    write_report(result, args.out)
    match = ev.simulation_match(result, args.sim_dir)
    print(json.dumps({
        "prompts": len(corpus), "embed_s": round(embed_s, 1), "reconstruct_s": round(reconstruct_s, 1),
        "timings_s": {k: round(v, 2) for k, v in result.timings_s.items()},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "campaigns_found": len(result.campaigns), **match,
    }, indent=1))
    return 0


def _ablation(corpus: object, config: ReconstructConfig, banks: Banks, sim_dir: Path,
              embed: Callable[[Sequence[str]], np.ndarray]) -> int:
    """What each kind of link evidence adds, on one clustering of the corpus."""
    view = template_clusters(corpus, config)  # type: ignore[arg-type]
    variants = {
        "accounts only": AttributionParams(use_sync=False, use_embedding=False, use_wording=False, use_org=False),
        "accounts + sync": AttributionParams(use_sync=True, use_embedding=False, use_wording=False, use_org=False),
        "accounts + embedding": AttributionParams(use_sync=False, use_embedding=True, use_wording=False, use_org=False),
        "accounts + wording": AttributionParams(use_sync=False, use_embedding=False, use_wording=True, use_org=False),
        "accounts + org": AttributionParams(use_sync=False, use_embedding=False, use_wording=False, use_org=True),
        "all but wording": AttributionParams(use_wording=False),
        "all but org": AttributionParams(use_org=False),
        "all (default)": AttributionParams(),
    }
    first = True
    for min_score in (config.min_score, 0.0):
        for name, params in variants.items():
            run = ReconstructConfig(attribution=params, min_score=min_score)
            result = reconstruct(corpus, run, bank_match=banks.match, clusters=view, embed=embed)  # type: ignore[arg-type]
            match = ev.simulation_match(result, sim_dir)
            if first:
                print("true campaigns, in the order of the Jaccard columns: " + " ".join(match["campaigns"]))
                first = False
            jaccards = " ".join(f"{v['account_jaccard']:.2f}" if v else "-" for v in match["campaigns"].values())
            print(f"min_score {min_score:.2f} | {name:22s} | Jaccard per campaign {jaccards} | "
                  f"worst {match['summary']['worst_jaccard']:.2f} | max bystanders {match['summary']['max_bystander_share']:.1%} | "
                  f"reported {match['summary']['reported']} | unreported {result.unreported.campaigns}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
