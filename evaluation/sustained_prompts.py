"""The prompt file of a sustained-ingest run, written before the timed part.

``prompts`` distinct bench prompts (:class:`~evaluation.harness.stream.PromptStream`, accounts
and orgs as :func:`~evaluation.harness.stream.bench_record` draws them) as JSONL, with
``created_at`` advancing by ``1 / rate`` from the moment writing began, as a live
pipeline would stamp them. A side file (``FILE.meta.json``) says what was written and
keeps the prompts the lookup check will ask for (spread over the whole run, and the last
ones), so nothing is re-read after the run; a file written for the same count, rate and
seed is reused.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evaluation.harness.stream import PromptStream, bench_record, load_bench_pools
from promptprint.records import format_timestamp

__all__ = ["generate_prompts", "live_created_at", "lookup_positions"]

log = logging.getLogger(__name__)


def live_created_at(start_ms: int, position: int, rate: float) -> int:
    """``created_at`` of the prompt at ``position`` of a stream of ``rate`` prompts a second
    that began at ``start_ms``: what a live pipeline would stamp."""
    return start_ms + int(position * 1000 / rate)


def lookup_positions(prompts: int, spread: int, recent: int, rng: random.Random) -> dict[str, list[int]]:
    """The positions the lookup check asks for: ``spread`` drawn uniformly from the run
    before its last ``recent`` (so the groups do not overlap), and those last ``recent``."""
    recent = min(recent, prompts)
    earlier = prompts - recent
    return {
        "spread": sorted(rng.sample(range(earlier), min(spread, earlier))),
        "recent": list(range(earlier, prompts)),
    }


def generate_prompts(
    path: Path, *, prompts: int, rate: float, seed: int, spread_lookups: int, recent_lookups: int,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Write (or reuse) the prompt file and its side file; returns the side file's content
    (``lookups``: group, position, prompt_id and text of each prompt to look up) plus
    ``reused``."""
    meta_path = path.with_name(path.name + ".meta.json")
    wanted = {"prompts": prompts, "rate": rate, "seed": seed, "spread_lookups": spread_lookups,
              "recent_lookups": recent_lookups}
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if {key: meta.get(key) for key in wanted} == wanted:
            log.info("reusing %s (%s prompts, written %s)", path, f"{prompts:,}", meta["written_at"])
            return dict(meta) | {"reused": True}
    started = time.perf_counter()
    start_ms = int(time.time() * 1000)
    stream = PromptStream(load_bench_pools(data_dir), seed)
    rng = random.Random(f"promptprint-sustained-records-{seed}")
    positions = lookup_positions(prompts, spread_lookups, recent_lookups, random.Random(f"promptprint-sustained-lookups-{seed}"))
    group_of = {p: group for group, ps in positions.items() for p in ps}
    lookups: list[dict[str, Any]] = []
    kinds: dict[str, int] = {}
    text_bytes = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for i in range(prompts):
            kind, text = stream.next()
            kinds[kind] = kinds.get(kind, 0) + 1
            text_bytes += len(text.encode("utf-8"))
            record = bench_record(rng, f"sustained-{seed}-{i:08d}", text, start_ms)
            row = {"prompt_id": record.prompt_id, "account_id": record.account_id,
                   "created_at": format_timestamp(live_created_at(start_ms, i, rate)), "text": text}
            if record.org_id:
                row["org_id"] = record.org_id
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            if i in group_of:
                lookups.append({"group": group_of[i], "position": i, "prompt_id": record.prompt_id, "text": text})
            if i and i % 200_000 == 0:
                log.info("generated %s/%s prompts", f"{i:,}", f"{prompts:,}")
    tmp.replace(path)
    meta = wanted | {
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "file_bytes": path.stat().st_size,
        "mean_text_bytes": text_bytes / prompts,
        "duplicates": stream.duplicates,
        "kinds": kinds,
        "lookups": lookups,
    }
    meta_path.write_text(json.dumps(meta, ensure_ascii=False))
    return meta | {"reused": False}
