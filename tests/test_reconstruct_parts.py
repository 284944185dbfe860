"""The steps of offline reconstruction, each against an oracle or a known answer:
FAISS k-NN graph vs brute force, components + Leiden on a chained graph, slots by
alignment, campaigns from the account x template graph, and the jailbreak communities."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from evaluation.reconstruction import load_jailbreak, score_clusters
from promptprint.reconstruct.clustering import ClusterParams, cluster, components
from promptprint.reconstruct.corpus import Corpus, corpus_from_records
from promptprint.reconstruct.knn_graph import Edges, KnnParams, knn_edges
from promptprint.reconstruct.pipeline import template_clusters
from promptprint.reconstruct.slots import extract_template

from conftest import SHARED_DATA


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _oracle(vectors: np.ndarray, k: int, threshold: float) -> set[tuple[int, int]]:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    pairs = set()
    for i, row in enumerate(sims):
        for j in np.argsort(-row)[:k]:
            if row[j] >= threshold:
                pairs.add((min(i, int(j)), max(i, int(j))))
    return pairs


def test_knn_graph_matches_brute_force_and_batches_do_not_matter() -> None:
    centres = _unit(20, 32, 1)
    vectors = centres[np.arange(600) % 20] + 0.15 * _unit(600, 32, 2)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = _oracle(vectors, 5, 0.5)
    for batch in (7, 4096):
        edges = knn_edges(vectors, KnnParams(k=5, min_similarity=0.5, batch_size=batch))
        assert set(zip(edges.src.tolist(), edges.dst.tolist())) == expected
        assert (edges.src < edges.dst).all() and len(edges) == len(expected)
    ivf = knn_edges(vectors, KnnParams(k=5, min_similarity=0.5, exact_limit=100, nprobe=8))
    assert len(set(zip(ivf.src.tolist(), ivf.dst.tolist())) & expected) >= 0.9 * len(expected)


def test_knn_graph_edge_cases() -> None:
    assert len(knn_edges(np.zeros((0, 8), np.float32))) == 0
    assert len(knn_edges(_unit(1, 8, 0))) == 0
    same = np.repeat(_unit(1, 8, 0), 3, axis=0)  # duplicates: each pair once, no self-loops
    edges = knn_edges(same, KnnParams(k=5, min_similarity=0.9))
    assert sorted(zip(edges.src.tolist(), edges.dst.tolist())) == [(0, 1), (0, 2), (1, 2)]
    with pytest.raises(ValueError, match="k must be"):
        KnnParams(k=0)


def test_leiden_cuts_the_bridge_that_chains_two_templates() -> None:
    src, dst = [], []
    for base in (0, 10):  # two 10-cliques
        for i in range(10):
            for j in range(i + 1, 10):
                src.append(base + i)
                dst.append(base + j)
    src.append(9)
    dst.append(10)  # one borderline edge between them
    weight = np.ones(len(src), np.float32)
    weight[-1] = 0.1
    edges = Edges(np.asarray(src, np.int32), np.asarray(dst, np.int32), weight)
    assert len(set(components(21, edges).tolist())) == 2  # 20 chained + the lone node 20
    labels = cluster(21, edges, ClusterParams(chain_min_size=8))
    assert len(set(labels[:10].tolist())) == 1 and len(set(labels[10:20].tolist())) == 1
    assert labels[0] != labels[10] and labels[20] not in (labels[0], labels[10])
    assert (cluster(21, edges) == labels).all()  # seeded: same graph, same clusters


def test_slots_are_found_by_alignment() -> None:
    template = "You are a strict grader. Rate the answer below from 1 to 10 for correctness.\nQuestion: {}\nAnswer: {}\nReply with the score only."
    fills = [("what is the capital of peru", "lima of course"), ("who wrote the odyssey", "homer, probably around 700 bc"),
             ("how many legs has a spider", "eight legs"), ("what colour is the sky at noon", "blue, because of rayleigh scattering")]
    result = extract_template([template.format(q, a) for q, a in fills])
    rendered = result.render()
    assert rendered.startswith("you are a strict grader. rate the answer below from {1:num} to {2:num} for correctness.")
    assert "question: {3} answer: {4} reply with the score only." in rendered
    assert result.slot_count == 4 and result.members_aligned == 4
    assert extract_template(["one single prompt without any siblings at all"]).slot_count == 0


def test_jailbreak_communities_are_recovered(embedder) -> None:  # type: ignore[no-untyped-def]
    """A light version of scripts/jailbreak_clusters.py: the 5 biggest communities (12
    prompts each) among 20 unlabelled prompts, with the real model. MiniLM + connected
    components (cos >= 0.8) scores ARI 0.30 on the same rows; ours 0.79."""
    rows = load_jailbreak(SHARED_DATA)
    biggest = [c for c, _ in collections.Counter(rows.community[rows.community >= 0].tolist()).most_common(5)]
    picked = [i for c in biggest for i in np.flatnonzero(rows.community == c)[:12].tolist()]
    picked += np.flatnonzero(rows.community < 0)[:20].tolist()
    records = [rows.records[i] for i in picked]
    corpus = corpus_from_records(records, embedder.embed)
    view = template_clusters(corpus)
    position = {p: i for i, p in enumerate(corpus.prompt_ids)}
    labels = view.labels[[position[r.prompt_id] for r in records]]
    score = score_clusters(labels, rows.community[picked])
    assert score.scored_rows == 60 and score.communities == 5
    chained = components(len(corpus), knn_edges(corpus.vectors, KnnParams(k=30, min_similarity=0.8)))
    baseline = score_clusters(chained[[position[r.prompt_id] for r in records]], rows.community[picked])
    assert score.ari >= 0.7 and score.ari >= baseline.ari + 0.3, (score, baseline)


def test_corpus_time_filter_and_interning(embedder) -> None:  # type: ignore[no-untyped-def]
    from promptprint.records import PromptRecord

    records = [PromptRecord(f"p{i}", f"a{i % 2}", "o" if i % 2 else "", 1000 * (5 - i), f"prompt number {i}") for i in range(5)]
    corpus: Corpus = corpus_from_records(records, embedder.embed, since_ms=1000, until_ms=5000)
    assert corpus.prompt_ids == ["p4", "p3", "p2", "p1"]  # time order, bounds [since, until)
    assert corpus.account_names == ["a0", "a1"] and corpus.org_names == ["", "o"]
    assert corpus.orgs.tolist() == [0, 1, 0, 1] and corpus.vectors.shape == (4, embedder.dimension)


def test_minhash_estimates_jaccard() -> None:
    from promptprint.reconstruct.minhash import estimate_jaccard, sketches

    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**63, 300)
    sets = [base[:300], base[:200], base[250:], np.empty(0, dtype=np.uint64)]
    estimate = estimate_jaccard(sketches(sets), np.array([0, 0, 1, 0]), np.array([1, 2, 2, 3]))
    exact = [200 / 300, 50 / 300, 0.0, 0.0]
    assert np.allclose(estimate, exact, atol=0.1) and estimate[2] == 0.0 and estimate[3] == 0.0  # empty set: 0, not 1


def test_instruction_text_is_what_the_last_two_different_prompts_share(embedder) -> None:  # type: ignore[no-untyped-def]
    """A template's instruction is the constant part of its last two prompts with different
    texts (a resent prompt would give the payload back); one that shares too little has none."""
    from promptprint.records import PromptRecord
    from promptprint.reconstruct.wording import instruction_texts

    texts = [
        "Solve this step by step please: what is 2 + 2? Answer with a number.",  # template 1
        "Hello there, how are you today?",  # template 2
        "Solve this step by step please: what is 3 * 7? Answer with a number.",
        "Good morning, nice weather today",
        "Solve this step by step please: what is 3 * 7? Answer with a number.",  # resent
    ]
    records = [PromptRecord(f"p{i}", "a", "", 1000 * i, t) for i, t in enumerate(texts)]
    corpus = corpus_from_records(records, embedder.embed)
    labels = np.asarray([1, 2, 1, 2, 1])
    hashes = np.asarray([hash(t) for t in texts], dtype=np.int64)
    assert instruction_texts(corpus, labels, hashes, np.asarray([1, 2])) == [
        "Solve this step by step please: what is Answer with a number.",
        "",
    ]


def test_a_japanese_or_chinese_instruction_is_a_constant_part_though_written_without_spaces() -> None:
    """A Japanese instruction line is one whitespace "word"; two prompts sharing it share
    an instruction (its characters count as words), while two sharing a two-character
    greeting share too little, as two sharing two English words do."""
    from promptprint.text.constant_part import constant_part

    line = "次の数学の問題を一歩ずつ解き、最後の行に最終的な数字だけを書いてください。"
    assert constant_part(f"{line}\n\nJohn has 3 apples.", f"{line}\n\nWrite a poem about the sea.") == line
    chinese = "请逐步解答以下数学问题，最后单独一行写出最终数字。"
    assert constant_part(f"{chinese}\n\nJohn has 3 apples.", f"{chinese}\n\nWrite a poem about the sea.") == chinese
    assert constant_part("你好\n\nJohn has 3 apples.", "你好\n\nWrite a poem about the sea.") == ""
    assert constant_part("Hello there, John has 3 apples.", "Hello there, write a poem about the sea.") == ""


def test_a_campaign_is_judged_by_the_banks_on_most_of_its_prompts_not_its_first(embedder, alpaca_texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    """A framework's prompts do not all match its allow entry (measured on the
    simulator's structured-chat users: 44 of 63 match the built-in one; users fill the
    scaffold with their own tools and inputs, or run a version with parts cut). A
    campaign whose first prompt is one that does not match is still the framework when
    most of its prompts match; one where only a minority match is not."""
    from pathlib import Path

    from promptprint.records import PromptRecord
    from promptprint.reconstruct.pipeline import _campaign_bank_hit
    from promptprint.templates.banks import Banks
    from promptprint.templates.tracker import TemplateTracker
    from promptprint.text.skeleton import signature

    def words(start: int, n: int) -> str:
        return " ".join(" ".join(alpaca_texts[start : start + 40]).split()[:n])

    rules, tools, fmt = words(300, 100), words(400, 40), words(500, 80)
    banks = Banks(Path(":memory:"))
    banks.add("allow", f"{rules}\n\n{tools}\n\n{fmt}", "our warehouse agent")
    texts = [f"{fmt}\n\nInput: {words(800 + 40 * i, 30)}" for i in range(3)]  # a cut version: no rules
    texts += [f"{rules}\n\n{words(1000 + 40 * i, 40)}\n\n{fmt}\n\nInput: how many crates of item {i} are left?" for i in range(7)]
    assert banks.match(signature(texts[0]), None) is None and banks.match(signature(texts[5]), None) is not None
    corpus = corpus_from_records([PromptRecord(f"p{i}", f"a{i}", "", 1000 * i, t) for i, t in enumerate(texts)], embedder.embed)
    rows, no_templates = np.arange(len(texts)), np.zeros(len(texts), dtype=np.int64)
    hit = _campaign_bank_hit(corpus, rows, no_templates, TemplateTracker(), banks.match)
    assert hit is not None and hit.kind == "allow" and hit.note == "our warehouse agent"
    assert _campaign_bank_hit(corpus, rows[:5], no_templates, TemplateTracker(), banks.match) is None  # 2 of 5 match


@pytest.mark.parametrize(("orgs", "reported"), [(["op-a", "op-b", "op-c"], True), (["acme", "acme", "acme"], False)])
def test_a_campaign_whose_one_account_sends_most_of_it_is_scored_by_its_accounts_orgs(
    embedder, alpaca_texts: list[str], orgs: list[str], reported: bool  # type: ignore[no-untyped-def]
) -> None:
    """Offline as online (scoring._spread): three dedicated accounts of three orgs, one
    sending thirty prompts and two five each, are three orgs, not 75% of one; the same
    accounts in one org are that org's traffic and score nothing."""
    from promptprint.records import PromptRecord
    from promptprint.reconstruct.campaigns import campaign_stats, score_campaign

    wrapper = "Rate the response below from 1 to 10 for helpfulness and correctness, explaining your reasoning first."
    volumes = [30, 5, 5]
    records = [
        PromptRecord(f"p-{a}-{k}", f"acct-{a}", orgs[a], 1_770_000_000_000 + k * 600_000 + a * 1000,
                     f"{wrapper}\n\nResponse: {alpaca_texts[100 * a + k]}")
        for a, n in enumerate(volumes) for k in range(n)
    ]
    corpus = corpus_from_records(records, embedder.embed)
    rows = np.arange(len(corpus))
    totals = np.bincount(corpus.accounts, minlength=len(corpus.account_names))
    stats = campaign_stats(corpus, rows, totals, np.arange(len(corpus), dtype=np.int64))
    assert stats.committed_accounts == 3 and stats.top_org_prompts >= 30
    assert stats.committed_top_org == (1 if reported else 3)
    score, reasons = score_campaign(stats, core_size=16, bank=None)
    assert (score >= 0.5) is reported, reasons
    assert reported or score == 0.0


@pytest.mark.parametrize(("gap_hours", "committed"), [(3, 6), (11 * 24, 0), (0.01, 0)])
def test_a_public_template_that_people_fill_twice_days_apart_is_not_kept_at(
    embedder, alpaca_texts: list[str], gap_hours: float, committed: int  # type: ignore[no-untyped-def]
) -> None:
    """Six people each fill a public "act as ..." template twice and send nothing else.
    Three hours apart, that is two sittings within a day: committed, as online. Eleven
    days apart, or a minute apart, it is one person using a prompt twice: not committed,
    and the group scores nothing."""
    from promptprint.records import PromptRecord
    from promptprint.reconstruct.campaigns import campaign_stats, score_campaign

    public = "I want you to act as an essay writer. Research the given topic, formulate a thesis statement and write a persuasive essay. My first request is:"
    gap_ms = int(gap_hours * 3_600_000)
    records = [
        PromptRecord(f"p-{a}-{k}", f"person-{a}", f"o-{a}", 1_770_000_000_000 + a * 86_400_000 + k * gap_ms,
                     f"{public} {alpaca_texts[10 * a + k]}")
        for a in range(6) for k in range(2)
    ]
    corpus = corpus_from_records(records, embedder.embed)
    totals = np.bincount(corpus.accounts, minlength=len(corpus.account_names))
    stats = campaign_stats(corpus, np.arange(len(corpus)), totals, np.arange(len(corpus), dtype=np.int64))
    assert stats.committed_accounts == committed
    score, reasons = score_campaign(stats, core_size=16, bank=None)
    assert (score > 0.0) is bool(committed), reasons
