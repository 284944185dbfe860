"""Hot swap on a real server: a reindex switches CURRENT while lookups run; the server
swaps without a failed call, replays what it recorded meanwhile, lets the old index go;
DeleteAccountPrompts over gRPC."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from pathlib import Path

import grpc
import pytest

from promptprint.vectors.embedder import SentenceTransformerEmbedder
from promptprint.index.ivf_index import IvfParams
from promptprint.index.config import IndexConfig
from promptprint.records import PromptRecord
from promptprint.jobs.reindex import open_job
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.server.app import ServerConfig
from promptprint.server.maintenance import MaintenanceSettings

from conftest import ServerThread, with_config


class _Lookups:
    """Callers doing FindNearDuplicates and CheckPrompt in a loop, counting failures."""

    def __init__(self, server: ServerThread, texts: list[str], callers: int = 3) -> None:
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(server, texts[i::callers])) for i in range(callers)]

    def _loop(self, server: ServerThread, texts: list[str]) -> None:
        with server.client(timeout=60) as client:
            i = 0
            while not self._stop.is_set():
                text = texts[i % len(texts)]
                i += 1
                try:
                    if i % 2:
                        client.find_near_duplicates(text=text, k=5, search=pb.SearchOptions(nprobe=8, rerank_factor=8))
                    else:
                        client.check_prompt(text=text, account_id="a-checker")
                    self.ok += 1
                except grpc.RpcError as error:
                    self.failures.append(f"{error.code()}: {error.details()}")  # type: ignore[attr-defined]

    def __enter__(self) -> "_Lookups":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def _rebuild(config: IndexConfig) -> str:
    with open_job(config, sources=[]) as job:
        return job.run([]).snapshot


def test_reload_under_load_replays_and_releases(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]
) -> None:
    config = IndexConfig(data_dir=tmp_path / "d", builtin_allow_bank=False, ivf=IvfParams(pq_m=16, nprobe=8))
    manual = ServerConfig(listen="127.0.0.1:0", grace_seconds=2.0, maintenance=MaintenanceSettings(poll_seconds=0))
    server = ServerThread(config, embedder, manual).start()
    try:
        with server.client() as client:
            client.ingest(corpus[:200])
            client.wait_indexed(600)  # a rebuild covers the stored vectors (embedded behind the acknowledgement)
            old_live = weakref.ref(server.index._live.current)  # type: ignore[union-attr]
            with _Lookups(server, [r.text for r in corpus[:40]]) as lookups:
                snapshot = _rebuild(with_config(config, index_kind="ivfpq"))  # another process would do the same
                # recorded after the rebuild read the store: must be replayed onto the new index
                summary = client.ingest(corpus[200:260])
                assert summary.accepted == 60
                answer = client.reload_index()
                assert answer.reloaded and answer.snapshot == snapshot
                assert answer.index_type.startswith("IVF") and answer.prompt_count == 260
                assert not client.reload_index().reloaded  # nothing new: no second swap
                time.sleep(0.5)  # lookups keep running on the new index
            assert lookups.failures == [] and lookups.ok > 0
            client.wait_indexed(600)
            hits = client.find_near_duplicates(text=corpus[250].text, k=1)
            assert hits[0].prompt_id == corpus[250].prompt_id  # ingested during the rebuild, found after the swap
            gc.collect()
            assert old_live() is None  # the previous index is gone once its last lookup ended
            # the server's next snapshot continues the rebuilt lineage instead of overwriting it
            server.index.snapshot()  # type: ignore[union-attr]
    finally:
        server.stop()
    restarted = ServerThread(config, embedder, manual).start()
    try:
        with restarted.client() as client:
            stats = client.stats()
            assert stats.index_type.startswith("IVF") and stats.prompt_count == 260
            assert client.find_near_duplicates(text=corpus[250].text, k=1)[0].prompt_id == corpus[250].prompt_id
    finally:
        restarted.stop()


def test_automatic_pickup_and_account_deletion(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]
) -> None:
    config = IndexConfig(data_dir=tmp_path / "d", builtin_allow_bank=False)
    polling = ServerConfig(listen="127.0.0.1:0", grace_seconds=2.0, maintenance=MaintenanceSettings(poll_seconds=0.1, jitter_seconds=0.3))
    server = ServerThread(config, embedder, polling).start()
    try:
        with server.client() as client:
            client.ingest(corpus[:120])
            client.wait_indexed(600)
            snapshot = _rebuild(with_config(config, index_kind="hnsw"))
            deadline = time.monotonic() + 60
            while client.stats().index_type != "IDMap,HNSW32_SQfp16" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert client.stats().index_type == "IDMap,HNSW32_SQfp16"
            assert server.index.snapshot_name == snapshot  # type: ignore[union-attr]

            victim = corpus[7].account_id
            owned = sum(1 for r in corpus[:120] if r.account_id == victim)
            assert client.delete_account_prompts(victim) == owned
            assert client.delete_account_prompts(victim) == 0
            assert client.stats().prompt_count == 120 - owned
            hits = client.find_near_duplicates(text=corpus[7].text, k=10)
            assert victim not in [h.account_id for h in hits]
            with pytest.raises(grpc.RpcError) as raised:
                client.delete_account_prompts("")
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    finally:
        server.stop()


def test_maintenance_trims_the_heap_on_its_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop hands freed heap memory back every trim_every_seconds (and never with 0),
    with no index to reload or purge; bad settings are refused."""
    import asyncio
    import concurrent.futures

    import promptprint.server.maintenance as maintenance

    calls: list[float] = []
    monkeypatch.setattr(maintenance, "release_free_memory", lambda: calls.append(time.monotonic()) or True)

    class _Index:
        config = IndexConfig(data_dir=Path("unused"))

        def snapshot_changed(self) -> bool:
            return False

    async def run_for(settings: MaintenanceSettings, seconds: float) -> None:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            task = asyncio.ensure_future(maintenance.Maintenance(lambda: _Index(), pool, settings).run())
            await asyncio.sleep(seconds)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run_for(MaintenanceSettings(poll_seconds=0.05, trim_every_seconds=0.2), 1.1))
    assert len(calls) >= 2  # ~5 expected; a loaded machine may run the loop late, never early
    calls.clear()
    asyncio.run(run_for(MaintenanceSettings(poll_seconds=0.05, trim_every_seconds=0), 0.5))
    assert calls == []
    with pytest.raises(ValueError):
        MaintenanceSettings(trim_every_seconds=-1)
