"""The two tiers: the fingerprint tier acknowledges before the vector exists and answers
CheckPrompt from the template tracker; pending vectors are late, never lost."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from promptprint.vectors.embedder import SentenceTransformerEmbedder
from promptprint.errors import ResourceExhausted
from promptprint.index.config import IndexConfig
from promptprint.index.prompt_index import PromptIndex
from promptprint.index.results import IngestStatus, NearDuplicateQuery
from promptprint.records import PromptRecord
from promptprint.storage.store import RecordStore
from promptprint.storage.identity import StoreIdentity

from conftest import make_records

TEMPLATE = (
    "You are an expert data analyst working for a research lab. Reason step by step, show every "
    "intermediate calculation, and finish with a one-line answer. The task: {}"
)
PAYLOADS = [
    "estimate the number of piano tuners in Chicago",
    "compute the compound interest on 1000 dollars at 5 percent for 10 years",
    "decide whether 9973 is a prime number",
    "summarise the causes of the 2008 financial crisis",
    "find the median of 3, 9, 4, 12 and 7",
    "convert 72 degrees Fahrenheit to Celsius",
    "explain why the sky is blue to a ten year old",
]


def _campaign(n: int, start_ms: int) -> list[PromptRecord]:
    return [
        PromptRecord(f"c-{i}", f"acct-{i}", f"org-{i % 3}", start_ms + i * 1000, TEMPLATE.format(PAYLOADS[i % len(PAYLOADS)]))
        for i in range(n)
    ]


def test_fingerprint_fanout_counts_the_template_and_never_the_prompt_itself(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    index = PromptIndex.open(IndexConfig(data_dir=tmp_path / "d"), embedder)
    try:
        t0 = 1_790_000_000_000
        assert [o.status for o in index.ingest(_campaign(5, t0))] == [IngestStatus.RECORDED] * 5
        live = PromptRecord("live", "acct-new", "org-1", t0 + 60_000, TEMPLATE.format(PAYLOADS[5]))
        verdict = index.check(live, store=True, example_count=3)
        assert verdict.tier == "fingerprint" and verdict.recorded is IngestStatus.RECORDED
        fanout = verdict.fanout
        assert (fanout.matching_prompts, fanout.distinct_accounts, fanout.distinct_other_accounts) == (5, 5, 5)
        assert (fanout.distinct_orgs, fanout.distinct_other_orgs) == (3, 2)
        assert fanout.first_seen_ms == t0 and fanout.last_seen_ms == t0 + 4000
        assert 0.5 < fanout.max_similarity <= 1.0
        assert [h.prompt_id for h in verdict.examples] == ["c-4", "c-3", "c-2"]  # newest first
        again = index.check(live, store=True)  # a replay: never counts itself
        assert again.recorded is IngestStatus.DUPLICATE
        assert again.fanout.matching_prompts == 5 and again.fanout.distinct_accounts == 5
        counts = ("volume", "accounts", "other_accounts", "orgs", "named_orgs", "repeat_accounts", "distinct_texts", "members_total")
        assert [getattr(again.campaign.features, c) for c in counts] == [getattr(verdict.campaign.features, c) for c in counts]
        # an unrelated prompt matches no template
        other = index.check(PromptRecord("", "acct-x", "", t0, "What is the capital of Australia and why was it chosen?"), store=False)
        assert other.fanout.matching_prompts == 0 and other.examples == []
    finally:
        index.close()


def test_fingerprint_and_semantic_tiers_agree_on_the_campaign(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    index = PromptIndex.open(IndexConfig(data_dir=tmp_path / "d"), embedder)
    try:
        t0 = 1_790_000_000_000
        index.ingest(_campaign(7, t0))
        assert index.wait_indexed(300)
        live = PromptRecord("", "acct-new", "", t0 + 60_000, TEMPLATE.format("list three uses of graphene"))
        fast = index.check(live, store=False)
        slow = index.check(live, store=False, tier="semantic")
        assert fast.campaign == slow.campaign
        assert fast.fanout.matching_prompts == 7
        # MiniLM reads the payload more than the wrapper: the re-filled template scores
        # ~0.3 against its siblings, far below the 0.8 near-duplicate threshold
        assert slow.tier == "semantic" and slow.fanout.matching_prompts < 7
        loose = index.check(live, store=False, tier="semantic", min_similarity=0.2)
        assert loose.fanout.matching_prompts >= 1
    finally:
        index.close()


def test_pending_vectors_are_embedded_after_a_restart(tmp_path: Path, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]) -> None:
    config = IndexConfig(data_dir=tmp_path / "d", snapshot_every=50)
    index = PromptIndex.open(config, embedder)
    index.ingest(corpus[:100])
    assert index.wait_indexed(600)
    index.close()  # snapshot covers the first 100
    # Acknowledged, vectors never computed: what a crash right after IngestPrompts leaves.
    identity = StoreIdentity.current(embedder.model_id, embedder.dimension)
    store = RecordStore(config.store_path, identity)
    store.insert(corpus[100:160], None)
    assert store.pending_count() == 60
    store.close()
    reopened = PromptIndex.open(config, embedder)
    try:
        assert len(reopened) == 160
        assert reopened.wait_indexed(600)
        stats = reopened.stats()
        assert stats.indexed_count == 160 and stats.pending_vectors == 0
        hits = reopened.find_near_duplicates(NearDuplicateQuery(prompt_id=corpus[130].prompt_id, k=1))
        assert hits and hits[0].similarity > 0.3
        exact = reopened.find_near_duplicates(NearDuplicateQuery(text=corpus[150].text, k=1))
        assert exact[0].prompt_id == corpus[150].prompt_id and exact[0].similarity > 0.99
    finally:
        reopened.close()
    check = RecordStore(config.store_path, identity)
    try:
        assert check.pending_count() == 0  # the vectors were stored, not only indexed
    finally:
        check.close()


class _GatedEmbedder:
    """The real embedder behind a gate the test opens: makes "the embedder is behind"
    deterministic."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self._inner = inner
        self.gate = threading.Event()
        self.model_id = inner.model_id
        self.dimension = inner.dimension

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.gate.wait(60)
        return self._inner.embed(texts)


def test_a_full_backlog_refuses_writes_instead_of_growing(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    gated = _GatedEmbedder(embedder)
    config = IndexConfig(data_dir=tmp_path / "d", max_vector_backlog=3, backlog_wait_s=0.2, embed_batch=8)
    index = PromptIndex.open(config, gated)  # type: ignore[arg-type]
    try:
        records = make_records([f"Question number {i}: what is {i} squared plus {i}?" for i in range(5)])
        assert [o.status for o in index.ingest(records[:3])] == [IngestStatus.RECORDED] * 3
        with pytest.raises(ResourceExhausted) as caught:
            index.ingest(records[3:4])
        assert caught.value.reason == "VECTOR_BACKLOG_FULL"
        assert len(index) == 3  # nothing half-recorded
        gated.gate.set()
        assert index.wait_indexed(300)
        assert [o.status for o in index.ingest(records[3:])] == [IngestStatus.RECORDED] * 2
        assert index.wait_indexed(300) and index.stats().indexed_count == 5
    finally:
        gated.gate.set()
        index.close()


def test_semantic_tier_indexes_before_acknowledging(tmp_path: Path, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]) -> None:
    index = PromptIndex.open(IndexConfig(data_dir=tmp_path / "d", tier="semantic"), embedder)
    try:
        index.ingest(corpus[:20])
        assert index.stats().pending_vectors == 0 and index.stats().indexed_count == 20
        first = index.find_near_duplicates(NearDuplicateQuery(text=corpus[7].text, k=1))
        assert first[0].prompt_id == corpus[7].prompt_id
    finally:
        index.close()
