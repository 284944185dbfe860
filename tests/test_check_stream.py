"""CheckPrompts, the bidirectional stream: a real server on loopback, the real client.

Each prompt of a stream must get exactly the verdict a CheckPrompt of it, sent after
the prompts before it, gets; idempotency, per-prompt errors and backpressure as
documented in the proto."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from evaluation.simulate import run_simulation
from evaluation.simulate.config import SimulationConfig
from promptprint.client import PromptprintClient, error_details, record_to_proto
from promptprint.index.config import IndexConfig
from promptprint.index.embedding_policy import EmbeddingPolicy
from promptprint.readers import read_records
from promptprint.records import PromptRecord, format_timestamp, parse_timestamp
from promptprint.server.app import ServerConfig
from promptprint.server.limits import LimitSettings
from promptprint.server.servicer import IngestSettings
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc
from promptprint.vectors.embedder import SentenceTransformerEmbedder

from conftest import SHARED_DATA, ServerThread

BASE_MS = parse_timestamp("2026-03-01T00:00:00Z")
TEMPLATE = "Write a five star review of the {} praising its battery life, its screen and the friendly support team, in a casual tone."


def _templated(n: int, *, prefix: str = "t", accounts: int = 5) -> list[PromptRecord]:
    """n prompts of one template, each with its own payload, one a minute."""
    return [
        PromptRecord(f"{prefix}-{i:04d}", f"acct-{i % accounts}", f"org-{i % 2}", BASE_MS + i * 60_000, TEMPLATE.format(f"gadget model {i}"))
        for i in range(n)
    ]


def _simulated(tmp_path: Path, prompts: int) -> list[PromptRecord]:
    run_simulation(SimulationConfig(prompts=prompts, seed=23), tmp_path / "sim", SHARED_DATA)
    records = [line.record for line in read_records(tmp_path / "sim" / "traffic.jsonl") if line.record is not None]
    return sorted(records, key=lambda r: r.created_at_ms)


def _unary(client: PromptprintClient, record: PromptRecord) -> pb.CheckPromptsResult:
    """What CheckPrompt answers, in a stream result's shape."""
    try:
        return pb.CheckPromptsResult(verdict=client.check_record(record, store=True, example_count=3))
    except grpc.RpcError as error:
        info = error_details(error).info
        return pb.CheckPromptsResult(rejection=pb.IngestRejection(code=error.code().value[0], reason=info.reason if info else ""))


def _comparable(result: pb.CheckPromptsResult) -> pb.CheckPromptsResult:
    """A result without what CheckPrompt cannot carry: a rejection's position, id and text."""
    if result.HasField("rejection"):
        return pb.CheckPromptsResult(rejection=pb.IngestRejection(code=result.rejection.code, reason=result.rejection.reason))
    return result


@pytest.mark.slow
def test_stream_verdicts_are_those_of_sequential_check_prompt(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """Simulated traffic (campaigns, bursts, look-alikes), replayed in time order through
    CheckPrompt one call at a time on one server and through CheckPrompts on another:
    every verdict is identical, repeats and a conflicting prompt_id included, although
    a batch holds many prompts of one template that must each see the ones before."""
    records = _simulated(tmp_path, 2_000)
    conflict = dataclasses.replace(records[30], text=records[30].text + " (edited)")
    traffic = records + records[:40] + [conflict] + records[100:110]  # replays and a conflict, across and within batches
    # the fingerprint tier needs no vectors: none are computed, to keep the test short; links by
    # wording are made behind the answers, as far as the background thread has got: off here
    def config(name: str) -> IndexConfig:
        return IndexConfig(data_dir=tmp_path / name, embedding_policy=EmbeddingPolicy("none"), semantic_links=False)

    sequential = ServerThread(config("sequential"), embedder).start()
    streamed = ServerThread(config("streamed"), embedder).start()
    try:
        with sequential.client() as client:
            expected = [_unary(client, r) for r in traffic]
        with streamed.client() as client:
            got = list(client.check_prompts(traffic, batch_size=128, example_count=3))
    finally:
        sequential.stop()
        streamed.stop()
    assert len(got) == len(traffic)
    assert [_comparable(r) for r in got] == expected
    verdicts = [r.verdict for r in got if r.HasField("verdict")]
    assert sum(v.campaign.flagged for v in verdicts) > 10  # the traffic exercises detection
    assert sum(v.record_outcome == pb.RECORD_OUTCOME_DUPLICATE for v in verdicts) == 50
    (rejected,) = [r.rejection for r in got if r.HasField("rejection")]
    assert (rejected.position, rejected.reason) == (len(records) + 40, "PROMPT_ID_CONFLICT")
    assert rejected.code == grpc.StatusCode.ALREADY_EXISTS.value[0]


def test_each_prompt_of_a_batch_sees_the_ones_before_it(client: PromptprintClient) -> None:
    results = list(client.check_prompts(_templated(12), batch_size=12))
    volumes = [r.verdict.campaign.activity.volume for r in results]
    assert volumes == list(range(12))  # the template's activity before each prompt
    assert len({r.verdict.campaign.template_id for r in results[1:]}) == 1
    assert [r.verdict.record_outcome for r in results] == [pb.RECORD_OUTCOME_RECORDED] * 12


def test_idempotent_on_prompt_id(client: PromptprintClient) -> None:
    records = _templated(10)
    first = list(client.check_prompts(records, batch_size=4, example_count=3))
    assert [r.verdict.record_outcome for r in first] == [pb.RECORD_OUTCOME_RECORDED] * 10
    again = list(client.check_prompts(records + records[:2], batch_size=4, example_count=3))
    assert [r.verdict.record_outcome for r in again] == [pb.RECORD_OUTCOME_DUPLICATE] * 12
    # a replay never counts itself: the template holds the other nine
    assert [r.verdict.campaign.activity.volume for r in again] == [9] * 12
    assert client.stats().prompt_count == 10
    assert again == [_unary(client, r) for r in records + records[:2]]  # what CheckPrompt answers a replay
    edited = dataclasses.replace(records[3], text="a different text for a prompt_id already taken, long enough to matter")
    (answer,) = client.check_prompts([edited])
    assert answer.rejection.reason == "PROMPT_ID_CONFLICT"
    assert answer.rejection.code == grpc.StatusCode.ALREADY_EXISTS.value[0] and answer.rejection.prompt_id == records[3].prompt_id


def test_a_bad_prompt_is_refused_alone_with_ingests_reasons(server: ServerThread) -> None:
    good = [pb.Prompt(prompt_id=f"g-{i}", account_id="a", text=f"a perfectly fine prompt number {i}") for i in range(3)]
    bad = [
        (pb.Prompt(prompt_id="b-1", account_id="", text="hello"), "ACCOUNT_ID_MISSING"),
        (pb.Prompt(prompt_id="b-2", account_id="a", text=" \n "), "TEXT_EMPTY"),
        (pb.Prompt(prompt_id="", account_id="a", text="hello"), "PROMPT_ID_MISSING"),
        (pb.Prompt(prompt_id="b\n4", account_id="a", text="hello"), "PROMPT_ID_MALFORMED"),
    ]
    batches = [
        pb.CheckPromptsRequest(prompts=[good[0], bad[0][0], good[1]], record=True),
        pb.CheckPromptsRequest(prompts=[p for p, _ in bad[1:]] + [good[2]], record=True),
    ]
    channel = grpc.insecure_channel(server.target)
    try:
        responses = list(pb_grpc.FingerprintServiceStub(channel).CheckPrompts(iter(batches), timeout=60))
    finally:
        channel.close()
    assert [len(r.results) for r in responses] == [3, 4]
    first, second = responses
    assert [r.WhichOneof("result") for r in first.results] == ["verdict", "rejection", "verdict"]
    assert [r.WhichOneof("result") for r in second.results] == ["rejection"] * 3 + ["verdict"]
    rejections = [first.results[1].rejection, *(r.rejection for r in second.results[:3])]
    assert [(r.position, r.reason) for r in rejections] == [(1, "ACCOUNT_ID_MISSING"), (3, "TEXT_EMPTY"), (4, "PROMPT_ID_MISSING"), (5, "PROMPT_ID_MALFORMED")]
    assert {r.code for r in rejections} == {grpc.StatusCode.INVALID_ARGUMENT.value[0]}
    assert second.results[3].verdict.prompt_id == "g-2" and second.results[3].verdict.record_outcome == pb.RECORD_OUTCOME_RECORDED


def test_an_oversized_batch_fails_the_stream_naming_the_limit(server: ServerThread) -> None:
    small = pb.CheckPromptsRequest(prompts=[pb.Prompt(prompt_id="s-1", account_id="a", text="fine")], record=True)
    huge = pb.CheckPromptsRequest(prompts=[pb.Prompt(prompt_id=f"h-{i}", account_id="a", text="x") for i in range(1025)])
    channel = grpc.insecure_channel(server.target)
    answered = []
    try:
        with pytest.raises(grpc.RpcError) as caught:
            for response in pb_grpc.FingerprintServiceStub(channel).CheckPrompts(iter([small, huge]), timeout=60):
                answered.append(response)
    finally:
        channel.close()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = error_details(caught.value)
    assert details.info is not None and details.info.reason == "BATCH_TOO_LARGE"
    assert "1024" in (caught.value.details() or "")
    assert len(answered) <= 1  # the batch before it may have been answered; nothing after


def test_a_full_server_refuses_the_stream_with_retry_info(index_config: IndexConfig, embedder: SentenceTransformerEmbedder) -> None:
    config = ServerConfig(listen="127.0.0.1:0", grace_seconds=1.0, limits=LimitSettings(max_concurrent=1, max_queued=0))
    running = ServerThread(index_config, embedder, config).start()
    release = threading.Event()

    def held() -> Iterator[pb.CheckPromptsRequest]:
        yield pb.CheckPromptsRequest(prompts=[pb.Prompt(prompt_id="h-1", account_id="a", text="holding the only slot")], record=True)
        release.wait(60)

    try:
        with running.client() as client, running.client() as other:
            holder = client._stub.CheckPrompts(held(), timeout=120)  # noqa: SLF001 - a raw stream kept open
            next(holder)  # answered: the stream holds its slot
            with pytest.raises(grpc.RpcError) as caught:
                list(other.check_prompts(_templated(2)))
            release.set()
            assert list(holder) == []
    finally:
        release.set()
        running.stop()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = error_details(caught.value)
    assert details.info is not None and details.info.reason == "SERVER_AT_CAPACITY"
    assert details.retry_delay is not None and details.retry_delay.total_seconds() > 0


def test_a_reader_that_stops_stops_the_stream(index_config: IndexConfig, embedder: SentenceTransformerEmbedder) -> None:
    """Nobody reads the answers: the server takes a few batches (those in flight and
    what the transport holds), then reads no more, instead of checking everything and
    buffering the answers. Once the client reads, the rest flows, in order."""
    config = ServerConfig(listen="127.0.0.1:0", grace_seconds=1.0, ingest=IngestSettings(batches_in_flight=2))
    running = ServerThread(dataclasses.replace(index_config, embedding_policy=EmbeddingPolicy("none")), embedder, config).start()
    batches, per_batch = 16, 256
    records = _templated(batches * per_batch, prefix="slow-reader-" + "x" * 40, accounts=200)
    sent = []

    def requests() -> Iterator[pb.CheckPromptsRequest]:
        for start in range(0, len(records), per_batch):
            sent.append(start)
            # 100 examples a verdict: each answer is ~2 MB, far more than the transport buffers
            yield pb.CheckPromptsRequest(prompts=[record_to_proto(r) for r in records[start : start + per_batch]], record=True, example_count=100)

    try:
        with running.client() as client:
            call = client._stub.CheckPrompts(requests(), timeout=600)  # noqa: SLF001 - a raw stream read late
            counts: list[int] = []
            while len(counts) < 6 or len(set(counts[-4:])) > 1:  # until the server stops taking prompts
                time.sleep(0.5)
                counts.append(client.stats().prompt_count)
            stalled = counts[-1]
            assert stalled < len(records) // 2, counts
            responses = list(call)
            assert [len(r.results) for r in responses] == [per_batch] * batches
            assert [r.results[0].verdict.prompt_id for r in responses] == [records[s].prompt_id for s in sent]
            assert client.stats().prompt_count == len(records)
    finally:
        running.stop()


def test_replay_goes_through_the_stream(tmp_path: Path, server: ServerThread) -> None:
    """`promptprint replay` over CheckPrompts: one verdict line per input line in
    created_at order, the unreadable and refused lines as errors, each prompt seeing
    the ones before it across message boundaries."""
    records = _templated(20)
    source = tmp_path / "traffic.jsonl"
    rows = [
        {"prompt_id": r.prompt_id, "account_id": r.account_id, "org_id": r.org_id, "created_at": format_timestamp(r.created_at_ms), "text": r.text}
        for r in reversed(records)  # out of order: replay sorts by created_at
    ]
    rows.append({"prompt_id": "no-account", "account_id": "", "created_at": format_timestamp(BASE_MS + 10**7), "text": "hello there"})
    source.write_text("\n".join(json.dumps(row) for row in rows) + "\n{broken\n")
    out = tmp_path / "verdicts.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "promptprint.cli", "replay", str(source), "--out", str(out), "--target", server.target,
         "--batch-size", "7", "--no-progress"],
        capture_output=True, text=True, timeout=300, env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(verdicts) == 22
    assert verdicts[0]["error"]["reason"] == "MALFORMED_JSON"  # unreadable lines sort first
    assert [v["prompt_id"] for v in verdicts[1:21]] == [r.prompt_id for r in records]
    assert [int(v["campaign"].get("activity", {}).get("volume", 0)) for v in verdicts[1:21]] == list(range(20))
    assert all(v["record_outcome"] == "RECORD_OUTCOME_RECORDED" for v in verdicts[1:21])
    assert verdicts[21]["prompt_id"] == "no-account" and verdicts[21]["error"]["code"] == "INVALID_ARGUMENT"
    assert "2 with errors" in done.stdout


def test_lookups_and_the_semantic_tier_answer_as_check_prompt_does(client: PromptprintClient) -> None:
    """record=false changes nothing, so each prompt gets CheckPrompt's lookup answer; the
    semantic tier (a forward pass per prompt) is checked one by one, in order."""
    recorded = _templated(6)
    list(client.check_prompts(recorded))
    probes = [dataclasses.replace(r, prompt_id=f"probe-{i}", created_at_ms=r.created_at_ms + 3_600_000) for i, r in enumerate(recorded[:3])]
    looked = list(client.check_prompts(probes, record=False, example_count=3))
    assert [r.verdict for r in looked] == [client.check_record(p, store=False, example_count=3) for p in probes]
    assert all(r.verdict.record_outcome == pb.RECORD_OUTCOME_UNSPECIFIED for r in looked)
    assert client.stats().prompt_count == 6
    client.wait_indexed(600)  # the fingerprint tier embedded the first six behind its answers
    semantic = _templated(4, prefix="sem")  # the texts and times of the first four
    streamed = list(client.check_prompts(semantic, tier="semantic", example_count=3))
    again = [client.check_record(r, store=True, tier="semantic", example_count=3) for r in semantic]  # replays now
    assert [r.verdict.record_outcome for r in streamed] == [pb.RECORD_OUTCOME_RECORDED] * 4
    assert [r.verdict.tier for r in streamed] == [pb.TIER_SEMANTIC] * 4
    # sem-i's window ends at its time: t-0..t-i, and sem-0..sem-(i-1) sent before it on the stream
    assert [r.verdict.fanout.matching_prompts for r in streamed] == [1, 3, 5, 7]
    assert [v.record_outcome for v in again] == [pb.RECORD_OUTCOME_DUPLICATE] * 4


def test_a_caller_that_stops_iterating_ends_the_stream(server: ServerThread, client: PromptprintClient) -> None:
    results = client.check_prompts(_templated(64), batch_size=8)
    assert next(results).verdict.prompt_id == "t-0000"
    results.close()  # cancels the call
    assert [r.verdict.record_outcome for r in client.check_prompts(_templated(2, prefix="after"))] == [pb.RECORD_OUTCOME_RECORDED] * 2
