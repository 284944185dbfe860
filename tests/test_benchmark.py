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


# -- the sustained-ingest bench (scripts/bench_sustained.py) and `promptprint ingest --rate` ----------

class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_holds_the_rate_starting_empty() -> None:
    from promptprint.cli.pacing import MIN_SLEEP_S, TokenBucket

    clock = _FakeClock()
    bucket = TokenBucket(2000.0, clock=clock, sleep=clock.sleep)
    for _ in range(10_000):
        bucket.take()
    # 10,000 prompts at 2,000/s: 5 s less the sub-MIN_SLEEP_S debt still owed, in few sleeps
    assert 5.0 - MIN_SLEEP_S <= clock.now - 100.0 <= 5.0
    assert len(clock.slept) <= 5.0 / MIN_SLEEP_S and min(clock.slept) >= MIN_SLEEP_S


def test_token_bucket_makes_up_a_pause_up_to_its_burst_only() -> None:
    from promptprint.cli.pacing import BURST_SECONDS, TokenBucket

    clock = _FakeClock()
    bucket = TokenBucket(100.0, clock=clock, sleep=clock.sleep)
    clock.now += 1.0  # a stream being acknowledged: 100 prompts of credit
    for _ in range(100):
        bucket.take()
    assert clock.slept == []
    clock.now += 60.0  # a long stall: the credit stops at BURST_SECONDS
    for _ in range(int(100 * BURST_SECONDS)):
        bucket.take()
    assert clock.slept == []
    bucket.take(10)
    assert sum(clock.slept) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        TokenBucket(0.0)
    with pytest.raises(ValueError):
        TokenBucket(float("inf"))


def test_sustained_prompts_are_stamped_as_live_traffic_and_sampled_for_lookups() -> None:
    from evaluation.sustained_prompts import live_created_at, lookup_positions

    assert [live_created_at(1_000_000, i, 2000.0) for i in (0, 1, 2000, 1_199_999)] == [1_000_000, 1_000_000, 1_001_000, 1_599_999]
    positions = lookup_positions(10_000, 300, 100, random.Random(1))
    assert positions["recent"] == list(range(9_900, 10_000))
    spread = positions["spread"]
    assert len(set(spread)) == 300 and spread == sorted(spread) and spread[-1] < 9_900
    assert spread[0] < 1_000 and spread[-1] > 8_900  # over the whole run, not a corner of it
    assert lookup_positions(50, 300, 100, random.Random(1)) == {"spread": [], "recent": list(range(50))}


def test_sustained_counts_refusals_and_every_gauge_from_a_scrape() -> None:
    from evaluation.sustained import refusals_and_gauges

    scrape = "\n".join([
        "# HELP promptprint_requests_total Calls by method and final status.",
        "# TYPE promptprint_requests_total counter",
        'promptprint_requests_total{code="OK",method="IngestPrompts"} 40.0',
        'promptprint_requests_total{code="RESOURCE_EXHAUSTED",method="IngestPrompts"} 3.0',
        'promptprint_requests_total{code="RESOURCE_EXHAUSTED",method="CheckPrompt"} 2.0',
        "# HELP promptprint_index_prompts Prompts in the in-memory index.",
        "# TYPE promptprint_index_prompts gauge",
        "promptprint_index_prompts 1234.0",
        'promptprint_requests_created{code="OK",method="IngestPrompts"} 1.7e+09',
        "# HELP promptprint_embedding_policy_info Something new.",
        "# TYPE promptprint_embedding_policy_info gauge",
        'promptprint_embedding_policy_info{policy="sample"} 1.0',
        "",
    ])
    refused, gauges = refusals_and_gauges(scrape)
    assert refused == {"IngestPrompts": 3, "CheckPrompt": 2}
    assert gauges == {"promptprint_index_prompts": 1234.0, "promptprint_embedding_policy_info{policy=sample}": 1.0}


def _sample(t: float, acknowledged: int, rss: int, disk: int, refused: int = 0) -> dict[str, Any]:
    return {"t_s": t, "acknowledged": acknowledged, "pending_vectors": acknowledged // 2, "rss_bytes": rss,
            "tree_rss_bytes": rss + (100 << 20), "processes": 2, "disk_bytes": disk,
            "resource_exhausted": {"IngestPrompts": refused} if refused else {}, "server_cpu_s": t / 2,
            "stats": {"prompt_count": str(acknowledged), "embedding_policy": "SAMPLE"},
            "gauges": {"promptprint_index_prompts": float(acknowledged)}, "error": ""}


def _sustained_report(rate: float, seconds: float, samples: list[dict[str, Any]], wall: float, found: int) -> dict[str, Any]:
    from evaluation.sustained_report import evaluate_targets, summarize

    report: dict[str, Any] = {
        "config": {"rate": rate, "seconds": seconds, "prompts": int(rate * seconds)},
        "machine": {"nproc": 2, "cpu_model": "Test CPU", "memory_bytes": 8 << 30},
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "load_average": {"start": (0.5, 0.4, 0.3), "after_ingest": (1.0, 0.8, 0.5)},
        "generation": {"prompts": int(rate * seconds), "file_bytes": 800 << 20, "mean_text_bytes": 650.0,
                       "seconds": 31.0, "reused": False},
        "ingest_command": ["python", "-m", "promptprint.cli", "ingest", "p.jsonl", "--no-wait", "--rate", f"{rate:g}"],
        "server_command": ["python", "-m", "promptprint.cli", "serve", "--data-dir", "d"],
        "ingest_exit_code": 0, "ingest_output_tail": "",
        "samples": samples,
        "summary": summarize(samples, cli_wall_s=wall, rate=rate, prompts=int(rate * seconds)),
        "lookups": {"k": 10, "callers": 4, "seconds": 9.0, "pending_vectors_before": 5,
                    "groups": {"spread": {"asked": 1000, "found": found, "errors": {}, "p50_ms": 12.0, "max_ms": 40.0,
                                          "own_hit_fields": {"view=LEXICAL": found}},
                               "recent": {"asked": 1000, "found": 1000, "errors": {}, "p50_ms": 11.0, "max_ms": 30.0,
                                          "own_hit_fields": {}}}},
        "paths": {"samples_csv": "s.csv", "server_log": "server.log", "ingest_log": "ingest.log"},
    }
    report["targets"] = evaluate_targets(report)
    return report


def test_sustained_summary_rates_sizes_and_late_growth() -> None:
    from evaluation.sustained_report import slope

    assert slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2.0)
    assert slope([(1, 1), (1, 5)]) is None
    mb = 1 << 20
    # RSS: 500 MiB empty, flat first half, then 1 KiB per prompt; disk 2 KiB per prompt throughout
    samples = [_sample(0, 0, 500 * mb, 0)] + [
        _sample(t, 2000 * t, 500 * mb + max(0, 2000 * t - 600_000) * 1024, 2000 * t * 2048) for t in range(10, 601, 10)
    ]
    samples.append(_sample(602, 1_200_000, samples[-1]["rss_bytes"], 1_200_000 * 2048, refused=4))
    report = _sustained_report(2000.0, 600.0, samples, wall=601.5, found=990)
    s = report["summary"]
    assert s["acknowledged"] == 1_200_000 and s["achieved_rate"] == pytest.approx(1_200_000 / 601.5)
    assert s["resource_exhausted"] == 4
    assert s["rss"]["per_prompt_bytes"] == pytest.approx(600_000 * 1024 / 1_200_000)
    assert s["rss"]["last_half_per_prompt_bytes"] == pytest.approx(1024, rel=0.01)  # the growth, not the average
    assert s["disk"]["last_half_per_prompt_bytes"] == pytest.approx(2048)
    assert s["tree_rss"]["start_bytes"] == 600 * mb
    rate, refusals, lookups = report["targets"]
    assert rate["pass"] is False  # 1,995/s: the CLI's start counts
    assert refusals["pass"] is False and refusals["measured"] == 4
    assert lookups["pass"] is False and lookups["measured"] == 1990 and lookups["unit"] == "of 2000"


def test_sustained_markdown_shows_targets_series_and_unknown_fields() -> None:
    from evaluation.sustained_report import render_sustained_markdown

    samples = [_sample(0, 0, 500 << 20, 0), _sample(10, 5000, 510 << 20, 5000 * 2048), _sample(20, 10_000, 520 << 20, 10_000 * 2048)]
    report = _sustained_report(500.0, 20.0, samples, wall=20.5, found=1000)
    assert [t["pass"] for t in report["targets"]] == [None, True, True]
    text = render_sustained_markdown(report, "python scripts/bench_sustained.py --rate 500 --seconds 20")
    assert text.startswith("# promptprint sustained ingest")
    assert "`python scripts/bench_sustained.py --rate 500 --seconds 20`" in text
    assert "not judged: this run offered 500/s for 20 s" in text and "| n/a |" in text and "| PASS |" in text
    assert "**488 prompts/s**" in text and "10,000" in text
    assert "| 20 | 10,000 | 5,000 | 520 |" in text  # the time series
    assert "view=LEXICAL" in text and "stats.embedding_policy | SAMPLE" in text  # fields this bench does not know
    assert "written in 31.0 s before the timed run" in text


def test_sustained_series_csv_has_every_field_seen(tmp_path: Any) -> None:
    import csv

    from evaluation.sustained import write_series

    later = _sample(10, 5000, 510 << 20, 1 << 20, refused=2)
    later["stats"]["lexical_view_size"] = "5000"
    write_series([_sample(0, 0, 500 << 20, 0), later], tmp_path / "s.csv")
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert rows[1]["resource_exhausted"] == "2" and rows[1]["stats.lexical_view_size"] == "5000"
    assert rows[0]["stats.lexical_view_size"] == "" and rows[0]["gauge.promptprint_index_prompts"] == "0.0"


@pytest.mark.slow
def test_sustained_bench_end_to_end_small(tmp_path: Any) -> None:
    """A 5 s run at 200 prompts/s through the real CLI and a real server: everything
    acknowledged, no refusals, the rate held, the samples and lookups filled in."""
    from evaluation.sustained import SustainedConfig, run_sustained
    from evaluation.sustained_report import render_sustained_markdown

    config = SustainedConfig(rate=200.0, seconds=5.0, sample_every_s=2.0, spread_lookups=20, recent_lookups=20)
    report = run_sustained(config, work_dir=tmp_path)
    s = report["summary"]
    assert report["ingest_exit_code"] == 0, report["ingest_output_tail"]
    assert s["acknowledged"] == 1000 and s["resource_exhausted"] == 0
    assert 5.0 <= s["cli_wall_seconds"] <= 30.0  # paced: not faster than the rate allows
    assert len(report["samples"]) >= 3 and report["samples"][-1]["rss_bytes"] > 0
    assert report["samples"][-1]["stats"]["prompt_count"] == "1000"
    assert {g: v["asked"] for g, v in report["lookups"]["groups"].items()} == {"spread": 20, "recent": 20}
    assert (tmp_path / "samples.csv").is_file() and not (tmp_path / "data").exists()
    assert "# promptprint sustained ingest" in render_sustained_markdown(report, "test")
