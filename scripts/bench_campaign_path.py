#!/usr/bin/env python3
"""What the campaign features add to one CheckPrompt, measured on simulated traffic.

    python scripts/bench_campaign_path.py --sim-dir /tmp/sim50k

Replays a simulation's traffic (see scripts/simulate.py) in created_at order through
the template tracker and banks exactly as PromptIndex.check does — signature, template
match, windowed features (the shingle template's and the instruction lines'), bank
match, score, the account's campaign mark, then record — and reports the per-prompt
latency of that added path (p50/p99), with the tracker's memory per prompt. The rest
of CheckPrompt (embedding, FAISS search, SQLite commit) is unchanged by these features.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from promptprint.templates.banks import Banks  # noqa: E402
from promptprint.templates.scoring import assess, carried  # noqa: E402
from promptprint.records import parse_timestamp  # noqa: E402
from promptprint.text.skeleton import signature  # noqa: E402
from promptprint.templates.tracker import Event, TemplateTracker  # noqa: E402
from promptprint.process import resident_memory_bytes  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sim-dir", required=True, help="a directory written by scripts/simulate.py")
    parser.add_argument("--limit", type=int, default=0, help="only the first N prompts (0 = all)")
    args = parser.parse_args()

    with open(Path(args.sim_dir) / "traffic.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    if args.limit:
        rows = rows[: args.limit]
    tracker = TemplateTracker()
    with tempfile.TemporaryDirectory() as tmp:
        banks = Banks(Path(tmp) / "banks.sqlite")
        gc.collect()
        rss_before = resident_memory_bytes()
        lookup, record = [], []
        flagged = 0
        for row_id, row in enumerate(rows, 1):
            now = parse_timestamp(row["created_at"])
            t0 = time.perf_counter()
            sig = signature(row["text"])
            template = tracker.match(sig)
            features = tracker.features(template, now, row["account_id"]) if template else None
            bank = banks.match(sig, template.core if template else None)
            verdict = assess(features, bank)
            task = tracker.task_of(row["account_id"])  # none here: no linker embeds tasks (their queue is kept)
            for line in [*tracker.line_templates(sig), *([task] if task is not None else [])]:  # as Lookups.assess
                candidate = assess(tracker.features(line, now, row["account_id"]), bank)
                if (candidate.flagged, candidate.score) > (verdict.flagged, verdict.score):
                    verdict = candidate
            if verdict.flagged:  # as promptprint.index.prompt_index.PromptIndex._judge
                if verdict.template_id:
                    tracker.note_flagged(verdict.template_id, now, verdict.score)
            elif (mark := tracker.campaign_mark(row["account_id"], now)) is not None:
                verdict = carried(verdict, mark, now)
            t1 = time.perf_counter()
            tracker.record(sig, Event(now, row["account_id"], row.get("org_id") or "", row_id))
            t2 = time.perf_counter()
            lookup.append(t1 - t0)
            record.append(t2 - t1)
            flagged += verdict.flagged
        gc.collect()
        rss_after = resident_memory_bytes()
        banks.close()

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    total = [a + b for a, b in zip(lookup, record)]
    print(f"campaign path over {len(rows):,} prompts ({len(tracker):,} templates, {flagged:,} flagged)")
    print("| part | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|")
    for name, values in (("lookup (signature, match, features, banks, score)", lookup), ("record (join or found)", record), ("total added per CheckPrompt", total)):
        print(f"| {name} | {pct(values, 0.5):.3f} | {pct(values, 0.99):.3f} | {sum(values) / len(values) * 1000:.3f} |")
    print(f"tracker resident memory: {(rss_after - rss_before) / 2**20:.1f} MiB, {(rss_after - rss_before) / len(rows):,.0f} B per prompt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
