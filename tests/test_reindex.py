"""Batch reindex against the real model, real SQLite and real FAISS: bad input is
reported with file:line, an interrupted job resumes to the same index, a rebuild from
the store needs no embedding, and retention/deletion reach index and stats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from promptprint.vectors.embedder import SentenceTransformerEmbedder
from promptprint.index.ivf_index import IvfParams
from promptprint.index.config import IndexConfig
from promptprint.index.prompt_index import PromptIndex
from promptprint.index.results import NearDuplicateQuery
from promptprint.records import PromptRecord, format_timestamp
from promptprint.jobs.reindex import BadLine, ReindexError, open_job
from promptprint.storage.snapshot import SnapshotDirectory

from conftest import with_config


def _line(record: PromptRecord) -> str:
    return json.dumps({
        "prompt_id": record.prompt_id, "account_id": record.account_id, "org_id": record.org_id,
        "created_at": format_timestamp(record.created_at_ms), "text": record.text,
    })


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, corpus: list[PromptRecord]) -> Path:
    """120 good records in two files, with five kinds of bad lines among them."""
    folder = tmp_path_factory.mktemp("input")
    good = [_line(r) for r in corpus[:120]]
    first = good[:60] + [
        '{"prompt_id": "p-bad-json", "account_id": ',  # line 61: malformed JSON
        json.dumps({"prompt_id": "p-no-text", "account_id": "a-1", "created_at": "2026-02-01T00:00:00Z", "text": " "}),  # 62
        json.dumps({"prompt_id": "p-no-account", "account_id": "", "created_at": "2026-02-01T00:00:00Z", "text": "hello there"}),  # 63
        _line(corpus[5]),  # 64: the same prompt again: an idempotent replay, not bad
        json.dumps(json.loads(_line(corpus[6])) | {"text": "a different text under p-000006"}),  # 65: conflicting duplicate
    ]
    (folder / "a.jsonl").write_text("\n".join(first) + "\n")
    (folder / "b.jsonl").write_text("\n".join(good[60:]) + "\n")
    return folder


def _run(config: IndexConfig, embedder: SentenceTransformerEmbedder, sources: list[str], **options: object):  # type: ignore[no-untyped-def]
    bad: list[BadLine] = []
    with open_job(config, sources=sources, embedder=embedder, on_bad=bad.append, batch_size=32, **options) as job:
        return job.run(sources), bad


def _top_ids(config: IndexConfig, embedder: SentenceTransformerEmbedder, queries: list[str]) -> list[list[str]]:
    index = PromptIndex.open(config, embedder)
    try:
        return [[h.prompt_id for h in index.find_near_duplicates(NearDuplicateQuery(text=q, k=5))] for q in queries]
    finally:
        index.close()


def test_bad_lines_are_reported_and_counted(tmp_path: Path, embedder: SentenceTransformerEmbedder, source: Path) -> None:
    config = IndexConfig(data_dir=tmp_path / "d")
    summary, bad = _run(config, embedder, [str(source / "*.jsonl")])
    where = [(Path(b.source).name, b.line, b.reason) for b in bad]
    assert where == [
        ("a.jsonl", 61, "MALFORMED_JSON"),
        ("a.jsonl", 62, "TEXT_EMPTY"),
        ("a.jsonl", 63, "ACCOUNT_ID_MISSING"),
        ("a.jsonl", 65, "PROMPT_ID_CONFLICT"),
    ]
    assert (summary.lines, summary.recorded, summary.duplicates, summary.bad) == (125, 120, 1, 4)
    assert summary.indexed == 120 and summary.index_description == "IDMap,SQfp16"
    assert SnapshotDirectory(config.snapshot_root).current_name() == summary.snapshot
    assert not (config.data_dir / "reindex.checkpoint.json").exists()

    with pytest.raises(ReindexError, match=r"a\.jsonl:61: \[MALFORMED_JSON\]"):
        _run(IndexConfig(data_dir=tmp_path / "strict"), embedder, [str(source / "a.jsonl")], strict=True)


class _Killed(Exception):
    pass


def test_interrupted_job_resumes_to_the_same_index(tmp_path: Path, embedder: SentenceTransformerEmbedder, source: Path, corpus: list[PromptRecord]) -> None:
    sources = [str(source / "a.jsonl"), str(source / "b.jsonl")]
    clean = IndexConfig(data_dir=tmp_path / "clean")
    reference, _ = _run(clean, embedder, sources)

    resumed = IndexConfig(data_dir=tmp_path / "resumed")
    calls = {"n": 0}

    def die_after_two_batches(done: int, total: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # (1st call: before any batch) the 2nd batch is committed and checkpointed: "kill -9" here
            raise _Killed()

    with pytest.raises(_Killed):
        _run(resumed, embedder, sources, on_progress=die_after_two_batches)
    checkpoint = json.loads((resumed.data_dir / "reindex.checkpoint.json").read_text())
    assert (checkpoint["file"], checkpoint["line"]) == (0, 64)
    with pytest.raises(ReindexError, match="belongs to another job"):
        _run(resumed, embedder, sources[:1])  # other sources: refused, the checkpoint is kept
    again, _ = _run(resumed, embedder, sources)
    assert again.resumed_at_line == 64
    assert (again.lines, again.recorded, again.duplicates, again.bad) == (reference.lines, reference.recorded, reference.duplicates, reference.bad)
    queries = [corpus[3].text, "Write a poem about the sea.", corpus[100].text]
    assert _top_ids(resumed, embedder, queries) == _top_ids(clean, embedder, queries)


def test_rebuild_from_store_as_ivfpq_then_retention(tmp_path: Path, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]) -> None:
    config = IndexConfig(data_dir=tmp_path / "d", builtin_allow_bank=False)
    index = PromptIndex.open(config, embedder)
    index.ingest(corpus)
    assert index.wait_indexed(600)  # a rebuild reuses stored vectors: let the server-side embedding finish
    index.close()
    ivf = with_config(config, index_kind="ivfpq", ivf=IvfParams(pq_m=16, nprobe=8))
    with open_job(ivf, sources=[]) as job:  # no embedder: the stored vectors are reused
        summary = job.run([])
    assert summary.indexed == len(corpus) and summary.index_description.startswith("IVF")
    assert summary.embedded == 0

    index = PromptIndex.open(ivf, embedder)
    try:
        assert index.stats().index_type.startswith("IVF")
        hits = index.find_near_duplicates(NearDuplicateQuery(text=corpus[42].text, k=3))
        assert hits[0].prompt_id == corpus[42].prompt_id and hits[0].similarity > 0.999
        # retention: everything before the 100th prompt goes, from the index and the stats
        purged = index.purge_older_than(corpus[100].created_at_ms)
        assert purged == 100 and index.stats().prompt_count == len(corpus) - 100
        hits = index.find_near_duplicates(NearDuplicateQuery(text=corpus[42].text, k=3))
        assert corpus[42].prompt_id not in [h.prompt_id for h in hits]
        assert index.check(corpus[42], store=False, min_similarity=0.99).fanout.matching_prompts == 0
        # delete an account: gone from lookups and stats
        victim = corpus[150].account_id
        owned = sum(1 for r in corpus[100:] if r.account_id == victim)
        assert index.delete_account(victim) == owned
        hits = index.find_near_duplicates(NearDuplicateQuery(text=corpus[150].text, k=5))
        assert victim not in [h.account_id for h in hits]
        remaining = index.stats().prompt_count
    finally:
        index.close()
    again = PromptIndex.open(ivf, embedder)  # the deletions survive a restart
    try:
        assert again.stats().prompt_count == remaining == len(again)
        hits = again.find_near_duplicates(NearDuplicateQuery(text=corpus[150].text, k=5))
        assert victim not in [h.account_id for h in hits]
        # a new prompt after the deletions gets a fresh row id (never a reused one)
        again.ingest([PromptRecord("p-new", "a-new", "", corpus[-1].created_at_ms + 1, "A brand new prompt about sailing.")])
        assert again.wait_indexed(600)
        hits = again.find_near_duplicates(NearDuplicateQuery(text="A brand new prompt about sailing.", k=1))
        assert hits[0].prompt_id == "p-new"
    finally:
        again.close()


def test_deleted_rows_are_skipped_by_an_hnsw_index(tmp_path: Path, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]) -> None:
    config = IndexConfig(data_dir=tmp_path / "d", hnsw_threshold=50, builtin_allow_bank=False)
    index = PromptIndex.open(config, embedder)
    try:
        index.ingest(corpus[:200])
        assert index.wait_indexed(600)
        assert index.stats().index_type.startswith("IDMap,HNSW")
        victim = corpus[10].account_id
        deleted = index.delete_account(victim)
        assert deleted == sum(1 for r in corpus[:200] if r.account_id == victim)
        stats = index.stats()
        assert stats.prompt_count == 200 - deleted and stats.indexed_count == 200  # graph keeps nodes until a rebuild
        verdict = index.check(corpus[10], store=False, min_similarity=0.99)
        assert verdict.fanout.matching_prompts == 0
        assert np.all([h.account_id != victim for h in index.find_near_duplicates(NearDuplicateQuery(text=corpus[10].text, k=20))])
    finally:
        index.close()
