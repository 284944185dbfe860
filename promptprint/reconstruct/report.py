"""``report.html``: one self-contained page an analyst can open, read and forward.

No network, no scripts: inline CSS and inline SVG only, so it renders the same from a
mail attachment, an air-gapped laptop or a ticket. Layout:

* an overview: what was analysed, and the campaigns ranked by score (bar, accounts,
  prompts, orgs, span, template excerpt), each linking to its section;
* per campaign (the ``max_campaigns`` best): the reasons behind its score; the
  timeline (its busiest accounts × time, one dot per prompt, coloured by template);
  volume per day; each template with its slots highlighted, its variants; example
  prompts; the top accounts with how much of their traffic the campaign is and how
  confident their attribution is;
* one line for the campaigns under the score threshold (not listed).
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence, TypedDict, Unpack


from promptprint.reconstruct.pipeline import CampaignResult, Reconstruction
from promptprint.reconstruct.slots import TemplateText

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
EXAMPLE_CHARS = 700
TEMPLATE_CHARS = 1500

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
main{padding:18px 28px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:5px 8px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:10px;background:#d62728;border-radius:2px;vertical-align:middle;margin-right:6px}
section.campaign{background:#fff;border:1px solid #dfe2e6;border-radius:6px;padding:14px 18px;margin:22px 0}
section.campaign h2{margin:0 0 6px;font-size:18px}.muted{color:#667085}
.template{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;background:#f3f5f8;border-radius:4px;padding:8px 10px;margin:6px 0}
mark.slot{background:#ffd54f;color:#3b2f00;border-radius:3px;padding:0 3px;font-weight:600}
pre.example{white-space:pre-wrap;background:#fafbfc;border-left:3px solid #9aa4b2;padding:6px 10px;margin:6px 0;max-height:220px;overflow:auto}
.grid{display:grid;grid-template-columns:1fr;gap:10px}svg text{font:11px system-ui,sans-serif;fill:#475467}
ul.reasons{margin:4px 0 8px 18px;padding:0}
"""


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def template_html(template: TemplateText, limit: int = TEMPLATE_CHARS) -> str:
    """The template with each slot as a highlighted ``<mark class="slot">``."""
    out: list[str] = []
    used = 0
    slot = 0
    for part in template.parts:
        if used > limit:
            out.append(" …")
            break
        if part.kind == "slot":
            slot += 1
            label = f"{{{slot}}}" if part.value == "text" else f"{{{slot}:{part.value}}}"
            out.append(f' <mark class="slot" title="slot {slot}: varies between prompts">{_e(label)}</mark> ')
        else:
            text = part.value if used + len(part.value) <= limit else part.value[: limit - used] + " …"
            out.append(_e(text))
            used += len(part.value)
    return "".join(out).strip()


def _timeline_svg(result: Reconstruction, c: CampaignResult, max_accounts: int) -> str:
    corpus = result.corpus
    top = c.accounts[:max_accounts]
    index = {a.account_id: i for i, a in enumerate(top)}
    t0, t1 = c.stats.first_seen_ms, max(c.stats.last_seen_ms, c.stats.first_seen_ms + 60_000)
    left, width, row = 150, 900, 12
    height = row * len(top) + 30
    parts = [f'<svg role="img" aria-label="timeline: accounts by time" width="{left + width + 10}" height="{height}" '
             f'viewBox="0 0 {left + width + 10} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, a in enumerate(top):
        y = 10 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{_e(a.account_id[:22])}</text>')
        parts.append(f'<line x1="{left}" x2="{left + width}" y1="{y}" y2="{y}" stroke="#eef0f3"/>')
    names = [corpus.account_names[a] for a in corpus.accounts[c.prompt_rows].tolist()]
    times = corpus.created_at_ms[c.prompt_rows]
    for name, t, tpl in zip(names, times.tolist(), c.prompt_templates.tolist()):
        line = index.get(name)
        if line is None:
            continue
        x = left + (t - t0) / (t1 - t0) * width
        parts.append(f'<circle cx="{x:.1f}" cy="{10 + line * row}" r="3" fill="{PALETTE[tpl % len(PALETTE)]}" fill-opacity="0.75"/>')
    base = 10 + len(top) * row + 6
    parts.append(f'<text x="{left}" y="{base + 8}">{_e(_when(t0))}</text>')
    parts.append(f'<text x="{left + width}" y="{base + 8}" text-anchor="end">{_e(_when(t1))} UTC</text>')
    parts.append("</svg>")
    return "".join(parts)


def _volume_svg(c: CampaignResult) -> str:
    days = c.volume_per_day
    if not days:
        return ""
    peak = max(n for _, n in days)
    bar, gap, height = 28, 6, 110
    width = max(200, len(days) * (bar + gap) + 20)
    parts = [f'<svg role="img" aria-label="prompts per day" width="{width}" height="{height + 34}" xmlns="http://www.w3.org/2000/svg">']
    for i, (day, n) in enumerate(days):
        h = max(1.0, n / peak * height)
        x = 10 + i * (bar + gap)
        parts.append(f'<rect x="{x}" y="{10 + height - h:.1f}" width="{bar}" height="{h:.1f}" fill="#1f77b4"><title>{_day(day)}: {n} prompts</title></rect>')
        parts.append(f'<text x="{x + bar / 2}" y="{8 + height - h:.1f}" text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{x + bar / 2}" y="{height + 24}" text-anchor="middle">{_day(day)[5:]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _campaign_section(result: Reconstruction, c: CampaignResult, timeline_accounts: int) -> str:
    s = c.stats
    out = [f'<section class="campaign" id="{_e(c.campaign_id)}">']
    out.append(f"<h2>#{c.rank} · Campaign {_e(c.campaign_id)} — score {c.score:.2f}</h2>")
    out.append(f'<div class="muted">{s.accounts} accounts in {s.orgs} orgs · {s.prompts} prompts · '
               f"{_e(_when(s.first_seen_ms))} → {_e(_when(s.last_seen_ms))} UTC · {len(c.templates)} template(s)</div>")
    out.append('<h3>Why this score</h3><ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in c.reasons) + "</ul>")
    out.append(f"<h3>Timeline (top {min(timeline_accounts, len(c.accounts))} accounts × time)</h3>")
    out.append(_timeline_svg(result, c, timeline_accounts))
    out.append("<h3>Volume per day</h3>" + _volume_svg(c))
    out.append("<h3>Templates</h3>")
    for i, t in enumerate(c.templates[:8]):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<div><span style="color:{colour}">●</span> <b>{_e(t.template_id)}</b> '
                   f'<span class="muted">{t.prompts} prompts, {t.accounts} accounts, {t.template.slot_count} slot(s)</span></div>')
        out.append(f'<div class="template">{template_html(t.template)}</div>')
        if len(t.variants) > 1:
            out.append('<details><summary>Variants (paraphrases, translations, edits)</summary>')
            for v in t.variants[1:]:
                out.append(f'<div class="muted">{_e(v.variant_id)} · {v.prompts} prompts</div><div class="template">{template_html(v.template, 600)}</div>')
            out.append("</details>")
    if len(c.templates) > 8:
        out.append(f'<div class="muted">… and {len(c.templates) - 8} more templates (see templates.parquet)</div>')
    out.append("<h3>Example prompts</h3>")
    for t in c.templates[:3]:
        for ex in t.examples[:3]:
            text = ex.text if len(ex.text) <= EXAMPLE_CHARS else ex.text[:EXAMPLE_CHARS] + " …"
            out.append(f'<div class="muted">{_e(ex.prompt_id)} · {_e(ex.account_id)} · {_e(_when(ex.created_at_ms))}</div><pre class="example">{_e(text)}</pre>')
    out.append("<h3>Top accounts</h3><table><tr><th>account</th><th>org</th><th>prompts here</th><th>all prompts</th><th>share</th>"
               "<th>confidence</th><th>first seen</th><th>last seen</th></tr>")
    for a in c.accounts[:15]:
        out.append(f"<tr><td>{_e(a.account_id)}</td><td>{_e(a.org_id or '—')}</td><td class=num>{a.prompts}</td><td class=num>{a.total_prompts}</td>"
                   f"<td class=num>{a.share:.0%}</td><td class=num>{a.confidence:.2f}</td><td>{_e(_when(a.first_seen_ms))}</td><td>{_e(_when(a.last_seen_ms))}</td></tr>")
    out.append("</table></section>")
    return "".join(out)


def render_report(result: Reconstruction, *, title: str = "promptprint — campaign reconstruction", max_campaigns: int = 50, timeline_accounts: int = 40) -> str:
    """The whole page as one HTML string."""
    corpus = result.corpus
    campaigns: Sequence[CampaignResult] = result.campaigns
    span = ""
    if len(corpus):
        span = f"{_when(int(corpus.created_at_ms.min()))} → {_when(int(corpus.created_at_ms.max()))} UTC"
    out = ["<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
           f"<meta name=viewport content='width=device-width, initial-scale=1'><title>{_e(title)}</title><style>{_CSS}</style></head><body>"]
    out.append(f"<header><h1>{_e(title)}</h1><div>{len(corpus):,} prompts from {len(corpus.account_names):,} accounts · {_e(span)} · "
               f"{len(campaigns)} campaigns found</div></header><main>")
    out.append("<h2>Campaigns by score</h2>")
    if not campaigns:
        out.append(f"<p>No campaign scored {result.unreported.min_score:.2f} or more.</p>")
    else:
        out.append("<table><tr><th>#</th><th>campaign</th><th>score</th><th>accounts</th><th>prompts</th><th>orgs</th><th>active</th><th>template</th></tr>")
        for c in campaigns[: max(max_campaigns, 200)]:
            s = c.stats
            excerpt = c.templates[0].template.render() if c.templates else ""
            excerpt = excerpt if len(excerpt) <= 110 else excerpt[:110] + "…"
            link = f'<a href="#{_e(c.campaign_id)}">{_e(c.campaign_id)}</a>' if c.rank <= max_campaigns else _e(c.campaign_id)
            out.append(f"<tr><td class=num>{c.rank}</td><td>{link}</td><td><span class=bar style='width:{int(c.score * 80)}px'></span>{c.score:.2f}</td>"
                       f"<td class=num>{s.accounts}</td><td class=num>{s.prompts}</td><td class=num>{s.orgs}</td>"
                       f"<td>{_e(_day(s.first_seen_ms))} → {_e(_day(s.last_seen_ms))}</td><td>{_e(excerpt)}</td></tr>")
        out.append("</table>")
    out.append(f"<p class=muted>{_e(result.unreported.line())}</p>")
    for c in campaigns[:max_campaigns]:
        out.append(_campaign_section(result, c, timeline_accounts))
    out.append("</main></body></html>")
    return "\n".join(out)


class ReportOptions(TypedDict, total=False):
    """The keyword options of :func:`render_report`, for :func:`write_report` to pass on."""

    title: str
    max_campaigns: int
    timeline_accounts: int


def write_report(result: Reconstruction, out_dir: str | Path, **options: Unpack[ReportOptions]) -> Path:
    """Write ``report.html`` into ``out_dir``."""
    path = Path(out_dir) / "report.html"
    path.write_text(render_report(result, **options), encoding="utf-8")
    return path
