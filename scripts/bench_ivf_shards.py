#!/usr/bin/env python3
"""IVF-PQ encoding at scale: in-process versus shards on local Ray, same vectors, one run.

    nice -n 10 .venv/bin/python scripts/bench_ivf_shards.py --size 1000000 --ray-workers 2

Writes ``--size`` synthetic clustered 384-d vectors (evaluation.scale's generator) into
a float16 vector file, trains the coarse quantizer and PQ codebooks once, then encodes
everything into a copy of the trained index three ways:

* ``in-process``: FAISS's own add, chunk by chunk (the default build);
* ``sharded-in-process``: shards encoded here then filled into the lists in one pass
  (the Ray path's code without Ray: the cost of the fill itself);
* ``ray``: the same shards on a private local Ray instance (``--ray-workers`` actors).

Reports seconds and vectors/s per way, and whether the three serialized indexes are
byte-identical (they must be). Ray's start-up is timed apart from the encoding.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import shutil
import sys
import time
from pathlib import Path

import faiss
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.scale import SyntheticSpec, synthetic_chunks  # noqa: E402
from promptprint.executors import InProcess, RayExecutor  # noqa: E402
from promptprint.index.build import encode_all  # noqa: E402
from promptprint.index.ivf_index import IvfParams, IvfPqIndex, VectorFile, train_ivfpq  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--ray-workers", type=int, default=2)
    parser.add_argument("--object-store-mb", type=int, default=1024)
    parser.add_argument("--workdir", default="build/bench_ivf_shards")
    parser.add_argument("--out", default="build/bench_ivf_shards.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    params = IvfParams()
    vectors = VectorFile(work / "vectors.f16", 384)
    vectors.reserve(args.size)
    started = time.monotonic()
    id_chunks, sample = [], []
    nlist = params.lists_for(args.size)
    step = max(1, args.size // (nlist * params.train_per_list))
    for first, rows in synthetic_chunks(SyntheticSpec(), args.size):
        ids = np.arange(first, first + len(rows), dtype=np.int64)
        vectors.write(ids, rows)
        sample.append(rows[(ids % step) == 0])
        id_chunks.append(ids)
    vectors.flush()
    generate_s = time.monotonic() - started
    started = time.monotonic()
    trained = train_ivfpq(np.concatenate(sample)[: nlist * params.train_per_list], params, args.size)
    train_s = time.monotonic() - started
    logging.info("generated %d vectors in %.0fs, trained IVF%d in %.0fs", args.size, generate_s, trained.nlist, train_s)
    blank = faiss.serialize_index(trained)

    report: dict[str, object] = {"command": shlex.join(sys.argv), "size": args.size, "generate_s": round(generate_s, 1),
                                 "train_s": round(train_s, 1), "index": f"IVF{trained.nlist},PQ{params.pq_m}x4fs"}
    digests = {}

    def encode(name: str, executor: object) -> None:
        index = IvfPqIndex(faiss.deserialize_index(blank), vectors, params)
        began = time.monotonic()
        encode_all(index, vectors, id_chunks, executor=executor)  # type: ignore[arg-type]
        seconds = time.monotonic() - began
        digests[name] = hashlib.sha256(faiss.serialize_index(index.trained).tobytes()).hexdigest()
        report[name] = {"encode_s": round(seconds, 1), "vectors_per_s": round(args.size / seconds), "ntotal": len(index)}
        logging.info("%s: %s", name, report[name])

    encode("in-process", None)
    encode("sharded-in-process", InProcess())
    began = time.monotonic()
    ray_engine = RayExecutor("local", workers=args.ray_workers, num_cpus=args.ray_workers,
                             object_store_memory=args.object_store_mb * 1024 * 1024)
    report["ray_start_s"] = round(time.monotonic() - began, 1)
    try:
        encode("ray", ray_engine)
    finally:
        ray_engine.close()
    report["identical"] = len(set(digests.values())) == 1
    report["sha256"] = digests["in-process"][:16]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
