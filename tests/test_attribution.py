"""Account attribution on simulated traffic embedded by the real model: each true
campaign's accounts (hydra accounts included, bystanders out), shares and confidence,
ids that survive a growing corpus, the membership table CheckPrompt reads, a
progress report for every long stage, and templates of one account each joined by the
wording of their instructions (per-account paraphrases) but not power users' wrappers."""

from __future__ import annotations

import collections
import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from evaluation.reconstruction import simulation_match
from evaluation.simulate import run_simulation
from evaluation.simulate.config import SimulationConfig
from promptprint.readers import read_records
from promptprint.records import PromptRecord
from promptprint.reconstruct.attribution import AttributionParams, _bridges_kept
from promptprint.reconstruct.corpus import Corpus, corpus_from_records
from promptprint.reconstruct.membership import CampaignMembership
from promptprint.reconstruct.outputs import publish, write_reconstruction
from promptprint.reconstruct.pipeline import ReconstructConfig, Reconstruction, reconstruct
from promptprint.reconstruct.progress import Advance
from promptprint.reconstruct.wording import WordingParams
from promptprint.text.normalize import canonical_text
from promptprint.text.skeleton import signature

from conftest import FINAL_MARKED_WORDINGS, HASH_MARKED_WORDINGS, SHARED_DATA


class Recorder:
    """A Progress that remembers each stage and how far it got."""

    def __init__(self) -> None:
        self.stages: dict[str, list[int]] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str, total: int, unit: str) -> Iterator[Advance]:
        done = self.stages.setdefault(stage, [total, 0])
        yield lambda n: done.__setitem__(1, done[1] + n)


@pytest.fixture(scope="module")
def sim(tmp_path_factory, embedder) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """1,500 prompts, three campaigns (pivots, paraphrases, translations, hydra accounts)
    among ordinary traffic and look-alikes, embedded once."""
    out = tmp_path_factory.mktemp("sim")
    run_simulation(SimulationConfig(prompts=1500, seed=7, campaigns=3, min_accounts_per_campaign=10), out, SHARED_DATA)
    records = [line.record for line in read_records(out / "traffic.jsonl") if line.record is not None]
    progress = Recorder()
    corpus = corpus_from_records(records, embedder.embed, progress=progress)
    vectors = {canonical_text(r.text): v for r, v in zip(sorted(records, key=lambda r: r.created_at_ms), corpus.vectors)}
    result = reconstruct(corpus, progress=progress)
    return {"dir": out, "records": records, "corpus": corpus, "vectors": vectors, "result": result, "progress": progress}


def _truth(sim_dir: Path) -> dict[str, dict[str, Any]]:
    with open(sim_dir / "truth.jsonl", encoding="utf-8") as fh:
        return {row["account_id"]: row for row in map(json.loads, fh)}


def test_each_campaign_holds_exactly_its_accounts(sim) -> None:  # type: ignore[no-untyped-def]
    match = simulation_match(sim["result"], sim["dir"])
    assert len(match["campaigns"]) == 3
    assert match["summary"]["worst_jaccard"] >= 0.85, match["campaigns"]
    assert match["summary"]["max_bystander_share"] <= 0.05, match["bystander_share"]
    truth = _truth(sim["dir"])
    attributed = {a.account_id: c.campaign_id for c in sim["result"].campaigns for a in c.accounts}
    hydras = [a for a, row in truth.items() if row["kind"] == "hydra"]
    assert hydras and all(a in attributed for a in hydras)  # relaying ordinary traffic does not take them out


def test_accounts_carry_share_and_confidence(sim) -> None:  # type: ignore[no-untyped-def]
    result: Reconstruction = sim["result"]
    for c in result.campaigns:
        for a in c.accounts:
            assert 0.0 < a.share <= 1.0 and a.share == round(a.prompts / a.total_prompts, 4)
            assert 0.0 < a.confidence <= 1.0
        shares = [a.share for a in c.accounts]
        assert c.stats.dedication == pytest.approx(sum(a.prompts for a in c.accounts) / sum(a.total_prompts for a in c.accounts))
        assert min(shares) < 1.0 or len(shares) < 3  # mixed traffic is reported, not cut away
    truth = _truth(sim["dir"])
    hydra = [a for c in result.campaigns for a in c.accounts if truth[a.account_id]["kind"] == "hydra"]
    dedicated = [a for c in result.campaigns for a in c.accounts if a.share == 1.0 and a.prompts >= 4]
    assert max(a.confidence for a in hydra) < min(a.confidence for a in dedicated)  # relaying lowers it
    assert result.unreported.campaigns >= 1 and "more under score 0.30" in result.unreported.line()


def test_ids_are_stable_when_the_corpus_grows(sim) -> None:  # type: ignore[no-untyped-def]
    """A reconstruction of the first 60% of the period and one of all of it give the
    shared campaigns the same ids (and a rerun gives the same ids)."""
    corpus: Corpus = sim["corpus"]
    vectors = sim["vectors"]
    cut = int(np.quantile(corpus.created_at_ms, 0.6))
    prefix = corpus_from_records(sim["records"], lambda texts: np.stack([vectors[t] for t in texts]), until_ms=cut)
    early = reconstruct(prefix)
    full: Reconstruction = sim["result"]
    assert [c.campaign_id for c in reconstruct(corpus).campaigns] == [c.campaign_id for c in full.campaigns]
    paired = 0
    for c in early.campaigns:
        accounts = {a.account_id for a in c.accounts}
        best = max(full.campaigns, key=lambda f: len(accounts & {a.account_id for a in f.accounts}))
        if len(accounts & {a.account_id for a in best.accounts}) >= 0.5 * len(accounts):
            assert c.campaign_id == best.campaign_id
            paired += 1
    assert paired >= 2
    assert all(c.campaign_id.startswith("c-") and len(c.campaign_id) == 14 for c in full.campaigns)


def test_membership_names_the_campaign_of_a_live_prompt(sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result: Reconstruction = sim["result"]
    data_dir = tmp_path / "data"
    membership = CampaignMembership(data_dir, recheck_s=0)  # looks again at every call: published below
    some_prompt = signature(result.corpus.texts[int(result.campaigns[0].prompt_rows[0])])
    assert membership.campaign_of(some_prompt, None) is None  # nothing published yet
    out = write_reconstruction(result, tmp_path / "rec")
    publish(data_dir, out)
    corpus = result.corpus
    for c in result.campaigns:
        texts = [corpus.texts[r] for r in c.prompt_rows[-5:].tolist()]
        named = collections.Counter(membership.campaign_of(signature(t), None) for t in texts)
        assert named.most_common(1)[0][0] == c.campaign_id, (c.campaign_id, named)
    in_campaigns = {int(r) for c in result.campaigns for r in c.prompt_rows.tolist()}
    others = [i for i in range(len(corpus)) if i not in in_campaigns and len(corpus.texts[i].split()) > 30][:50]
    strays = sum(membership.campaign_of(signature(corpus.texts[i]), None) is not None for i in others)
    assert strays <= 0.1 * len(others)  # ordinary prompts name no campaign


def test_every_long_stage_reports_progress(sim) -> None:  # type: ignore[no-untyped-def]
    stages = sim["progress"].stages
    n = len(sim["corpus"])
    for name in ("embedding", "replay", "k-NN"):
        assert stages[name] == [n, n], name
    assert stages["attribution"][0] == stages["attribution"][1] >= 3
    assert stages["templates"][0] == stages["templates"][1] == len(sim["result"].campaigns)
    if "clustering" in stages:
        assert stages["clustering"][0] == stages["clustering"][1]


def test_default_threshold_matches_the_cli() -> None:
    from promptprint.cli.parser import build_parser

    args = build_parser().parse_args(["campaigns", "x.jsonl", "--out", "o"])
    assert args.min_score == ReconstructConfig.min_score and args.no_progress is False


# One instruction worded five ways (a campaign giving each account its own), and five
# power users' own wrappers for unrelated chores.
PARAPHRASES = [
    "Solve the following math problem step by step and finish with the final number on its own line.",
    "Work through this problem carefully, showing each step, then give only the final number at the end.",
    "Please reason step by step about the problem below and end your reply with the numeric answer.",
    "Find the answer to the question below with clear reasoning, and write the final number last.",
    "I need you to solve this problem one step at a time and state the final numeric answer at the end.",
]
WRAPPERS = [
    "Translate the following text into Spanish, keeping my tone:",
    "Summarize this in three short bullet points:",
    "Fix the grammar and spelling of this, keep my voice:",
    "Make this email sound friendlier and more polite:",
    "Turn this into a catchy tweet under 280 characters:",
]
# Three companies' support integrations: one account each, sending all the time.
INTEGRATIONS = [
    "You are the support assistant for Acme Tools. Classify the customer ticket below as billing, bug or other, then draft a short reply:",
    "Act as the helpdesk bot of Brightline Bank: label this customer message as billing, bug or other and write a brief answer:",
    "As customer service AI for Nordic Outdoor, sort the following ticket into billing, bug or other and suggest a reply:",
]
DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01


def _worded_traffic(payloads: list[str], instructions: list[str], starts_days: list[int], *, every_days: int = 0,
                    hours: list[int] | None = None, orgs: list[str] | None = None) -> list[PromptRecord]:
    """Account k sends only ``instructions[k]`` over payloads of its own, 8 prompts in two
    sittings a day apart from day ``starts_days[k]`` (or one prompt ``every_days``), at
    ``hours[k]`` o'clock (10 by default), from org ``orgs[k]`` (one of its own by
    default); 40 ordinary accounts send 200 prompts over the 16 days."""
    records = []
    texts = iter(payloads)
    for k, (instruction, day) in enumerate(zip(instructions, starts_days)):
        hour = hours[k] if hours else 10
        org = orgs[k] if orgs else f"o-worded-{k}"
        for j in range(8):
            days = day + (j * every_days if every_days else j // 4)
            t = START_MS + days * DAY_MS + hour * 3_600_000 + (j % 4) * 420_000 + k * 60_000
            records.append(PromptRecord(f"w-{k}-{j}", f"worded-{k}", org, t, f"{instruction}\n\n{next(texts)}"))
    for i in range(200):
        records.append(PromptRecord(f"o-{i}", f"ordinary-{i % 40}", "", START_MS + i * 16 * DAY_MS // 200, next(texts)))
    return records


def _joined(result: Reconstruction) -> list[set[str]]:
    """The account sets of the campaigns holding two or more of the worded accounts."""
    sets = [{a.account_id for a in c.accounts} for c in result.campaigns]
    return [s for s in sets if len({a for a in s if a.startswith("worded-")}) >= 2]


def test_per_account_paraphrases_are_joined_by_their_wording(embedder, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """Five accounts, each its own wording of one instruction, working the same days: one
    campaign of exactly them, linked by wording; without the embedder, five lone templates."""
    corpus = corpus_from_records(_worded_traffic(alpaca_texts[2000:], PARAPHRASES, [0, 0, 1, 0, 1]), embedder.embed)
    config = ReconstructConfig(min_score=0.0)
    result = reconstruct(corpus, config, embed=embedder.embed)
    assert _joined(result) == [{f"worded-{k}" for k in range(5)}]
    campaign = next(c for c in result.campaigns if any(a.account_id == "worded-0" for a in c.accounts))
    assert any("instructions worded alike" in r for r in campaign.reasons), campaign.reasons
    assert _joined(reconstruct(corpus, config)) == []  # one account per template: nothing in common


def test_paraphrases_used_weeks_apart_are_not_joined(embedder, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """The same wordings, each account in a period of its own: closeness of meaning alone links nothing."""
    corpus = corpus_from_records(_worded_traffic(alpaca_texts[2000:], PARAPHRASES, [0, 3, 6, 9, 12]), embedder.embed)
    assert _joined(reconstruct(corpus, ReconstructConfig(min_score=0.0), embed=embedder.embed)) == []
    anytime = ReconstructConfig(attribution=AttributionParams(wording=WordingParams(gap_hours=30 * 24.0, near_hours=30 * 24.0)),
                                min_score=0.0)
    assert _joined(reconstruct(corpus, anytime, embed=embedder.embed)) == [{f"worded-{k}" for k in range(5)}]


def test_power_user_wrappers_are_not_joined(embedder, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """Five users who each send nothing but their own wrapper, the same days (dedicated and
    in use at once: the wording is all that keeps them apart), are not one campaign; with
    any wording allowed they would be."""
    corpus = corpus_from_records(_worded_traffic(alpaca_texts[2000:], WRAPPERS, [0, 0, 1, 0, 1]), embedder.embed)
    assert _joined(reconstruct(corpus, ReconstructConfig(min_score=0.0), embed=embedder.embed)) == []
    anything = ReconstructConfig(attribution=AttributionParams(wording=WordingParams(cosine=-1.0)), min_score=0.0)
    assert _joined(reconstruct(corpus, anything, embed=embedder.embed)) == [{f"worded-{k}" for k in range(5)}]


def test_integrations_running_all_the_time_are_not_joined(embedder, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """Three single-account integrations worded alike, each in use the whole period: their
    periods overlap whatever they are, so the overlap is no evidence and they stay apart."""
    corpus = corpus_from_records(_worded_traffic(alpaca_texts[2000:], INTEGRATIONS, [0, 0, 1], every_days=2), embedder.embed)
    assert _joined(reconstruct(corpus, ReconstructConfig(min_score=0.0), embed=embedder.embed)) == []
    any_period = ReconstructConfig(attribution=AttributionParams(wording=WordingParams(max_period_share=2.0, near_hours=48.0)),
                                   min_score=0.0)
    assert _joined(reconstruct(corpus, any_period, embed=embedder.embed)) == [{f"worded-{k}" for k in range(3)}]


def test_two_operations_wording_alike_on_schedules_of_their_own_stay_apart(embedder, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """Two operations word one math task alike the same days, each firing its accounts
    at its own hour: a campaign's scripted accounts work in the same waves, so each
    operation is one campaign of exactly its accounts; with any hour allowed, one."""
    wordings = [*PARAPHRASES, "Go ahead and calculate the result of this word problem step by step, with the final number at the end."]
    corpus = corpus_from_records(
        _worded_traffic(alpaca_texts[2000:], wordings, [0] * 6, hours=[10, 10, 10, 16, 16, 16]), embedder.embed
    )
    assert sorted(_joined(reconstruct(corpus, ReconstructConfig(min_score=0.0), embed=embedder.embed)), key=sorted) == [
        {"worded-0", "worded-1", "worded-2"}, {"worded-3", "worded-4", "worded-5"},
    ]
    any_hour = ReconstructConfig(attribution=AttributionParams(wording=WordingParams(near_hours=24.0)), min_score=0.0)
    assert _joined(reconstruct(corpus, any_hour, embed=embedder.embed)) == [{f"worded-{k}" for k in range(6)}]


def test_two_operations_wording_alike_at_the_same_hours_stay_apart_by_their_answer_markers(embedder, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """Two operations word one math task alike and fire their accounts at the same hour:
    one's parser wants the answer after ``####``, the other's after ``Final:``. Worded
    within the link threshold of each other, hour for hour, they stay two campaigns of
    exactly their accounts."""
    from promptprint.index.fingerprint import fingerprint_texts
    from promptprint.text.answer_markers import answer_markers

    hashes, finals = HASH_MARKED_WORDINGS, FINAL_MARKED_WORDINGS
    vectors = fingerprint_texts(embedder.embed, hashes + finals)
    assert (vectors[:3] @ vectors[3:].T).max() >= WordingParams().cosine  # worded alike across the two
    assert {answer_markers(h) for h in hashes} == {frozenset("#")} and {answer_markers(f) for f in finals} == {frozenset()}
    corpus = corpus_from_records(_worded_traffic(alpaca_texts[2000:], hashes + finals, [0] * 6), embedder.embed)
    assert sorted(_joined(reconstruct(corpus, ReconstructConfig(min_score=0.0), embed=embedder.embed)), key=sorted) == [
        {"worded-0", "worded-1", "worded-2"}, {"worded-3", "worded-4", "worded-5"},
    ]


# Two more wordings of PARAPHRASES' instruction (0.55-0.91 to them).
LATE_WORDINGS = [
    "Compute the solution to the math question below step by step, and put the final number on the last line.",
    "Go through the word problem that follows one step at a time; your last line should be just the number.",
]


@pytest.mark.parametrize(("late_hour", "joined"), [(13, True), (22, False)])
def test_accounts_keeping_to_their_own_wording_in_another_wave_join_their_campaign(
    embedder, alpaca_texts, late_hour: int, joined: bool  # type: ignore[no-untyped-def]
) -> None:
    """Five accounts, each its own wording of one instruction, work at 10 o'clock and are
    one campaign; two more, each with a wording of its own, work at ``late_hour``, hours
    from any sibling's prompt. Three hours later they are a later wave of the campaign
    and join it (too few to be a campaign of their own); twelve hours later they are
    not, and without adoption they are not either."""
    wordings = [*PARAPHRASES, *LATE_WORDINGS]
    corpus = corpus_from_records(
        _worded_traffic(alpaca_texts[2000:], wordings, [0] * 7, hours=[10] * 5 + [late_hour] * 2), embedder.embed
    )
    first_wave = {f"worded-{k}" for k in range(5)}
    found = _joined(reconstruct(corpus, ReconstructConfig(min_score=0.0), embed=embedder.embed))
    assert found == [first_wave | {"worded-5", "worded-6"}] if joined else found == [first_wave]
    never = ReconstructConfig(attribution=AttributionParams(adopt_near_hours=-1.0), min_score=0.0)
    assert _joined(reconstruct(corpus, never, embed=embedder.embed)) == [first_wave]


def test_an_account_keeping_to_a_loose_paraphrase_joins_the_wave_it_works_in(embedder, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """Five accounts, each its own wording of one instruction, work at 10 o'clock; three
    hours later one account keeps to a loose paraphrase of it (0.37 to the closest
    sibling, under the 0.55 two English wordings need to link) and another to an
    unrelated job of its own (0.12). The first joins the campaign (adopt_cosine 0.3); the
    second does not; at the pair threshold the first stays alone too."""
    loose = "I am building a dataset: for the problem below, reason it out and report the number you get at the very end."
    unrelated = "Rewrite the customer review below as a formal complaint letter addressed to the store manager."
    corpus = corpus_from_records(
        _worded_traffic(alpaca_texts[2000:], [*PARAPHRASES, loose, unrelated], [0] * 7, hours=[10] * 5 + [13, 13]), embedder.embed
    )
    first_wave = {f"worded-{k}" for k in range(5)}
    assert _joined(reconstruct(corpus, ReconstructConfig(min_score=0.0), embed=embedder.embed)) == [first_wave | {"worded-5"}]
    strict = ReconstructConfig(attribution=AttributionParams(adopt_cosine=0.55), min_score=0.0)
    assert _joined(reconstruct(corpus, strict, embed=embedder.embed)) == [first_wave]


# The math instruction in Japanese (twice) and Chinese: 0.71-0.87 to each other, at most
# 0.33 to any English wording of it (MiniLM is English-only; CJK share characters).
CJK_WORDINGS = [
    "次の数学の問題を一歩ずつ解き、最後の行に最終的な数字だけを書いてください。",
    "以下の数学の問題を段階的に解いて、最後に答えの数字を一行で書いてください。",
    "请逐步解答以下数学问题，最后单独一行写出最终数字。",
]


@pytest.mark.parametrize(("english", "cjk_hour", "joined"), [(6, 10, True), (6, 12, False), (4, 10, False)])
def test_a_campaigns_translations_that_link_among_themselves_join_it_when_working_its_hours(
    embedder, alpaca_texts, english: int, cjk_hour: int, joined: bool  # type: ignore[no-untyped-def]
) -> None:
    """An operation's English accounts, each its own wording, work at 10 o'clock two days
    running; three accounts keep to its Japanese and Chinese translations, which link with
    each other by wording but with no English one. Three accounts make a campaign, so
    they are no fragment; beside six English accounts, in their hours, they are a
    splinter and join them (the closest pair at 0.33). Two hours off every time they are
    not in the campaign's hours, and beside four they are an operation of like size: apart,
    as they are with splinters never adopted."""
    wordings = [*PARAPHRASES, *LATE_WORDINGS][:english] + CJK_WORDINGS
    # payloads of three texts each: a Japanese line is a template only over a longer body
    payloads = [" ".join(alpaca_texts[k : k + 3]) for k in range(2000, 3200, 3)]
    corpus = corpus_from_records(
        _worded_traffic(payloads, wordings, [0] * len(wordings), hours=[10] * english + [cjk_hour] * 3), embedder.embed
    )
    english_accounts = {f"worded-{k}" for k in range(english)}
    cjk_accounts = {f"worded-{k}" for k in range(english, english + 3)}
    found = sorted(_joined(reconstruct(corpus, ReconstructConfig(min_score=0.0), embed=embedder.embed)), key=len)
    assert found == ([english_accounts | cjk_accounts] if joined else [cjk_accounts, english_accounts])
    never = ReconstructConfig(attribution=AttributionParams(adopt_splinter_ratio=0.0), min_score=0.0)
    assert sorted(_joined(reconstruct(corpus, never, embed=embedder.embed)), key=len) == [cjk_accounts, english_accounts]


# One instruction and its translations (the adversarial simulator's instruction_expander),
# which MiniLM embeds too far apart to link by wording (0.08-0.33 to the English).
TRANSLATIONS = [
    "Produce a high-quality training example. First restate the instruction below in your own words, then write an ideal, detailed response.",
    "Produza um exemplo de treinamento de alta qualidade. Primeiro reescreva a instrução abaixo com suas próprias palavras, depois escreva uma resposta ideal.",
    "Produza um exemplo de treinamento de alta qualidade. Primeiro reescreva a instrução abaixo com suas próprias palavras, depois escreva uma resposta ideal.",
    "Genera un esempio di addestramento di alta qualità. Prima riformula l'istruzione qui sotto con parole tue, poi scrivi una risposta ideale.",
    "Genera un esempio di addestramento di alta qualità. Prima riformula l'istruzione qui sotto con parole tue, poi scrivi una risposta ideale.",
    "Erstelle ein hochwertiges Trainingsbeispiel. Formuliere zuerst die folgende Anweisung mit eigenen Worten um, schreibe dann eine ideale Antwort.",
]


def test_translations_kept_by_accounts_of_one_org_are_joined(embedder, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """An operation gives its accounts different translations and keeps them in a few
    throw-away orgs, each holding accounts of two translations: dedicated accounts of one
    org, in use at once, link their templates, and the chain of orgs is one campaign. A
    company's three service accounts, each keeping to a pipeline of its own in one org,
    link the same way, and are one org's traffic: not reported at the default threshold."""
    orgs = ["op-x", "op-x", "op-y", "op-y", "op-z", "op-z"]
    records = _worded_traffic(alpaca_texts[2000:], TRANSLATIONS, [0] * 6, orgs=orgs)
    records += [
        PromptRecord(r.prompt_id.replace("w-", "acme-"), r.account_id.replace("worded-", "acme-svc-"), "acme", r.created_at_ms + 30_000,
                     r.text.replace("\n\n", "\n\nTicket: ", 1).replace(TRANSLATIONS[0], INTEGRATIONS[0]).replace(TRANSLATIONS[1], INTEGRATIONS[1])
                     .replace(TRANSLATIONS[3], INTEGRATIONS[2]))
        for r in _worded_traffic(alpaca_texts[3000:], [TRANSLATIONS[0], TRANSLATIONS[1], TRANSLATIONS[3]], [0] * 3)
        if r.account_id.startswith("worded-")
    ]
    corpus = corpus_from_records(records, embedder.embed)
    everything = ReconstructConfig(min_score=0.0)
    result = reconstruct(corpus, everything, embed=embedder.embed)
    assert _joined(result) == [{f"worded-{k}" for k in range(6)}]
    campaign = next(c for c in result.campaigns if any(a.account_id == "worded-0" for a in c.accounts))
    assert any("dedicated accounts of one org" in r for r in campaign.reasons), campaign.reasons
    assert _joined(reconstruct(corpus, everything)) == [{f"worded-{k}" for k in range(6)}]  # no model needed for orgs
    company = [{a.account_id for a in c.accounts} for c in result.campaigns if any(a.account_id.startswith("acme") for a in c.accounts)]
    assert company == [{"acme-svc-0", "acme-svc-1", "acme-svc-2"}]
    reported = reconstruct(corpus, ReconstructConfig(), embed=embedder.embed)
    assert not any(a.account_id.startswith("acme") for c in reported.campaigns for a in c.accounts)
    without = ReconstructConfig(attribution=AttributionParams(use_org=False), min_score=0.0)
    assert {f"worded-{k}" for k in range(6)} not in _joined(reconstruct(corpus, without, embed=embedder.embed))


def test_one_translation_pair_does_not_merge_two_campaigns() -> None:
    """Two campaigns of three templates each (held by their accounts or orgs), and a
    translation's wording link (weak: below the English threshold) between one template
    of each: one such pair does not make them one campaign when they worked on schedules
    of their own; two independent pairs do, and so does one when they worked in the same
    hours (one campaign's halves). A lone template (a translation nothing else holds) is
    attached by one."""
    firm = [(0, 1), (1, 2), (3, 4), (4, 5)]
    src, dst = (np.asarray(side, dtype=np.int64) for side in zip(*firm, (2, 3), (6, 0)))
    weak = np.asarray([False] * 4 + [True, True])
    own_hours = [np.asarray([10, 11]), np.asarray([30]), np.asarray([50]), np.asarray([11, 12]),
                 np.asarray([31, 70]), np.asarray([90]), np.asarray([10])]
    same_hours = [np.asarray([10, 11]), np.asarray([30]), np.asarray([50]), np.asarray([10, 11]),
                  np.asarray([30]), np.asarray([50]), np.asarray([10])]
    params = AttributionParams()
    keep = _bridges_kept(7, src, dst, weak, params, lambda: own_hours)
    assert keep.tolist() == [True] * 4 + [False, True]
    assert _bridges_kept(7, src, dst, weak, params, lambda: same_hours).all()
    src2, dst2 = np.append(src, 1), np.append(dst, 5)  # a second pair joins the same two campaigns
    assert _bridges_kept(7, src2, dst2, np.append(weak, True), params, lambda: own_hours).all()
    assert _bridges_kept(7, src, dst, weak, AttributionParams(weak_bridge_links=1), lambda: own_hours).all()


def test_an_org_spanning_two_groups_joins_them_only_when_they_worked_the_same_hours() -> None:
    """Two groups of three templates each, and templates of one throw-away org in both
    whose prompts were not sent within the hour of each other (weak links ``by_org``):
    they join the two groups when the groups worked the same hours (one operation's
    halves), not otherwise, however many of the org's pairs there are (one org's pairs
    are not independent evidence); nor do they attach a lone template on their own."""
    firm = [(0, 1), (1, 2), (3, 4), (4, 5)]
    org = [(2, 3), (1, 4), (6, 0)]
    src, dst = (np.asarray(side, dtype=np.int64) for side in zip(*firm, *org))
    weak = np.asarray([False] * 4 + [True] * 3)
    same = [np.asarray([10, 11]), np.asarray([30]), np.asarray([50]), np.asarray([10, 11]),
            np.asarray([30]), np.asarray([50]), np.asarray([99])]
    apart = [*same[:3], np.asarray([12]), np.asarray([31]), np.asarray([70]), same[6]]
    params = AttributionParams()
    assert _bridges_kept(7, src, dst, weak, params, lambda: same, by_org=weak).tolist() == [True] * 6 + [False]
    assert _bridges_kept(7, src, dst, weak, params, lambda: apart, by_org=weak).tolist() == [True] * 4 + [False] * 3
    # the same links read as a translation's wording: two of them join the groups, one attaches the lone template
    assert _bridges_kept(7, src, dst, weak, params, lambda: apart).all()
