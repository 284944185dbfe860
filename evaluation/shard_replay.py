"""The same traffic through one serving process and through several: are the same accounts flagged?

``replay`` sends simulated records through CheckPrompt (recording) one at a time in
created_at order, as ``promptprint replay`` does, entering the deployment at each member
in turn, so that most calls are forwarded to their owner. ``flagged_accounts`` is the
evaluation's rule (evaluation/evaluate.py): an account is flagged when any of its prompts
was flagged online. ``explain`` says, for each account flagged by one run and not the
other, what partitioning took from the evidence about it:

* a template it used is *split* by the routing key (some of its prompts route to another
  member than its founder), so each member counts only part of it;
* its templates live on several members, so a group linking them (its dedicated accounts
  in common, a wording alike) is seen in parts;
* its own prompts went to several members, so each judged its dedication from the part
  it saw (scaled, see TemplateTracker.set_members).

An account flagged by one run only, with none of these, would be a bug.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence

from promptprint.client import PromptprintClient
from promptprint.cluster.placement import Member, Placement
from promptprint.cluster.routing import routing_key
from promptprint.records import PromptRecord, parse_timestamp
from promptprint.templates.tracker import Event, TemplateTracker
from promptprint.text.skeleton import signatures


def read_traffic(sim_dir: Path, limit: int | None = None) -> list[PromptRecord]:
    """The simulator's traffic.jsonl as records, in created_at order (the first ``limit``)."""
    records = []
    with open(sim_dir / "traffic.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            records.append(
                PromptRecord(row["prompt_id"], row["account_id"], row.get("org_id") or "", parse_timestamp(row["created_at"]), row["text"])
            )
    records.sort(key=lambda r: r.created_at_ms)
    return records[:limit] if limit is not None else records


def replay(targets: Sequence[str], records: Sequence[PromptRecord], timeout: float = 60.0) -> dict[str, bool]:
    """CheckPrompt(record=True) of every record, in order, record i entering at member
    ``i % len(targets)``. Returns prompt_id -> flagged."""
    clients = [PromptprintClient(t, timeout=timeout) for t in targets]
    try:
        return {
            r.prompt_id: clients[i % len(clients)].check_record(r, store=True).campaign.flagged for i, r in enumerate(records)
        }
    finally:
        for client in clients:
            client.close()


def flagged_accounts(records: Sequence[PromptRecord], flagged: dict[str, bool]) -> set[str]:
    return {r.account_id for r in records if flagged.get(r.prompt_id)}


@dataclasses.dataclass(frozen=True)
class Difference:
    account_id: str
    flagged_by: str  # which run flagged it: "one process" or "N processes"
    split_templates: int  # templates it used whose members route to more than one member
    prompts: int
    # members owning the shared templates of the groups it used (as one process links
    # them: its own templates and those linked with them; a group seen in parts when > 1)
    template_members: int = 0
    traffic_members: int = 0  # members its prompts went to (its dedication judged in parts when > 1)

    @property
    def explained(self) -> bool:
        return self.split_templates > 0 or self.template_members > 1 or self.traffic_members > 1


def explain(
    records: Sequence[PromptRecord], one: set[str], many: set[str], members: Sequence[str]
) -> list[Difference]:
    """Every account flagged by one run only, with how many of its templates the routing
    key splits among ``members`` (the --peers list of the several-process run)."""
    placement = Placement(tuple(Member(m, m) for m in members), members[0])
    sigs = signatures([r.text for r in records])
    tracker = TemplateTracker()
    owner_of_template: dict[int, str] = {}
    split: set[int] = set()
    used: dict[str, set[int]] = {}
    went_to: dict[str, set[str]] = {}
    for record, sig in zip(records, sigs):
        tid = tracker.record(sig, Event(record.created_at_ms, record.account_id, record.org_id))
        owner = placement.owner(routing_key(record.text)).name
        if owner_of_template.setdefault(tid, owner) != owner:
            split.add(tid)
        used.setdefault(record.account_id, set()).add(tid)
        went_to.setdefault(record.account_id, set()).add(owner)
    count = {a: sum(1 for r in records if r.account_id == a) for a in one ^ many}
    return [
        Difference(
            a, "one process" if a in one else f"{len(members)} processes", len(used.get(a, set()) & split), count[a],
            len({
                owner_of_template[g] for t in used.get(a, set()) if t for g in tracker.group_templates(t)
                if g in owner_of_template and tracker.members(g) > 1
            }),
            len(went_to.get(a, set())),
        )
        for a in sorted(one ^ many)
    ]
