"""The benchmark's pure parts: percentiles, latency summaries, target verdicts, the
markdown report, the config checks, the reservoir and the edits. No model, no server."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from evaluation.benchmark import BenchConfig
from evaluation.benchmark_report import (
    TARGET_BYTES_PER_PROMPT,
    TARGET_CHECK_P99_MS,
    TARGET_CHECK_SIZE,
    evaluate_targets,
    render_markdown,
)
from evaluation.harness.calls import latency_summary, percentile
from evaluation.harness.lookups import Reservoir, edit_text


def test_percentile_matches_numpy_linear() -> None:
    values = sorted(random.Random(3).uniform(0, 100) for _ in range(257))
    for q in (0, 1, 50, 90, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([4.0], 99) == 4.0
    assert math.isnan(percentile([], 50))


def test_latency_summary_in_milliseconds() -> None:
    summary = latency_summary([0.004, 0.001, 0.002, 0.003], wall_s=0.5, errors=1)
    assert summary["calls"] == 4 and summary["errors"] == 1
    assert summary["p50_ms"] == pytest.approx(2.5)
    assert summary["mean_ms"] == pytest.approx(2.5)
    assert summary["max_ms"] == pytest.approx(4.0)
    assert summary["calls_per_second"] == pytest.approx(8.0)


def test_latency_summary_empty_is_nan_not_an_error() -> None:
    summary = latency_summary([], wall_s=0.0, errors=3)
    assert summary["calls"] == 0 and summary["errors"] == 3
    assert all(math.isnan(summary[k]) for k in ("p50_ms", "p99_ms", "mean_ms", "max_ms", "calls_per_second"))


def _lat(p50: float, p99: float) -> dict[str, Any]:
    return {"p50_ms": p50, "p90_ms": p99, "p99_ms": p99, "mean_ms": p50, "max_ms": p99, "calls": 10, "errors": 0,
            "wall_seconds": 1.0, "calls_per_second": 10.0}


def _size(size: int, p99: float, per_prompt: float, marginal: float | None, fast_p99: float = 3.0) -> dict[str, Any]:
    return {
        "size": size, "rss_bytes": 600 << 20, "rss_per_prompt_bytes": per_prompt,
        "marginal_rss_per_prompt_bytes": marginal,
        "stats": {"index_type": "hnsw", "index_memory_bytes": 3 << 20, "pending_vectors": 0},
        "check_1": _lat(0.5, p99), "check_n": _lat(0.9, fast_p99),
        "semantic_1": _lat(30.0, 90.0), "semantic_n": _lat(300.0, 600.0), "near_1": _lat(6.0, 20.0),
        "fill": {"prompts_per_second": 2000.0},
    }


def _report(sizes: list[dict[str, Any]], ratio: float = 0.95) -> dict[str, Any]:
    return {
        "command": "python scripts/bench.py --sizes 1000",
        "started_at": "2026-02-01T00:00:00+00:00",
        "machine": {"nproc": 2, "cpu_model": "Test CPU", "memory_bytes": 8 << 30},
        "versions": {"torch": "2.13.0", "sentence-transformers": "5.0", "faiss-cpu": "1.9"},
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "config": {"concurrency": 8, "fast_concurrency": 16},
        "load_average": {"start": (0.2, 0.1, 0.1)},
        "stock_baseline": {"prompts": 200, "mean_chars": 500.0, "mean_tokens": 120.0, "mean_tokens_read": 110.0,
                           "truncated_share": 0.1, "max_seq_length": 256, "batch_size": 32,
                           "prompts_per_second": 80.0, "prompts_per_cpu_second": 40.0},
        "ingest_baseline": {"prompts": 200, "prompts_per_second": 80.0 * ratio, "ratio_to_stock": ratio,
                            "prompts_per_server_cpu_second": 41.0, "cpu_ratio_to_stock": 1.025,
                            "rss_after_bytes": 560 << 20},
        "fast_ingest": {"prompts": 9000, "seconds": 3.0, "prompts_per_second": 3000.0},
        "rss_loaded_bytes": 500 << 20,
        "rss_empty_bytes": 520 << 20,
        "sizes": sizes,
    }


def test_targets_judged_at_the_target_size() -> None:
    report = _report([_size(10_000, 12.0, 900.0, 800.0), _size(TARGET_CHECK_SIZE, 60.0, 1500.0, 3000.0, fast_p99=8.0)], ratio=0.85)
    targets = {t["unit"] + ("/marginal" if "marginal" in t["target"] else ""): t for t in evaluate_targets(report)}
    assert targets["ratio"]["pass"] is False and targets["ratio"]["measured"] == 0.85
    assert targets["prompts/s"]["pass"] is False and targets["prompts/s"]["measured"] == 3000.0
    one, many = [t for t in evaluate_targets(report) if t["unit"] == "ms"]
    assert one["measured"] == 60.0 and one["pass"] is (60.0 <= TARGET_CHECK_P99_MS)
    assert many["measured"] == 8.0 and many["pass"] is True and "16 callers" in many["target"]
    assert targets["bytes"]["pass"] is (1500.0 <= TARGET_BYTES_PER_PROMPT)
    assert targets["bytes/marginal"]["pass"] is (3000.0 <= TARGET_BYTES_PER_PROMPT)
    assert "from 10,000 to 100,000" in targets["bytes/marginal"]["where"]


def test_latency_target_not_judged_below_the_target_size() -> None:
    targets = evaluate_targets(_report([_size(500, 3.0, 100.0, None)]))
    latency = [t for t in targets if t["unit"] == "ms"]
    assert len(latency) == 2 and all(t["pass"] is None and "not judged" in t["where"] for t in latency)
    # ingest ratio passes, fast ingest fails (3,000/s), memory passes; no marginal row without one
    assert [t["pass"] for t in targets if t["unit"] != "ms"] == [True, False, True]


def test_render_markdown_has_every_size_and_target() -> None:
    report = _report([_size(1_000, 4.0, 100.0, 90.0), _size(2_000, 5.0, 110.0, None)])
    report["targets"] = evaluate_targets(report)
    text = render_markdown(report)
    assert text.startswith("# promptprint v1 benchmark")
    assert "| 1,000 | hnsw |" in text and "| 2,000 | hnsw |" in text
    assert "(**95%** of stock)" in text
    assert "| n/a |" in text and "| PASS |" in text
    assert "CheckPrompt semantic 8 callers" in text and "CheckPrompt fingerprint 16 callers" in text
    assert "3,000 prompts/s acknowledged" in text
    assert "Warning" not in text
    report["load_average"]["before_ingest"] = (1.9, 1.0, 1.0)
    assert "**Warning:** 1-minute load average reached 1.9 on 2 CPUs" in render_markdown(report)


def test_config_checks() -> None:
    assert BenchConfig().sizes == (10_000, 100_000)
    with pytest.raises(ValueError, match="smallest size"):
        BenchConfig(sizes=(500,), baseline_prompts=1000)
    with pytest.raises(ValueError, match="ascending"):
        BenchConfig(sizes=(2000, 1000))
    with pytest.raises(ValueError, match="calls"):
        BenchConfig(calls=0)
    assert BenchConfig(sizes=[1000], baseline_prompts=500).as_json()["sizes"] == [1000]  # type: ignore[arg-type]


def test_reservoir_is_bounded_and_seeded() -> None:
    def fill() -> list[str]:
        reservoir = Reservoir(10, random.Random(1))
        for i in range(1000):
            reservoir.add(f"t{i}")
        assert reservoir.seen == 1000 and len(reservoir.items) == 10
        return reservoir.items

    assert fill() == fill()


def test_edit_text_is_seeded_and_changes_the_text() -> None:
    text = "Write a short poem about the 3 rivers of Pittsburgh in spring"
    edits = [edit_text(text, random.Random(i)) for i in range(20)]
    assert edits == [edit_text(text, random.Random(i)) for i in range(20)]
    assert sum(e != text for e in edits) >= 18


def test_fingerprint_bench_measures_every_step_and_really_ingests() -> None:
    """A small run of scripts/bench_fingerprint.py's measurement: every step is timed, the
    tracker found templates in the bench stream, and the index acknowledged every prompt
    without a forward pass (the parked embedder would block one)."""
    from evaluation.fingerprint_bench import render_fingerprint_markdown, run_fingerprint_bench

    report = run_fingerprint_bench(400, repeats=1)
    steps = report["step_us_per_prompt"]
    assert set(steps) >= {"normalize", "mask_identifiers", "skeleton", "tokens_and_shingles_c", "signature_total", "signatures_batch_of_128", "tracker_record"}
    assert all(v > 0 for v in steps.values())
    assert 0 < report["templates"] < 400  # the stream's campaigns share templates
    assert report["ingest"]["prompts_per_second"] > 0
    for key in ("ingest", "ingest_two_in_flight"):
        assert report[key]["recorded"] == 400 and report[key]["pending_vectors"] == 400
    assert "prompts/s" in render_fingerprint_markdown(report, "bench")
