"""Sustained ingest at a live traffic rate through the real CLI: issue 16's figures.

Three steps, only the second timed:

1. the prompt file, ``rate x seconds`` prompts stamped as live traffic
   (:mod:`evaluation.sustained_prompts`);
2. a fresh ``promptprint serve`` (:class:`~promptprint.local_server.LocalServer`, extra
   flags passed through) takes ``promptprint ingest FILE --no-wait --rate RATE`` run as a
   subprocess. Every ``sample_every_s`` the bench reads what the server acknowledged
   (GetIndexStats ``prompt_count``) and every other stats field, the server's resident
   set (and that of the processes under it), the data dir's disk bytes, the
   RESOURCE_EXHAUSTED answers counted by the server's metrics endpoint (the CLI retries
   them silently) and every gauge the endpoint reports;
3. FindNearDuplicates(text, k) right away for the prompts the side file kept: how many
   come back with their own prompt_id among the hits. The figures and the verdict are
   :mod:`evaluation.sustained_report`'s.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import grpc
from google.protobuf.json_format import MessageToDict
from prometheus_client.parser import text_string_to_metric_families

from evaluation.harness.machine import git_revision, machine_info, package_versions, process_cpu_seconds, process_memory
from evaluation.harness.report import mib
from evaluation.sustained_prompts import generate_prompts
from evaluation.sustained_report import TARGET_RATE, TARGET_SECONDS, evaluate_targets, refusals, summarize
from promptprint.client import PromptprintClient
from promptprint.local_server import LocalServer

__all__ = ["Sample", "SustainedConfig", "default_work_dir", "refusals_and_gauges", "run_sustained", "write_series"]

log = logging.getLogger(__name__)

_NEAR_DUPLICATE_FIELDS = frozenset({"prompt_id", "account_id", "org_id", "created_at", "similarity", "text"})


@dataclasses.dataclass(frozen=True)
class SustainedConfig:
    """What one run offers the server, and what it checks afterwards."""

    rate: float = TARGET_RATE
    seconds: float = TARGET_SECONDS
    seed: int = 7
    sample_every_s: float = 10.0
    spread_lookups: int = 1000  # prompts drawn uniformly from the whole run
    recent_lookups: int = 1000  # the last prompts of the run
    lookup_callers: int = 16  # lookups coalesce into shared forward passes: more in flight, fewer passes
    k: int = 10
    batch_size: int = 256
    server_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.rate > 0 or not self.seconds > 0:
            raise ValueError("rate and seconds must be positive")
        if self.prompts < 1:
            raise ValueError("rate x seconds must be at least one prompt")
        if self.sample_every_s <= 0 or self.lookup_callers < 1 or self.k < 1:
            raise ValueError("sample_every_s, lookup_callers and k must be positive")
        if self.spread_lookups < 0 or self.recent_lookups < 0:
            raise ValueError("lookup counts must be >= 0")

    @property
    def prompts(self) -> int:
        return int(self.rate * self.seconds)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"prompts": self.prompts}


@dataclasses.dataclass
class Sample:
    """One reading of the server during the run."""

    t_s: float
    acknowledged: int | None
    pending_vectors: int | None
    rss_bytes: int
    tree_rss_bytes: int  # the server and every process under it (embedding workers)
    processes: int
    disk_bytes: int
    resource_exhausted: dict[str, int]  # by method, since the server started
    server_cpu_s: float
    stats: dict[str, Any]
    gauges: dict[str, float]
    error: str = ""


def refusals_and_gauges(metrics_text: str) -> tuple[dict[str, int], dict[str, float]]:
    """From a Prometheus scrape: RESOURCE_EXHAUSTED answers by method (the request
    counter's ``code`` label) and every gauge's value (unlabelled ones by name, labelled
    ones as ``name{label=value,...}``), so gauges added later show up unasked."""
    refused: dict[str, int] = {}
    gauges: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "promptprint_requests_total" and sample.labels.get("code") == "RESOURCE_EXHAUSTED":
                method = sample.labels.get("method", "")
                refused[method] = refused.get(method, 0) + int(sample.value)
            elif family.type == "gauge" and not sample.name.endswith("_created"):  # a counter's start time, not a reading
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                gauges[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return refused, gauges


def _descendants(pid: int) -> list[int]:
    """``pid`` and every live process under it (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, ()))
    return out


def _tree_rss(pid: int) -> tuple[int, int]:
    """(summed RSS, process count) of ``pid`` and its descendants; shared pages count twice."""
    total, count = 0, 0
    for process in _descendants(pid):
        try:
            total += process_memory(process)["rss_bytes"]
            count += 1
        except OSError:
            pass
    return total, count


def _disk_bytes(root: Path) -> int:
    """Bytes allocated under ``root`` (st_blocks: what fills the disk, sparse files as they are)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


class _Sampler:
    """Reads the server every ``every_s`` on a thread until stopped."""

    def __init__(self, server: LocalServer, client: PromptprintClient, metrics_url: str, every_s: float) -> None:
        self.server, self.client, self.metrics_url, self.every_s = server, client, metrics_url, every_s
        self.samples: list[Sample] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sustained-sampler", daemon=True)

    def read(self) -> Sample:
        errors = []
        stats: dict[str, Any] = {}
        acknowledged = pending = None
        try:
            answer = self.client.stats()
            acknowledged, pending = answer.prompt_count, answer.pending_vectors
            stats = MessageToDict(answer, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        except grpc.RpcError as error:
            errors.append(f"GetIndexStats {error.code().name}: {error.details()}")
        refused: dict[str, int] = {}
        gauges: dict[str, float] = {}
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=10) as answer:
                refused, gauges = refusals_and_gauges(answer.read().decode("utf-8"))
        except OSError as error:
            errors.append(f"metrics: {error}")
        rss, cpu = 0, 0.0
        try:
            rss, cpu = process_memory(self.server.pid)["rss_bytes"], process_cpu_seconds(self.server.pid)
        except OSError:
            errors.append(f"server exited ({self.server.returncode})")
        tree, processes = _tree_rss(self.server.pid)
        return Sample(
            t_s=round(time.monotonic() - self.t0, 2), acknowledged=acknowledged, pending_vectors=pending,
            rss_bytes=rss, tree_rss_bytes=tree, processes=processes, disk_bytes=_disk_bytes(self.server.data_dir),
            resource_exhausted=refused, server_cpu_s=round(cpu, 2), stats=stats, gauges=gauges, error="; ".join(errors),
        )

    def take(self) -> Sample:
        sample = self.read()
        self.samples.append(sample)
        log.info("t=%5.0fs acknowledged %s, pending vectors %s, RSS %s MiB (tree %s MiB), disk %s MiB, refused %d%s",
                 sample.t_s, f"{sample.acknowledged:,}" if sample.acknowledged is not None else "?",
                 f"{sample.pending_vectors:,}" if sample.pending_vectors is not None else "?",
                 mib(sample.rss_bytes), mib(sample.tree_rss_bytes), mib(sample.disk_bytes), sum(sample.resource_exhausted.values()),
                 f" [{sample.error}]" if sample.error else "")
        return sample

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.take()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.take()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.take()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _metrics_flag(server_args: Sequence[str]) -> tuple[list[str], str]:
    """The server flags with a metrics endpoint (the caller's ``--metrics-listen`` if given,
    else a free loopback port) and that endpoint's URL."""
    args = list(server_args)
    for i, arg in enumerate(args):
        if arg.startswith("--metrics-listen="):
            listen = arg.split("=", 1)[1]
            break
        if arg == "--metrics-listen" and i + 1 < len(args):
            listen = args[i + 1]
            break
    else:
        listen = f"127.0.0.1:{_free_port()}"
        args += ["--metrics-listen", listen]
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    return args, f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}/metrics"


def _run_cli(command: list[str], log_path: Path, deadline_s: float) -> tuple[int, float, str]:
    """Run the ingest CLI to its end (killed past ``deadline_s``): (exit code, wall s, output tail)."""
    started = time.monotonic()
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                env=os.environ | {"HF_HUB_OFFLINE": "1"})
        try:
            rc = proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            log.error("promptprint ingest ran past %.0f s and was killed", deadline_s)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    wall = time.monotonic() - started
    tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:])
    return rc, wall, tail


def _lookup_check(client: PromptprintClient, lookups: Sequence[dict[str, Any]], k: int, callers: int) -> dict[str, Any]:
    """FindNearDuplicates(text, k) for each sampled prompt: found when its own prompt_id is
    among the hits. Fields of the hit that this bench does not know (e.g. which view found
    it) are tallied as ``name=value``."""

    def one(item: dict[str, Any]) -> tuple[str, bool, float, dict[str, str], str]:
        started = time.perf_counter()
        try:
            hits = client.find_near_duplicates(text=item["text"], k=k)
        except grpc.RpcError as error:
            return item["group"], False, time.perf_counter() - started, {}, error.code().name
        elapsed = time.perf_counter() - started
        own = next((hit for hit in hits if hit.prompt_id == item["prompt_id"]), None)
        extra = {}
        if own is not None:
            fields = MessageToDict(own, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
            extra = {name: str(value) for name, value in fields.items() if name not in _NEAR_DUPLICATE_FIELDS}
        return item["group"], own is not None, elapsed, extra, ""

    started = time.perf_counter()
    results = []
    with ThreadPoolExecutor(callers, thread_name_prefix="sustained-lookup") as pool:
        for result in pool.map(one, lookups):
            results.append(result)
            if len(results) % max(1, len(lookups) // 10) == 0:
                log.info("lookups: %d/%d done, %d found, %.0f s", len(results), len(lookups),
                         sum(r[1] for r in results), time.perf_counter() - started)
    groups: dict[str, dict[str, Any]] = {}
    for group, found, elapsed, extra, error in results:
        g = groups.setdefault(group, {"asked": 0, "found": 0, "errors": {}, "latencies_ms": [], "own_hit_fields": {}})
        g["asked"] += 1
        g["found"] += found
        if error:
            g["errors"][error] = g["errors"].get(error, 0) + 1
        else:
            g["latencies_ms"].append(elapsed * 1000)
        for name, value in extra.items():
            key = f"{name}={value}"
            g["own_hit_fields"][key] = g["own_hit_fields"].get(key, 0) + 1
    for g in groups.values():
        latencies = sorted(g.pop("latencies_ms"))
        g["p50_ms"] = latencies[len(latencies) // 2] if latencies else None
        g["max_ms"] = latencies[-1] if latencies else None
    return {"k": k, "callers": callers, "seconds": round(time.perf_counter() - started, 1), "groups": groups}


def write_series(samples: Sequence[dict[str, Any]], path: Path) -> None:
    """The samples as CSV: fixed columns (``resource_exhausted`` summed over methods), then
    every stats field and gauge any sample had (``stats.*``, ``gauge.*``)."""
    fixed = ["t_s", "acknowledged", "pending_vectors", "rss_bytes", "tree_rss_bytes", "processes", "disk_bytes",
             "resource_exhausted", "server_cpu_s", "error"]
    rows = []
    for s in samples:
        row: dict[str, Any] = {name: s[name] for name in fixed} | {"resource_exhausted": refusals(s)}
        row |= {f"stats.{k}": json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in s["stats"].items()}
        row |= {f"gauge.{k}": v for k, v in s["gauges"].items()}
        rows.append(row)
    extra = sorted({key for row in rows for key in row} - set(fixed))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fixed + extra)
        writer.writeheader()
        writer.writerows(rows)


def run_sustained(
    config: SustainedConfig, *, work_dir: Path, prompts_path: Path | None = None, data_dir: Path | None = None,
    pools_dir: Path | None = None, keep_data: bool = False,
) -> dict[str, Any]:
    """Generate (or reuse) the prompt file, run the fresh server and the paced CLI while
    sampling, check lookups; the report. ``work_dir`` receives the prompt file (unless
    ``prompts_path``), the server's and the CLI's logs, the samples as CSV and the data dir,
    removed afterwards unless ``keep_data`` (unless ``data_dir``: it must be empty or absent,
    the server being a fresh one, and is kept)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    prompts_path = prompts_path or work_dir / "prompts.jsonl"
    keep_data = keep_data or data_dir is not None
    data_dir = data_dir or work_dir / "data"
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ValueError(f"{data_dir} is not empty: the run needs a fresh server")
    report: dict[str, Any] = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.as_json(),
        "machine": machine_info(),
        "versions": package_versions(),
        "git": git_revision(),
        "load_average": {"start": os.getloadavg()},
    }
    log.info("generating %s prompts (%s/s for %s s) into %s", f"{config.prompts:,}", f"{config.rate:,.0f}",
             f"{config.seconds:,.0f}", prompts_path)
    meta = generate_prompts(prompts_path, prompts=config.prompts, rate=config.rate, seed=config.seed,
                            spread_lookups=config.spread_lookups, recent_lookups=config.recent_lookups, data_dir=pools_dir)
    report["generation"] = {k: v for k, v in meta.items() if k != "lookups"} | {"path": str(prompts_path)}
    log.info("prompt file ready (%s s%s)", meta["seconds"], ", reused" if meta["reused"] else "")

    server_args, metrics_url = _metrics_flag(config.server_args)
    server = LocalServer(data_dir, server_args, log_path=work_dir / "server.log", new_session=True, kill_with_parent=True)
    try:
        with server, PromptprintClient(server.target, timeout=60.0) as client:
            report["server_command"] = server.command
            report["load_average"]["before_ingest"] = os.getloadavg()
            command = [sys.executable, "-m", "promptprint.cli", "ingest", str(prompts_path), "--target", server.target,
                       "--no-wait", "--no-progress", "--rate", f"{config.rate:g}", "--batch-size", str(config.batch_size)]
            report["ingest_command"] = command
            sampler = _Sampler(server, client, metrics_url, config.sample_every_s)
            sampler.start()
            try:
                rc, wall, tail = _run_cli(command, work_dir / "ingest.log", deadline_s=max(3 * config.seconds, config.seconds + 900))
            finally:
                sampler.stop()
            report["ingest_exit_code"], report["ingest_output_tail"] = rc, tail
            report["load_average"]["after_ingest"] = os.getloadavg()
            acknowledged = sampler.samples[-1].acknowledged or 0
            lookups = [item for item in meta["lookups"] if item["position"] < acknowledged]
            log.info("lookup check: %d prompts, k=%d", len(lookups), config.k)
            report["lookups"] = _lookup_check(client, lookups, config.k, config.lookup_callers)
            report["lookups"]["pending_vectors_before"] = sampler.samples[-1].pending_vectors
            report["samples"] = [dataclasses.asdict(s) for s in sampler.samples]
            report["summary"] = summarize(report["samples"], cli_wall_s=wall, rate=config.rate, prompts=config.prompts)
            write_series(report["samples"], work_dir / "samples.csv")
    finally:
        report["server_stopped_by"] = server.stopped_by
        report["paths"] = {"work_dir": str(work_dir), "samples_csv": str(work_dir / "samples.csv"),
                           "server_log": str(server.log_path), "ingest_log": str(work_dir / "ingest.log"),
                           "data_dir": str(data_dir) if keep_data else None}
        if not keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    report["targets"] = evaluate_targets(report)
    return report


def default_work_dir() -> Path:
    """A fresh folder for a run's files."""
    return Path(tempfile.mkdtemp(prefix="promptprint-sustained-"))
