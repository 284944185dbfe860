#!/usr/bin/env python3
"""CheckPrompts against CheckPrompt: prompts/s with record=true on one server process.

    .venv/bin/python scripts/bench_check_stream.py --prompts 20000 --unary-prompts 3000

Simulates traffic (evaluation.simulate), then, each on a fresh data directory of its own
`promptprint serve` (a child process, default settings), replays it in created_at order:
through one CheckPrompts stream (``--batch-size`` prompts a message) and, for comparison,
its first ``--unary-prompts`` through CheckPrompt one call at a time (what `promptprint
replay` did before the stream). Both record every prompt. The verdicts of the prompts
both sent are compared: the stream must answer what the calls did.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.simulate import run_simulation  # noqa: E402
from evaluation.simulate.config import SimulationConfig  # noqa: E402
from promptprint.client import PromptprintClient  # noqa: E402
from promptprint.local_server import LocalServer  # noqa: E402
from promptprint.readers import read_records  # noqa: E402
from promptprint.records import PromptRecord  # noqa: E402
from promptprint.v1 import fingerprint_pb2 as pb  # noqa: E402


def _stream(target: str, records: list[PromptRecord], batch_size: int) -> tuple[float, list[pb.CheckPromptsResult]]:
    with PromptprintClient(target) as client:
        started = time.perf_counter()
        results = list(client.check_prompts(records, record=True, batch_size=batch_size))
        return time.perf_counter() - started, results


def _unary(target: str, records: list[PromptRecord]) -> tuple[float, list[pb.CheckPromptResponse]]:
    with PromptprintClient(target) as client:
        started = time.perf_counter()
        verdicts = [client.check_record(r, store=True) for r in records]
        return time.perf_counter() - started, verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=20_000, help="simulated prompts sent through CheckPrompts")
    parser.add_argument("--unary-prompts", type=int, default=3_000, help="of those, sent through CheckPrompt one at a time")
    parser.add_argument("--batch-size", type=int, default=256, help="prompts per CheckPrompts message")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve-arg", action="append", default=[], help="an extra `promptprint serve` flag (repeat)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.prompts < 1 or not 0 <= args.unary_prompts <= args.prompts:
        parser.error("--prompts must be positive and --unary-prompts in 0..--prompts")
    with tempfile.TemporaryDirectory(prefix="bench-check-stream-") as tmp:
        work = Path(tmp)
        run_simulation(SimulationConfig(prompts=args.prompts, seed=args.seed), work / "sim")
        records = sorted(
            (line.record for line in read_records(work / "sim" / "traffic.jsonl") if line.record is not None),
            key=lambda r: r.created_at_ms,
        )
        with LocalServer(work / "stream-data", args.serve_arg, log_path=work / "stream.log") as server:
            stream_s, results = _stream(server.target, records, args.batch_size)
        report: dict[str, object] = {
            "prompts": len(records),
            "batch_size": args.batch_size,
            "check_prompts_per_s": round(len(records) / stream_s, 1),
            "rejected": sum(r.HasField("rejection") for r in results),
        }
        if args.unary_prompts:
            head = records[: args.unary_prompts]
            with LocalServer(work / "unary-data", args.serve_arg, log_path=work / "unary.log") as server:
                unary_s, verdicts = _unary(server.target, head)
            report["unary_prompts"] = len(head)
            report["check_prompt_per_s"] = round(len(head) / unary_s, 1)
            report["identical_verdicts"] = all(r.verdict == v for r, v in zip(results, verdicts))
    print(f"CheckPrompts (record=true, {args.batch_size} a message): {report['check_prompts_per_s']:,} prompts/s over {len(records):,}")
    if args.unary_prompts:
        print(f"CheckPrompt one at a time (record=true): {report['check_prompt_per_s']:,} prompts/s over {report['unary_prompts']:,}")
        print(f"verdicts of the first {report['unary_prompts']:,} identical: {report['identical_verdicts']}")
    print(json.dumps(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
