"""Seeded traffic simulator with ground truth for evaluating campaign detection.

Real distillation campaigns are hard to label in real traffic, so detection
quality is measured on simulated traffic whose answer is known. The simulator
mixes

* **campaigns**: a few hand-written distillation templates (each with
  paraphrases and a translation) filled with thousands of different payloads
  drawn from public datasets, sent through many low-volume accounts spread over
  many throw-away organisations, with cosmetic noise, synchronized bursts, a
  template pivot, and "hydra" accounts that also relay unrelated traffic;
* **benign traffic**: heavy-tailed ordinary accounts with a diurnal rhythm, plus
  look-alikes that share text across accounts without being a campaign
  (short generic prompts, popular public prompts, one organisation's own app,
  a public agent-framework scaffold);
* **adversarial families** (:mod:`~evaluation.simulate.families`): campaigns with no long
  shared wrapper (a short instruction line or a last-line instruction over long pastes,
  per-account paraphrases, a quick pivot, translated variants, low and slow), and
  **benign traps** (:mod:`~evaluation.simulate.traps`) that look like them (one-off
  "Summarize this:" pastes, classes pasting one assignment, power users' own wrappers, a
  public extension's fixed prompt). Their shares default to 0; the ``adversarial`` preset
  (:mod:`~evaluation.simulate.presets`) turns them on. ``holdout`` names the families and
  traps a tuning run (``split="tune"``) leaves out, so an evaluation can report them apart.

Every payload and every benign prompt comes from the datasets under
``shared/data`` (read at run time, never copied), so the texts have the
length, language and topic spread of real prompts. The same config, seed and
data give byte-identical output: all randomness flows from ``random.Random``
instances seeded with strings (hashed with SHA-512 by ``random``, not with the
salted ``hash()``), and every iteration order is fixed.

Output files (see :func:`evaluation.simulate.truth.write_simulation`), all UTF-8 JSON Lines except the summary:

``traffic.jsonl``
    What a detector sees, sorted by ``created_at`` (ties in random order):
    ``{"prompt_id": "p-000001", "account_id": "a-<10 hex>", "org_id": "o-<8 hex>",
    "created_at": "2026-02-01T12:00:00Z", "text": "..."}``. ``org_id`` is absent for
    accounts without an organisation. Ids are random or time-ordered; none encodes
    a label.
``truth.jsonl``
    One line per account, sorted by ``account_id``: ``account_id``, ``org_id``
    (null when absent), ``label`` ("campaign" | "benign"), ``campaign_id`` (null for
    benign), ``family`` (the campaign's family, one of
    :data:`~evaluation.simulate.config.CAMPAIGN_FAMILY_NAMES`: "templated" for the hand-written
    template campaigns; null for benign), ``kind`` (one of
    :data:`~evaluation.simulate.config.ACCOUNT_KINDS`: "campaign", "hydra" = a campaign
    account that also relays unrelated traffic, "ordinary", a look-alike:
    "short_generic", "popular_public", "org_app", "agent_framework", or a benign trap:
    :data:`~evaluation.simulate.config.TRAP_KINDS`) and ``prompts``.
``prompts_truth.jsonl``
    One line per prompt, in traffic order: ``prompt_id``, ``account_id``, ``label``
    (of the *prompt*: "campaign" only for filled campaign templates; a hydra
    account's relayed prompts are "benign" with kind "hydra_relay" even though the
    account is a campaign account), ``campaign_id`` (set only for campaign prompts),
    ``template_id`` = ``"<family_id>/<variant>"`` (null for ordinary and relayed
    prompts), ``kind`` (one of :data:`~evaluation.simulate.config.PROMPT_KINDS`), ``family_id`` (the paraphrase
    family: what a perfect template clusterer would group, e.g. "reward_grader" or
    "app:support_triage@northwind_traders"), ``variant`` ("base", "para1".., a
    language code for a translated template; "verbatim"/"edited" for public and
    short prompts), ``noise`` (list of :data:`~evaluation.simulate.noise.NOISE_KINDS` applied) and
    ``payload_ref`` (the dataset row the payload came from, e.g. "gsm8k/train:42").
``summary.json``
    Config, resolved budgets, counts per kind, label and family, per campaign its family,
    accounts, window (and for templated ones their template families, bursts and pivot), the
    look-alikes and traps, and ``holdout`` (``names``, ``split``, ``left_out``).

Where things are: :mod:`~evaluation.simulate.config` (the run's sizes and kinds),
:mod:`~evaluation.simulate.pools` (the datasets), :mod:`~evaluation.simulate.templates`
(the hand-written texts, kept as data in ``evaluation/data``),
:mod:`~evaluation.simulate.campaigns` and :mod:`~evaluation.simulate.benign` (the two
kinds of traffic), :mod:`~evaluation.simulate.noise`, :mod:`~evaluation.simulate.payloads`,
:mod:`~evaluation.simulate.sampling` (shared draws), :mod:`~evaluation.simulate.state`
(one run being built), :mod:`~evaluation.simulate.families` and :mod:`~evaluation.simulate.traps`
(the adversarial shapes) and :mod:`~evaluation.simulate.truth` (ids, truth, files). This
module only runs them in order.
"""

from __future__ import annotations

import os
from typing import Any

from evaluation.simulate.benign import (
    add_agent_framework,
    add_ordinary,
    add_org_apps,
    add_popular_public,
    add_short_generic,
    assign_benign_orgs,
)
from evaluation.simulate.campaigns import add_campaigns
from evaluation.simulate.config import SimulationConfig
from evaluation.simulate.families import add_families
from evaluation.simulate.pools import load_pools
from evaluation.simulate.sampling import sub_rng
from evaluation.simulate.state import Run
from evaluation.simulate.traps import add_traps
from evaluation.simulate.truth import SimulationResult, finish, write_simulation

__all__ = ["run_simulation", "simulate"]


def simulate(config: SimulationConfig, data_dir: str | os.PathLike[str] | None = None) -> SimulationResult:
    """Generate one run of traffic with its ground truth, in memory.

    Args:
        config: sizes and proportions; validated on construction.
        data_dir: the ``shared/data`` folder (default :data:`evaluation.datasets.DEFAULT_DATA_DIR`).

    Returns:
        The traffic records sorted by time, the per-account and per-prompt truth,
        and a summary. Same config and same data give identical results.

    Raises:
        FileNotFoundError: the data folder or a dataset file is missing.
    """
    pools = load_pools(data_dir)
    budgets = config.budgets()
    run = Run(config, pools)
    add_campaigns(run, budgets["campaign"], budgets["hydra_relay"])
    ordinary = add_ordinary(run, budgets["ordinary"])
    short = add_short_generic(run, budgets["short_generic"])
    public = add_popular_public(run, budgets["popular_public"])
    add_org_apps(run, budgets["org_app"])
    add_agent_framework(run, budgets["agent_framework"])
    assign_benign_orgs(run, ordinary + short + public, sub_rng(config.seed, "benign_orgs"))
    # Last, so that a run without them draws exactly what it drew before they existed.
    add_families(run)
    add_traps(run)
    return finish(run)


def run_simulation(
    config: SimulationConfig,
    out_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Simulate and write the four files; returns the summary."""
    result = simulate(config, data_dir)
    write_simulation(result, out_dir)
    return result.summary
