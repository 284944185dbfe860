"""The v1 benchmark's verdicts and report: targets judged on a finished run, and its Markdown.

Pure functions of the report dict :func:`evaluation.benchmark.run_benchmark` returns,
so a saved JSON report can be judged and rendered again without re-running anything.
"""

from __future__ import annotations

from typing import Any

from evaluation.harness.lookups import EXACT_QUERY_SHARE
from evaluation.harness.report import mib

__all__ = [
    "TARGET_BYTES_PER_PROMPT",
    "TARGET_CHECK_P99_MS",
    "TARGET_CHECK_SIZE",
    "TARGET_FAST_INGEST",
    "TARGET_FAST_P99_MS",
    "TARGET_INGEST_RATIO",
    "evaluate_targets",
    "render_markdown",
]

TARGET_INGEST_RATIO = 0.90  # ingest through the server (to indexed) >= 90% of stock encode throughput
TARGET_CHECK_P99_MS = 50.0  # CheckPrompt p99, one caller, default tier, at 100k prompts (v1)
TARGET_FAST_P99_MS = 10.0  # CheckPrompt p99, fast_concurrency callers, default tier, at 100k (fast path)
TARGET_FAST_INGEST = 10_000.0  # acknowledged prompts/s in the fingerprint tier (fast path)
TARGET_CHECK_SIZE = 100_000
TARGET_BYTES_PER_PROMPT = 2048  # resident memory per indexed prompt


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
        f"Server RSS: {mib(report['rss_loaded_bytes'])} MiB after model load, "
        f"{mib(report['rss_empty_bytes'])} MiB empty after warm-up lookups, "
        f"{mib(ingest['rss_after_bytes'])} MiB after the baseline ingest.",
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
            f"| {s['size']:,} | {s['stats']['index_type']} | {s['stats']['pending_vectors']:,} | {mib(s['rss_bytes'])} "
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

