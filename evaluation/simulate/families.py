"""Adversarial campaign families: distillation campaigns shaped so that no long shared wrapper gives them away.

The templated campaigns (:mod:`evaluation.simulate.campaigns`) repeat a long hand-written
template; a real operation that knows it is watched sends almost nothing but payload, or
words its instruction differently per account, or changes template, or goes slowly. Each
family here is one such shape (``family`` in ``truth.jsonl``); every prompt's label is
"campaign" and its ``family_id`` names the instruction or template it used:

* ``short_wrapper``: an instruction line of 3-6 words, a blank line, a long pasted
  document that differs every prompt; accounts send 5-30 prompts in a few bursts and
  nothing else;
* ``tail_instruction``: the long paste first, the instruction on its last line;
* ``per_account_paraphrase``: each account words one instruction its own way (one
  combination of phrase parts per account) around short math problems;
* ``pivot``: the same accounts switch to a new template mid-campaign, each within
  ``pivot_switch_hours``;
* ``translated_variants``: each account keeps to one paraphrase or translation of one template;
* ``low_and_slow``: a prompt or two a day per account for ``low_and_slow_days``;
* ``per_prompt_paraphrase``: every prompt words the instruction afresh (a new combination
  of phrase parts and a new layout each time, as an operator with a paraphrasing model
  would), so no wording repeats often enough to be a template of its own.

Accounts come in throw-away organisations (mostly one account each, some with a few, some
with none). Operators script their accounts, so bursts start near shared "waves" (a
campaign's batch jobs) with an hour or so of jitter. All adversarial campaigns share their
decks of payloads, so no payload repeats across them before a pool is used up, and none
pastes a document a benign trap pastes (:attr:`~evaluation.simulate.pools.Pools.campaign_documents`).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any

from evaluation.simulate.config import ADVERSARIAL_FAMILIES
from evaluation.simulate.payloads import Deck, draw_item, fill_payload
from evaluation.simulate.sampling import bounded_volumes, diurnal_time, largest_remainder, sub_rng
from evaluation.simulate.state import Run
from evaluation.simulate.templates import ADVERSARIAL, TemplateFamily

__all__ = ["add_families"]

_DAY = 86_400.0
_HOUR = 3_600.0
_WAVE_JITTER = 1.5 * _HOUR  # how late after a wave an account's burst may start
_MIN_CAMPAIGN_PROMPTS = 20  # a smaller budget makes fewer campaigns rather than empty ones


@dataclasses.dataclass
class _Campaign:
    """One campaign being built: its identity, budget, randomness and the run's shared payload decks."""

    run: Run
    family: str
    index: int  # within its family
    size: int
    rng: random.Random
    decks: dict[str, Deck]

    @property
    def campaign_id(self) -> str:
        return f"{self.family}-{self.index + 1:02d}"

    def slot(self, order: Sequence[int]) -> int:
        """This campaign's text (or template pair) number: campaigns of a family take them in a shuffled
        order, starting over when there are more campaigns than texts."""
        return order[self.index % len(order)]

    def accounts(self, count: int) -> list[int]:
        """``count`` new campaign accounts in throw-away organisations (some with none)."""
        out: list[int] = []
        while len(out) < count:
            r = self.rng.random()
            if r < 0.15:
                out.append(self._account(None))
                continue
            org = self.run.new_org()
            self.run.campaign_orgs.add(org)
            group = 1 if r < 0.65 else self.rng.randint(2, 4)
            out.extend(self._account(org) for _ in range(min(group, count - len(out))))
        return out

    def _account(self, org: int | None) -> int:
        return self.run.new_account("campaign", "campaign", campaign_id=self.campaign_id, family=self.family, org=org)

    def window(self, low_days: float, high_days: float) -> tuple[float, float]:
        """A campaign window of ``low_days``..``high_days`` (at most the run) placed in the run."""
        span = float(self.run.span)
        duration = min(span, self.rng.uniform(low_days, high_days) * _DAY)
        start = self.rng.uniform(0.0, span - duration)
        return start, start + duration

    def waves(self, start: float, end: float, count: int) -> list[float]:
        """Start times of the operator's batch jobs, leaving room for a burst before ``end``."""
        last = max(start, end - _WAVE_JITTER - _HOUR)
        return sorted(self.rng.uniform(start, last) for _ in range(count))

    def bursts(self, volume: int, waves: Sequence[float], max_bursts: int, gap: tuple[float, float]) -> list[float]:
        """Times of ``volume`` prompts in 1..``max_bursts`` scripted bursts, each soon after a wave."""
        count = min(volume, self.rng.randint(1, max_bursts))
        times: list[float] = []
        for part in largest_remainder(volume, [self.rng.uniform(0.5, 1.5) for _ in range(count)]):
            offsets = [0.0]
            for _ in range(part - 1):
                offsets.append(offsets[-1] + self.rng.uniform(*gap))
            t0 = self.rng.choice(waves) + self.rng.uniform(0.0, _WAVE_JITTER)
            t0 = max(0.0, min(t0, self.run.span - 1.0 - offsets[-1]))  # the whole burst inside the run
            times.extend(t0 + offset for offset in offsets)
        return sorted(times)

    def emit(self, t: float, account: int, text: str, family_id: str, variant: str, ref: str) -> None:
        self.run.emit(
            t, account, text, "campaign", campaign_id=self.campaign_id, family_id=family_id, variant=variant,
            payload_ref=ref,
        )

    def record(self, accounts: Sequence[int], start: float, end: float, **extra: Any) -> None:
        """The campaign's entry in ``summary.json``."""
        self.run.campaign_info.append(
            {
                "campaign_id": self.campaign_id,
                "family": self.family,
                "accounts": len(accounts),
                "orgs": len({self.run.accounts[a].org for a in accounts} - {None}),
                "prompts": self.size,
                "window": [self.run.iso(start), self.run.iso(end)],
                **extra,
            }
        )


def add_families(run: Run) -> None:
    """Add the campaigns of every adversarial family that has a budget, ``family_campaigns`` each."""
    budgets = run.config.budgets()
    decks: dict[str, Deck] = {}
    for family in ADVERSARIAL_FAMILIES:
        total = budgets[family]
        if total == 0:
            continue
        rng = sub_rng(run.config.seed, f"family:{family}")
        count = max(1, min(run.config.family_campaigns, total // _MIN_CAMPAIGN_PROMPTS))
        sizes = largest_remainder(total, [rng.uniform(0.7, 1.3) for _ in range(count)])
        build = _BUILDERS[family]
        order = list(range(_CHOICES[family]))
        rng.shuffle(order)
        for index, size in enumerate(sizes):
            build(_Campaign(run, family, index, size, rng, decks), order)


def _document(c: _Campaign) -> tuple[str, str]:
    ref, text = draw_item("campaign_documents", c.run.pools.campaign_documents, c.rng, c.decks)
    return ref, text


def _paste_campaign(
    c: _Campaign, family: str, slot: int, instruction: str, volumes: list[int], days: tuple[float, float],
    wave_count: tuple[int, int], max_bursts: int, gap: tuple[float, float], layout: str,
) -> None:
    """A campaign of one instruction line around a different long document every prompt
    (``layout`` places them: "{instruction}" and "{document}")."""
    accounts = c.accounts(len(volumes))
    start, end = c.window(*days)
    waves = c.waves(start, end, c.rng.randint(*wave_count))
    for account, volume in zip(accounts, volumes):
        for t in c.bursts(volume, waves, max_bursts=max_bursts, gap=gap):
            ref, document = _document(c)
            text = layout.format(instruction=instruction, document=document)
            c.emit(t, account, text, f"{family}:{slot:02d}", "base", ref)
    c.record(accounts, start, end, instruction=instruction)


def _short_wrapper(c: _Campaign, order: Sequence[int]) -> None:
    cfg = c.run.config
    slot = c.slot(order)
    volumes = bounded_volumes(c.size, cfg.short_wrapper_min_prompts, cfg.short_wrapper_max_prompts, c.rng)
    _paste_campaign(c, "short_wrapper", slot, ADVERSARIAL.short_wrapper[slot], volumes, (1.0, 4.0), (3, 8), 3,
                    (15.0, 120.0), "{instruction}\n\n{document}")


def _tail_instruction(c: _Campaign, order: Sequence[int]) -> None:
    slot = c.slot(order)
    volumes = bounded_volumes(c.size, 5, 60, c.rng)
    _paste_campaign(c, "tail_instruction", slot, ADVERSARIAL.tail_instruction[slot], volumes, (2.0, 6.0), (4, 10), 5,
                    (30.0, 300.0), "{document}\n\n{instruction}")


def _per_account_paraphrase(c: _Campaign, order: Sequence[int]) -> None:
    concept = ADVERSARIAL.paraphrase_concepts[c.slot(order)]
    volumes = bounded_volumes(c.size, 5, 40, c.rng)
    accounts = c.accounts(len(volumes))
    phrasings = c.rng.sample(range(concept.combinations()), len(accounts))
    start, end = c.window(2.0, 6.0)
    waves = c.waves(start, end, c.rng.randint(4, 10))
    gsm8k = c.run.pools.gsm8k
    for account, volume, phrasing in zip(accounts, volumes, phrasings):
        instruction = concept.phrase(phrasing)
        layout = c.rng.choice(ADVERSARIAL.paraphrase_layouts)
        for t in c.bursts(volume, waves, max_bursts=4, gap=(20.0, 300.0)):
            ref, question, _ = draw_item("gsm8k", gsm8k, c.rng, c.decks)
            text = layout.format(instruction=instruction, problem=question)
            c.emit(t, account, text, f"per_account_paraphrase:{concept.concept_id}", f"p{phrasing}", ref)
    c.record(accounts, start, end, concept=concept.concept_id, phrasings=len(set(phrasings)))


def _per_prompt_paraphrase(c: _Campaign, order: Sequence[int]) -> None:
    concept = ADVERSARIAL.fresh_paraphrase_concepts[c.slot(order)]
    volumes = bounded_volumes(c.size, 5, 40, c.rng)
    accounts = c.accounts(len(volumes))
    start, end = c.window(2.0, 6.0)
    waves = c.waves(start, end, c.rng.randint(4, 10))
    gsm8k = c.run.pools.gsm8k
    for account, volume in zip(accounts, volumes):
        for t in c.bursts(volume, waves, max_bursts=4, gap=(20.0, 300.0)):
            phrasing = c.rng.randrange(concept.combinations())
            ref, question, _ = draw_item("gsm8k", gsm8k, c.rng, c.decks)
            text = c.rng.choice(ADVERSARIAL.paraphrase_layouts).format(instruction=concept.phrase(phrasing), problem=question)
            c.emit(t, account, text, f"per_prompt_paraphrase:{concept.concept_id}", f"p{phrasing}", ref)
    c.record(accounts, start, end, concept=concept.concept_id)


def _fill(c: _Campaign, template: TemplateFamily, variant: str) -> tuple[str, str]:
    fields, ref = fill_payload(c.run.pools, template.payload, c.rng, c.decks)
    return template.text(variant).format(**fields), ref


def _pivot(c: _Campaign, order: Sequence[int]) -> None:
    templates = ADVERSARIAL.pivot_templates
    pair = c.slot(order)
    old, new = templates[(2 * pair) % len(templates)], templates[(2 * pair + 1) % len(templates)]
    switch = c.run.config.pivot_switch_hours * _HOUR
    volumes = bounded_volumes(c.size, 10, 60, c.rng)
    accounts = c.accounts(len(volumes))
    span = float(c.run.span)
    duration = min(span, max(c.rng.uniform(2.0, 5.0) * _DAY, 3.0 * switch))
    start = c.rng.uniform(0.0, span - duration)
    end = start + duration
    pivot_at = start + c.rng.uniform(0.3, 0.45) * duration
    before = c.waves(start, pivot_at, c.rng.randint(2, 5))
    after = c.waves(min(end, pivot_at + switch), end, c.rng.randint(2, 5))
    for account, volume in zip(accounts, volumes):
        switch_at = pivot_at + c.rng.uniform(0.0, switch)
        first = volume // 2
        times = c.bursts(first, before, 2, (20.0, 300.0)) + c.bursts(volume - first, after, 2, (20.0, 300.0))
        for t in times:
            template = old if t < switch_at else new
            text, ref = _fill(c, template, "base")
            c.emit(t, account, text, f"pivot:{template.family_id}", "base", ref)
    c.record(
        accounts, start, end,
        pivot={  # as the templated campaigns' pivots are written
            "at": c.run.iso(pivot_at),
            "transition_end": c.run.iso(pivot_at + switch),
            "from": [old.family_id],
            "to": [new.family_id],
        },
    )


def _translated_variants(c: _Campaign, order: Sequence[int]) -> None:
    template = ADVERSARIAL.translated_templates[c.slot(order)]
    translations = list(template.translations())
    others = ["base", *template.paraphrases()]
    c.rng.shuffle(translations)
    c.rng.shuffle(others)
    # Translations and the rest alternately, so even a small campaign has both; then round the accounts.
    variants = [v for pair in zip(translations, others) for v in pair]
    variants += translations[len(others):] + others[len(translations):]
    volumes = bounded_volumes(c.size, 5, 40, c.rng)
    accounts = c.accounts(len(volumes))
    start, end = c.window(2.0, 6.0)
    waves = c.waves(start, end, c.rng.randint(4, 10))
    for k, (account, volume) in enumerate(zip(accounts, volumes)):
        variant = variants[k % len(variants)]
        for t in c.bursts(volume, waves, max_bursts=4, gap=(20.0, 300.0)):
            text, ref = _fill(c, template, variant)
            c.emit(t, account, text, f"translated_variants:{template.family_id}", variant, ref)
    c.record(accounts, start, end, template=template.family_id, variants=variants)


def _low_and_slow(c: _Campaign, order: Sequence[int]) -> None:
    template = ADVERSARIAL.slow_templates[c.slot(order)]
    days = max(1, min(int(c.run.config.low_and_slow_days), int(c.run.span // _DAY)))
    count = max(1, round(c.size / (1.5 * days)))
    while count > 1 and count * days > c.size:
        count -= 1
    while 2 * count * days < c.size:
        count += 1
    days = min(days, c.size)  # a budget under one prompt a day: fewer days
    slots = count * days
    second = set(c.rng.sample(range(slots), min(slots, c.size - slots)))  # days with two prompts
    accounts = c.accounts(count)
    start = c.rng.uniform(0.0, max(0.0, c.run.span - days * _DAY))
    for a, account in enumerate(accounts):
        tz = c.run.accounts[account].tz_hours
        for day in range(days):
            lo = start + day * _DAY
            for _ in range(1 + (a * days + day in second)):
                text, ref = _fill(c, template, "base")
                c.emit(diurnal_time(c.rng, lo, lo + _DAY, tz), account, text, f"low_and_slow:{template.family_id}",
                       "base", ref)
    c.record(accounts, start, start + days * _DAY, template=template.family_id, days=days)


_BUILDERS: dict[str, Callable[[_Campaign, Sequence[int]], None]] = {
    "short_wrapper": _short_wrapper,
    "tail_instruction": _tail_instruction,
    "per_account_paraphrase": _per_account_paraphrase,
    "pivot": _pivot,
    "translated_variants": _translated_variants,
    "low_and_slow": _low_and_slow,
    "per_prompt_paraphrase": _per_prompt_paraphrase,
}
# How many texts (or template pairs) each family's campaigns choose from.
_CHOICES: dict[str, int] = {
    "short_wrapper": len(ADVERSARIAL.short_wrapper),
    "tail_instruction": len(ADVERSARIAL.tail_instruction),
    "per_account_paraphrase": len(ADVERSARIAL.paraphrase_concepts),
    "pivot": max(1, len(ADVERSARIAL.pivot_templates) // 2),
    "translated_variants": len(ADVERSARIAL.translated_templates),
    "low_and_slow": len(ADVERSARIAL.slow_templates),
    "per_prompt_paraphrase": len(ADVERSARIAL.fresh_paraphrase_concepts),
}
