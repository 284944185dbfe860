"""Embedding policies: what gets a vector when the embedder cannot keep up, shedding past
the backlog limit instead of refusing, skipped rows across a restart, and the forward
passes in a worker process. Real model, real SQLite, real FAISS."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from promptprint.executors import LocalProcesses
from promptprint.index.config import IndexConfig
from promptprint.index.embedding_policy import EmbeddingPolicy
from promptprint.index.prompt_index import PromptIndex
from promptprint.index.results import IngestStatus, NearDuplicateQuery
from promptprint.records import PromptRecord
from promptprint.server.app import ServerConfig
from promptprint.storage.store import SKIPPED
from promptprint.vectors.backlog import VectorBacklog
from promptprint.vectors.embedder import ModelLoader, PooledEmbedder, SentenceTransformerEmbedder
from promptprint.storage.store import IndexRows

from conftest import ServerThread, make_records

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = (
    "You are a meticulous grader for a reward model. Read the candidate answer, compare it with the "
    "reference, and return a score from 1 to 10 with one sentence of justification. Candidate: {}"
)


class _GatedEmbedder:
    """The real model behind a gate: vectors stay pending until the test opens it; counts
    the texts it embedded."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self._inner = inner
        self.gate = threading.Event()
        self.embedded = 0
        self.model_id = inner.model_id
        self.dimension = inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.gate.wait(120)
        self.embedded += len(texts)
        return self._inner.embed(texts)


def _campaign(n: int, offset: int = 0) -> list[PromptRecord]:
    payloads = [f"answer {i + offset}: the derivative of x^{i + offset} is {i + offset}x^{i + offset - 1}" for i in range(n)]
    return make_records([TEMPLATE.format(p) for p in payloads], accounts=11)


def _one_of_a_kind(texts: list[str]) -> list[PromptRecord]:
    records = make_records(texts, accounts=29, start="2026-02-01T06:00:00Z")
    return [dataclasses.replace(r, prompt_id="solo-" + r.prompt_id) for r in records]


def _vector_states(config: IndexConfig) -> dict[str, int]:
    conn = sqlite3.connect(config.store_path)
    try:
        lengths = [length for (length,) in conn.execute("SELECT length(vector) FROM prompts")]
    finally:
        conn.close()
    return {
        "pending": lengths.count(0),
        "skipped": lengths.count(len(SKIPPED)),
        "vector": sum(1 for n in lengths if n > len(SKIPPED)),
    }


def _settle(index: PromptIndex) -> None:
    assert index.wait_indexed(600), "the vectorizer never emptied the backlog"


# -- the policy on its own ---------------------------------------------------------------------
def test_policies_choose_as_documented() -> None:
    assert all(EmbeddingPolicy("all").wants(i, m) for i in range(50) for m in range(5))
    assert not any(EmbeddingPolicy("none").wants(i, m) for i in range(50) for m in range(5))
    templates = EmbeddingPolicy("templates", sample_rate=0.0, representatives=3, min_volume=50)
    # one of a kind (1) or no template (0): sampled; the next three to join: embedded; then none until busy
    assert [templates.wants(7, m) for m in (0, 1, 2, 3, 4, 5, 49, 50, 400)] == [
        False, False, True, True, True, False, False, True, True,
    ]
    sample = EmbeddingPolicy("sample", sample_rate=0.1)
    chosen = sum(sample.wants(i, 9) for i in range(1, 100_001))
    assert 9_500 < chosen < 10_500  # the documented fraction, by row-id hash
    assert [sample.wants(i, 0) for i in range(1, 500)] == [sample.on_replay(i) for i in range(1, 500)]  # stable
    with pytest.raises(ValueError):
        EmbeddingPolicy("most")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EmbeddingPolicy("sample", sample_rate=1.5)


def test_backlog_sheds_the_oldest_waiting_rows_and_keeps_the_row_order() -> None:
    backlog = VectorBacklog(2)
    n = 6
    backlog.append(IndexRows(
        ids=np.arange(1, n + 1, dtype=np.int64), vectors=np.zeros((n, 2), np.float32),
        accounts=np.zeros(n, np.int32), orgs=np.zeros(n, np.int32), created_at_ms=np.zeros(n, np.int64),
        pending=np.ones(n, bool),
    ))
    assert backlog.shed(4) == 2 and backlog.pending == 4 and backlog.declined == 2
    assert backlog.declined_ids(10) == [1, 2] and backlog.next_pending(10) == [3, 4, 5, 6]
    backlog.fill(np.asarray([3, 4]), np.ones((2, 2), np.float32))
    assert backlog.pop_ready() is None  # a declined row still holds the later ones back
    backlog.discard(np.asarray([1, 2]))  # marked skipped by the owner
    ready = backlog.pop_ready()
    assert ready is not None and ready.ids.tolist() == [3, 4]
    backlog.decline([5])
    backlog.fill(np.asarray([5]), np.ones((1, 2), np.float32))  # its embedding was already running: kept
    assert backlog.declined == 0 and backlog.pending == 1


# -- through the index, with the real model ----------------------------------------------------
@pytest.mark.parametrize("policy", ["templates", "sample", "none"])
def test_each_policy_embeds_what_it_says_and_skips_the_rest(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, alpaca_texts: list[str], policy: str
) -> None:
    chosen = EmbeddingPolicy(policy, sample_rate=0.25, representatives=2, min_volume=8)  # type: ignore[arg-type]
    config = IndexConfig(data_dir=tmp_path / "d", embedding_policy=chosen, embed_batch=64)
    records = _campaign(12) + _one_of_a_kind(alpaca_texts[:40])
    index = PromptIndex.open(config, embedder)
    try:
        assert {o.status for o in index.ingest(records)} == {IngestStatus.RECORDED}
        _settle(index)
        stats = index.stats()
        assert stats.prompt_count == len(records) and stats.pending_vectors == 0
        assert stats.indexed_count + stats.skipped_vectors == len(records)
        assert stats.embedding_policy.startswith(policy)
    finally:
        index.close()
    states = _vector_states(config)
    assert states == {"pending": 0, "skipped": stats.skipped_vectors, "vector": stats.indexed_count}
    if policy == "none":
        assert states["vector"] == 0
    elif policy == "templates":
        # the campaign's 12 prompts: the 2 that join its founder first, and members 8 to 12
        assert states["vector"] >= 2 + 5
        assert states["vector"] < len(records) / 2
    else:
        assert 0 < states["vector"] < len(records)
    # Nothing recorded was lost: every prompt is still a record, and skipped rows stay skipped on reopen.
    reopened = PromptIndex.open(config, embedder)
    try:
        assert len(reopened) == len(records) and reopened.pending_vectors == 0
        assert reopened.stats().indexed_count == states["vector"]
    finally:
        reopened.close()


def test_shedding_never_refuses_and_the_all_policy_still_does(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    gated = _GatedEmbedder(embedder)
    records = make_records([f"Question number {i}: what is {i} squared plus {i}?" for i in range(40)])
    shed = IndexConfig(
        data_dir=tmp_path / "shed", max_vector_backlog=5, backlog_wait_s=0.2, embed_batch=4,
        embedding_policy=EmbeddingPolicy("sample", sample_rate=1.0),
    )
    index = PromptIndex.open(shed, gated)  # type: ignore[arg-type]
    try:
        for start in range(0, 40, 4):
            assert {o.status for o in index.ingest(records[start : start + 4])} == {IngestStatus.RECORDED}
        assert index.pending_vectors <= 5 + 4  # the limit, plus the batch the vectorizer may hold
        gated.gate.set()
        _settle(index)
        stats = index.stats()
        assert stats.prompt_count == 40 and stats.skipped_vectors >= 40 - 5 - 4
        assert stats.indexed_count + stats.skipped_vectors == 40
    finally:
        gated.gate.set()
        index.close()


def test_a_restart_mid_stream_loses_nothing_and_applies_the_new_policy(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, alpaca_texts: list[str]
) -> None:
    gated = _GatedEmbedder(embedder)
    config = IndexConfig(data_dir=tmp_path / "d", embed_batch=8)  # policy all: every row waits for its vector
    records = _one_of_a_kind(alpaca_texts[:30])
    index = PromptIndex.open(config, gated)  # type: ignore[arg-type]
    try:
        assert {o.status for o in index.ingest(records[:20])} == {IngestStatus.RECORDED}
        assert index.pending_vectors == 20
    finally:
        # close first (the vectorizer stops after the batch it holds), then let that batch finish
        threading.Timer(1.0, gated.gate.set).start()
        index.close()
    assert _vector_states(config)["pending"] >= 20 - 8  # acknowledged, durable, still without vectors
    # Reopened under "none": the waiting rows are skipped, nothing recorded is lost, ingest goes on.
    none = IndexConfig(data_dir=tmp_path / "d", embedding_policy=EmbeddingPolicy("none"))
    reopened = PromptIndex.open(none, embedder)
    try:
        assert len(reopened) == 20
        assert {o.status for o in reopened.ingest(records)} == {IngestStatus.DUPLICATE, IngestStatus.RECORDED}
        _settle(reopened)
        assert len(reopened) == 30 and reopened.pending_vectors == 0
    finally:
        reopened.close()
    states = _vector_states(config)
    assert states["pending"] == 0 and states["skipped"] + states["vector"] == 30


def test_vectors_come_from_a_worker_process_bit_for_bit(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, alpaca_texts: list[str]
) -> None:
    counting = _GatedEmbedder(embedder)
    counting.gate.set()
    workers = PooledEmbedder(LocalProcesses(1, nice=5), ModelLoader(threads=1))
    config = IndexConfig(data_dir=tmp_path / "d", embed_batch=16)
    records = _one_of_a_kind(alpaca_texts[:24])
    index = PromptIndex.open(config, counting, background_embedder=workers)  # type: ignore[arg-type]
    try:
        index.ingest(records)
        _settle(index)
        assert counting.embedded == 0  # this process ran no forward pass for ingest
        assert index.stats().indexed_count == 24
        hits = index.find_near_duplicates(NearDuplicateQuery(text=records[5].text, k=1))
        assert hits and hits[0].prompt_id == records[5].prompt_id and hits[0].similarity > 0.999
        here = index.fingerprint([r.text for r in records[:3]])
    finally:
        index.close()
        workers.close()
    conn = sqlite3.connect(config.store_path)
    try:
        stored = [np.frombuffer(v, dtype="<f2").astype(np.float32) for (v,) in conn.execute("SELECT vector FROM prompts ORDER BY id LIMIT 3")]
    finally:
        conn.close()
    assert np.array_equal(np.stack(stored), here)  # same recipe, same stored precision


def test_the_server_states_its_policy_and_lag(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    config = IndexConfig(data_dir=tmp_path / "d", embedding_policy=EmbeddingPolicy("none"))
    server = ServerThread(config, embedder, ServerConfig(listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")).start()
    try:
        with server.client() as client:
            client.ingest(_campaign(6))
            assert server.index is not None
            _settle(server.index)
            stats = client.stats()
        assert stats.embedding_policy.startswith("none") and stats.skipped_vectors == 6 and stats.pending_vectors == 0
        assert stats.embedding_lag.ToTimedelta().total_seconds() == 0
        assert server.running is not None
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.running.metrics_port}/metrics", timeout=10).read().decode()
        assert 'promptprint_embedding_policy{policy="none"} 1.0' in body
        assert "promptprint_skipped_vectors 6.0" in body and "promptprint_pending_vectors 0.0" in body
    finally:
        server.stop()


def test_worker_processes_exit_with_a_killed_parent(tmp_path: Path) -> None:
    """A SIGKILLed server must not leave its embedding workers (and their models) behind."""
    script = (
        "import operator, time\n"
        "from promptprint.executors import LocalProcesses\n"
        "pool = LocalProcesses(1).pool(int)\n"
        "print(list(pool.map(operator.add, [41])), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "[41]"
        children = [
            int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat")
            if _ppid(stat) == parent.pid
        ]
        assert children, "the pool started no worker process"
    finally:
        parent.kill()
        parent.wait(30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]


def _ppid(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
