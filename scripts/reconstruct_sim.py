"""Reconstruct campaigns from simulated traffic and score them against the truth:
thin CLI over :mod:`promptprint.reconstruct` and :mod:`evaluation.reconstruction`.

    python scripts/simulate.py --out-dir /tmp/sim8k --prompts 8000
    python scripts/reconstruct_sim.py --sim-dir /tmp/sim8k --out /tmp/rec8k [--vectors-cache /tmp/sim8k.npy]

Prints, per true campaign, the best-matching reconstructed campaign (account Jaccard,
prompt recall and precision, rank, score) and every other reported campaign with the
kinds of prompts it holds (benign look-alikes), plus wall time and peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation import reconstruction as ev  # noqa: E402
from promptprint.text.normalize import canonical_text  # noqa: E402
from promptprint.templates.banks import Banks  # noqa: E402
from promptprint.readers import read_records  # noqa: E402
from promptprint.reconstruct.corpus import corpus_from_records  # noqa: E402
from promptprint.reconstruct.outputs import write_reconstruction  # noqa: E402
from promptprint.reconstruct.pipeline import reconstruct  # noqa: E402
from promptprint.reconstruct.report import write_report  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="where the reconstruction is written")
    parser.add_argument("--vectors-cache", type=Path, default=None, help="reuse (or write) the traffic's vectors (.npy, traffic order)")
    args = parser.parse_args(argv)
    records = [line.record for line in read_records(args.sim_dir / "traffic.jsonl") if line.record is not None]
    if args.vectors_cache and args.vectors_cache.exists():
        cached = np.load(args.vectors_cache)
        texts_index = {canonical_text(r.text): i for i, r in enumerate(records)}  # corpus embeds canonical text
        embed = lambda texts: cached[[texts_index[t] for t in texts]]  # noqa: E731
    else:
        from promptprint.vectors.embedder import SentenceTransformerEmbedder

        embed = SentenceTransformerEmbedder(threads=2).embed
    started = time.perf_counter()
    corpus = corpus_from_records(records, embed)
    embed_s = time.perf_counter() - started
    if args.vectors_cache and not args.vectors_cache.exists():
        order = {p: i for i, p in enumerate(corpus.prompt_ids)}
        np.save(args.vectors_cache, corpus.vectors[[order[r.prompt_id] for r in records]])
    banks = Banks(Path(":memory:"))  # the built-in allow bank, as a new data dir has it
    started = time.perf_counter()
    result = reconstruct(corpus, bank_match=banks.match)
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


if __name__ == "__main__":
    sys.exit(main())
