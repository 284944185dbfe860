"""Distillation campaigns: templates filled with thousands of payloads from many small accounts.

A campaign uses a few template families (each with paraphrases and a translation),
sends through many low-volume accounts spread over throw-away organisations, adds
cosmetic noise, synchronized bursts and sometimes a pivot to a new family; "hydra"
accounts also relay unrelated customer traffic.
"""

from __future__ import annotations

import random
from typing import Any

from evaluation.simulate.config import TEMPLATED_FAMILY
from evaluation.simulate.noise import NOISE_KINDS, NoiseKind, apply_noise
from evaluation.simulate.payloads import Deck, fill_payload, ordinary_prompt
from evaluation.simulate.sampling import diurnal_time, largest_remainder, sub_rng
from evaluation.simulate.state import Run
from evaluation.simulate.templates import CAMPAIGN_FAMILIES, TemplateFamily

__all__ = ["add_campaigns"]


def add_campaigns(run: Run, total: int, relay_total: int) -> None:
    """Add ``config.campaigns`` campaigns sharing ``total`` prompts, on disjoint template families while
    the catalogue allows, and ``relay_total`` prompts that their hydra accounts relay."""
    cfg = run.config
    n_campaigns = cfg.campaigns
    if n_campaigns == 0 or total == 0:
        return
    rng = sub_rng(cfg.seed, "campaigns")
    sizes = largest_remainder(total, [rng.uniform(0.5, 1.5) for _ in range(n_campaigns)])
    n_pivots = max(1, round(n_campaigns * cfg.pivot_share)) if cfg.pivot_share > 0 else 0
    pivots = set(rng.sample(range(n_campaigns), min(n_pivots, n_campaigns)))
    n_families = [rng.randint(2, 4) if i in pivots else rng.randint(1, 4) for i in range(n_campaigns)]
    floor = [2 if i in pivots else 1 for i in range(n_campaigns)]
    # Keep campaigns on disjoint families while the catalogue allows it.
    while sum(n_families) > len(CAMPAIGN_FAMILIES) and any(n > f for n, f in zip(n_families, floor)):
        i = max(range(n_campaigns), key=lambda j: (n_families[j] - floor[j], -j))
        n_families[i] -= 1
    order = list(range(len(CAMPAIGN_FAMILIES)))
    rng.shuffle(order)
    cursor = 0
    families: list[list[TemplateFamily]] = []
    for count in n_families:
        chosen: list[TemplateFamily] = []
        while len(chosen) < min(count, len(CAMPAIGN_FAMILIES)):
            fam = CAMPAIGN_FAMILIES[order[cursor % len(order)]]
            cursor += 1
            if fam not in chosen:
                chosen.append(fam)
        families.append(chosen)

    hydra_accounts: list[tuple[int, int]] = []  # (account, campaign volume)
    for index in range(n_campaigns):
        hydra_accounts.extend(
            _add_campaign(run, index, sizes[index], families[index], index in pivots, rng, relay_total > 0)
        )
    _add_hydra_relay(run, hydra_accounts, relay_total, rng)


def _add_campaign(
    run: Run,
    index: int,
    size: int,
    families: list[TemplateFamily],
    pivot: bool,
    rng: random.Random,
    with_hydra: bool,
) -> list[tuple[int, int]]:
    cfg = run.config
    campaign_id = f"campaign-{index + 1:02d}"
    low, high = cfg.campaign_account_range()
    n_accounts = min(size, max(low, min(high, round(size / cfg.campaign_prompts_per_account))))
    volumes = largest_remainder(size, [rng.lognormvariate(0.0, 0.9) for _ in range(n_accounts)])

    span = run.span
    start = rng.uniform(0.0, 0.45 * span)
    end = min(float(span), start + rng.uniform(0.45, 1.0) * span)
    duration = end - start
    bursts = []
    for _ in range(rng.randint(3, 8)):
        length = min(rng.uniform(120.0, 600.0), duration / 4)
        b0 = rng.uniform(start, end - length)
        bursts.append((b0, b0 + length))
    bursts.sort()
    if pivot:
        pre, post = families[:-1], families[-1:]
        pivot_at = start + rng.uniform(0.35, 0.65) * duration
        transition = min(rng.uniform(1.0, 6.0) * 3600.0, 0.1 * duration)
    else:
        pre, post, pivot_at, transition = families, [], end + 1.0, 0.0
    family_weights = {f.family_id: rng.uniform(0.5, 1.5) for f in families}

    # Fraudulent orgs: mostly one account each, some with a handful.
    account_ids: list[int] = []
    while len(account_ids) < n_accounts:
        org = run.new_org()
        run.campaign_orgs.add(org)
        group = 1 if rng.random() < 0.6 else rng.randint(2, 4)
        for _ in range(min(group, n_accounts - len(account_ids))):
            account_ids.append(
                run.new_account("campaign", "campaign", campaign_id=campaign_id, family=TEMPLATED_FAMILY, org=org)
            )
    n_hydra = round(n_accounts * cfg.hydra_share) if with_hydra else 0
    if with_hydra and cfg.hydra_share > 0:
        n_hydra = max(1, n_hydra)
    hydra = set(rng.sample(account_ids, n_hydra))
    for acc in hydra:
        run.accounts[acc].kind = "hydra"

    # Plan every prompt: (time, account), then its family, variant and noise.
    plan: list[tuple[float, int]] = []
    for acc, volume in zip(account_ids, volumes):
        a0 = rng.uniform(start, end - 0.2 * duration)
        a1 = min(end, a0 + rng.uniform(0.2, 1.0) * duration)
        run.active_window[acc] = (a0, a1)
        joined = [b for b in bursts if rng.random() < 0.7] or [rng.choice(bursts)]
        for _ in range(volume):
            if rng.random() < cfg.burst_share:
                b0, b1 = rng.choice(joined)
                plan.append((rng.uniform(b0, b1), acc))
            else:
                plan.append((rng.uniform(a0, a1), acc))

    specs: list[dict[str, Any]] = []
    for t, acc in plan:
        if pivot and t >= pivot_at + transition:
            candidates = post
        elif pivot and t >= pivot_at:
            # During the switch-over the old family fades out linearly.
            faded = (t - pivot_at) / transition if transition > 0 else 1.0
            candidates = post if rng.random() < faded else pre
        else:
            candidates = pre
        fam = rng.choices(candidates, weights=[family_weights[f.family_id] for f in candidates])[0]
        r = rng.random()
        if r < cfg.translation_share and fam.translations():
            variant = rng.choice(fam.translations())
        elif r < cfg.translation_share + cfg.paraphrase_share and fam.paraphrases():
            variant = rng.choice(fam.paraphrases())
        else:
            variant = "base"
        noise: list[NoiseKind] = []
        if rng.random() < cfg.noise_share:
            noise = rng.sample(list(NOISE_KINDS), rng.choice((1, 1, 2, 2, 3)))
        specs.append({"t": t, "account": acc, "family": fam, "variant": variant, "noise": noise})

    # Every campaign shows each evasion at least once, however small the run.
    forced = rng.sample(range(len(specs)), min(len(specs), 4))
    for slot, what in zip(forced, ("paraphrase", "translation", "zero_width", "homoglyph")):
        spec = specs[slot]
        fam = spec["family"]
        if what == "paraphrase" and fam.paraphrases() and cfg.paraphrase_share > 0:
            spec["variant"] = rng.choice(fam.paraphrases())
        elif what == "translation" and fam.translations() and cfg.translation_share > 0:
            spec["variant"] = rng.choice(fam.translations())
        elif what in ("zero_width", "homoglyph") and cfg.noise_share > 0 and what not in spec["noise"]:
            spec["noise"] = [*spec["noise"], what]

    decks: dict[str, Deck] = {}
    refs: set[str] = set()
    for spec in specs:
        fam = spec["family"]
        fields, ref = fill_payload(run.pools, fam.payload, rng, decks)
        refs.add(ref)
        text = apply_noise(fam.text(spec["variant"]).format(**fields), spec["noise"], rng)
        run.emit(
            spec["t"],
            spec["account"],
            text,
            "campaign",
            campaign_id=campaign_id,
            family_id=fam.family_id,
            variant=spec["variant"],
            noise=tuple(spec["noise"]),
            payload_ref=ref,
        )

    run.campaign_info.append(
        {
            "campaign_id": campaign_id,
            "family": TEMPLATED_FAMILY,
            "families": [f.family_id for f in families],
            "accounts": n_accounts,
            "orgs": len({run.accounts[a].org for a in account_ids}),
            "prompts": size,
            "distinct_payloads": len(refs),
            "window": [run.iso(start), run.iso(end)],
            "pivot": (
                {
                    "at": run.iso(pivot_at),
                    "transition_end": run.iso(pivot_at + transition),
                    "from": [f.family_id for f in pre],
                    "to": [f.family_id for f in post],
                }
                if pivot
                else None
            ),
            "bursts": [[run.iso(b0), run.iso(b1)] for b0, b1 in bursts],
        }
    )
    return [(acc, vol) for acc, vol in zip(account_ids, volumes) if acc in hydra]


def _add_hydra_relay(run: Run, hydra: list[tuple[int, int]], total: int, rng: random.Random) -> None:
    """Hydra accounts relay unrelated customer traffic on top of their campaign work."""
    if total == 0 or not hydra:
        return
    # Each relaying account needs at least one relayed prompt; any surplus stays plain campaign.
    for acc, _ in hydra[total:]:
        run.accounts[acc].kind = "campaign"
    hydra = hydra[:total]
    volumes = largest_remainder(total, [float(v) for _, v in hydra])
    for (acc, _), volume in zip(hydra, volumes):
        a0, a1 = run.active_window[acc]
        for _ in range(volume):
            text, ref = ordinary_prompt(run.pools, rng)
            t = diurnal_time(rng, a0, a1, run.accounts[acc].tz_hours)
            run.emit(t, acc, text, "hydra_relay", payload_ref=ref)

# ---- benign ----------------------------------------------------------------------
