"""PromptIndex with the real model, real FAISS and a real SQLite file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from promptprint.vectors.embedder import SentenceTransformerEmbedder
from promptprint.errors import FailedPrecondition, InvalidArgument, NotFound
from promptprint.text.normalize import canonical_text
from promptprint.index.config import IndexConfig
from promptprint.index.prompt_index import PromptIndex
from promptprint.index.results import IngestStatus, NearDuplicateQuery
from promptprint.records import PromptRecord
from promptprint.storage.store import RecordStore

from conftest import make_records


class RenamedModel:
    """The real embedder under another model id: what a data dir built with another
    model looks like to the identity checks."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self._inner = inner

    model_id = "some-other-model"

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def embed(self, texts):  # type: ignore[no-untyped-def]
        return self._inner.embed(texts)


def _stored_vectors(index: PromptIndex, config: IndexConfig) -> tuple[np.ndarray, np.ndarray]:
    """Every (row id, vector) in the record store: the oracle's view."""
    store = RecordStore(config.store_path, index._identity)  # noqa: SLF001 - test reads the same file
    try:
        batches = list(store.iter_rows())
    finally:
        store.close()
    return np.concatenate([b.ids for b in batches]), np.vstack([b.vectors for b in batches])


def _oracle_prompt_ids(index: PromptIndex, config: IndexConfig, text: str, k: int, corpus: list[PromptRecord]) -> list[str]:
    ids, vectors = _stored_vectors(index, config)
    query = index.fingerprint([text])[0]
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return [corpus[int(ids[i]) - 1].prompt_id for i in order]


@pytest.fixture
def loaded(tmp_path: Path, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]):  # type: ignore[no-untyped-def]
    config = IndexConfig(data_dir=tmp_path / "d", snapshot_every=100)
    index = PromptIndex.open(config, embedder)
    outcomes = index.ingest(corpus)
    assert [o.status for o in outcomes] == [IngestStatus.RECORDED] * len(corpus)
    assert index.wait_indexed(600)  # the default tier embeds behind the acknowledgement
    yield index, config
    index.close()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_neighbours_match_exact_oracle(tmp_path: Path, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord], kind: str) -> None:
    config = IndexConfig(data_dir=tmp_path / kind, index_kind=kind)  # type: ignore[arg-type]
    index = PromptIndex.open(config, embedder)
    index.ingest(corpus)
    assert index.wait_indexed(600)
    queries = [corpus[i].text for i in (3, 50, 120, 299)] + ["Write a short story about a robot.", "How do I bake bread?"]
    overlap = []
    for text in queries:
        got = [h.prompt_id for h in index.find_near_duplicates(NearDuplicateQuery(text=text, k=10))]
        want = _oracle_prompt_ids(index, config, text, 10, corpus)
        if kind == "flat":
            assert got == want
        overlap.append(len(set(got) & set(want)) / 10)
    assert np.mean(overlap) >= 0.95
    index.close()


def test_ingest_is_idempotent_and_conflicts_are_refused(loaded, corpus: list[PromptRecord]) -> None:  # type: ignore[no-untyped-def]
    index, _ = loaded
    again = index.ingest(corpus[:3])
    assert [o.status for o in again] == [IngestStatus.DUPLICATE] * 3
    changed = dataclasses.replace(corpus[0], text="a different text entirely")
    (conflict,) = index.ingest([changed])
    assert conflict.status is IngestStatus.CONFLICT and conflict.error is not None
    assert conflict.error.reason == "PROMPT_ID_CONFLICT"
    fresh = PromptRecord("new-1", "a-1", "", corpus[0].created_at_ms, "brand new prompt about volcanoes")
    twice = index.ingest([fresh, fresh, dataclasses.replace(fresh, text="other")])
    assert [o.status for o in twice] == [IngestStatus.RECORDED, IngestStatus.DUPLICATE, IngestStatus.CONFLICT]
    assert len(index) == len(corpus) + 1


def test_restart_after_close_gives_the_same_answers(loaded, embedder: SentenceTransformerEmbedder) -> None:  # type: ignore[no-untyped-def]
    index, config = loaded
    query = NearDuplicateQuery(text="Give three tips for staying healthy.", k=8)
    before = index.find_near_duplicates(query)
    index.close()
    reopened = PromptIndex.open(config, embedder)
    assert reopened.find_near_duplicates(query) == before
    assert len(reopened) == 300
    reopened.close()


def test_crash_without_snapshot_replays_the_store(loaded, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]) -> None:  # type: ignore[no-untyped-def]
    index, config = loaded  # snapshot_every=100: the last snapshot covers 300 rows
    extra = make_records(["Describe the water cycle.", "List five prime numbers."], accounts=3)
    extra = [dataclasses.replace(r, prompt_id=f"late-{i}") for i, r in enumerate(extra)]
    index.ingest(extra)  # acknowledged, but no snapshot covers these two
    assert index.wait_indexed(600)
    query = NearDuplicateQuery(text="Explain the water cycle", k=3)
    before = index.find_near_duplicates(query)
    # a second process opens the same files without the first ever closing: like a crash
    survivor = PromptIndex.open(config, embedder)
    assert len(survivor) == 302
    assert survivor.stats().snapshot_watermark <= 300
    assert survivor.find_near_duplicates(query) == before
    survivor.close()


def test_damaged_snapshot_is_rebuilt_from_the_store(loaded, embedder: SentenceTransformerEmbedder) -> None:  # type: ignore[no-untyped-def]
    index, config = loaded
    index.close()
    current = config.snapshot_root / (config.snapshot_root / "CURRENT").read_text().strip()
    with open(current / "index.faiss", "r+b") as fh:
        fh.truncate(100)
    reopened = PromptIndex.open(config, embedder)
    assert len(reopened) == 300
    assert reopened.find_near_duplicates(NearDuplicateQuery(prompt_id="p-000010", k=1))
    reopened.close()


def test_snapshot_of_another_normalizer_is_refused(loaded, embedder: SentenceTransformerEmbedder) -> None:  # type: ignore[no-untyped-def]
    index, config = loaded
    index.close()
    current = config.snapshot_root / (config.snapshot_root / "CURRENT").read_text().strip()
    manifest = json.loads((current / "manifest.json").read_text())
    manifest["normalizer_version"] = "norm-0"
    (current / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FailedPrecondition) as caught:
        PromptIndex.open(config, embedder)
    assert caught.value.reason == "SNAPSHOT_IDENTITY_MISMATCH"
    assert "norm-0" in caught.value.message


def test_store_of_another_model_is_refused(loaded, embedder: SentenceTransformerEmbedder) -> None:  # type: ignore[no-untyped-def]
    index, config = loaded
    index.close()
    with pytest.raises(FailedPrecondition) as caught:
        PromptIndex.open(config, RenamedModel(embedder))  # type: ignore[arg-type]
    assert caught.value.reason == "STORE_IDENTITY_MISMATCH"
    assert "some-other-model" in caught.value.message


def test_filters_window_and_exclusions(loaded, corpus: list[PromptRecord]) -> None:  # type: ignore[no-untyped-def]
    index, _ = loaded
    target = corpus[40]
    hits = index.find_near_duplicates(NearDuplicateQuery(prompt_id=target.prompt_id, k=50))
    assert target.prompt_id not in [h.prompt_id for h in hits]
    start, end = corpus[100].created_at_ms, corpus[200].created_at_ms
    windowed = index.find_near_duplicates(NearDuplicateQuery(text=target.text, k=50, start_ms=start, end_ms=end))
    assert windowed and all(start <= h.created_at_ms < end for h in windowed)
    excluded = index.find_near_duplicates(
        NearDuplicateQuery(text=target.text, k=50, exclude_account_id=target.account_id, exclude_org_id="o-1")
    )
    assert excluded and all(h.account_id != target.account_id and h.org_id != "o-1" for h in excluded)
    thresholded = index.find_near_duplicates(NearDuplicateQuery(text=target.text, k=50, min_similarity=0.5))
    assert all(h.similarity >= 0.5 for h in thresholded)


def test_fanout_counts_match_a_direct_count(loaded, corpus: list[PromptRecord], embedder: SentenceTransformerEmbedder) -> None:  # type: ignore[no-untyped-def]
    index, config = loaded
    probe = PromptRecord("", "a-3", "o-3", corpus[-1].created_at_ms + 1, corpus[10].text)
    verdict = index.check(probe, store=False, min_similarity=0.3, lookback_ms=10**12, tier="semantic")
    ids, vectors = _stored_vectors(index, config)
    sims = vectors @ index.fingerprint([probe.text])[0]
    matched = [corpus[int(i) - 1] for i in ids[sims >= 0.3]]
    assert verdict.fanout.matching_prompts == len(matched)
    assert verdict.fanout.distinct_accounts == len({r.account_id for r in matched})
    assert verdict.fanout.distinct_other_accounts == len({r.account_id for r in matched} - {"a-3"})
    assert verdict.fanout.distinct_orgs == len({r.org_id for r in matched if r.org_id})
    assert verdict.fanout.first_seen_ms == min(r.created_at_ms for r in matched)
    assert verdict.recorded is None and len(index) == 300


def test_check_records_after_looking(loaded, corpus: list[PromptRecord]) -> None:  # type: ignore[no-untyped-def]
    index, _ = loaded
    live = PromptRecord("live-1", "a-99", "", corpus[-1].created_at_ms + 1000, "Describe a thunderstorm in one sentence.")
    first = index.check(live, store=True)
    assert first.recorded is IngestStatus.RECORDED
    second = index.check(live, store=True)  # replay: never counts itself
    assert second.recorded is IngestStatus.DUPLICATE
    assert second.fanout.matching_prompts == first.fanout.matching_prompts


def test_bad_queries_name_the_problem(loaded) -> None:  # type: ignore[no-untyped-def]
    index, _ = loaded
    cases = [
        (NearDuplicateQuery(text="x", k=0), "K_OUT_OF_RANGE"),
        (NearDuplicateQuery(text="x", k=100_000), "K_OUT_OF_RANGE"),
        (NearDuplicateQuery(text="x", min_similarity=1.5), "SIMILARITY_OUT_OF_RANGE"),
        (NearDuplicateQuery(text="x", min_similarity=float("nan")), "SIMILARITY_OUT_OF_RANGE"),
        (NearDuplicateQuery(text="   "), "TEXT_EMPTY"),
        (NearDuplicateQuery(), "QUERY_MISSING"),
        (NearDuplicateQuery(text="x", start_ms=10, end_ms=5), "WINDOW_EMPTY"),
    ]
    for query, reason in cases:
        with pytest.raises(InvalidArgument) as caught:
            index.find_near_duplicates(query)
        assert caught.value.reason == reason
    with pytest.raises(NotFound):
        index.find_near_duplicates(NearDuplicateQuery(prompt_id="nope"))


def test_long_prompts_keep_head_and_tail(embedder: SentenceTransformerEmbedder) -> None:
    head = "You are a meticulous grader. "
    tail = " Finally, reason step by step and answer after ANSWER:."
    long_text = head + " ".join(f"filler{i}" for i in range(2000)) + tail
    fitted = embedder.fit_to_window(canonical_text(long_text))
    assert fitted.startswith(canonical_text(head).strip())
    assert fitted.endswith(canonical_text(tail).strip())
    assert len(embedder._tokenizer(fitted, add_special_tokens=False)["input_ids"]) <= embedder.max_tokens + 3  # noqa: SLF001


def test_text_validation_measures_bytes_and_refuses_what_has_no_utf8() -> None:
    from promptprint.records import validate_text

    assert validate_text("plain ascii", 11) == "plain ascii"
    assert validate_text("é" * 5, 10) == "é" * 5  # 10 bytes
    for text, limit, reason in [
        ("", 100, "TEXT_EMPTY"),
        ("\u2028\t \u3000", 100, "TEXT_EMPTY"),  # Unicode whitespace only
        ("x" * 12, 11, "TEXT_TOO_LONG"),
        ("é" * 6, 11, "TEXT_TOO_LONG"),  # 6 characters, 12 bytes
        ("lone \ud800 surrogate", 100, "TEXT_NOT_UTF8"),
        ("lone \ud800 surrogate" * 10, 100, "TEXT_TOO_LONG"),  # the size is judged first
    ]:
        with pytest.raises(InvalidArgument) as caught:
            validate_text(text, limit)
        assert caught.value.reason == reason, text[:20]


def test_a_bank_entry_one_prompt_of_a_template_matched_holds_for_its_other_prompts(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """Agent-framework users (the simulator's: the built-in structured-chat scaffold
    filled with their own tools, questions and agent steps) are in the built-in allow
    bank, but some of their prompts no longer hold 60% of the entry by themselves. They
    join the scaffold's template, and the entry an earlier prompt of it matched holds
    for them: none is flagged. Forgotten when the banks change."""
    from evaluation.simulate import simulate
    from evaluation.simulate.config import SimulationConfig
    from promptprint.records import parse_timestamp
    from promptprint.templates.banks import Banks
    from promptprint.text.skeleton import signature

    from conftest import SHARED_DATA

    run = simulate(SimulationConfig(prompts=3000, seed=5), SHARED_DATA)
    framework = {p["prompt_id"] for p in run.prompts_truth if p.get("family_id") == "agent:structured_chat"}
    records = [
        PromptRecord(r["prompt_id"], r["account_id"], r.get("org_id") or "", parse_timestamp(r["created_at"]), r["text"])
        for r in run.traffic if r["prompt_id"] in framework
    ]
    index = PromptIndex.open(IndexConfig(data_dir=tmp_path / "d", tier="fingerprint", semantic_links=False), embedder)
    try:
        entries = index.bank_entries("allow")
        builtin = Banks(Path(":memory:"))  # the same built-in entries, matched against each prompt by itself
        own = [builtin.match(signature(r.text), None) for r in records]
        assert any(hit is None for hit in own[len(own) // 2 :]), "every prompt matches alone: nothing to test"
        verdicts = [index.check(r, store=True) for r in records]
        late = [v for v, hit in zip(verdicts, own) if hit is None and v.campaign.template_id][-3:]
        assert late and all(v.campaign.bank is not None and v.campaign.bank.kind == "allow" for v in late)
        assert not any(v.campaign.flagged for v in verdicts)
        for entry in entries:
            index.remove_bank_entry(entry.entry_id)
        again = records[-1]
        assert index.check(PromptRecord("again", again.account_id, again.org_id, again.created_at_ms, again.text), store=False).campaign.bank is None
    finally:
        index.close()
