"""Several serving processes, one template view (promptprint/cluster, promptprint/server/forwarding.py).

Placement and membership are checked as plain functions; the rest with real `promptprint
serve` processes on loopback ports that name each other with --peers: the same simulated
traffic through one process and through two flags the same accounts, and a member
SIGKILLed fails its own keys with SHARD_UNAVAILABLE while the other's are served, and
comes back from its own store with every acknowledged prompt; stats, lookups and account
deletion reach every member, and an owner's rejections come back at the caller's positions.

Servers are forked by tests/preloaded_server.py (torch imported once), each with its own
data directory; no embedding (--embedding-policy none): the template view is what is tested.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import grpc
import pytest

from evaluation.shard_replay import explain, flagged_accounts, read_traffic, replay
from evaluation.simulate import run_simulation
from evaluation.simulate.config import SimulationConfig
from promptprint.cli import main
from promptprint.client import PromptprintClient, error_info
from promptprint.cluster.membership import DnsMembership, resolve_ipv4, static_placement
from promptprint.cluster.placement import Member, Placement
from promptprint.cluster.routing import routing_key
from promptprint.records import PromptRecord
from promptprint.v1 import fingerprint_pb2 as pb

_T = TypeVar("_T")
SERVE_ARGS = ["--embedding-policy", "none", "--embed-workers", "0", "--threads", "1", "--log-level", "WARNING",
              "--snapshot-every", "0", "--reload-poll-seconds", "0", "--no-semantic-links"]


# -- placement and membership ------------------------------------------------------------------

def _placement(n: int) -> Placement:
    return Placement(tuple(Member(f"m{i}:1", f"m{i}:1") for i in range(n)), "m0:1")


def test_rendezvous_spreads_keys_and_moves_only_the_leavers() -> None:
    keys = range(1, 20_001)
    four, three = _placement(4), Placement(tuple(m for m in _placement(4).members if m.name != "m3:1"), "m0:1")
    before = [four.owner(k * 0x9E3779B97F4A7C15).name for k in keys]
    after = [three.owner(k * 0x9E3779B97F4A7C15).name for k in keys]
    shares = {m: before.count(m) / len(before) for m in set(before)}
    assert all(0.22 < s < 0.28 for s in shares.values()) and len(shares) == 4
    moved = [(b, a) for b, a in zip(before, after) if b != a]
    assert moved and all(b == "m3:1" for b, _ in moved)  # only the leaver's keys move
    # every process computes the same owner whatever order it lists the members in
    reordered = Placement(tuple(reversed(four.members)), "m2:1")
    assert [reordered.owner(k).name for k in range(500)] == [four.owner(k).name for k in range(500)]


def test_routing_key_is_the_opening_after_a_request_id() -> None:
    template = "You are a senior engineer. Write production quality Python for this task: {}"
    plain = routing_key(template.format("parse a CSV file"))
    assert routing_key(template.format("merge two sorted lists")) == plain  # another payload
    assert routing_key("request_id=9f2c4e11aa03b7d2\n" + template.format("sort a dict")) == plain
    assert routing_key("Write production quality Python for this task: x") != plain
    assert routing_key("hi there") == routing_key("Hi   there")  # short prompts: copies meet


def test_membership_from_configuration_and_dns() -> None:
    placement = static_placement(["127.0.0.1:7001", "127.0.0.1:7002"], "127.0.0.1:7002")
    assert [m.name for m in placement.others()] == ["127.0.0.1:7001"]
    with pytest.raises(ValueError, match="not among the members"):
        static_placement(["127.0.0.1:7001"], "127.0.0.1:7003")
    with pytest.raises(ValueError, match="HOST:PORT"):
        static_placement(["127.0.0.1"], "127.0.0.1")
    assert resolve_ipv4("localhost") == ["127.0.0.1"]
    real = DnsMembership("localhost:7001", "127.0.0.1:7001").placement()  # the system resolver
    assert [m.address for m in real.members] == ["127.0.0.1:7001"] and real.single
    # a StatefulSet: records are pod IPs; members are named by their reverse names, so a
    # pod rescheduled with a new IP keeps its keys
    names = {"10.0.0.5": "pp-0.pp.ns.svc.cluster.local", "10.0.0.9": "pp-1.pp.ns.svc.cluster.local",
             "10.0.0.7": "pp-1.pp.ns.svc.cluster.local"}
    first = DnsMembership("pp:50051", "10.0.0.5:50051", lambda _: ["10.0.0.5", "10.0.0.9"], names.get).placement()
    moved = DnsMembership("pp:50051", "10.0.0.5:50051", lambda _: ["10.0.0.5", "10.0.0.7"], names.get).placement()
    assert [m.name for m in first.members] == [m.name for m in moved.members]
    assert all(first.owner(k).name == moved.owner(k).name for k in range(1000))
    assert moved.owner(next(k for k in range(1000) if moved.owner(k).name.startswith("pp-1"))).address == "10.0.0.7:50051"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--peers", "127.0.0.1:7001,127.0.0.1:7002"], "need --self"),
        (["--self", "127.0.0.1:7001"], "--self needs --peers"),
        (["--peers", "127.0.0.1:7001", "--peers-dns", "pp:7001", "--self", "127.0.0.1:7001"], "give one"),
        (["--peers", "127.0.0.1:7001,127.0.0.1:7002", "--self", "127.0.0.1:7003"], "not among the members"),
    ],
)
def test_serve_refuses_inconsistent_member_flags(flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err


# -- real processes ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Forker:
    """tests/preloaded_server.py: one `promptprint serve` child per start, forked."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._helper = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("preloaded_server.py"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(Path(__file__).parents[1])},
        )
        self._pids: list[int] = []

    def serve(self, name: str, data_dir: Path, listen: str, extra: list[str]) -> int:
        assert self._helper.stdin is not None and self._helper.stdout is not None
        args = ["--data-dir", str(data_dir), "--listen", listen, *SERVE_ARGS, *extra]
        self._helper.stdin.write(" ".join(["SERVE", str(self.logs / f"{name}.log"), *args]) + "\n")
        self._helper.stdin.flush()
        pid = int(self._helper.stdout.readline())
        self._pids.append(pid)
        with PromptprintClient(listen) as client:
            client.wait_until_serving(timeout=300)
        return pid

    def close(self) -> None:
        for pid in self._pids:
            _kill(pid, signal.SIGTERM)
        assert self._helper.stdin is not None
        self._helper.stdin.close()
        self._helper.wait(60)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


@pytest.fixture(scope="module")
def forker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forker]:
    running = Forker(tmp_path_factory.mktemp("logs"))
    yield running
    running.close()


def _cluster(forker: Forker, root: Path, n: int, extra: tuple[str, ...] = ()) -> tuple[list[str], list[int]]:
    addresses = [f"127.0.0.1:{_free_port()}" for _ in range(n)]
    root.mkdir(exist_ok=True)
    pids = [
        forker.serve(f"{root.name}-{i}", root / f"data-{i}", a, ["--peers", ",".join(addresses), "--self", a, *extra])
        for i, a in enumerate(addresses)
    ]
    return addresses, pids


@pytest.mark.slow
def test_one_two_and_four_processes_flag_the_same_accounts(forker: Forker, tmp_path: Path) -> None:
    run_simulation(SimulationConfig(prompts=1500, seed=5, days=1.0), tmp_path / "sim")
    records = read_traffic(tmp_path / "sim")
    alone = f"127.0.0.1:{_free_port()}"
    forker.serve("alone", tmp_path / "alone", alone, [])
    one = flagged_accounts(records, replay([alone], records))
    assert len(one) >= 5  # the traffic has campaigns worth flagging
    for n in (2, 4):
        members, _ = _cluster(forker, tmp_path / f"x{n}", n)
        many = flagged_accounts(records, replay(members, records))
        differences = explain(records, one, many, members)
        print(f"\nflagged: 1 process {len(one)} accounts, {n} processes {len(many)}; differences: {differences}")
        # every difference comes from evidence the partitioning split between the members (a
        # template, a group of them as one process links it, or the account's own traffic)
        assert all(d.explained for d in differences), differences
        # and partitioning invents next to no flags. How many accounts only one process
        # flags varies by run (placement hashes the members' addresses, random ports here):
        # a group whose templates route to several members is seen in parts (at f26ee72,
        # 3-8 of one process's 7 accounts; with rotation links, 4-8 of 13)
        assert len(many - one) <= 2, differences


def _until_served(call: Callable[[], _T]) -> _T:
    """``call()`` once the front's channel to a restarted member has reconnected (its
    backoff is at most 1 s); the last failure after 50 tries."""
    for _ in range(49):
        try:
            return call()
        except grpc.RpcError:
            time.sleep(0.2)
    return call()


def _stored(data_dir: Path) -> set[str]:
    with sqlite3.connect(data_dir / "records.sqlite") as db:
        return {row[0] for row in db.execute("SELECT prompt_id FROM prompts")}


@pytest.mark.slow
def test_a_killed_member_fails_its_keys_and_returns_with_nothing_lost(forker: Forker, tmp_path: Path, corpus: list[PromptRecord]) -> None:
    # a forward timeout far beyond the client's deadline: a SHARD_UNAVAILABLE answer (and not
    # DEADLINE_EXCEEDED) shows the dead member's keys fail without waiting on it
    members, pids = _cluster(forker, tmp_path, 2, ("--forward-timeout", "600"))
    placement = static_placement(members, members[0])
    # a templated campaign whose key the member to be killed owns, among ordinary prompts
    template = next(
        t for t in (f"As analyst {name}, read the request below and write a complete, careful answer. Request: {{}}"
                    for name in ("ada", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo"))
        if placement.owner(routing_key(t.format("x y z"))).address == members[1]
    )
    campaign = [dataclasses.replace(r, prompt_id=f"t-{i}", text=template.format(r.text)) for i, r in enumerate(corpus[:60])]
    owner = {r.prompt_id: placement.owner(routing_key(r.text)).address for r in [*corpus, *campaign]}
    # in time order, as live traffic arrives: the start-up replay reads the store in time
    # order, and how the tracker judged an account depends on what it had seen by then
    first, later = sorted([*corpus[:150], *campaign], key=lambda r: r.created_at_ms), corpus[155:]
    with PromptprintClient(members[0], timeout=30) as front:
        acked = {r.prompt_id for r in first} if front.ingest(first).accepted == len(first) else set()
        for r in later[:20]:
            assert front.check_record(r, store=True).record_outcome == pb.RECORD_OUTCOME_RECORDED
            acked.add(r.prompt_id)
        # an owner's own rejection comes back at the caller's position
        bad = dataclasses.replace(campaign[0], prompt_id="t-bad", account_id="")
        mixed = front.ingest([*corpus[150:153], bad, *corpus[153:155]])
        assert [(j.position, j.reason) for j in mixed.rejections] == [(3, "ACCOUNT_ID_MISSING")] and mixed.accepted == 5
        acked |= {r.prompt_id for r in corpus[150:155]}
        probes = [*campaign[-3:], *[r for r in corpus[:150] if owner[r.prompt_id] == members[1]][:3]]
        before = [front.check_record(r, store=False).campaign for r in probes]

        _kill(pids[1], signal.SIGKILL)
        refused: list[str] = []
        served = 0
        for r in later[20:60]:
            try:
                front.check_record(r, store=True)
            except grpc.RpcError as error:
                info = error_info(error)
                assert error.code() == grpc.StatusCode.UNAVAILABLE and info is not None
                assert (info.reason, info.metadata["shard"]) == ("SHARD_UNAVAILABLE", members[1])
                refused.append(r.prompt_id)
            else:
                served += 1
                acked.add(r.prompt_id)
        assert refused == [r.prompt_id for r in later[20:60] if owner[r.prompt_id] == members[1]]
        assert served == 40 - len(refused) > 0
        summary = front.ingest(later[60:100], retries=0)
        rejected = {later[60 + j.position].prompt_id for j in summary.rejections}
        assert {j.reason for j in summary.rejections} == {"SHARD_UNAVAILABLE"}
        assert rejected == {r.prompt_id for r in later[60:100] if owner[r.prompt_id] == members[1]}
        assert summary.accepted == 40 - len(rejected)
        acked |= {r.prompt_id for r in later[60:100]} - rejected

        forker.serve("restarted", tmp_path / "data-1", members[1], ["--peers", ",".join(members), "--self", members[1]])
        after = _until_served(lambda: [front.check_record(r, store=False).campaign for r in probes])
        for c in (*before, *after):  # ids number templates in the order the start-up replay founds them
            c.ClearField("template_id")
        assert after == before and before[0].activity.volume > 1  # the template view is back whole
        assert front.stats().prompt_count == len(acked)  # summed over the members
        # lookups and deletions reach every member
        hits = front.find_near_duplicates(text=probes[0].text, k=3)
        assert hits[0].prompt_id == probes[0].prompt_id
        sent = {r.prompt_id: r.account_id for r in [*corpus, *campaign]}
        account = probes[0].account_id
        theirs = {p for p in acked if sent[p] == account}
        assert {owner[p] for p in theirs} == set(members)  # the account's prompts are on both
        assert front.delete_account_prompts(account) == len(theirs)
        assert front.stats().prompt_count == len(acked) - len(theirs)
        acked -= theirs
    for i, member in enumerate(members):
        mine = {p for p in acked if owner[p] == member}
        assert mine <= _stored(tmp_path / f"data-{i}")  # every acknowledged prompt, on its owner


@pytest.mark.slow
def test_the_check_stream_routes_each_prompt_to_its_owner(forker: Forker, tmp_path: Path) -> None:
    """CheckPrompts entering one member: every prompt is recorded by its owner and judged
    there, so probes checked over the stream get exactly CheckPrompt's verdicts; with the
    other member killed, its prompts alone are refused (SHARD_UNAVAILABLE) in the stream."""
    run_simulation(SimulationConfig(prompts=1500, seed=5, days=1.0), tmp_path / "sim")
    records = read_traffic(tmp_path / "sim")
    members, pids = _cluster(forker, tmp_path, 2)
    placement = static_placement(members, members[0])
    owner = {r.prompt_id: placement.owner(routing_key(r.text)).address for r in records}
    first, probes = records[:1300], records[1300:1400]
    with PromptprintClient(members[0], timeout=120) as front:
        results = list(front.check_prompts(first, record=True, batch_size=128))
        assert all(r.HasField("verdict") and r.verdict.record_outcome == pb.RECORD_OUTCOME_RECORDED for r in results)
        for i, member in enumerate(members):  # each member stored its own prompts, and only those
            assert _stored(tmp_path / f"data-{i}") == {r.prompt_id for r in first if owner[r.prompt_id] == member}
        streamed = [r.verdict.campaign for r in front.check_prompts(probes, record=False, batch_size=32)]
        unary = [front.check_record(r, store=False).campaign for r in probes]
        assert streamed == unary
        assert sum(1 for c in unary if c.template_id) >= 20  # the probes are judged by their templates

        _kill(pids[1], signal.SIGKILL)
        later = records[1400:1500]
        answered = list(front.check_prompts(later, record=True, batch_size=25))
        for position, (r, result) in enumerate(zip(later, answered)):
            if owner[r.prompt_id] == members[1]:
                assert result.rejection.reason == "SHARD_UNAVAILABLE" and result.rejection.position == position
                assert result.rejection.prompt_id == r.prompt_id
            else:
                assert result.verdict.record_outcome == pb.RECORD_OUTCOME_RECORDED
