"""A reconstruction on disk: ``campaigns.jsonl``, four Parquet tables, a manifest.

``campaigns.jsonl``
    one campaign per line, best first: id, rank, score, reasons, counts, span, bank,
    volume per day, templates (text with slots as parts, variants, examples) and all
    accounts (prompts in the campaign, total prompts, the share of its traffic that is,
    attribution confidence, first/last seen). Only campaigns scoring at least the
    threshold (``min_score``) are written; the manifest counts the others.
``campaigns.parquet``, ``templates.parquet``, ``campaign_accounts.parquet``, ``campaign_prompts.parquet``
    the same as flat tables, for notebooks and SQL engines (one row per campaign,
    template, campaign x account, campaign x prompt).
``campaign_templates.parquet``
    one row per lexical template of every reported campaign, with its core shingles:
    what CheckPrompt matches a live prompt against to name its reconstructed
    campaign (:mod:`promptprint.reconstruct.membership`).
``manifest.json``
    when, over what (prompt count, time range), with which parameters, how long, and
    the campaigns under the score threshold, counted in one line.

A data directory keeps a pointer to its latest reconstruction,
``<data_dir>/reconstructions/CURRENT``, replaced atomically (``os.replace``) once every
file is written; the server answers ListCampaigns / GetCampaign from it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from promptprint.reconstruct.pipeline import CampaignResult, Reconstruction
from promptprint.reconstruct.slots import TemplateText

FORMAT_VERSION = 1
CAMPAIGNS_FILE = "campaigns.jsonl"
MEMBERSHIP_FILE = "campaign_templates.parquet"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
RECONSTRUCTIONS_DIR = "reconstructions"

# The columns of the four Parquet tables, in order (also the keys their rows are gathered under).
_CAMPAIGN_COLUMNS: dict[str, pa.DataType] = {
    "campaign_id": pa.string(), "rank": pa.int32(), "score": pa.float64(),
    "prompts": pa.int64(), "accounts": pa.int64(), "orgs": pa.int64(),
    "templates": pa.int32(), "dedication": pa.float64(), "first_seen_ms": pa.int64(),
    "last_seen_ms": pa.int64(), "reasons": pa.list_(pa.string()),
}
_TEMPLATE_COLUMNS: dict[str, pa.DataType] = {
    "template_id": pa.string(), "campaign_id": pa.string(), "prompts": pa.int64(),
    "accounts": pa.int64(), "text": pa.string(), "slot_count": pa.int32(),
    "variant_count": pa.int32(),
}
_ACCOUNT_COLUMNS: dict[str, pa.DataType] = {
    "campaign_id": pa.string(), "account_id": pa.string(), "org_id": pa.string(),
    "prompts": pa.int64(), "total_prompts": pa.int64(), "share": pa.float64(), "confidence": pa.float64(),
    "first_seen_ms": pa.int64(), "last_seen_ms": pa.int64(),
}
_MEMBERSHIP_COLUMNS: dict[str, pa.DataType] = {
    "campaign_id": pa.string(), "rank": pa.int32(), "template_id": pa.string(), "variant_id": pa.string(),
    "core": pa.list_(pa.uint64()),
}
_PROMPT_COLUMNS: dict[str, pa.DataType] = {
    "campaign_id": pa.string(), "template_id": pa.string(), "variant_id": pa.string(),
    "prompt_id": pa.string(), "account_id": pa.string(), "created_at_ms": pa.int64(),
}


def _template_json(template: TemplateText) -> dict[str, Any]:
    return {"text": template.render(), "parts": [{"kind": p.kind, "value": p.value} for p in template.parts]}


def campaign_json(c: CampaignResult) -> dict[str, Any]:
    """One campaign as a JSON-ready dict (times in epoch milliseconds)."""
    s = c.stats
    return {
        "campaign_id": c.campaign_id,
        "rank": c.rank,
        "score": c.score,
        "reasons": list(c.reasons),
        "prompts": s.prompts,
        "accounts": s.accounts,
        "orgs": s.orgs,
        "repeat_accounts": s.repeat_accounts,
        "burst_accounts": s.burst_accounts,
        "distinct_texts": s.distinct_texts,
        "dedication": round(s.dedication, 4),
        "first_seen_ms": s.first_seen_ms,
        "last_seen_ms": s.last_seen_ms,
        "bank": None if c.bank is None else {"entry_id": c.bank.entry_id, "kind": c.bank.kind, "note": c.bank.note},
        "volume_per_day": [{"day_ms": d, "prompts": n} for d, n in c.volume_per_day],
        "templates": [
            {
                "template_id": t.template_id,
                "prompts": t.prompts,
                "accounts": t.accounts,
                **_template_json(t.template),
                "variants": [{"variant_id": v.variant_id, "prompts": v.prompts, **_template_json(v.template)} for v in t.variants],
                "examples": [dataclasses.asdict(e) for e in t.examples],
            }
            for t in c.templates
        ],
        "account_list": [dataclasses.asdict(a) for a in c.accounts],
    }


def write_reconstruction(result: Reconstruction, out_dir: str | Path, *, since_ms: int | None = None, until_ms: int | None = None) -> Path:
    """Write every output file into ``out_dir`` (created); returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = result.corpus
    with open(out / (CAMPAIGNS_FILE + ".tmp"), "w", encoding="utf-8") as fh:
        for c in result.campaigns:
            fh.write(json.dumps(campaign_json(c), ensure_ascii=False) + "\n")
    os.replace(out / (CAMPAIGNS_FILE + ".tmp"), out / CAMPAIGNS_FILE)
    campaigns: dict[str, list[Any]] = {k: [] for k in _CAMPAIGN_COLUMNS}
    templates: dict[str, list[Any]] = {k: [] for k in _TEMPLATE_COLUMNS}
    accounts: dict[str, list[Any]] = {k: [] for k in _ACCOUNT_COLUMNS}
    membership: dict[str, list[Any]] = {k: [] for k in _MEMBERSHIP_COLUMNS}
    prompt_parts: list[pa.Table] = []
    for c in result.campaigns:
        s = c.stats
        for key, value in (("campaign_id", c.campaign_id), ("rank", c.rank), ("score", c.score), ("prompts", s.prompts),
                           ("accounts", s.accounts), ("orgs", s.orgs), ("templates", len(c.templates)), ("dedication", s.dedication),
                           ("first_seen_ms", s.first_seen_ms), ("last_seen_ms", s.last_seen_ms), ("reasons", list(c.reasons))):
            campaigns[key].append(value)
        for t in c.templates:
            for key, value in (("template_id", t.template_id), ("campaign_id", c.campaign_id), ("prompts", t.prompts), ("accounts", t.accounts),
                               ("text", t.template.render()), ("slot_count", t.template.slot_count), ("variant_count", len(t.variants))):
                templates[key].append(value)
            for variant_id, core in t.cores:
                for key, value in (("campaign_id", c.campaign_id), ("rank", c.rank), ("template_id", t.template_id),
                                   ("variant_id", variant_id), ("core", core.tolist())):
                    membership[key].append(value)
        for a in c.accounts:
            for key, value in (("campaign_id", c.campaign_id), ("account_id", a.account_id), ("org_id", a.org_id), ("prompts", a.prompts),
                               ("total_prompts", a.total_prompts), ("share", a.share), ("confidence", a.confidence),
                               ("first_seen_ms", a.first_seen_ms), ("last_seen_ms", a.last_seen_ms)):
                accounts[key].append(value)
        rows = c.prompt_rows
        template_names = [t.template_id for t in c.templates]
        prompt_parts.append(pa.table({
            "campaign_id": pa.array([c.campaign_id] * len(rows), pa.string()),
            "template_id": pa.array([template_names[i] for i in c.prompt_templates.tolist()], pa.string()),
            "variant_id": pa.array([f"v-{int(v)}" if v else "v-none" for v in result.template_ids[rows].tolist()], pa.string()),
            "prompt_id": pa.array([corpus.prompt_ids[r] for r in rows.tolist()], pa.string()),
            "account_id": pa.array([corpus.account_names[a] for a in corpus.accounts[rows].tolist()], pa.string()),
            "created_at_ms": pa.array(corpus.created_at_ms[rows], pa.int64()),
        }))
    pq.write_table(pa.table(campaigns, schema=pa.schema(_CAMPAIGN_COLUMNS)), out / "campaigns.parquet")
    pq.write_table(pa.table(templates, schema=pa.schema(_TEMPLATE_COLUMNS)), out / "templates.parquet")
    pq.write_table(pa.table(accounts, schema=pa.schema(_ACCOUNT_COLUMNS)), out / "campaign_accounts.parquet")
    pq.write_table(pa.table(membership, schema=pa.schema(_MEMBERSHIP_COLUMNS)), out / MEMBERSHIP_FILE)
    pq.write_table(pa.concat_tables(prompt_parts) if prompt_parts else pa.schema(_PROMPT_COLUMNS).empty_table(), out / "campaign_prompts.parquet")
    manifest = {
        "format_version": FORMAT_VERSION,
        "created_at_unix": time.time(),
        "prompts": len(corpus),
        "accounts": len(corpus.account_names),
        "campaigns": len(result.campaigns),
        "unreported": dataclasses.asdict(result.unreported),
        "since_ms": since_ms,
        "until_ms": until_ms,
        "corpus_first_ms": int(corpus.created_at_ms.min()) if len(corpus) else None,
        "corpus_last_ms": int(corpus.created_at_ms.max()) if len(corpus) else None,
        "timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
        "config": dataclasses.asdict(result.config),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
    return out


def publish(data_dir: str | Path, out_dir: str | Path) -> None:
    """Make ``out_dir`` the data directory's latest reconstruction (atomic pointer swap)."""
    folder = Path(data_dir) / RECONSTRUCTIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (CURRENT_FILE + ".tmp")
    tmp.write_text(str(Path(out_dir).resolve()) + "\n")
    os.replace(tmp, folder / CURRENT_FILE)


def latest(data_dir: str | Path) -> Path | None:
    """The folder of the data directory's latest reconstruction, or None."""
    pointer = Path(data_dir) / RECONSTRUCTIONS_DIR / CURRENT_FILE
    if not pointer.exists():
        return None
    return Path(pointer.read_text().strip())


def read_campaigns(out_dir: str | Path) -> list[dict[str, Any]]:
    """The campaigns of a written reconstruction, best first."""
    with open(Path(out_dir) / CAMPAIGNS_FILE, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
