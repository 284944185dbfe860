"""Timing calls: percentiles, latency summaries, concurrent timed calls, interruptible waits.

Latency is client-side wall time per call, the way a caller of the service sees it.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, Callable, Sequence, TypeVar

__all__ = ["interruptible", "latency_summary", "percentile", "timed_calls"]


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


_T = TypeVar("_T")


def interruptible(fn: Callable[..., _T], *args: Any) -> _T:
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

