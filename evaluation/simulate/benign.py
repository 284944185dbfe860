"""Benign traffic: ordinary accounts, and look-alikes that share text without being a campaign.

Ordinary accounts are heavy-tailed with a diurnal rhythm. The look-alikes are what a
naive detector confuses with a campaign: short generic prompts, popular public prompts
pasted by many people, one organisation's own app, and a public agent-framework
scaffold.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from evaluation.simulate.noise import NoiseKind, apply_noise
from evaluation.simulate.payloads import Deck, fill_payload, ordinary_prompt
from evaluation.simulate.pools import Item
from evaluation.simulate.sampling import (
    diurnal_time,
    largest_remainder,
    session_times,
    sub_rng,
    volumes_until,
    zipf_weights,
)
from evaluation.simulate.state import Run
from evaluation.simulate.templates import AGENT_SCAFFOLDS, AGENT_TOOLS, APP_TEMPLATES, COMPANIES, SHORT_GENERIC

__all__ = [
    "add_agent_framework",
    "add_ordinary",
    "add_org_apps",
    "add_popular_public",
    "add_short_generic",
    "assign_benign_orgs",
]


def add_ordinary(run: Run, total: int) -> list[int]:
    """Ordinary accounts sending ``total`` prompts in sessions, some following a real conversation;
    returns the new accounts (orgs come later)."""
    cfg = run.config
    rng = sub_rng(cfg.seed, "ordinary")
    cap = max(50, total // 60)  # a few accounts send hundreds; none dominates the run
    if cfg.benign_accounts is not None:
        weights = [min(float(cap), rng.paretovariate(1.15)) for _ in range(cfg.benign_accounts)]
        volumes = largest_remainder(total, weights)
    else:
        volumes = volumes_until(total, lambda: min(cap, int(rng.paretovariate(1.15))))
    accounts = []
    conversations = run.pools.sharegpt_conversations
    for volume in volumes:
        acc = run.new_account("benign", "ordinary")
        accounts.append(acc)
        for session in session_times(rng, volume, 0, run.span, run.accounts[acc].tz_hours):
            turns: Sequence[Item] = rng.choice(conversations) if rng.random() < 0.3 else ()
            for i, t in enumerate(session):
                if i < len(turns):
                    ref, text = turns[i]
                else:
                    text, ref = ordinary_prompt(run.pools, rng)
                run.emit(t, acc, text, "ordinary", payload_ref=ref)
    return accounts


def add_short_generic(run: Run, total: int) -> list[int]:
    """Short prompts ("continue", a famous homework problem) that many unrelated accounts send verbatim;
    returns the new accounts."""
    rng = sub_rng(run.config.seed, "short_generic")
    items: list[tuple[str, str]] = [(f"short:{i:02d}", text) for i, text in enumerate(SHORT_GENERIC)]
    items += [(f"short:{ref}", text) for ref, text in run.pools.famous_gsm8k]
    rng.shuffle(items)
    weights = zipf_weights(len(items), 1.0)
    volumes = volumes_until(total, lambda: rng.choices((1, 2, 3, 4), weights=(50, 25, 15, 10))[0])
    accounts = []
    for volume in volumes:
        acc = run.new_account("benign", "short_generic")
        accounts.append(acc)
        for session in session_times(rng, volume, 0, run.span, run.accounts[acc].tz_hours):
            for t in session:
                family, text = rng.choices(items, weights=weights)[0]
                variant = "verbatim"
                if rng.random() < 0.3 and not family.startswith("short:gsm8k"):
                    text = rng.choice((text.capitalize(), text.lower(), text + "!", text + ".", text + " please"))
                    variant = "edited"
                run.emit(t, acc, text, "short_generic", family_id=family, variant=variant)
    run.lookalike_info["short_generic"].append({"accounts": len(accounts), "templates": len(items)})
    return accounts


def add_popular_public(run: Run, total: int) -> list[int]:
    """Popular public prompts ("act as", in-the-wild jailbreaks) pasted by many people, some with a
    personal edit; returns the new accounts."""
    rng = sub_rng(run.config.seed, "popular_public")
    items = [(f"public:{ref}", text) for ref, text in (*run.pools.act_prompts, *run.pools.jailbreaks)]
    rng.shuffle(items)
    weights = zipf_weights(len(items), 1.0)
    volumes = volumes_until(total, lambda: 1 if rng.random() < 0.7 else 2)
    accounts = []
    for volume in volumes:
        acc = run.new_account("benign", "popular_public")
        accounts.append(acc)
        for session in session_times(rng, volume, 0, run.span, run.accounts[acc].tz_hours):
            for t in session:
                family, text = rng.choices(items, weights=weights)[0]
                variant = "verbatim"
                if rng.random() < 0.35:
                    text = _edit_public(run, text, rng)
                    variant = "edited"
                run.emit(t, acc, text, "popular_public", family_id=family, variant=variant)
    run.lookalike_info["popular_public"].append({"accounts": len(accounts), "templates": len(items)})
    return accounts


def _edit_public(run: Run, text: str, rng: random.Random) -> str:
    """The small personal edit people make to a pasted public prompt."""
    request = ordinary_prompt(run.pools, rng)[0][:300]
    if "[INSERT PROMPT HERE]" in text:
        return text.replace("[INSERT PROMPT HERE]", rng.choice(run.pools.requests)[1])
    cut = text.rfind("My first")
    if cut > 0:
        return text[:cut] + f'My first request is "{request}"'
    if rng.random() < 0.5:
        return text + "\n\n" + request
    sentences = text.split(". ")
    return ". ".join(sentences[:-1]) + "." if len(sentences) > 2 else text + " Thank you."


def add_org_apps(run: Run, total: int) -> list[int]:
    """Organisations whose own product wraps user content in one fixed prompt: a template from few
    accounts of one org; returns the new accounts."""
    rng = sub_rng(run.config.seed, "org_app")
    if total == 0:
        return []
    n_apps = max(1, min(total // 2, round(total / 900)))
    app_volumes = largest_remainder(total, [rng.uniform(0.5, 1.5) for _ in range(n_apps)], minimum=2)
    templates = list(APP_TEMPLATES)
    rng.shuffle(templates)
    companies = list(COMPANIES)
    rng.shuffle(companies)
    accounts = []
    for i, volume in enumerate(app_volumes):
        name, payload_kind, template = templates[i % len(templates)]
        company = companies[i % len(companies)]
        family = f"app:{name}@{company.lower().replace(' ', '_')}"
        org = run.new_org()
        n_acc = min(volume, rng.randint(2, 5))
        members = [run.new_account("benign", "org_app", org=org) for _ in range(n_acc)]
        tz = run.accounts[members[0]].tz_hours
        for m in members:
            run.accounts[m].tz_hours = tz
        accounts += members
        uses_request_ids = rng.random() < 0.5
        decks: dict[str, Deck] = {}
        per_account = largest_remainder(volume, [rng.lognormvariate(0.0, 0.7) for _ in members])
        for acc, n in zip(members, per_account):
            for _ in range(n):
                fields, ref = fill_payload(run.pools, payload_kind, rng, decks)
                text = template.format(company=company, **fields)
                noise: tuple[NoiseKind, ...] = ("request_id",) if uses_request_ids else ()
                run.emit(
                    diurnal_time(rng, 0, run.span, tz),
                    acc,
                    apply_noise(text, noise, rng),
                    "org_app",
                    family_id=family,
                    variant="base",
                    noise=noise,
                    payload_ref=ref,
                )
        run.lookalike_info["org_app"].append(
            {"family_id": family, "org": org, "accounts": n_acc, "prompts": volume}
        )
    return accounts


def add_agent_framework(run: Run, total: int) -> list[int]:
    """Developers, each in their own org, running a public agent scaffold with growing scratchpads;
    returns the new accounts."""
    rng = sub_rng(run.config.seed, "agent_framework")
    volumes = volumes_until(total, lambda: min(200, max(2, int(rng.lognormvariate(math.log(10), 0.9)))))
    accounts = []
    for volume in volumes:
        org = run.new_org()  # each developer in their own organisation
        acc = run.new_account("benign", "agent_framework", org=org)
        accounts.append(acc)
        name, scaffold, _ = rng.choices(AGENT_SCAFFOLDS, weights=[w for *_, w in AGENT_SCAFFOLDS])[0]
        tools = rng.sample(AGENT_TOOLS, rng.randint(2, 5))
        descriptions = "\n".join(f"{tool}: {desc}" for tool, desc in tools)
        if name == "react":
            tool_names = ", ".join(tool for tool, _ in tools)
        else:
            tool_names = ", ".join(f'"{tool}"' for tool, _ in tools)
        sent = 0
        for session in session_times(rng, volume, 0, run.span, run.accounts[acc].tz_hours):
            question, ref = "", ""
            steps: list[str] = []
            for t in session:
                if not question or rng.random() < 0.35:  # a new question, or the next step of the run
                    question, ref = ordinary_prompt(run.pools, rng)
                    question = question[:500]
                    steps = []
                scratchpad = "".join(steps)
                text = scaffold.format(
                    tool_descriptions=descriptions,
                    tool_names=tool_names,
                    question=question,
                    scratchpad=scratchpad,
                )
                run.emit(t, acc, text, "agent_framework", family_id=f"agent:{name}", variant="base",
                          payload_ref=ref)
                sent += 1
                tool = rng.choice(tools)[0]
                observation = rng.choice(run.pools.alpaca)[3][:200]
                steps.append(
                    f" I should use {tool} to make progress.\nAction: {tool}\nAction Input: {question[:60]}\n"
                    f"Observation: {observation}\nThought:"
                )
    run.lookalike_info["agent_framework"].append({"accounts": len(accounts), "templates": len(AGENT_SCAFFOLDS)})
    return accounts


def assign_benign_orgs(run: Run, accounts: list[int], rng: random.Random) -> None:
    """Consumers have no org; others have their own or share with a few colleagues."""
    order = list(accounts)
    rng.shuffle(order)
    i = 0
    while i < len(order):
        r = rng.random()
        if r < 0.12:
            run.accounts[order[i]].org = None
            i += 1
            continue
        size = 1 if r < 0.6 else rng.randint(2, 8)
        org = run.new_org()
        for acc in order[i : i + size]:
            run.accounts[acc].org = org
        i += size

# ---- finishing -------------------------------------------------------------------
