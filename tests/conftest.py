"""Shared fixtures: the real packaged model, real servers on loopback, real data.

The model is loaded once per session (it takes seconds); every server gets its own
data directory (a real SQLite file and real snapshots) and binds port 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from promptprint.vectors.embedder import SentenceTransformerEmbedder  # noqa: E402
from promptprint.index.config import IndexConfig  # noqa: E402
from promptprint.index.prompt_index import PromptIndex  # noqa: E402
from promptprint.records import PromptRecord, parse_timestamp  # noqa: E402
from promptprint.client import PromptprintClient  # noqa: E402
from promptprint.server.app import RunningServer, ServerConfig, start_server  # noqa: E402
from promptprint.server.servicer import IndexHolder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# The public datasets live beside the checkout (../shared/data), never inside it.
SHARED_DATA = Path(os.environ.get("PROMPTPRINT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(threads=2)


def _alpaca_texts() -> list[str]:
    path = SHARED_DATA / "alpaca" / "alpaca_5000.jsonl.gz"
    if not path.exists():
        # Failing, not skipping: a suite that silently skips every real-data test proves nothing.
        pytest.fail(f"shared datasets not found at {path}; set PROMPTPRINT_SHARED_DATA to the shared/data folder")
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = row["instruction"] + ("\n" + row["input"] if row.get("input") else "")
            texts.append(text)
    return texts


@pytest.fixture(scope="session")
def own_texts() -> list[str]:
    """Prose of many kinds, as people paste their own texts to have them fixed or
    summarized (Alpaca outputs of 300+ characters)."""
    path = SHARED_DATA / "alpaca" / "alpaca_5000.jsonl.gz"
    if not path.exists():
        pytest.fail(f"shared datasets not found at {path}; set PROMPTPRINT_SHARED_DATA to the shared/data folder")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [out for line in fh if len(out := json.loads(line).get("output", "")) >= 300]


@pytest.fixture(scope="session")
def gsm8k_questions() -> list[str]:
    """Real grade-school math questions (GSM8K test split): one dataset's items, as a
    distillation campaign sends them."""
    path = SHARED_DATA / "gsm8k" / "test.jsonl.gz"
    if not path.exists():
        pytest.fail(f"shared datasets not found at {path}; set PROMPTPRINT_SHARED_DATA to the shared/data folder")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["question"] for line in fh]


@pytest.fixture(scope="session")
def alpaca_texts() -> list[str]:
    """Real instructions from the Alpaca sample, deduplicated, in file order."""
    return list(dict.fromkeys(_alpaca_texts()))


def make_records(texts: list[str], *, accounts: int = 17, orgs: int = 5, start: str = "2026-02-01T00:00:00Z") -> list[PromptRecord]:
    base = parse_timestamp(start)
    return [
        PromptRecord(
            prompt_id=f"p-{i:06d}",
            account_id=f"a-{i % accounts}",
            org_id=f"o-{i % orgs}" if i % 7 else "",
            created_at_ms=base + i * 60_000,
            text=text,
        )
        for i, text in enumerate(texts)
    ]


@pytest.fixture(scope="session")
def corpus(alpaca_texts: list[str]) -> list[PromptRecord]:
    """300 real prompts from 17 accounts in 5 orgs, one a minute from 2026-02-01."""
    return make_records(alpaca_texts[:300])


class ServerThread:
    """A real promptprint server on a loopback port, run by an event loop in a thread."""

    def __init__(self, index_config: IndexConfig, embedder: SentenceTransformerEmbedder, server_config: ServerConfig | None = None) -> None:
        self.index_config = index_config
        self.embedder = embedder
        self.server_config = server_config or ServerConfig(listen="127.0.0.1:0", grace_seconds=2.0)
        self.loop = asyncio.new_event_loop()
        self.holder = IndexHolder()
        self.running: RunningServer | None = None
        self.index: PromptIndex | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self, *, load: bool = True) -> "ServerThread":
        self._thread.start()
        self.running = asyncio.run_coroutine_threadsafe(start_server(self.server_config, self.holder), self.loop).result(30)
        if load:
            self.load()
        return self

    def load(self) -> None:
        self.index = PromptIndex.open(self.index_config, self.embedder)
        self.holder.set(self.index)
        asyncio.run_coroutine_threadsafe(self.running.mark_serving(), self.loop).result(10)  # type: ignore[union-attr]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.running.port}"  # type: ignore[union-attr]

    def client(self, timeout: float = 60.0) -> PromptprintClient:
        return PromptprintClient(self.target, timeout=timeout)

    def stop(self, *, close_index: bool = True) -> None:
        if self.running is not None:
            asyncio.run_coroutine_threadsafe(self.running.stop(1.0), self.loop).result(30)
        if self.index is not None and close_index:
            self.index.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture
def index_config(tmp_path: Path) -> IndexConfig:
    return IndexConfig(data_dir=tmp_path / "data")


@pytest.fixture
def server(index_config: IndexConfig, embedder: SentenceTransformerEmbedder) -> Iterator[ServerThread]:
    running = ServerThread(index_config, embedder).start()
    yield running
    running.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[PromptprintClient]:
    with server.client() as c:
        yield c


def with_config(config: IndexConfig, **changes: object) -> IndexConfig:
    return dataclasses.replace(config, **changes)


# Two operations' wordings of one math task, alike in meaning (0.55 and more across the
# two), one asking for the answer after "####", the other after "Final:" (answer markers).
HASH_MARKED_WORDINGS = [
    "Please solve this exercise showing every step and give just the number at the end after ####",
    "Now solve this exercise explaining each step, finishing with a line #### followed by the number",
    "Your task: work out the math problem below step by step and give only the final number after ####",
]
FINAL_MARKED_WORDINGS = [
    "Solve the following math problem step by step and finish with the line Final: <number>.",
    "Work through this problem carefully, showing each step, then give Final: <number> at the end.",
    "I need you to solve this problem one step at a time and state Final: <number> at the end.",
]
