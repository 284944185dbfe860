"""The v1 benchmark: embedding throughput, CheckPrompt latency and server memory, in one run.

Why it looks the way it does:

* **Distinct, realistic prompts at any size** (:mod:`evaluation.harness.stream`): real
  dataset prompts and template-filled variants of them, seeded, so 100k distinct texts
  are reachable and prompt length drives cost as it does in real traffic.
* **A fair baseline** (:mod:`evaluation.harness.stock`): stock
  ``SentenceTransformer.encode`` on the same prompts in a separate process before the
  server starts; the server's ingest rate is reported as a ratio to it, in wall time and
  per CPU-second (the latter is less sensitive to other load on the machine).
* **The service as an abuse system sees it.** A real ``promptprint serve`` subprocess
  (:class:`promptprint.local_server.LocalServer`), driven only through
  :class:`promptprint.client.PromptprintClient`; latency is client-side wall time per
  call; memory is the server's resident set read from ``/proc``.
* **Safe to leave running.** Every loop is bounded, the server is stopped on every exit
  path (and dies with this process even on SIGKILL), ingest stops when the server's RSS
  passes :data:`MAX_SERVER_RSS_SHARE` of the machine's memory, and the load average is
  recorded before each phase so a report says when other work skewed it.

No detection logic lives here. Progress goes to the ``evaluation`` loggers;
:func:`run_benchmark` returns the report (a JSON-ready dict), and
:mod:`evaluation.benchmark_report` judges the targets and turns it into the table for
the README.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import random
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from evaluation.benchmark_report import evaluate_targets
from evaluation.datasets import DEFAULT_DATA_DIR
from evaluation.harness.calls import interruptible, timed_calls
from evaluation.harness.ingest import Ingester
from evaluation.harness.lookups import EXACT_QUERY_SHARE, Reservoir, make_queries
from evaluation.harness.machine import (
    PERF_ENV,
    git_revision,
    machine_info,
    package_versions,
    process_cpu_seconds,
    process_memory,
)
from evaluation.harness.report import mib
from evaluation.harness.stock import run_stock_baseline
from evaluation.harness.stream import PromptStream, load_bench_pools
from promptprint.client import PromptprintClient
from promptprint.local_server import LocalServer

__all__ = ["BenchConfig", "measure_size", "run_benchmark"]

log = logging.getLogger(__name__)

WARMUP_CALLS = 5
MAX_SERVER_RSS_SHARE = 0.8  # of the machine's memory: past it the run stops instead of swapping
QUERY_RESERVOIR = 4096  # ingested prompts kept (reservoir sample) as the source of lookups
SERVER_START_TIMEOUT_S = 420.0  # model load on a busy 2-core machine
SERVER_STOP_TIMEOUT_S = 180.0  # graceful stop writes a final snapshot


def _index_stats(client: PromptprintClient) -> dict[str, Any]:
    s = client.stats()
    return {
        "prompt_count": s.prompt_count,
        "indexed_count": s.indexed_count,
        "account_count": s.account_count,
        "index_type": s.index_type,
        "model": s.model,
        "index_memory_bytes": s.index_memory_bytes,
        "resident_memory_bytes": s.resident_memory_bytes,
        "disk_bytes": s.disk_bytes,
        "pending_vectors": s.pending_vectors,
        "template_count": s.template_count,
    }


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What one run measures. Defaults: the v1 targets (2,000-prompt baseline, 10k and 100k).

    Args:
        sizes: index sizes to measure at (ascending, distinct, positive).
        baseline_prompts: prompts for the stock-vs-server throughput comparison; they are
            the first prompts ingested, so at most the smallest size.
        calls: one-caller CheckPrompt and FindNearDuplicates calls per size.
        concurrency: concurrent semantic-tier CheckPrompt callers.
        fast_concurrency: concurrent fingerprint-tier (default) CheckPrompt callers.
        calls_per_caller: CheckPrompt calls per concurrent caller (fingerprint tier).
        semantic_calls: semantic-tier CheckPrompt calls, with one caller and again with
            ``concurrency`` callers, and FindNearDuplicates calls (each waits for a
            forward pass, and for the background embedding's running chunk while a
            backlog drains).
        wait_vectors_up_to: after filling to a size at most this, wait until every vector
            is in before measuring (larger fills are measured with the backlog draining,
            since embedding 100k prompts takes most of an hour on two cores).
        seed: seed of the prompt stream and the lookups.
        data_dir: the shared/data folder.
        keep: keep the server's data dir and log after the run.
        server_args: extra `promptprint serve` flags (A/B runs of a server setting).
    """

    sizes: tuple[int, ...] = (10_000, 100_000)
    baseline_prompts: int = 2000
    calls: int = 300
    concurrency: int = 8
    fast_concurrency: int = 16
    calls_per_caller: int = 100
    semantic_calls: int = 50
    server_args: tuple[str, ...] = ()
    wait_vectors_up_to: int = 20_000
    seed: int = 7
    data_dir: Path = DEFAULT_DATA_DIR
    keep: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(self.sizes))
        object.__setattr__(self, "server_args", tuple(self.server_args))
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.sizes or any(s < 1 for s in self.sizes) or list(self.sizes) != sorted(set(self.sizes)):
            raise ValueError(f"sizes must be distinct positive integers in ascending order, got {list(self.sizes)}")
        for name in ("baseline_prompts", "calls", "concurrency", "fast_concurrency", "calls_per_caller", "semantic_calls"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.baseline_prompts > self.sizes[0]:
            raise ValueError(
                f"baseline prompts ({self.baseline_prompts}) must not exceed the smallest size ({self.sizes[0]})"
            )

    def as_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}


def measure_size(
    config: BenchConfig, client: PromptprintClient, server_pid: int, reservoir: Reservoir, size: int, empty_rss: int,
) -> dict[str, Any]:
    """At the current index size: memory, GetIndexStats, CheckPrompt (record=False) in the
    default fingerprint tier with one and ``fast_concurrency`` callers and in the semantic
    tier with one and ``concurrency`` callers, FindNearDuplicates k=10 with one caller."""
    rng = random.Random(f"promptprint-bench-queries-{config.seed}-{size}")
    memory = process_memory(server_pid)
    result: dict[str, Any] = {
        "size": size,
        "stats": _index_stats(client),
        "rss_bytes": memory["rss_bytes"],
        "peak_rss_bytes": memory["peak_rss_bytes"],
        "rss_per_prompt_bytes": (memory["rss_bytes"] - empty_rss) / size,
    }

    def fast(text: str) -> object:
        return client.check_prompt(text=text, account_id="acct-bench-probe", record=False)

    def semantic(text: str) -> object:
        return client.check_prompt(text=text, account_id="acct-bench-probe", record=False, tier="semantic")

    def near(text: str) -> object:
        return client.find_near_duplicates(text=text, k=10)

    warm, _ = make_queries(reservoir, WARMUP_CALLS, rng)
    timed_calls(fast, warm, 1)
    timed_calls(semantic, warm, 1)
    phases: list[tuple[str, str, Callable[[str], object], int, int]] = [
        ("check_1", "CheckPrompt fingerprint", fast, 1, config.calls),
        ("check_n", "CheckPrompt fingerprint", fast, config.fast_concurrency, config.fast_concurrency * config.calls_per_caller),
        ("semantic_1", "CheckPrompt semantic", semantic, 1, config.semantic_calls),
        ("semantic_n", "CheckPrompt semantic", semantic, config.concurrency, max(config.concurrency, config.semantic_calls)),
        ("near_1", "FindNearDuplicates k=10", near, 1, config.semantic_calls),
    ]
    for key, name, call, callers, count in phases:
        queries, exact = make_queries(reservoir, count, rng)
        cpu0 = process_cpu_seconds(server_pid)
        phase = result[key] = timed_calls(call, queries, callers)
        phase["exact_queries"] = exact
        phase["server_cpu_ms_per_call"] = (process_cpu_seconds(server_pid) - cpu0) * 1000 / max(1, count)
        log.info("size %s: %s, %d caller(s): p50 %.2f ms, p99 %.2f ms, %.1f calls/s",
                 f"{size:,}", name, callers, phase["p50_ms"], phase["p99_ms"], phase["calls_per_second"])
    result["near_1"]["k"] = 10
    result["pending_vectors_after"] = client.stats().pending_vectors
    result["rss_after_lookups_bytes"] = process_memory(server_pid)["rss_bytes"]
    return result


def run_benchmark(config: BenchConfig, *, command: str) -> dict[str, Any]:
    """Run the whole benchmark (stock baseline, server ingest, each size) and return the
    report. The server is stopped and its temp dir removed (unless ``config.keep``) on
    every exit path, KeyboardInterrupt included.

    Args:
        command: the command line that started the run, recorded in the report.

    Raises:
        RuntimeError, TimeoutError, OSError, grpc.RpcError: the run could not finish
        (the server did not start or died, every lookup failed, the RSS guard tripped ...).
    """
    report: dict[str, Any] = {
        "command": command,
        "cwd": os.getcwd(),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": package_versions(),
        "git": git_revision(),
        "config": config.as_json(),
        "environment": {k: os.environ[k] for k in sorted(os.environ) if k in PERF_ENV or k.startswith("MALLOC_")},
        # Other work on the machine skews every figure; a 1-minute load average near nproc
        # before a phase means the numbers are not comparable.
        "load_average": {"start": os.getloadavg()},
    }
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    workdir = Path(tempfile.mkdtemp(prefix="promptprint-bench-"))
    report["workdir"] = str(workdir)
    server: LocalServer | None = None
    client: PromptprintClient | None = None
    try:
        log.info("loading prompts from %s", config.data_dir)
        pools = load_bench_pools(config.data_dir)
        stream = PromptStream(pools, config.seed)
        report["pool_sizes"] = pools.sizes()
        baseline = [stream.next() for _ in range(config.baseline_prompts)]

        report["load_average"]["before_stock"] = os.getloadavg()
        log.info("stock baseline: encoding %s prompts in a separate process", f"{len(baseline):,}")
        stock = report["stock_baseline"] = run_stock_baseline([t for _, t in baseline], workdir, env)
        log.info("stock baseline: %.1f prompts/s", stock["prompts_per_second"])

        server = LocalServer(
            workdir / "data", ["--snapshot-every", "0", *config.server_args], log_path=workdir / "server.log",
            start_timeout=SERVER_START_TIMEOUT_S, env={"PYTHONUNBUFFERED": "1"}, new_session=True, kill_with_parent=True,
        )
        t0 = time.perf_counter()
        server.start()
        report["server_ready_seconds"] = time.perf_counter() - t0  # launch to SERVING
        report["server_command"] = shlex.join(server.command)
        client = PromptprintClient(server.target, timeout=120.0)
        report["rss_loaded_bytes"] = process_memory(server.pid)["rss_bytes"]
        warm_rng = random.Random(f"promptprint-bench-warmup-{config.seed}")
        for _, text in warm_rng.sample(baseline, min(WARMUP_CALLS, len(baseline))):
            client.check_prompt(text=text, account_id="acct-bench-probe", record=False)
        report["rss_empty_bytes"] = process_memory(server.pid)["rss_bytes"]
        log.info("server pid %d serving on %s; RSS %s MiB", server.pid, server.target, mib(report["rss_empty_bytes"]))

        reservoir = Reservoir(QUERY_RESERVOIR, random.Random(f"promptprint-bench-reservoir-{config.seed}"))
        memory_total = report["machine"]["memory_bytes"]
        ingester = Ingester(client, server.pid, stream, config.seed, reservoir,
                            max_rss_bytes=int(memory_total * MAX_SERVER_RSS_SHARE) if memory_total else 0)
        report["load_average"]["before_ingest"] = os.getloadavg()
        log.info("ingesting the same %s prompts through the server", f"{len(baseline):,}")
        cpu0 = process_cpu_seconds(server.pid)
        t0 = time.perf_counter()
        ingester.ingest(baseline)
        ack_seconds = time.perf_counter() - t0
        # The default tier acknowledges before embedding: the comparable figure is the
        # time until every vector is in the index.
        interruptible(functools.partial(client.wait_indexed, 3600.0, poll_s=0.05))
        seconds = time.perf_counter() - t0
        server_cpu = process_cpu_seconds(server.pid) - cpu0
        rate = len(baseline) / seconds
        per_cpu = len(baseline) / server_cpu if server_cpu > 0 else None
        ingest = report["ingest_baseline"] = {
            "prompts": len(baseline),
            "accepted": ingester.accepted,
            "acknowledged_seconds": ack_seconds,
            "seconds": seconds,
            "prompts_per_second": rate,
            "ratio_to_stock": rate / stock["prompts_per_second"],
            "server_cpu_seconds": server_cpu,
            "prompts_per_server_cpu_second": per_cpu,
            # Throughput per CPU-second: less sensitive to other load on the machine than
            # the wall-clock ratio (the client's own CPU is not counted).
            "cpu_ratio_to_stock": per_cpu / stock["prompts_per_cpu_second"] if per_cpu else None,
            "rss_after_bytes": process_memory(server.pid)["rss_bytes"],
        }
        log.info("server ingest: %.1f prompts/s (%.0f%% of stock)", rate, 100 * ingest["ratio_to_stock"])

        report["sizes"] = []
        previous = (ingester.accepted, ingest["rss_after_bytes"])
        fills = []
        for size in config.sizes:
            fill = ingester.fill_to(size)
            fills.append(fill)
            log.info("fill to %s: %.0f prompts/s acknowledged", f"{size:,}", fill["prompts_per_second"] or 0)
            if size <= config.wait_vectors_up_to:
                fill["vectors"] = ingester.wait_for_vectors()
            report["load_average"][f"before_lookups_{size}"] = os.getloadavg()
            measured = measure_size(config, client, server.pid, reservoir, size, report["rss_empty_bytes"])
            measured["fill"] = fill
            # Memory added per prompt since the previous point: free of one-off costs
            # (allocator arenas and buffers of the first batched forward passes).
            measured["marginal_rss_per_prompt_bytes"] = (
                (measured["rss_bytes"] - previous[1]) / (size - previous[0]) if size > previous[0] else None
            )
            previous = (size, measured["rss_bytes"])
            report["sizes"].append(measured)
        biggest = max(fills, key=lambda f: f["prompts"])
        report["fast_ingest"] = {"prompts": biggest["prompts"], "seconds": biggest["seconds"],
                                 "prompts_per_second": biggest["prompts_per_second"] or 0.0}
        report["ingest_trace"] = ingester.trace
        report["load_average"]["end"] = os.getloadavg()
        report["prompt_kinds"] = dict(sorted(ingester.kinds.items()))
        report["stream_duplicate_texts"] = stream.duplicates
        report["refused_or_duplicate"] = ingester.rejected
        report["query_mix"] = {"exact_share": EXACT_QUERY_SHARE, "edited_share": 1 - EXACT_QUERY_SHARE,
                               "record": False, "source": "uniform sample of the ingested prompts"}
        report["targets"] = evaluate_targets(report)
    finally:
        if client is not None:
            client.close()
        if server is not None:
            log.info("stopping the server (final snapshot)")
            t0 = time.perf_counter()
            code = server.stop(timeout=SERVER_STOP_TIMEOUT_S)
            shutdown: dict[str, Any] = {"signal": server.stopped_by or "none", "exit_code": code}
            if server.stopped_by:
                shutdown["seconds"] = time.perf_counter() - t0
            report["server_shutdown"] = shutdown
            if code not in (0, None):
                log.warning("server exited with %s; log tail:\n%s", code, server.log_tail())
        if config.keep:
            log.info("kept %s (data dir, server.log)", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
