"""Wall time and peak memory of offline reconstruction at scale, on synthetic corpora
(synthetic words, synthetic vectors: see evaluation.reconstruction.synthetic_corpus; the
real model embeds the instructions of templates worded per account, as the CLI does).
Each size runs in its own process so its peak RSS is its own.

    python scripts/bench_reconstruct.py --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _one(prompts: int, quick_lexical: bool) -> dict[str, object]:
    from evaluation.reconstruction import synthetic_corpus, synthetic_lexical_view
    from promptprint.reconstruct.outputs import write_reconstruction
    from promptprint.reconstruct.pipeline import reconstruct
    from promptprint.reconstruct.report import write_report

    started = time.perf_counter()
    corpus, truth = synthetic_corpus(prompts)
    lexical = synthetic_lexical_view(corpus) if quick_lexical else None
    generate_s = time.perf_counter() - started
    from promptprint.vectors.embedder import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder()  # as `promptprint campaigns` does: the instructions of templates worded per account
    started = time.perf_counter()
    result = reconstruct(corpus, lexical=lexical, embed=model.embed)
    reconstruct_s = time.perf_counter() - started
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_reconstruction(result, out)
        write_report(result, out)
    write_s = time.perf_counter() - started
    found = [{int(a.account_id[5:]) for a in c.accounts} for c in result.campaigns]  # "acct-<code>"
    recovered = sum(
        max((len(accounts & f) / len(accounts | f) for f in found), default=0.0) >= 0.9 for accounts in truth.values()
    )
    return {
        "prompts": prompts,
        "lexical": "quick (sketches of word 3-grams, no tracker; not timed)" if quick_lexical else "full",
        "generate_s": round(generate_s, 1),
        "reconstruct_s": round(reconstruct_s, 1),
        "steps_s": {k: round(v, 1) for k, v in result.timings_s.items()},
        "write_s": round(write_s, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "vectors_mib": round(corpus.vectors.nbytes / 2**20),
        "campaigns_true": len(truth),
        "campaigns_recovered_jaccard_0.9": recovered,
        "campaigns_reported": len(result.campaigns),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated corpus sizes")
    parser.add_argument(
        "--quick-lexical", action="store_true",
        help="skip the per-prompt Python lexical step (skeleton, tracker): sketch word 3-grams instead, to time the "
        "vector, graph and campaign steps at sizes where the lexical step would take an hour on 2 shared cores",
    )
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(_one(args.one, args.quick_lexical)))
        return 0
    for size in (int(s) for s in args.sizes.split(",")):
        extra = ["--quick-lexical"] if args.quick_lexical else []
        run = subprocess.run([sys.executable, __file__, "--one", str(size), *extra], capture_output=True, text=True)
        if run.returncode:
            print(run.stderr, file=sys.stderr)
            return run.returncode
        print(run.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
