"""A sustained-ingest run's figures, its verdict on issue 16's targets, and its Markdown.

Everything here reads the run's JSON form (samples as dicts), so a saved report can be
re-rendered and the arithmetic tested without a server.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from evaluation.harness.report import mib

__all__ = ["TARGET_RATE", "TARGET_SECONDS", "evaluate_targets", "render_sustained_markdown", "slope", "summarize"]

TARGET_RATE = 2000.0  # issue 16: prompts/s acknowledged ...
TARGET_SECONDS = 600.0  # ... for 10 minutes


def slope(points: Iterable[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x; None with fewer than two distinct x."""
    pts = list(points)
    if len({x for x, _ in pts}) < 2:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def refusals(sample: dict[str, Any]) -> int:
    """RESOURCE_EXHAUSTED answers of every method, since the server started."""
    return sum(sample["resource_exhausted"].values())


def _per_prompt(samples: Sequence[dict[str, Any]], field: str) -> dict[str, Any]:
    """A size at the start and the end, its growth per acknowledged prompt over the run, and
    the slope over the run's last half (samples from half the last sample's time on), so
    growth that does not level off shows."""
    first, last = samples[0], samples[-1]
    acknowledged = last["acknowledged"] or 0
    start, end = first[field], last[field]
    half = [s for s in samples if s["t_s"] >= last["t_s"] / 2 and s["acknowledged"] is not None]
    return {
        "start_bytes": start,
        "end_bytes": end,
        "per_prompt_bytes": (end - start) / acknowledged if acknowledged else None,
        "last_half_per_prompt_bytes": slope((float(s["acknowledged"]), float(s[field])) for s in half),
        "last_half_samples": len(half),
    }


def summarize(samples: Sequence[dict[str, Any]], *, cli_wall_s: float, rate: float, prompts: int) -> dict[str, Any]:
    """The run's figures from its samples (the first read before the CLI started, the last
    after it ended). The achieved rate is acknowledged prompts over the CLI's wall time,
    its start and its last acknowledgement included."""
    last = samples[-1]
    acknowledged = last["acknowledged"] or 0
    achieved = acknowledged / cli_wall_s if cli_wall_s > 0 else 0.0
    return {
        "offered_rate": rate,
        "offered_prompts": prompts,
        "acknowledged": acknowledged,
        "cli_wall_seconds": round(cli_wall_s, 2),
        "achieved_rate": achieved,
        "held_share": achieved / rate,
        "resource_exhausted": refusals(last),
        "resource_exhausted_by_method": last["resource_exhausted"],
        "pending_vectors_at_end": last["pending_vectors"],
        "rss": _per_prompt(samples, "rss_bytes"),
        "tree_rss": _per_prompt(samples, "tree_rss_bytes"),
        "disk": _per_prompt(samples, "disk_bytes"),
        "peak_rss_bytes": max(s["rss_bytes"] for s in samples),
        "peak_tree_rss_bytes": max(s["tree_rss_bytes"] for s in samples),
        "server_cpu_seconds": round(last["server_cpu_s"] - samples[0]["server_cpu_s"], 1),
    }


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 16's ingest and lookup targets against this run. The rate is judged only on a
    run that offered at least the target rate for at least the target time."""
    summary, config = report["summary"], report["config"]
    full_scale = config["rate"] >= TARGET_RATE and config["seconds"] >= TARGET_SECONDS
    groups = report["lookups"]["groups"]
    asked = sum(g["asked"] for g in groups.values())
    found = sum(g["found"] for g in groups.values())
    return [
        {"target": f"≥ {TARGET_RATE:,.0f} prompts/s acknowledged for {TARGET_SECONDS / 60:.0f} min through `promptprint ingest`",
         "measured": summary["achieved_rate"], "unit": "prompts/s",
         "pass": (summary["achieved_rate"] >= TARGET_RATE and summary["cli_wall_seconds"] >= TARGET_SECONDS) if full_scale else None,
         "where": "" if full_scale else f"not judged: this run offered {config['rate']:,.0f}/s for {config['seconds']:,.0f} s"},
        {"target": "zero RESOURCE_EXHAUSTED", "measured": summary["resource_exhausted"], "unit": "answers",
         "pass": summary["resource_exhausted"] == 0 and report["ingest_exit_code"] == 0,
         "where": "server metrics, every method; and the CLI exited 0"},
        {"target": "every acknowledged prompt found by its exact text right after ingest", "measured": found,
         "unit": f"of {asked}", "pass": found == asked and asked > 0, "where": f"FindNearDuplicates k={report['lookups']['k']}"},
    ]


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def render_sustained_markdown(report: dict[str, Any], command: str) -> str:
    """The run as Markdown: commands, targets, figures, the time series, lookups, and the
    last GetIndexStats and gauges in full (fields this bench does not know included)."""
    s, cfg, gen, machine = report["summary"], report["config"], report["generation"], report["machine"]
    written = "reused" if gen["reused"] else f"written in {gen['seconds']:,.1f} s"
    lines = [
        "# promptprint sustained ingest",
        "",
        f"- command: `{command}`",
        f"- ingest: `{' '.join(report['ingest_command'][1:])}` (exit {report['ingest_exit_code']})",
        f"- server: `{' '.join(report['server_command'][1:])}`",
        f"- machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {mib(machine['memory_bytes'])} MiB; "
        f"commit {str(report['git']['commit'])[:10]}{' (dirty)' if report['git']['dirty'] else ''}; load average "
        f"{report['load_average']['start'][0]:.1f} at start, {report['load_average']['after_ingest'][0]:.1f} after ingest",
        f"- prompt file: {gen['prompts']:,} prompts, {mib(gen['file_bytes'])} MiB, mean text "
        f"{gen['mean_text_bytes']:,.0f} bytes, {written} before the timed run",
        "",
        "## Targets (issue 16)",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for t in report["targets"]:
        verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        where = f" ({t['where']})" if t["where"] else ""
        lines.append(f"| {t['target']}{where} | {_fmt(t['measured'])} {t['unit']} | {verdict} |")
    by_method = f" {s['resource_exhausted_by_method']}" if s["resource_exhausted"] else ""
    if report["ingest_exit_code"] != 0:
        lines += ["", f"`promptprint ingest` exited {report['ingest_exit_code']}; its last lines:", "", "```",
                  report["ingest_output_tail"], "```"]
    lines += [
        "",
        "## Ingest",
        "",
        f"- offered {cfg['rate']:,.0f} prompts/s for {cfg['seconds']:,.0f} s ({s['offered_prompts']:,} prompts); "
        f"acknowledged **{s['acknowledged']:,}** in {s['cli_wall_seconds']:,.1f} s of CLI wall time: "
        f"**{s['achieved_rate']:,.0f} prompts/s**, {s['held_share']:.1%} of the offered rate (the CLI's start "
        "and its last acknowledgement are inside the wall time)",
        f"- RESOURCE_EXHAUSTED answers, counted by the server (the CLI retries them): **{s['resource_exhausted']:,}**{by_method}",
        f"- vectors still pending at the end: {_fmt(s['pending_vectors_at_end'])}; server CPU {s['server_cpu_seconds']:,.0f} s",
        "",
        "| size | start | end | per acknowledged prompt | slope over the last half |",
        "|---|---|---|---|---|",
    ]
    for name, key in (("server RSS", "rss"), ("RSS of the server and its children", "tree_rss"), ("data dir on disk", "disk")):
        part = s[key]
        lines.append(f"| {name} | {mib(part['start_bytes'])} MiB | {mib(part['end_bytes'])} MiB | "
                     f"{_fmt(part['per_prompt_bytes'], ' B')} | {_fmt(part['last_half_per_prompt_bytes'], ' B')} |")
    lines += [
        "",
        f"Peak RSS: server {mib(s['peak_rss_bytes'])} MiB, with its children {mib(s['peak_tree_rss_bytes'])} MiB.",
        "",
        "## Time series",
        "",
        "| t (s) | acknowledged | pending vectors | RSS MiB | tree RSS MiB | disk MiB | RESOURCE_EXHAUSTED | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["samples"]:
        lines.append(f"| {row['t_s']:,.0f} | {_fmt(row['acknowledged'])} | {_fmt(row['pending_vectors'])} | "
                     f"{mib(row['rss_bytes'])} | {mib(row['tree_rss_bytes'])} | {mib(row['disk_bytes'])} | "
                     f"{refusals(row):,} | {row['error']} |")
    lookups = report["lookups"]
    lines += [
        "",
        f"## Lookups right after ingest (FindNearDuplicates by text, k={lookups['k']}, {lookups['callers']} callers, "
        f"{lookups['seconds']:,.1f} s; {_fmt(lookups['pending_vectors_before'])} vectors pending when they began)",
        "",
        "| prompts | asked | own prompt_id among the hits | errors | p50 ms | max ms | other fields of the own hit |",
        "|---|---|---|---|---|---|---|",
    ]
    for group, g in lookups["groups"].items():
        label = {"spread": "spread over the run", "recent": "the last ingested"}.get(group, group)
        lines.append(f"| {label} | {g['asked']:,} | **{g['found']:,}** | {g['errors'] or 0} | {_fmt(g['p50_ms'])} | "
                     f"{_fmt(g['max_ms'])} | {g['own_hit_fields'] or ''} |")
    last = report["samples"][-1] if report["samples"] else {"stats": {}, "gauges": {}}
    lines += ["", "## Last GetIndexStats and metrics gauges", "", "| field | value |", "|---|---|"]
    lines += [f"| stats.{k} | {v} |" for k, v in last["stats"].items()]
    lines += [f"| {k} | {v:g} |" for k, v in last["gauges"].items()]
    paths = report["paths"]
    lines += ["", f"Samples: `{paths['samples_csv']}`; server log `{paths['server_log']}`; CLI log `{paths['ingest_log']}`.", ""]
    return "\n".join(lines)
