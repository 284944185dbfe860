#!/usr/bin/env python3
"""The v1 benchmark: embedding throughput, CheckPrompt latency and server memory, in one run.

    .venv/bin/python scripts/bench.py                       # 2,000-prompt baseline, sizes 10k and 100k
    .venv/bin/python scripts/bench.py --sizes 1000,3000 --baseline-prompts 500 --calls 100   # a quick check

Stock sentence-transformers encode on the first --baseline-prompts prompts (separate
process), then a real `promptprint serve`: the same prompts through
PromptprintClient.ingest (ratio to stock), then ingest until the index holds each of
--sizes and measure CheckPrompt (1 and --concurrency callers), FindNearDuplicates k=10,
the server's RSS and GetIndexStats. Prints a markdown table; writes the full report
(command, machine, versions, targets with pass/fail) as JSON to --out.

What is measured and why: evaluation/benchmark.py. Ctrl-C or SIGTERM stops the
server (gracefully) before exiting.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.benchmark import BenchConfig, run_benchmark  # noqa: E402
from evaluation.benchmark_report import render_markdown  # noqa: E402
from evaluation.datasets import DEFAULT_DATA_DIR  # noqa: E402


def _sizes(value: str) -> list[int]:
    try:
        sizes = sorted({int(v.replace("_", "")) for v in value.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes comma-separated integers, got {value!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("--sizes must list positive integers")
    return sizes


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000], help="index sizes to measure at (default 10000,100000)")
    parser.add_argument("--baseline-prompts", type=_positive, default=2000,
                        help="prompts for the stock-vs-server throughput comparison (default 2000)")
    parser.add_argument("--calls", type=_positive, default=300,
                        help="one-caller CheckPrompt and FindNearDuplicates calls per size (default 300)")
    parser.add_argument("--concurrency", type=_positive, default=8, help="concurrent semantic-tier CheckPrompt callers (default 8)")
    parser.add_argument("--fast-concurrency", type=_positive, default=16,
                        help="concurrent fingerprint-tier (default tier) CheckPrompt callers (default 16)")
    parser.add_argument("--semantic-calls", type=_positive, default=50,
                        help="semantic-tier CheckPrompt calls, 1 caller and --concurrency callers (default 50)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra `promptprint serve` flag, repeatable (e.g. --server-arg=--gil-switch-ms=1)")
    parser.add_argument("--wait-vectors-up-to", type=int, default=20_000,
                        help="wait for every vector before measuring sizes up to this (default 20000)")
    parser.add_argument("--calls-per-caller", type=_positive, default=100,
                        help="CheckPrompt calls per concurrent caller (default 100)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the prompt stream and the lookups (default 7)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"the shared/data folder with the public datasets (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--out", type=Path, default=Path("bench-out/bench.json"), help="JSON report (default bench-out/bench.json)")
    parser.add_argument("--keep", action="store_true", help="keep the server's data dir and log")
    return parser


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir} is not a directory")
    try:
        config = BenchConfig(
            sizes=tuple(args.sizes), baseline_prompts=args.baseline_prompts, calls=args.calls,
            concurrency=args.concurrency, fast_concurrency=args.fast_concurrency,
            wait_vectors_up_to=args.wait_vectors_up_to, server_args=tuple(args.server_arg), semantic_calls=args.semantic_calls, calls_per_caller=args.calls_per_caller, seed=args.seed,
            data_dir=args.data_dir, keep=args.keep,
        )
    except ValueError as error:
        parser.error(str(error))

    log = logging.getLogger("evaluation")  # the benchmark and its harness
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[bench %(asctime)s] %(message)s", datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    import grpc

    # Both stop the run through run_benchmark's `finally` (which stops the server). SIGINT
    # is set explicitly: shells start background jobs with it ignored.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    try:
        report = run_benchmark(config, command=shlex.join([sys.executable, *sys.argv]))
    except KeyboardInterrupt:
        log.info("interrupted; server stopped")
        return 130
    except (RuntimeError, TimeoutError, OSError) as error:
        log.info("failed: %s", error)
        return 1
    except grpc.RpcError as error:
        log.info("failed: the server answered %s: %s", error.code().name, error.details())  # type: ignore[attr-defined]
        return 1
    report["config"]["out"] = str(args.out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render_markdown(report))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
