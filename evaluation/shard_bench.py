"""One serving process against several: CheckPrompt throughput, the forward hop, and the
flagged accounts of a simulator replay.

* **Throughput**: N real `promptprint serve` processes on loopback naming each other with
  --peers, the simulated traffic ingested, then CheckPrompt (record=false) from
  ``callers`` threads, each call entering the member its text hashes to (as a load
  balancer spreads callers), so with N > 1 about (N-1)/N of the calls are forwarded.
* **Forward hop**: with two members, one caller, calls entering member 0 for prompts it
  owns against prompts member 1 owns: the difference of the medians is the hop's cost.
* **Equivalence**: the first ``replay_prompts`` of the traffic through CheckPrompt
  (record=true) in time order, through 1 process and through each member count; every
  account flagged by one run and not the other is listed (evaluation.shard_replay).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import tempfile
import zlib
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from evaluation.harness.calls import timed_calls
from evaluation.shard_replay import explain, flagged_accounts, read_traffic, replay
from promptprint.client import PromptprintClient
from promptprint.cluster.membership import static_placement
from promptprint.cluster.routing import routing_key
from promptprint.local_server import LocalServer
from promptprint.records import PromptRecord

log = logging.getLogger("evaluation.shard_bench")


@dataclasses.dataclass(frozen=True)
class ShardBenchConfig:
    sim_dir: Path
    members: tuple[int, ...] = (1, 2)  # member counts for throughput
    replay_members: tuple[int, ...] = (2, 4)  # member counts compared with one process
    prompts: int = 20_000  # ingested before the throughput phase
    callers: int = 16
    calls_per_caller: int = 200
    hop_calls: int = 300
    replay_prompts: int = 3000
    server_args: tuple[str, ...] = ()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def deployment(n: int, root: Path, server_args: Sequence[str]) -> Iterator[list[str]]:
    """N members on loopback (one plain process for N = 1); their addresses."""
    addresses = [f"127.0.0.1:{_free_port()}" for _ in range(n)]
    root.mkdir(parents=True, exist_ok=True)
    servers = []
    try:
        for i, address in enumerate(addresses):
            peers = ["--peers", ",".join(addresses), "--self", address] if n > 1 else []
            server = LocalServer(root / f"data-{i}", [*server_args, *peers], listen=address, log_path=root / f"server-{i}.log",
                                 kill_with_parent=True)
            servers.append(server.start())
        yield addresses
    finally:
        for server in servers:
            server.stop()


def _throughput(config: ShardBenchConfig, n: int, records: list[PromptRecord], root: Path) -> dict[str, Any]:
    with deployment(n, root, config.server_args) as addresses:
        clients = [PromptprintClient(a, timeout=60) for a in addresses]
        try:
            clients[0].ingest(records)
            texts = [r.text for r in records]
            queries = [texts[(i * 7919) % len(texts)] for i in range(config.callers * config.calls_per_caller)]

            def check(text: str) -> object:
                return clients[zlib.crc32(text.encode()) % n].check_prompt(text=text, account_id="acct-bench-probe", record=False)

            timed_calls(check, queries[:200], 4)  # warm-up: channels, caches
            result: dict[str, Any] = {"members": n, "check_n": timed_calls(check, queries, config.callers)}
            placement = static_placement(addresses, addresses[0])
            index = {a: i for i, a in enumerate(addresses)}

            def check_at_owner(text: str) -> object:
                owner = index[placement.owner(routing_key(text)).address]
                return clients[owner].check_prompt(text=text, account_id="acct-bench-probe", record=False)

            if n > 1:  # callers that route by themselves: no call is forwarded
                result["check_n_at_owner"] = timed_calls(check_at_owner, queries, config.callers)
            if n == 2:
                mine = [t for t in texts if placement.owner(routing_key(t)).address == addresses[0]][: config.hop_calls]
                theirs = [t for t in texts if placement.owner(routing_key(t)).address == addresses[1]][: config.hop_calls]

                def entering_first(text: str) -> object:
                    return clients[0].check_prompt(text=text, account_id="acct-bench-probe", record=False)

                result["local_1"] = timed_calls(entering_first, mine, 1)
                result["forwarded_1"] = timed_calls(entering_first, theirs, 1)
                result["hop_ms_p50"] = result["forwarded_1"]["p50_ms"] - result["local_1"]["p50_ms"]
            return result
        finally:
            for client in clients:
                client.close()


def _equivalence(config: ShardBenchConfig, records: list[PromptRecord], root: Path) -> dict[str, Any]:
    replayed = records[: config.replay_prompts]
    with deployment(1, root / "one", config.server_args) as addresses:
        one = flagged_accounts(replayed, replay(addresses, replayed))
    out: dict[str, Any] = {"prompts": len(replayed), "flagged_by_one": len(one), "runs": []}
    for n in config.replay_members:
        with deployment(n, root / f"many-{n}", config.server_args) as addresses:
            many = flagged_accounts(replayed, replay(addresses, replayed))
        differences = explain(replayed, one, many, addresses)
        out["runs"].append({"members": n, "flagged": len(many), "differences": [dataclasses.asdict(d) for d in differences]})
        log.info("replay through %d: %d flagged, %d differences", n, len(many), len(differences))
    return out


def run(config: ShardBenchConfig) -> dict[str, Any]:
    records = read_traffic(config.sim_dir)
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        root = Path(tmp)
        throughput = []
        for n in config.members:
            log.info("throughput with %d member(s)", n)
            throughput.append(_throughput(config, n, records[: config.prompts], root / f"tp-{n}"))
        log.info("replay equivalence")
        equivalence = _equivalence(config, records, root / "eq")
    return {"config": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()},
            "throughput": throughput, "equivalence": equivalence}


def render(report: dict[str, Any]) -> str:
    lines = ["| members | calls enter | calls/s (16 callers) | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
    for t in report["throughput"]:
        for key, how in (("check_n", "any member"), ("check_n_at_owner", "the owner")):
            if key in t:
                c = t[key]
                lines.append(
                    f"| {t['members']} | {how} | {c['calls_per_second']:.0f} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} | {c['errors']} |"
                )
    for t in report["throughput"]:
        if "hop_ms_p50" in t:
            lines.append("")
            lines.append(
                f"Forward hop (1 caller, p50): local {t['local_1']['p50_ms']:.2f} ms, forwarded {t['forwarded_1']['p50_ms']:.2f} ms, "
                f"hop {t['hop_ms_p50']:.2f} ms"
            )
    eq = report["equivalence"]
    lines += ["", f"Replay of {eq['prompts']} prompts: 1 process flagged {eq['flagged_by_one']} accounts."]
    for r in eq["runs"]:
        lines.append(f"- {r['members']} processes: {r['flagged']} flagged, {len(r['differences'])} differences {r['differences']}")
    return "\n".join(lines)
