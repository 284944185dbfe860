"""Benign traps: people who do what a short-wrapper or paraphrasing campaign does, and are no campaign.

A detector that looks for coordination rather than long templates must still leave these
alone (label "benign"; the account's ``kind`` and its wrapped prompts' ``kind`` is the
trap's name, its other traffic is "ordinary"):

* ``paste_instruction``: ordinary accounts that now and then send "Summarize this:",
  "Translate into French:", "TL;DR" ... with a paste, one prompt at a time among their
  other traffic; many strangers type the same few words;
* ``classroom_school_org`` / ``classroom_personal_orgs``: a class of students pasting one
  assignment text with their own essays within ``class_minutes``, 1-3 prompts each, all
  under the school's org or each under a personal org (or none); a class is new accounts
  doing nearly nothing else, in a burst, on one shared text;
* ``power_user_wrapper``: accounts that each reuse their own wrapper ("Translate to
  Spanish:") many times over days, with other traffic too; popular wrappers recur;
* ``shared_tool``: a public browser extension or integration whose fixed prompt wraps each
  user's own content, used by many unrelated accounts at their own diurnal times, each with
  plenty of other traffic;
* ``reworded_requests``: new users who each come for one common thing (fix my grammar,
  summarize, translate into Spanish, explain) over pastes of their own, in their own words
  every time, in a day's sittings, and little else: what a campaign that words every prompt
  afresh looks like from one account, without the operation behind it.

Pastes, essays and contents come from pools no adversarial campaign draws from, less every
dataset row any campaign of the run used (traps are made last), and all traps share one deck
per pool, so two strangers never paste the same document, and no benign paste is a campaign's
payload, by accident.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Literal

from evaluation.simulate.benign import assign_benign_orgs
from evaluation.simulate.config import TRAP_KINDS
from evaluation.simulate.payloads import Deck, draw_item, ordinary_prompt
from evaluation.simulate.pools import Item
from evaluation.simulate.sampling import (
    TIMEZONES,
    TZ_WEIGHTS,
    bounded_volumes,
    largest_remainder,
    session_times,
    sub_rng,
    volumes_until,
)
from evaluation.simulate.state import Run
from evaluation.simulate.templates import ADVERSARIAL

__all__ = ["add_traps"]

_DAY = 86_400.0
_SEPARATORS = ("\n\n", "\n", " ")
_CLASS_PROMPTS = ((1, 2, 3), (50, 35, 15))  # prompts per student, and their weights


@dataclasses.dataclass(frozen=True)
class _Sources:
    """What people paste, less what campaigns sent, and the decks all traps share."""

    documents: tuple[Item, ...]
    contents: tuple[Item, ...]
    essays: tuple[Item, ...]
    decks: dict[str, Deck]

    def draw(self, name: Literal["documents", "contents", "essays"], rng: random.Random) -> Item:
        pool = {"documents": self.documents, "contents": self.contents, "essays": self.essays}[name]
        item: Item = draw_item(name, pool, rng, self.decks)
        return item

    def paste(self, rng: random.Random) -> Item:
        """A person's own paste: a document or a shorter text of theirs; (ref, text)."""
        return self.draw("documents" if rng.random() < 0.6 else "contents", rng)


def add_traps(run: Run) -> None:
    """Add every benign trap that has a budget; traps of individuals get benign orgs as ordinary accounts do."""
    budgets = run.config.budgets()
    used = {part for p in run.prompts if p.kind == "campaign" for part in (p.payload_ref or "").split("+")}

    def unused(pool: tuple[Item, ...]) -> tuple[Item, ...]:
        return tuple(item for item in pool if item[0] not in used)

    sources = _Sources(unused(run.pools.benign_documents), unused(run.pools.contents), unused(run.pools.essays), {})
    individuals: list[int] = []
    for trap in TRAP_KINDS:
        total = budgets[trap]
        if total > 0:
            individuals += _BUILDERS[trap](run, total, sub_rng(run.config.seed, f"trap:{trap}"), sources)
    assign_benign_orgs(run, individuals, sub_rng(run.config.seed, "trap_orgs"))


def _times(run: Run, rng: random.Random, account: int, volume: int) -> list[int]:
    """An ordinary person's ``volume`` prompt times over the run: diurnal sessions in their time zone."""
    sessions = session_times(rng, volume, 0, run.span, run.accounts[account].tz_hours)
    return [t for session in sessions for t in session]


def _ordinary(run: Run, rng: random.Random, t: float, account: int) -> None:
    text, ref = ordinary_prompt(run.pools, rng)
    run.emit(t, account, text, "ordinary", payload_ref=ref)


def _paste_instruction(run: Run, total: int, rng: random.Random, sources: _Sources) -> list[int]:
    kind = "paste_instruction"
    rate = run.config.paste_instruction_rate
    heads, tails = ADVERSARIAL.paste_head, ADVERSARIAL.paste_tail
    cap = max(50, total // 20)
    volumes = volumes_until(total, lambda: min(cap, max(3, int(3 * rng.paretovariate(1.2)))))
    accounts: list[int] = []
    for volume in volumes:
        account = run.new_account("benign", kind)
        accounts.append(account)
        favourites = rng.sample(range(len(heads)), 2)
        times = _times(run, rng, account, volume)
        wrapped = set(rng.sample(range(volume), max(1, sum(rng.random() < rate for _ in range(volume)))))
        for i, t in enumerate(times):
            if i not in wrapped:
                _ordinary(run, rng, t, account)
                continue
            ref, paste = sources.paste(rng)
            if rng.random() < 0.8:
                slot = rng.choice(favourites) if rng.random() < 0.7 else rng.randrange(len(heads))
                text, family = heads[slot] + rng.choice(_SEPARATORS) + paste, f"paste:head:{slot:02d}"
            else:
                slot = rng.randrange(len(tails))
                text, family = paste + "\n\n" + tails[slot], f"paste:tail:{slot:02d}"
            run.emit(t, account, text, kind, family_id=family, variant="base", payload_ref=ref)
    run.trap_info[kind].append({"accounts": len(accounts), "prompts": total})
    return accounts


def _classroom(run: Run, total: int, rng: random.Random, sources: _Sources, *, school_org: bool) -> list[int]:
    """Classes until the budget is spent; what a last class would overshoot becomes other traffic of
    some students (a quarter of students use the service for other things too)."""
    cfg = run.config
    kind = "classroom_school_org" if school_org else "classroom_personal_orgs"
    assignments, topics = ADVERSARIAL.classroom_assignments, ADVERSARIAL.classroom_topics
    pairs = [(a, t) for a in range(len(assignments)) for t in range(len(topics))]
    rng.shuffle(pairs)
    students: list[int] = []
    left = total
    school: int | None = None
    number = 0
    while left > 0:
        counts = [
            rng.choices(*_CLASS_PROMPTS)[0] for _ in range(rng.randint(cfg.class_min_students, cfg.class_max_students))
        ]
        if sum(counts) > left:
            if number > 0:
                break
            counts = [1] * min(left, len(counts))  # a budget under one class: one small class
        if school_org and (school is None or rng.random() < 0.5):
            school = run.new_org()  # a school runs one or a few of the classes
        assignment, topic = pairs[number % len(pairs)]
        text = assignments[assignment].format(topic=topics[topic])
        members = _one_class(run, rng, sources, kind, number, text, counts, school if school_org else None)
        run.trap_info[kind].append(
            {
                "class": number,
                "students": len(members),
                "prompts": sum(counts),
                "org": school if school_org else None,
                "assignment": f"{assignment:02d}/{topic:02d}",
            }
        )
        students += members
        left -= sum(counts)
        number += 1
    if left > 0:
        others = rng.sample(students, min(left, max(1, len(students) // 4)))
        for account, volume in zip(others, largest_remainder(left, [rng.paretovariate(1.5) for _ in others])):
            for t in _times(run, rng, account, volume):
                _ordinary(run, rng, t, account)
    return []  # students have their orgs already


def _one_class(
    run: Run,
    rng: random.Random,
    sources: _Sources,
    kind: str,
    number: int,
    assignment: str,
    counts: list[int],
    school: int | None,
) -> list[int]:
    """One class sitting: every student pastes ``assignment`` with their own essay within the window."""
    window = run.config.class_minutes * 60.0
    members = []
    tz_hours = rng.choices(TIMEZONES, weights=TZ_WEIGHTS)[0]  # one school, one time zone
    day = rng.randrange(max(1, int(run.span // _DAY)))
    local_hour = rng.uniform(8.0, 15.0)
    start = (day * _DAY + (local_hour - tz_hours) * 3600.0) % run.span
    start = min(start, max(0.0, run.span - 1.0 - window))
    family = f"class:{kind}:{number:03d}"
    for count in counts:
        org = school if school is not None else run.new_org() if rng.random() < 0.7 else None
        account = run.new_account("benign", kind, org=org)
        run.accounts[account].tz_hours = tz_hours
        members.append(account)
        ask, frame = rng.choice(ADVERSARIAL.classroom_asks), rng.choice(ADVERSARIAL.classroom_frames)
        ref, essay = sources.draw("essays", rng)
        t = start + rng.uniform(0.0, 0.75 * window)
        for draft in range(count):
            if draft > 0:
                ask = rng.choice(ADVERSARIAL.classroom_followups)
                extra_ref, extra = sources.draw("essays", rng)
                essay, ref = essay + "\n\n" + extra, f"{ref}+{extra_ref}"
                t = min(start + window - 1.0, t + rng.uniform(4.0, 20.0) * 60.0)
            text = frame.format(ask=ask, assignment=assignment, essay=essay).strip()
            run.emit(t, account, text, kind, family_id=family, variant=f"draft{draft + 1}", payload_ref=ref)
    return members


def _power_user_wrapper(run: Run, total: int, rng: random.Random, sources: _Sources) -> list[int]:
    kind = "power_user_wrapper"
    wrappers = ADVERSARIAL.power_user_wrappers
    accounts: list[int] = []
    for volume in bounded_volumes(total, 12, 80, rng):
        account = run.new_account("benign", kind)
        accounts.append(account)
        slot, separator = rng.randrange(len(wrappers)), rng.choice(_SEPARATORS)  # their habit, kept
        times = _times(run, rng, account, volume)
        share = rng.uniform(0.4, 0.7)
        wrapped = set(rng.sample(range(volume), min(volume, max(3, round(share * volume)))))
        for i, t in enumerate(times):
            if i not in wrapped:
                _ordinary(run, rng, t, account)
                continue
            ref, content = sources.paste(rng)
            run.emit(t, account, wrappers[slot] + separator + content, kind, family_id=f"wrapper:{slot:02d}",
                     variant="base", payload_ref=ref)
    run.trap_info[kind].append({"accounts": len(accounts), "prompts": total})
    return accounts


def _shared_tool(run: Run, total: int, rng: random.Random, sources: _Sources) -> list[int]:
    kind = "shared_tool"
    tools = ADVERSARIAL.shared_tools
    weights = [1.0 / (rank + 1) for rank in range(len(tools))]  # one popular tool, a few niche ones
    users = {name: 0 for name, _ in tools}
    accounts: list[int] = []
    for volume in bounded_volumes(total, 4, 25, rng):
        account = run.new_account("benign", kind)
        accounts.append(account)
        name, template = rng.choices(tools, weights=weights)[0]
        users[name] += 1
        times = _times(run, rng, account, volume)
        wrapped = set(rng.sample(range(volume), max(1, round(rng.uniform(0.15, 0.45) * volume))))
        for i, t in enumerate(times):
            if i not in wrapped:
                _ordinary(run, rng, t, account)
                continue
            ref, content = sources.paste(rng)
            run.emit(t, account, template.format(content=content), kind, family_id=f"tool:{name}", variant="base",
                     payload_ref=ref)
    run.trap_info[kind].append({"accounts": len(accounts), "prompts": total, "users_per_tool": users})
    return accounts


def _reworded_requests(run: Run, total: int, rng: random.Random, sources: _Sources) -> list[int]:
    kind = "reworded_requests"
    requests = ADVERSARIAL.reworded_requests
    weights = [1.0 / (rank + 1) for rank in range(len(requests))]  # the first request the most common
    accounts: list[int] = []
    for volume in bounded_volumes(total, 5, 15, rng):
        account = run.new_account("benign", kind)
        accounts.append(account)
        request = rng.choices(requests, weights)[0]
        day = rng.uniform(0.0, max(0.0, run.span - _DAY))
        sessions = session_times(rng, volume, day, day + _DAY, run.accounts[account].tz_hours)
        for t in [t for session in sessions for t in session]:
            if rng.random() < 0.1:
                _ordinary(run, rng, t, account)
                continue
            phrase = request.phrase(rng.randrange(request.combinations()))
            ref, paste = sources.paste(rng)
            text = phrase + rng.choice(_SEPARATORS) + paste if rng.random() < 0.8 else paste + "\n\n" + phrase
            run.emit(t, account, text, kind, family_id=f"request:{request.concept_id}", variant="base", payload_ref=ref)
    run.trap_info[kind].append({"accounts": len(accounts), "prompts": total})
    return accounts


_BUILDERS: dict[str, Callable[[Run, int, random.Random, _Sources], list[int]]] = {
    "paste_instruction": _paste_instruction,
    "classroom_school_org": lambda run, total, rng, sources: _classroom(run, total, rng, sources, school_org=True),
    "classroom_personal_orgs": lambda run, total, rng, sources: _classroom(run, total, rng, sources, school_org=False),
    "power_user_wrapper": _power_user_wrapper,
    "shared_tool": _shared_tool,
    "reworded_requests": _reworded_requests,
}
