"""How well a routing key keeps a template's prompts on one process, on simulated traffic.

One template tracker replays the traffic in time order, as a single process would: that
gives every prompt the template it joins there. For each candidate key and member count,
a prompt is *co-located* when its key routes it to the member its template's founder
routes to, which is where a partitioned deployment keeps the template's state. A
co-located share below 1 means some members of a template found or join a template on
another process, so the template's counts are split.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from pathlib import Path
from typing import Callable, Iterator

from promptprint.cluster.placement import Member, Placement
from promptprint.cluster.routing import routing_key
from promptprint.records import parse_timestamp
from promptprint.templates.tracker import Event, TemplateTracker
from promptprint.text.skeleton import Signature, signatures

#: The candidates: the chosen key and the alternatives it was measured against.
CANDIDATES: dict[str, Callable[[str, Signature], int]] = {
    "opening words after an id (chosen)": lambda text, s: routing_key(text),
    "head anchor": lambda text, s: s.head if s.head else s.text_hash,
    "tail anchor": lambda text, s: s.tail if s.tail else s.text_hash,
    "smallest shingle hash": lambda text, s: int(s.sorted_shingles[0]) if len(s) else s.text_hash,
    "canonical text hash": lambda text, s: s.text_hash,
}


@dataclasses.dataclass(frozen=True)
class KeyQuality:
    """One candidate key at one member count."""

    key: str
    members: int
    prompts: int  # prompts in templates of 2+ members
    colocated: float  # share of those routed to their founder's owner
    campaign_colocated: float  # the same over the prompts the truth labels campaign
    templates_whole: float  # share of 2+-member templates with every member co-located


def _traffic(sim_dir: Path) -> Iterator[tuple[dict[str, str], str]]:
    labels = {}
    with open(sim_dir / "prompts_truth.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            labels[row["prompt_id"]] = row["label"]
    rows = [json.loads(line) for line in open(sim_dir / "traffic.jsonl", encoding="utf-8")]
    rows.sort(key=lambda r: parse_timestamp(r["created_at"]))
    for row in rows:
        yield row, labels.get(row["prompt_id"], "benign")


def measure(sim_dir: Path, member_counts: tuple[int, ...] = (2, 4, 8)) -> list[KeyQuality]:
    """Each candidate key's co-location at each member count."""
    rows = list(_traffic(sim_dir))
    texts = [r["text"] for r, _ in rows]
    sigs = signatures(texts)
    tracker = TemplateTracker()
    founder: dict[int, int] = {}  # template -> the row that founded it
    joined: list[int] = []
    for i, ((row, _), sig) in enumerate(zip(rows, sigs)):
        tid = tracker.record(sig, Event(parse_timestamp(row["created_at"]), row["account_id"], row.get("org_id") or ""))
        founder.setdefault(tid, i)
        joined.append(tid)
    size = collections.Counter(joined)
    multi = sum(1 for t, c in size.items() if t and c >= 2)
    out = []
    for name, key in CANDIDATES.items():
        keys = [key(text, sig) for text, sig in zip(texts, sigs)]
        for n in member_counts:
            placement = Placement(tuple(Member(f"m{i}", f"m{i}:1") for i in range(n)), "m0")
            owner = [placement.owner(k).name for k in keys]
            same = campaign_same = campaign = counted = 0
            split: set[int] = set()
            for i, ((_, label), tid) in enumerate(zip(rows, joined)):
                if tid == 0 or size[tid] < 2:
                    continue
                ok = owner[i] == owner[founder[tid]]
                counted += 1
                same += ok
                if label == "campaign":
                    campaign += 1
                    campaign_same += ok
                if not ok:
                    split.add(tid)
            out.append(KeyQuality(name, n, counted, same / counted, campaign_same / max(1, campaign), 1 - len(split) / max(1, multi)))
    return out


def render(rows: list[KeyQuality]) -> str:
    """A Markdown table of the measurement."""
    lines = [
        "| routing key | processes | prompts in 2+ templates on the founder's owner | campaign prompts | templates not split |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.key} | {r.members} | {r.colocated:.1%} | {r.campaign_colocated:.1%} | {r.templates_whole:.1%} |")
    return "\n".join(lines)
