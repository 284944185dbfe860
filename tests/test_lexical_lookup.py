"""The lexical view: FindNearDuplicates finds copies of a prompt (cosmetic noise, ids,
whitespace and case aside) the moment it is acknowledged, long before the embedder gets
to its vector. Real model, real server on loopback, real SQLite; the embedder is held
behind a gate for background work only, so "it has not caught up" is deterministic while
lookups still embed their query."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pytest

from conftest import ServerThread, make_records
from promptprint.index.config import IndexConfig
from promptprint.index.prompt_index import PromptIndex
from promptprint.index.results import MatchView, NearDuplicateQuery
from promptprint.records import PromptRecord
from promptprint.storage.identity import StoreIdentity
from promptprint.storage.store import RecordStore
from promptprint.text.normalize import canonical_text
from promptprint.text.skeleton import signature, signature_to_bytes
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.vectors.embedder import SentenceTransformerEmbedder

TICKET = "Please summarise ticket TK-4821a9f7c3 for the support team: the printer on floor 3 jams every morning."
# Another case, other whitespace and another ticket id: the same canonical text.
TICKET_VARIANT = "please   SUMMARISE ticket TK-99zz88yy77 for the support team:\n the printer on floor 3 jams every morning. "


class _BehindEmbedder:
    """The real embedder, whose background work (the vector backlog) waits for a gate the
    test opens: lookups embed their query at once, pending rows stay pending."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self._inner = inner
        self.gate = threading.Event()
        self.model_id = inner.model_id
        self.dimension = inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.embed(texts)

    def embed_background(self, texts: Sequence[str]) -> np.ndarray:
        self.gate.wait(120)
        return self._inner.embed(texts)


def _start(data_dir: Path, embedder: SentenceTransformerEmbedder) -> tuple[ServerThread, _BehindEmbedder]:
    behind = _BehindEmbedder(embedder)
    return ServerThread(IndexConfig(data_dir=data_dir), behind).start(), behind  # type: ignore[arg-type]


def _stop(server: ServerThread, behind: _BehindEmbedder) -> None:
    behind.gate.set()
    server.stop()


@pytest.fixture
def behind_server(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Iterator[ServerThread]:
    server, behind = _start(tmp_path / "data", embedder)
    yield server
    _stop(server, behind)


def _lexical(hits: Sequence[pb.NearDuplicate]) -> list[str]:
    return [h.prompt_id for h in hits if h.view == pb.MATCH_VIEW_LEXICAL]


def _ticket(prompt_id: str, account: str, org: str, created_at_ms: int, text: str = TICKET) -> PromptRecord:
    return PromptRecord(prompt_id, account, org, created_at_ms, text)


def test_every_acknowledged_prompt_is_found_by_its_text_before_its_vector(
    behind_server: ServerThread, alpaca_texts: list[str]
) -> None:
    records = make_records(alpaca_texts[:100]) + [_ticket("t-0", "acct-t", "org-t", 1_770_000_000_000)]
    assert canonical_text(TICKET) == canonical_text(TICKET_VARIANT)  # what the view keys on
    with behind_server.client() as client:
        assert client.ingest(records).accepted == len(records)
        assert behind_server.index is not None and behind_server.index.stats().pending_vectors == len(records)
        for record in records:
            hits = client.find_near_duplicates(text=record.text, k=3)
            assert record.prompt_id in _lexical(hits), record.text[:80]
            assert all(h.similarity == pytest.approx(1.0) for h in hits if h.view == pb.MATCH_VIEW_LEXICAL)
        [variant] = client.find_near_duplicates(text=TICKET_VARIANT, k=1, min_similarity=0.99)
        assert (variant.prompt_id, variant.view) == ("t-0", pb.MATCH_VIEW_LEXICAL)
        assert client.ingest([_ticket("t-1", "acct-u", "org-u", 1_770_000_060_000, TICKET_VARIANT)]).accepted == 1
        by_id = client.find_near_duplicates(prompt_id="t-1", k=5)  # its stored hash; its vector is pending too
        assert _lexical(by_id) == ["t-0"]
        assert behind_server.index.stats().pending_vectors == len(records) + 1  # nothing was waited for


def test_windows_excludes_and_k_are_respected(behind_server: ServerThread) -> None:
    base = 1_770_000_000_000
    copies = [
        _ticket("w-0", "acct-a", "org-x", base),
        _ticket("w-1", "acct-b", "org-x", base + 60_000, TICKET_VARIANT),
        _ticket("w-2", "acct-c", "org-y", base + 120_000),
        _ticket("w-3", "acct-c", "", base + 180_000),
    ]
    with behind_server.client() as client:
        assert client.ingest(copies).accepted == 4
        assert _lexical(client.find_near_duplicates(text=TICKET, k=10)) == ["w-3", "w-2", "w-1", "w-0"]  # newest first
        assert _lexical(client.find_near_duplicates(text=TICKET, k=2)) == ["w-3", "w-2"]
        assert len(client.find_near_duplicates(text=TICKET, k=2)) == 2
        window = client.find_near_duplicates(text=TICKET, k=10, start=base + 60_000, end=base + 180_000)
        assert _lexical(window) == ["w-2", "w-1"]
        assert _lexical(client.find_near_duplicates(text=TICKET, k=10, exclude_account_id="acct-c")) == ["w-1", "w-0"]
        assert _lexical(client.find_near_duplicates(text=TICKET, k=10, exclude_org_id="org-x")) == ["w-3", "w-2"]
        [with_text] = client.find_near_duplicates(prompt_id="w-0", k=1, include_text=True, exclude_org_id="org-y")
        assert (with_text.prompt_id, with_text.text, with_text.view) == ("w-3", TICKET, pb.MATCH_VIEW_LEXICAL)


def test_deletion_and_restart_keep_the_view_consistent(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    base = 1_770_000_000_000
    server, behind = _start(tmp_path / "data", embedder)
    try:
        with server.client() as client:
            assert client.ingest([_ticket("d-0", "acct-gone", "org-x", base), _ticket("d-1", "acct-kept", "", base + 1)]).accepted == 2
            assert _lexical(client.find_near_duplicates(text=TICKET_VARIANT)) == ["d-1", "d-0"]
            assert client.delete_account_prompts("acct-gone") == 1
            assert _lexical(client.find_near_duplicates(text=TICKET_VARIANT)) == ["d-1"]
    finally:
        _stop(server, behind)
    server, behind = _start(tmp_path / "data", embedder)
    try:
        with server.client() as client:
            assert _lexical(client.find_near_duplicates(text=TICKET)) == ["d-1"]
    finally:
        _stop(server, behind)


def test_a_store_written_before_the_view_is_backfilled_on_open(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, alpaca_texts: list[str]
) -> None:
    config = IndexConfig(data_dir=tmp_path / "data")
    records = make_records(alpaca_texts[:50]) + [_ticket("b-0", "acct-b", "", 1_770_000_000_000)]
    behind = _BehindEmbedder(embedder)
    index = PromptIndex.open(config, behind)  # type: ignore[arg-type]
    try:
        index.ingest(records)
    finally:
        behind.gate.set()
        index.close()
    with sqlite3.connect(config.store_path) as conn:
        conn.execute("DROP TABLE prompt_canonical")
    index = PromptIndex.open(config, embedder)
    try:
        hits = index.find_near_duplicates(NearDuplicateQuery(text=TICKET_VARIANT, k=1))
        assert [(h.prompt_id, h.view) for h in hits] == [("b-0", MatchView.LEXICAL)]
        for record in records[:10]:
            assert record.prompt_id in [h.prompt_id for h in index.find_near_duplicates(NearDuplicateQuery(text=record.text, k=3)) if h.view is MatchView.LEXICAL]
    finally:
        index.close()


def test_privacy_mode_keeps_the_hash_not_the_text_and_cannot_backfill(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "records.sqlite"
    identity = StoreIdentity.current(embedder.model_id, embedder.dimension)
    record = _ticket("p-0", "acct-p", "", 1_770_000_000_000)
    sig = signature(TICKET_VARIANT)  # the same canonical text: the same copy hash
    store = RecordStore(path, identity, store_text=False)
    try:
        store.insert([record], np.zeros((1, embedder.dimension), np.float32), [signature_to_bytes(signature(TICKET))])
        assert store.copies(copy_hash=sig.copy_hash, start_ms=0, end_ms=1 << 62, limit=5) == [1]
    finally:
        store.close()
    assert TICKET.encode() not in path.read_bytes()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE prompt_canonical")
    with caplog.at_level(logging.WARNING, logger="promptprint.storage.store"):
        store = RecordStore(path, identity, store_text=False)
    try:
        assert store.copies(copy_hash=sig.copy_hash, start_ms=0, end_ms=1 << 62, limit=5) == []
        assert "privacy mode" in caplog.text
    finally:
        store.close()
