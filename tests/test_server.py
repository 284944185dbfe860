"""A real server on a loopback port, driven through the real client over gRPC."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from promptprint.vectors.embedder import SentenceTransformerEmbedder
from promptprint.index.config import IndexConfig
from promptprint.records import PromptRecord
from promptprint.client import PromptprintClient, error_details, error_info
from promptprint.server.app import ServerConfig
from promptprint.server.servicer import IngestSettings
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc

from conftest import ServerThread


def _ingest(client: PromptprintClient, records: list[PromptRecord]) -> None:
    summary = client.ingest(records, batch_size=64)
    assert (summary.accepted, summary.rejected) == (len(records), 0), summary.rejections
    client.wait_indexed(600)  # the default tier embeds behind the acknowledgement


def _answers(client: PromptprintClient, queries: list[str]) -> list[list[tuple[str, float]]]:
    return [[(h.prompt_id, round(h.similarity, 5)) for h in client.find_near_duplicates(text=q, k=5)] for q in queries]


def test_ingest_query_restart_same_answers(index_config: IndexConfig, embedder: SentenceTransformerEmbedder, corpus: list[PromptRecord]) -> None:
    queries = ["Give three tips for staying healthy.", "What is the capital of France?", corpus[77].text]
    first = ServerThread(index_config, embedder).start()
    with first.client() as client:
        _ingest(client, corpus)
        before = _answers(client, queries)
        stats = client.stats()
        assert stats.prompt_count == stats.indexed_count == len(corpus)
        assert stats.account_count == 17 and stats.org_count == 5
        assert stats.dimension == 384 and "all-MiniLM-L6-v2" in stats.model
        assert stats.index_type == "IDMap,SQfp16" and stats.disk_bytes > 0 and stats.resident_memory_bytes > 0
    first.stop()
    second = ServerThread(index_config, embedder).start()
    with second.client() as client:
        assert _answers(client, queries) == before
        assert client.stats().snapshot_watermark == len(corpus)
        # ingesting the same file again changes nothing: every prompt is an idempotent replay
        summary = client.ingest(corpus)
        assert (summary.accepted, summary.duplicates, summary.rejected) == (0, len(corpus), 0)
    second.stop()


ORIGINAL = "Offer three tips for keeping a healthy diet."


@pytest.mark.parametrize(
    "variant, top_similarity",
    [
        ("Off\u200ber thr\u200dee tips for keep\u200bing a healthy\ufeff diet.", 0.999),  # zero-width characters
        ("Оffеr thrее tiрs fоr kееping а hеalthy diеt.", 0.999),  # Cyrillic homoglyphs
        ("[req 7f3a9c1e] Offer three tips for keeping a healthy diet.", 0.999),  # request-id prefix
        ("#4821: Offer three tips for keeping a healthy diet.", 0.999),  # another request-id prefix
        ("OFFER   three tips\n\nfor keeping a healthy diet!!", 0.9),  # case, whitespace, punctuation
        ("Could you give me three pieces of advice for eating healthily?", None),  # paraphrase: in the top 3
    ],
)
def test_obfuscated_and_paraphrased_variants_find_the_original(
    client: PromptprintClient, corpus: list[PromptRecord], variant: str, top_similarity: float | None
) -> None:
    _ingest(client, corpus)
    original = next(r for r in corpus if r.text == ORIGINAL)
    hits = client.find_near_duplicates(text=variant, k=3)
    assert original.prompt_id in [h.prompt_id for h in hits]
    if top_similarity is not None:  # cosmetic noise only: the original is the top hit
        assert hits[0].prompt_id == original.prompt_id and hits[0].similarity >= top_similarity


def test_check_prompt_reports_fanout_across_accounts(client: PromptprintClient) -> None:
    template = "You are an expert data analyst. Reason step by step about the following task: {}"
    payloads = ["count the primes below 50", "count the primes below 60", "count the primes below 70", "count primes under 80"]
    base = 1_770_000_000_000
    records = [
        PromptRecord(f"c-{i}", f"acct-{i}", f"org-{i % 2}", base + i * 1000, template.format(p)) for i, p in enumerate(payloads)
    ]
    _ingest(client, records + [PromptRecord("b-1", "acct-x", "", base, "Write a haiku about autumn leaves.")])
    verdict = client.check_prompt(
        text=template.format("count the primes below 90"),
        account_id="acct-0",
        org_id="org-0",
        created_at=base + 60_000,
        min_similarity=0.8,
        lookback=timedelta(hours=1),
        example_count=3,
        tier="semantic",
    )
    assert verdict.tier == pb.TIER_SEMANTIC
    assert verdict.fanout.matching_prompts == 4
    assert verdict.fanout.distinct_accounts == 4 and verdict.fanout.distinct_other_accounts == 3
    assert verdict.fanout.distinct_orgs == 2 and verdict.fanout.distinct_other_orgs == 1
    assert verdict.fanout.first_seen.ToMilliseconds() == base and verdict.fanout.last_seen.ToMilliseconds() == base + 3000
    assert len(verdict.examples) == 3 and verdict.examples[0].similarity >= verdict.examples[-1].similarity
    assert verdict.record_outcome == pb.RECORD_OUTCOME_UNSPECIFIED
    # the window is honoured: an hour later nothing is in a 1-minute lookback
    later = client.check_prompt(
        text=template.format("count the primes below 90"), account_id="acct-0", created_at=base + 3_600_000, lookback=timedelta(minutes=1),
        tier="semantic",
    )
    assert later.fanout.matching_prompts == 0
    recorded = client.check_prompt(
        text=template.format("count the primes below 100"), account_id="acct-9", prompt_id="c-9", created_at=base + 5000, record=True,
        tier="semantic",
    )
    assert recorded.record_outcome == pb.RECORD_OUTCOME_RECORDED
    assert recorded.fanout.matching_prompts >= 1
    # the server's default tier answers from the template tracker, no forward pass
    fast = client.check_prompt(text=template.format("list the primes below 30"), account_id="acct-0", created_at=base + 60_000)
    assert fast.tier == pb.TIER_FINGERPRINT
    assert fast.fanout.matching_prompts >= 4 and fast.fanout.distinct_other_accounts >= 3
    assert fast.examples and fast.examples[0].prompt_id == "c-9"  # newest first
    replayed = client.check_prompt(text=template.format("count the primes below 100"), account_id="acct-9", prompt_id="c-9", created_at=base + 5000, record=True)
    assert replayed.record_outcome == pb.RECORD_OUTCOME_DUPLICATE
    assert replayed.fanout.matching_prompts == recorded.fanout.matching_prompts


def test_health_reflection_and_loading_state(index_config: IndexConfig, embedder: SentenceTransformerEmbedder) -> None:
    server = ServerThread(index_config, embedder).start(load=False)
    channel = grpc.insecure_channel(server.target)
    health = health_pb2_grpc.HealthStub(channel)
    stub = pb_grpc.FingerprintServiceStub(channel)
    try:
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetIndexStats(pb.GetIndexStatsRequest())
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(caught.value).reason == "INDEX_LOADING"  # type: ignore[union-attr]
        server.load()
        for service in ("", "promptprint.v1.FingerprintService"):
            assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == health_pb2.HealthCheckResponse.SERVING
        # a client that knows nothing but reflection can discover the whole API
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName("promptprint.v1.FingerprintService")
        assert {m.name for m in service.methods} >= {"IngestPrompts", "FindNearDuplicates", "CheckPrompt", "GetIndexStats"}
        assert stub.GetIndexStats(pb.GetIndexStatsRequest()).prompt_count == 0
    finally:
        channel.close()
        server.stop()


def test_request_id_is_echoed(client: PromptprintClient, server: ServerThread) -> None:
    channel = grpc.insecure_channel(server.target)
    stub = pb_grpc.FingerprintServiceStub(channel)
    _, call = stub.GetIndexStats.with_call(pb.GetIndexStatsRequest(), metadata=(("x-request-id", "trace-123"),))
    assert ("x-request-id", "trace-123") in tuple(call.trailing_metadata())
    # Calls that bring none get one each, distinct (the handler is cached per method, the
    # id is not).
    ids = set()
    for _ in range(3):
        _, call = stub.GetIndexStats.with_call(pb.GetIndexStatsRequest())
        ids.update(v for k, v in call.trailing_metadata() if k == "x-request-id")
    assert len(ids) == 3
    channel.close()


# -- bad input: one case per row of the contract's list ------------------------------------
VALID = dict(prompt_id="ok-1", account_id="acct-1", text="hello there")


def _stream_one(stub: pb_grpc.FingerprintServiceStub, prompt: pb.Prompt) -> pb.IngestPromptsResponse:
    return stub.IngestPrompts(iter([pb.IngestPromptsRequest(prompts=[prompt])]))


@pytest.fixture
def stub(server: ServerThread):  # type: ignore[no-untyped-def]
    channel = grpc.insecure_channel(server.target, options=[("grpc.max_send_message_length", 8 << 20)])
    yield pb_grpc.FingerprintServiceStub(channel)
    channel.close()


def _expect(call, code: grpc.StatusCode, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == code, caught.value.details()
    info = error_info(caught.value)
    assert info is not None and info.reason == reason and info.domain == "promptprint"
    assert caught.value.details()  # a message a caller can act on


@pytest.mark.parametrize(
    "prompt, reason",
    [
        (pb.Prompt(prompt_id="e1", account_id="a", text=""), "TEXT_EMPTY"),
        (pb.Prompt(prompt_id="e2", account_id="a", text=" \n\t "), "TEXT_EMPTY"),
        (pb.Prompt(prompt_id="e3", account_id="a", text="x" * ((1 << 20) + 1)), "TEXT_TOO_LONG"),
        (pb.Prompt(prompt_id="e4", account_id="", text="hello"), "ACCOUNT_ID_MISSING"),
        (pb.Prompt(prompt_id="", account_id="a", text="hello"), "PROMPT_ID_MISSING"),
        (pb.Prompt(prompt_id="bad\nid", account_id="a", text="hello"), "PROMPT_ID_MALFORMED"),
        (pb.Prompt(prompt_id="x" * 300, account_id="a", text="hello"), "PROMPT_ID_TOO_LONG"),
        (pb.Prompt(prompt_id="e8", account_id="a", text="hello", created_at={"seconds": -5}), "TIMESTAMP_OUT_OF_RANGE"),
        (pb.Prompt(prompt_id="e9", account_id="a", text="hello", created_at={"seconds": 10, "nanos": -1}), "TIMESTAMP_MALFORMED"),
    ],
)
def test_ingest_rejects_each_bad_prompt_by_itself(stub, prompt: pb.Prompt, reason: str) -> None:  # type: ignore[no-untyped-def]
    good = pb.Prompt(**VALID)
    response = stub.IngestPrompts(iter([pb.IngestPromptsRequest(prompts=[good, prompt])]))
    assert response.accepted_count == 1 and response.rejected_count == 1
    (rejection,) = response.rejections
    assert (rejection.position, rejection.code, rejection.reason) == (1, grpc.StatusCode.INVALID_ARGUMENT.value[0], reason)
    # the same prompt on the unary path gets the status itself
    _expect(lambda: stub.CheckPrompt(pb.CheckPromptRequest(prompt=prompt, record=True)), grpc.StatusCode.INVALID_ARGUMENT, reason)


def test_repeated_prompt_id_is_replay_or_already_exists(stub) -> None:  # type: ignore[no-untyped-def]
    first = _stream_one(stub, pb.Prompt(**VALID))
    assert first.accepted_count == 1
    replay = _stream_one(stub, pb.Prompt(**VALID))
    assert (replay.accepted_count, replay.duplicate_count, replay.rejected_count) == (0, 1, 0)
    conflict = _stream_one(stub, pb.Prompt(**(VALID | {"text": "another text"})))
    assert conflict.rejected_count == 1
    assert conflict.rejections[0].code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert conflict.rejections[0].reason == "PROMPT_ID_CONFLICT"
    _expect(
        lambda: stub.CheckPrompt(pb.CheckPromptRequest(prompt=pb.Prompt(**(VALID | {"text": "another text"})), record=True)),
        grpc.StatusCode.ALREADY_EXISTS,
        "PROMPT_ID_CONFLICT",
    )


def test_one_stream_of_many_batches_commits_in_stream_order(index_config: IndexConfig, embedder: SentenceTransformerEmbedder) -> None:
    """Batches of one stream are in the library two at a time (signatures overlap the
    previous commit), yet commit in order: a prompt_id repeated in a later batch with
    another text is the conflict, never the first one; every other prompt counts once."""
    config = ServerConfig(listen="127.0.0.1:0", grace_seconds=2.0, ingest=IngestSettings(batch_size=4, batches_in_flight=2))
    running = ServerThread(index_config, embedder, config).start()
    try:
        channel = grpc.insecure_channel(running.target)
        stub = pb_grpc.FingerprintServiceStub(channel)
        texts = [f"Summarize customer ticket number {i} about a delayed parcel in three short bullet points" for i in range(40)]
        # the first batch is slow to sign (long texts), the second, which repeats its
        # p-3 with another text, quick: committed as signed, the second would win
        texts[:5] = [t + " " + f"details of the delivery route {i} " * 6000 for i, t in enumerate(texts[:5])]
        messages = [
            pb.IngestPromptsRequest(prompts=[pb.Prompt(prompt_id=f"p-{i}", account_id=f"acct-{i % 7}", text=texts[i]) for i in range(j, j + 5)])
            for j in range(0, 40, 5)
        ]
        messages[1].prompts[2].CopyFrom(pb.Prompt(prompt_id="p-3", account_id="acct-9", text="a different text for p-3"))
        messages[7].prompts[0].CopyFrom(pb.Prompt(prompt_id="p-4", account_id="acct-4", text=texts[4]))
        response = stub.IngestPrompts(iter(messages))
        assert (response.accepted_count, response.duplicate_count, response.rejected_count) == (38, 1, 1)
        (conflict,) = response.rejections
        assert (conflict.position, conflict.prompt_id, conflict.reason) == (7, "p-3", "PROMPT_ID_CONFLICT")
        assert running.index is not None
        assert running.index.stats().prompt_count == 38
        store = running.index._store  # the stored texts: the first ones sent
        rows = {pid: row for pid, (row, _) in store.existing(["p-3", "p-4"]).items()}
        stored = store.fetch(list(rows.values()), with_text=True)
        assert stored[rows["p-3"]].text == texts[3] and stored[rows["p-4"]].text == texts[4]
        channel.close()
    finally:
        running.stop()


def test_a_stream_failing_mid_way_keeps_what_was_committed_and_a_retry_completes_it(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """With batches in flight, a batch refused mid-stream (the vector backlog is full)
    fails the stream with RESOURCE_EXHAUSTED; the batches committed before it stay, and
    the client's retry of the whole stream records only the rest."""
    from test_tiers import _GatedEmbedder

    gated = _GatedEmbedder(embedder)
    index_config = IndexConfig(data_dir=tmp_path / "d", max_vector_backlog=5, backlog_wait_s=0.2)
    config = ServerConfig(listen="127.0.0.1:0", grace_seconds=2.0, ingest=IngestSettings(batch_size=4, batches_in_flight=2))
    running = ServerThread(index_config, gated, config).start()  # type: ignore[arg-type]
    try:
        channel = grpc.insecure_channel(running.target)
        stub = pb_grpc.FingerprintServiceStub(channel)
        prompts = [pb.Prompt(prompt_id=f"q-{i}", account_id="acct-1", text=f"Question number {i}: what is {i} squared plus {i}?") for i in range(12)]
        messages = [pb.IngestPromptsRequest(prompts=prompts[j : j + 4]) for j in range(0, 12, 4)]
        _expect(lambda: stub.IngestPrompts(iter(messages)), grpc.StatusCode.RESOURCE_EXHAUSTED, "VECTOR_BACKLOG_FULL")
        assert running.index is not None and running.index.stats().prompt_count == 8  # two batches of four, whole
        gated.gate.set()
        assert running.index.wait_indexed(300)
        retry = stub.IngestPrompts(iter(messages))
        assert (retry.accepted_count, retry.duplicate_count, retry.rejected_count) == (4, 8, 0)
        assert running.index.stats().prompt_count == 12
        channel.close()
    finally:
        gated.gate.set()
        running.stop()


@pytest.mark.parametrize(
    "request_fields, code, reason",
    [
        (dict(text="hi", k=-1), grpc.StatusCode.INVALID_ARGUMENT, "K_OUT_OF_RANGE"),
        (dict(text="hi", k=1001), grpc.StatusCode.INVALID_ARGUMENT, "K_OUT_OF_RANGE"),
        (dict(text="hi", min_similarity=-0.1), grpc.StatusCode.INVALID_ARGUMENT, "SIMILARITY_OUT_OF_RANGE"),
        (dict(text="hi", min_similarity=1.01), grpc.StatusCode.INVALID_ARGUMENT, "SIMILARITY_OUT_OF_RANGE"),
        (dict(text=""), grpc.StatusCode.INVALID_ARGUMENT, "TEXT_EMPTY"),
        (dict(text="x" * ((1 << 20) + 1)), grpc.StatusCode.INVALID_ARGUMENT, "TEXT_TOO_LONG"),
        (dict(), grpc.StatusCode.INVALID_ARGUMENT, "QUERY_MISSING"),
        (dict(prompt_id="does-not-exist"), grpc.StatusCode.NOT_FOUND, "PROMPT_NOT_FOUND"),
        (dict(text="hi", window={"start_time": {"seconds": 100}, "end_time": {"seconds": 50}}), grpc.StatusCode.INVALID_ARGUMENT, "WINDOW_EMPTY"),
        (dict(text="hi", window={"start_time": {"seconds": 1, "nanos": 2_000_000_000}}), grpc.StatusCode.INVALID_ARGUMENT, "TIMESTAMP_MALFORMED"),
    ],
)
def test_find_near_duplicates_bad_input(stub, request_fields: dict, code: grpc.StatusCode, reason: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    _expect(lambda: stub.FindNearDuplicates(pb.FindNearDuplicatesRequest(**request_fields)), code, reason)


@pytest.mark.parametrize(
    "request_fields, reason",
    [
        (dict(), "PROMPT_MISSING"),
        (dict(prompt=pb.Prompt(text="hi")), "ACCOUNT_ID_MISSING"),
        (dict(prompt=pb.Prompt(text="hi", account_id="a"), min_similarity=2.0), "SIMILARITY_OUT_OF_RANGE"),
        (dict(prompt=pb.Prompt(text="hi", account_id="a"), lookback={"seconds": -60}), "LOOKBACK_OUT_OF_RANGE"),
        (dict(prompt=pb.Prompt(text="hi", account_id="a"), example_count=101), "EXAMPLE_COUNT_OUT_OF_RANGE"),
        (dict(prompt=pb.Prompt(text="hi", account_id="a"), record=True), "PROMPT_ID_MISSING"),
    ],
)
def test_check_prompt_bad_input(stub, request_fields: dict, reason: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    _expect(lambda: stub.CheckPrompt(pb.CheckPromptRequest(**request_fields)), grpc.StatusCode.INVALID_ARGUMENT, reason)


def test_oversized_ingest_message_is_refused_whole(stub) -> None:  # type: ignore[no-untyped-def]
    prompts = [pb.Prompt(prompt_id=f"m-{i}", account_id="a", text="hi") for i in range(1025)]
    _expect(lambda: stub.IngestPrompts(iter([pb.IngestPromptsRequest(prompts=prompts)])), grpc.StatusCode.INVALID_ARGUMENT, "BATCH_TOO_LARGE")


@pytest.mark.parametrize(
    "method, request_message, field, reason",
    [
        ("FindNearDuplicates", pb.FindNearDuplicatesRequest(text="hi", k=-1), "k", "K_OUT_OF_RANGE"),
        ("CheckPrompt", pb.CheckPromptRequest(prompt=pb.Prompt(text="hi", account_id="a"), example_count=101), "example_count", "EXAMPLE_COUNT_OUT_OF_RANGE"),
        ("ListBankEntries", pb.ListBankEntriesRequest(page_size=-1), "page_size", "PAGE_SIZE_OUT_OF_RANGE"),
        ("IngestPrompts", iter([pb.IngestPromptsRequest(prompts=[pb.Prompt(prompt_id=f"m-{i}", account_id="a", text="hi") for i in range(1025)])]), "prompts", "BATCH_TOO_LARGE"),
    ],
)
def test_invalid_argument_about_a_field_carries_bad_request(stub, method: str, request_message: object, field: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, method)(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = error_details(caught.value)
    assert details.info is not None and details.info.reason == reason and details.info.metadata["field"] == field
    assert details.info.metadata["request_id"]
    assert [(v.field, v.reason, v.description) for v in details.field_violations] == [(field, reason, caught.value.details())]
    assert details.retry_delay is None


def test_errors_that_are_not_invalid_argument_carry_no_bad_request(stub) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        stub.FindNearDuplicates(pb.FindNearDuplicatesRequest(prompt_id="does-not-exist"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    details = error_details(caught.value)
    assert details.info is not None and details.info.reason == "PROMPT_NOT_FOUND" and details.info.metadata["field"] == "prompt_id"
    assert details.field_violations == () and details.retry_delay is None


def test_server_survives_bad_input_and_keeps_acknowledged_data(stub, client: PromptprintClient) -> None:  # type: ignore[no-untyped-def]
    _stream_one(stub, pb.Prompt(**VALID))
    for request in (pb.FindNearDuplicatesRequest(k=-5), pb.FindNearDuplicatesRequest(text="\x00" * 10)):
        try:
            stub.FindNearDuplicates(request)
        except grpc.RpcError as error:
            assert error.code() in (grpc.StatusCode.INVALID_ARGUMENT,)
    hits = client.find_near_duplicates(text="hello there", k=1)
    assert hits[0].prompt_id == "ok-1"
