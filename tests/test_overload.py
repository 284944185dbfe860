"""Overload, deadlines, metrics and health through a real server on loopback."""

from __future__ import annotations

import threading
import time
import urllib.request
from datetime import timedelta
from typing import Callable, Iterator, Sequence

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from promptprint.vectors.batching import BatchingEmbedder
from promptprint.vectors.embedder import Embedder, SentenceTransformerEmbedder
from promptprint.errors import ResourceExhausted
from promptprint.index.config import IndexConfig
from promptprint.records import PromptRecord
from promptprint.client import error_details, error_info
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc
from promptprint.server.app import ServerConfig
from promptprint.server.limits import LimitSettings
from promptprint.server.status import DEFAULT_RETRY_DELAY_S, rich_status

from conftest import ServerThread, with_config


def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for a state change (not a timing assertion: the bound only stops a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_past_the_limits_calls_get_resource_exhausted_and_admitted_ones_finish(
    index_config: IndexConfig, embedder: SentenceTransformerEmbedder
) -> None:
    config = ServerConfig(
        listen="127.0.0.1:0", grace_seconds=1.0, metrics_listen="127.0.0.1:0",
        limits=LimitSettings(max_concurrent=2, max_queued=2, max_queue_wait_s=120.0),
    )
    server = ServerThread(index_config, embedder, config).start()
    channel = grpc.insecure_channel(server.target)
    stub = pb_grpc.FingerprintServiceStub(channel)
    limiter = server.running.limiter  # type: ignore[union-attr]
    release = threading.Event()

    def held_stream(n: int) -> Iterator[pb.IngestPromptsRequest]:
        yield pb.IngestPromptsRequest(prompts=[pb.Prompt(prompt_id=f"s-{n}", account_id="a", text=f"held stream number {n}")])
        release.wait(120)

    try:
        streams = [stub.IngestPrompts.future(held_stream(n), timeout=120) for n in range(2)]
        _until(lambda: limiter.in_flight == 2, "two streams holding both slots")
        check = pb.CheckPromptRequest(prompt=pb.Prompt(account_id="a", text="is this a campaign?"))
        queued = [stub.CheckPrompt.future(check, timeout=120) for _ in range(2)]
        _until(lambda: limiter.queued == 2, "two calls waiting for a slot")
        refused = []
        for _ in range(5):
            with pytest.raises(grpc.RpcError) as caught:
                stub.CheckPrompt(check, timeout=30)
            refused.append((caught.value.code(), error_info(caught.value).reason))  # type: ignore[union-attr]
        assert refused == [(grpc.StatusCode.RESOURCE_EXHAUSTED, "SERVER_AT_CAPACITY")] * 5
        # health is never limited: probes still get an answer from a saturated server
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
        release.set()
        assert [s.result().accepted_count for s in streams] == [1, 1]
        assert all(q.result().fanout.matching_prompts >= 0 for q in queued)
        assert (limiter.in_flight, limiter.queued) == (0, 0)
        server.index.wait_indexed(600)  # type: ignore[union-attr]  # the default tier embeds behind the acknowledgement
        samples = _metrics(server.running.metrics_port)  # type: ignore[arg-type, union-attr]
        assert samples[("promptprint_requests_total", (("code", "RESOURCE_EXHAUSTED"), ("method", "CheckPrompt")))] == 5
        assert samples[("promptprint_requests_total", (("code", "OK"), ("method", "CheckPrompt")))] == 2
        assert samples[("promptprint_requests_total", (("code", "OK"), ("method", "IngestPrompts")))] == 2
        assert samples[("promptprint_request_duration_seconds_count", (("code", "OK"), ("method", "CheckPrompt")))] == 2
        assert samples[("promptprint_calls_refused_capacity", ())] == 5
        assert samples[("promptprint_index_prompts", ())] == 2
        assert samples[("promptprint_unsnapshotted_prompts", ())] == 2
        assert samples[("promptprint_serving", ())] == 1
        assert samples[("promptprint_snapshot_age_seconds", ())] >= 0
        assert samples[("promptprint_calls_in_flight", ())] == 0
    finally:
        release.set()
        channel.close()
        server.stop()


def test_queued_call_gives_up_at_its_own_deadline(index_config: IndexConfig, embedder: SentenceTransformerEmbedder) -> None:
    config = ServerConfig(listen="127.0.0.1:0", grace_seconds=1.0, limits=LimitSettings(max_concurrent=1, max_queued=4, max_queue_wait_s=120.0))
    server = ServerThread(index_config, embedder, config).start()
    channel = grpc.insecure_channel(server.target)
    stub = pb_grpc.FingerprintServiceStub(channel)
    release = threading.Event()

    def held() -> Iterator[pb.IngestPromptsRequest]:
        yield pb.IngestPromptsRequest()
        release.wait(120)

    try:
        stream = stub.IngestPrompts.future(held(), timeout=120)
        _until(lambda: server.running.limiter.in_flight == 1, "the stream holding the slot")  # type: ignore[union-attr]
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetIndexStats(pb.GetIndexStatsRequest(), timeout=0.5)
        assert caught.value.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)
        _until(lambda: server.running.limiter.queued == 0, "the abandoned waiter to leave the queue")  # type: ignore[union-attr]
        release.set()
        assert stream.result().accepted_count == 0
        assert stub.GetIndexStats(pb.GetIndexStatsRequest(), timeout=30).prompt_count == 0
    finally:
        release.set()
        channel.close()
        server.stop()


def test_refusals_carry_retry_info_and_the_client_waits_at_least_that_long(
    index_config: IndexConfig, embedder: SentenceTransformerEmbedder
) -> None:
    # No wait queue, and a 3 s queue wait: the limiter advises a 3 s retry delay, longer
    # than the client's own first backoff (1 s), so the wait shows which one it honoured.
    config = ServerConfig(listen="127.0.0.1:0", grace_seconds=1.0, limits=LimitSettings(max_concurrent=1, max_queued=0, max_queue_wait_s=3.0))
    server = ServerThread(index_config, embedder, config).start()
    limiter = server.running.limiter  # type: ignore[union-attr]
    channel = grpc.insecure_channel(server.target)
    stub = pb_grpc.FingerprintServiceStub(channel)
    release = threading.Event()

    def held() -> Iterator[pb.IngestPromptsRequest]:
        yield pb.IngestPromptsRequest()
        release.wait(120)

    try:
        stream = stub.IngestPrompts.future(held(), timeout=120)
        _until(lambda: limiter.in_flight == 1, "the stream holding the only slot")
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetIndexStats(pb.GetIndexStatsRequest(), timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = error_details(caught.value)
        assert details.info is not None and details.info.reason == "SERVER_AT_CAPACITY"
        assert details.retry_delay == timedelta(seconds=3) and details.field_violations == ()

        def release_after_the_client_is_refused() -> None:
            _until(lambda: limiter.rejected == 2, "the client's first ingest attempt to be refused")
            release.set()

        releaser = threading.Thread(target=release_after_the_client_is_refused)
        releaser.start()
        record = PromptRecord(prompt_id="retried", account_id="a", org_id="", created_at_ms=1_770_000_000_000, text="sent again later")
        with server.client() as client:
            started = time.monotonic()
            summary = client.ingest([record], retries=3)
            waited = time.monotonic() - started
        releaser.join(60)
        assert summary.accepted == 1 and limiter.rejected >= 2  # refused, then admitted
        assert waited >= 3.0, waited
        assert stream.result(timeout=60).accepted_count == 0
    finally:
        release.set()
        channel.close()
        server.stop()


def test_the_library_queues_refusals_get_the_default_retry_delay() -> None:
    status = rich_status(ResourceExhausted("the embedding queue is full", reason="EMBED_QUEUE_FULL"), "rid-1")
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    retry = error_details_pb2.RetryInfo()
    assert [d.Unpack(retry) for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)] == [True]
    assert retry.retry_delay.ToTimedelta() == timedelta(seconds=DEFAULT_RETRY_DELAY_S)


class RecordingEmbedder:
    """The real model, remembering every text it was asked to embed; its first pass waits
    for ``gate`` (so the test knows the worker is busy, without racing a slow pass)."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self._inner = inner
        self.seen: list[str] = []
        self.passes = 0
        self.gate = threading.Event()

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.passes += 1
        self.seen.extend(texts)
        if self.passes == 1:
            self.gate.wait(120)
        return self._inner.embed(texts)


def test_cancelled_calls_are_dropped_from_the_embedding_queue(
    index_config: IndexConfig, embedder: SentenceTransformerEmbedder
) -> None:
    recording = RecordingEmbedder(embedder)
    batching: Embedder = BatchingEmbedder(recording)  # type: ignore[arg-type]
    server = ServerThread(index_config, batching).start()  # type: ignore[arg-type]
    channel = grpc.insecure_channel(server.target)
    stub = pb_grpc.FingerprintServiceStub(channel)
    marker = "a prompt whose caller gave up before the model got to it"
    try:
        busy = threading.Thread(target=batching.embed, args=(["the worker is busy with this"],))
        busy.start()
        _until(lambda: recording.passes == 1, "the worker to be busy")
        request = pb.CheckPromptRequest(prompt=pb.Prompt(account_id="a", text=marker), tier=pb.TIER_SEMANTIC)  # one forward pass
        call = stub.CheckPrompt.future(request, timeout=1.0)
        with pytest.raises(grpc.RpcError) as caught:
            call.result()
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        recording.gate.set()
        busy.join(120)
        # the queued work of the expired call was dropped, never embedded
        _until(lambda: batching.dropped_calls == 1, "the cancelled call to be dropped")  # type: ignore[attr-defined]
        assert marker not in recording.seen
        # and the server goes on serving
        answer = stub.CheckPrompt(
            pb.CheckPromptRequest(prompt=pb.Prompt(account_id="a", text="still here?"), tier=pb.TIER_SEMANTIC), timeout=120
        )
        assert answer.fanout.matching_prompts == 0
    finally:
        recording.gate.set()
        channel.close()
        server.stop()
        batching.close()  # type: ignore[attr-defined]


def test_health_goes_not_serving_while_records_are_in_no_snapshot(index_config: IndexConfig, embedder: SentenceTransformerEmbedder) -> None:
    config = ServerConfig(listen="127.0.0.1:0", grace_seconds=1.0, max_staleness_s=0.5)
    server = ServerThread(with_config(index_config, snapshot_every=0), embedder, config).start()
    channel = grpc.insecure_channel(server.target)
    health = health_pb2_grpc.HealthStub(channel)

    def status() -> int:
        return health.Check(health_pb2.HealthCheckRequest(), timeout=10).status

    try:
        assert status() == health_pb2.HealthCheckResponse.SERVING  # nothing unsnapshotted: never stale
        stub = pb_grpc.FingerprintServiceStub(channel)
        stub.IngestPrompts(iter([pb.IngestPromptsRequest(prompts=[pb.Prompt(prompt_id="p", account_id="a", text="hello")])]), timeout=60)
        _until(lambda: status() == health_pb2.HealthCheckResponse.NOT_SERVING, "NOT_SERVING once the record is stale")
        assert stub.GetIndexStats(pb.GetIndexStatsRequest(), timeout=30).prompt_count == 1  # still answers calls
        server.index.snapshot()  # type: ignore[union-attr]
        _until(lambda: status() == health_pb2.HealthCheckResponse.SERVING, "SERVING after a snapshot")
    finally:
        channel.close()
        server.stop()
