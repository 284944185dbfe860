"""Translation between promptprint.v1 messages and the indexer's domain types.

Kept apart from the servicer so that the wire format has one place where it meets the
library, and so the rules (defaults for unset fields, timestamp ranges) are explicit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from promptprint.templates.account_assessment import AccountAssessment
from promptprint.templates.banks import BankEntry
from promptprint.templates.scoring import CampaignAssessment, Level
from promptprint.errors import InvalidArgument
from promptprint.index.build import SearchTuning
from promptprint.index.config import Tier
from promptprint.index.results import Fanout, Hit, IndexStats, IngestStatus, MatchView, NearDuplicateQuery, Verdict
from promptprint.records import PromptRecord, validate_record, validate_time_ms
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.wire import ms_to_timestamp

DEFAULT_K = 10
MAX_PROMPTS_PER_MESSAGE = 1024
DEFAULT_EXAMPLE_COUNT = 5
_NANOS = 1_000_000_000


def timestamp_to_ms(ts: timestamp_pb2.Timestamp, field: str) -> int:
    """A protobuf Timestamp as epoch milliseconds; out-of-range values are refused."""
    if not 0 <= ts.nanos < _NANOS:
        raise InvalidArgument(f"{field}.nanos must be in [0, 1e9), got {ts.nanos}", reason="TIMESTAMP_MALFORMED", field=field)
    return validate_time_ms(ts.seconds * 1000 + ts.nanos // 1_000_000, field)


def duration_to_ms(duration: duration_pb2.Duration, field: str) -> int:
    if not -_NANOS < duration.nanos < _NANOS or (duration.seconds and duration.nanos and (duration.seconds > 0) != (duration.nanos > 0)):
        raise InvalidArgument(f"{field} is not a valid Duration", reason="DURATION_MALFORMED", field=field)
    return duration.seconds * 1000 + duration.nanos // 1_000_000


def check_batch_size(count: int) -> None:
    """Refuse a streamed message carrying more than MAX_PROMPTS_PER_MESSAGE prompts: what
    one message holds, the server holds at once."""
    if count > MAX_PROMPTS_PER_MESSAGE:
        raise InvalidArgument(
            f"a message carries {count} prompts; send at most {MAX_PROMPTS_PER_MESSAGE} per message",
            reason="BATCH_TOO_LARGE",
            field="prompts",
        )


def prompt_to_record(
    prompt: pb.Prompt, *, max_text_bytes: int, receive_ms: int, require_prompt_id: bool = True
) -> PromptRecord:
    """Validate a wire Prompt into a record; unset created_at becomes the receive time."""
    created = timestamp_to_ms(prompt.created_at, "created_at") if prompt.HasField("created_at") else None
    return validate_record(
        prompt_id=prompt.prompt_id,
        account_id=prompt.account_id,
        org_id=prompt.org_id,
        created_at_ms=created,
        text=prompt.text,
        max_text_bytes=max_text_bytes,
        default_time_ms=receive_ms,
        require_prompt_id=require_prompt_id,
    )


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """The options of a CheckPrompt or of a CheckPrompts batch, as PromptIndex.check takes them."""

    store: bool
    min_similarity: float | None
    lookback_ms: int | None
    example_count: int
    tier: Tier
    tuning: SearchTuning | None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of PromptIndex.check and check_many."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def check_options(request: pb.CheckPromptRequest | pb.CheckPromptsRequest, default_tier: Tier) -> CheckOptions:
    """A check request's options, their wire forms checked (the index checks the ranges)."""
    lookback = duration_to_ms(request.lookback, "lookback") if request.HasField("lookback") else None
    if request.example_count < 0:
        raise InvalidArgument(
            f"example_count must be in 0..100, got {request.example_count}", reason="EXAMPLE_COUNT_OUT_OF_RANGE", field="example_count"
        )
    return CheckOptions(
        store=request.record,
        min_similarity=request.min_similarity if request.HasField("min_similarity") else None,
        lookback_ms=lookback,
        example_count=request.example_count or DEFAULT_EXAMPLE_COUNT,
        tier=tier_from_proto(request.tier) or default_tier,
        tuning=search_tuning(request.search) if request.HasField("search") else None,
    )


def near_duplicate_query(request: pb.FindNearDuplicatesRequest) -> NearDuplicateQuery:
    which = request.WhichOneof("query")
    window = request.window if request.HasField("window") else None
    start = end = None
    if window is not None:
        if window.HasField("start_time"):
            start = timestamp_to_ms(window.start_time, "window.start_time")
        if window.HasField("end_time"):
            end = timestamp_to_ms(window.end_time, "window.end_time")
    return NearDuplicateQuery(
        text=request.text if which == "text" else None,
        prompt_id=request.prompt_id if which == "prompt_id" else None,
        k=request.k if request.k != 0 else DEFAULT_K,
        min_similarity=request.min_similarity if request.HasField("min_similarity") else None,
        start_ms=start,
        end_ms=end,
        exclude_account_id=request.exclude_account_id,
        exclude_org_id=request.exclude_org_id,
        include_text=request.include_text,
        tuning=search_tuning(request.search) if request.HasField("search") else None,
    )


_MAX_SEARCH_KNOB = 1 << 20


def search_tuning(options: pb.SearchOptions) -> SearchTuning:
    """Per-request search effort; 0 = default. Negative values are refused; large ones
    are clamped by the index to its configured maxima."""
    for field in ("nprobe", "ef_search", "rerank_factor"):
        value = getattr(options, field)
        if not 0 <= value <= _MAX_SEARCH_KNOB:
            raise InvalidArgument(f"search.{field} must be >= 0 (0 = server default), got {value}",
                                  reason="SEARCH_OPTION_OUT_OF_RANGE", field=f"search.{field}")
    return SearchTuning(
        ef_search=options.ef_search or None, nprobe=options.nprobe or None, k_factor=options.rerank_factor or None
    )


_MATCH_VIEWS = {
    None: pb.MATCH_VIEW_UNSPECIFIED,
    MatchView.SEMANTIC: pb.MATCH_VIEW_SEMANTIC,
    MatchView.LEXICAL: pb.MATCH_VIEW_LEXICAL,
}


def hit_to_proto(hit: Hit) -> pb.NearDuplicate:
    return pb.NearDuplicate(
        prompt_id=hit.prompt_id,
        account_id=hit.account_id,
        org_id=hit.org_id,
        created_at=ms_to_timestamp(hit.created_at_ms),
        similarity=hit.similarity,
        text=hit.text or "",
        view=_MATCH_VIEWS[hit.view],
    )


def _fanout_to_proto(fanout: Fanout) -> pb.Fanout:
    message = pb.Fanout(
        matching_prompts=fanout.matching_prompts,
        distinct_accounts=fanout.distinct_accounts,
        distinct_other_accounts=fanout.distinct_other_accounts,
        distinct_orgs=fanout.distinct_orgs,
        distinct_other_orgs=fanout.distinct_other_orgs,
        max_similarity=fanout.max_similarity,
        saturated=fanout.saturated,
    )
    if fanout.first_seen_ms is not None:
        message.first_seen.CopyFrom(ms_to_timestamp(fanout.first_seen_ms))
    if fanout.last_seen_ms is not None:
        message.last_seen.CopyFrom(ms_to_timestamp(fanout.last_seen_ms))
    return message


_OUTCOMES = {
    None: pb.RECORD_OUTCOME_UNSPECIFIED,
    IngestStatus.RECORDED: pb.RECORD_OUTCOME_RECORDED,
    IngestStatus.DUPLICATE: pb.RECORD_OUTCOME_DUPLICATE,
}


BANK_KINDS = {"allow": pb.BANK_KIND_ALLOW, "deny": pb.BANK_KIND_DENY}
BANK_KIND_NAMES = {v: k for k, v in BANK_KINDS.items()}
LEVELS: dict[Level, "pb.CampaignLevel"] = {
    "none": pb.CAMPAIGN_LEVEL_NONE, "watch": pb.CAMPAIGN_LEVEL_WATCH, "flagged": pb.CAMPAIGN_LEVEL_FLAGGED,
}


def campaign_to_proto(assessment: CampaignAssessment, threshold: float) -> pb.CampaignAssessment:
    message = pb.CampaignAssessment(
        template_id=assessment.template_id,
        score=assessment.score,
        flagged=assessment.flagged,
        threshold=threshold,
        reasons=list(assessment.reasons),
        level=LEVELS[assessment.level],
    )
    f = assessment.features
    if f is not None:
        activity = message.activity
        activity.volume = f.volume
        activity.accounts = f.accounts
        activity.other_accounts = f.other_accounts
        activity.orgs = f.orgs
        activity.repeat_accounts = f.repeat_accounts
        activity.distinct_texts = f.distinct_texts
        activity.burst_accounts = f.burst_accounts
        activity.core_size = f.core_size
        activity.payload_share = f.payload_share
        activity.members_total = f.members_total
        if f.first_seen_ms is not None:
            activity.first_seen.CopyFrom(ms_to_timestamp(f.first_seen_ms))
        if f.last_seen_ms is not None:
            activity.last_seen.CopyFrom(ms_to_timestamp(f.last_seen_ms))
    if assessment.bank is not None:
        message.bank_entry_id = assessment.bank.entry_id
        message.bank_kind = BANK_KINDS[assessment.bank.kind]
    return message


def account_assessment_to_proto(assessment: AccountAssessment, threshold: float) -> pb.AccountAssessment:
    message = pb.AccountAssessment(
        account_id=assessment.account_id,
        score=assessment.score,
        level=LEVELS[assessment.level],
        flagged=assessment.flagged,
        threshold=threshold,
        reasons=list(assessment.reasons),
        prompt_count=assessment.prompts,
        groups=[
            pb.AccountTemplateGroup(
                group_id=g.group_id,
                template_ids=list(g.template_ids),
                prompt_count=g.prompts,
                share=g.share,
                first_use=ms_to_timestamp(g.first_use_ms),
                last_use=ms_to_timestamp(g.last_use_ms),
                campaign=campaign_to_proto(g.campaign, threshold),
                score=g.score,
                level=LEVELS[g.level],
            )
            for g in assessment.groups
        ],
    )
    if assessment.first_seen_ms is not None:
        message.first_seen.CopyFrom(ms_to_timestamp(assessment.first_seen_ms))
    if assessment.last_seen_ms is not None:
        message.last_seen.CopyFrom(ms_to_timestamp(assessment.last_seen_ms))
    return message


def bank_entry_to_proto(entry: BankEntry) -> pb.BankEntry:
    return pb.BankEntry(
        entry_id=entry.entry_id,
        kind=BANK_KINDS[entry.kind],
        text=entry.text,
        note=entry.note,
        source=entry.source,
        create_time=ms_to_timestamp(entry.created_at_ms),
    )


def verdict_to_proto(verdict: Verdict, campaign_threshold: float) -> pb.CheckPromptResponse:
    return pb.CheckPromptResponse(
        prompt_id=verdict.prompt_id,
        record_outcome=_OUTCOMES[verdict.recorded],
        fanout=_fanout_to_proto(verdict.fanout),
        examples=[hit_to_proto(h) for h in verdict.examples],
        min_similarity=verdict.min_similarity,
        window_start=ms_to_timestamp(verdict.window_start_ms),
        window_end=ms_to_timestamp(verdict.window_end_ms),
        campaign=campaign_to_proto(verdict.campaign, campaign_threshold),
        tier=_TIERS[verdict.tier],
    )


_TIERS: dict[str, "pb.Tier"] = {"fingerprint": pb.TIER_FINGERPRINT, "semantic": pb.TIER_SEMANTIC}
_TIER_NAMES = {v: k for k, v in _TIERS.items()}


def tier_from_proto(tier: "pb.Tier") -> Tier | None:
    """The library's tier name for a request's Tier (None: the server default)."""
    if tier == pb.TIER_UNSPECIFIED:
        return None
    if tier not in _TIER_NAMES:
        raise InvalidArgument(f"unknown tier {int(tier)}", reason="TIER_UNKNOWN", field="tier")
    return _TIER_NAMES[tier]  # type: ignore[return-value]


def stats_to_proto(stats: IndexStats, resident_memory_bytes: int) -> pb.GetIndexStatsResponse:
    message = pb.GetIndexStatsResponse(
        prompt_count=stats.prompt_count,
        indexed_count=stats.indexed_count,
        account_count=stats.account_count,
        org_count=stats.org_count,
        index_type=stats.index_type,
        model=stats.model,
        dimension=stats.dimension,
        normalizer_version=stats.normalizer_version,
        disk_bytes=stats.disk_bytes,
        resident_memory_bytes=resident_memory_bytes,
        index_memory_bytes=stats.index_memory_bytes,
        snapshot_watermark=stats.snapshot_watermark,
        template_count=stats.template_count,
        pending_vectors=stats.pending_vectors,
        embedding_policy=stats.embedding_policy,
        skipped_vectors=stats.skipped_vectors,
    )
    message.embedding_lag.FromNanoseconds(round(stats.embedding_lag_s * 1e9))
    if stats.snapshot_time_unix is not None:
        message.snapshot_time.FromNanoseconds(int(stats.snapshot_time_unix * 1e9))
    return message


def reconstructed_summary_to_proto(c: dict) -> pb.CampaignSummary:
    """A campaign of campaigns.jsonl (see promptprint.reconstruct.outputs) as listed."""
    return pb.CampaignSummary(
        campaign_id=c["campaign_id"],
        rank=c["rank"],
        score=c["score"],
        reasons=c["reasons"],
        prompt_count=c["prompts"],
        account_count=c["accounts"],
        org_count=c["orgs"],
        template_count=len(c["templates"]),
        first_seen=ms_to_timestamp(c["first_seen_ms"]),
        last_seen=ms_to_timestamp(c["last_seen_ms"]),
        dedication=c["dedication"],
        template_text=c["templates"][0]["text"] if c["templates"] else "",
    )


def reconstructed_campaign_to_proto(c: dict, account_limit: int) -> pb.Campaign:
    """A campaign of campaigns.jsonl in full, with at most ``account_limit`` accounts."""
    return pb.Campaign(
        summary=reconstructed_summary_to_proto(c),
        templates=[
            pb.CampaignTemplate(
                template_id=t["template_id"],
                prompt_count=t["prompts"],
                account_count=t["accounts"],
                text=t["text"],
                parts=[
                    pb.TemplatePart(slot=True, slot_type=p["value"]) if p["kind"] == "slot" else pb.TemplatePart(text=p["value"])
                    for p in t["parts"]
                ],
                variants=[pb.TemplateVariant(variant_id=v["variant_id"], prompt_count=v["prompts"], text=v["text"]) for v in t["variants"]],
                examples=[
                    pb.Prompt(prompt_id=e["prompt_id"], account_id=e["account_id"], created_at=ms_to_timestamp(e["created_at_ms"]), text=e["text"])
                    for e in t["examples"]
                ],
            )
            for t in c["templates"]
        ],
        accounts=[
            pb.CampaignAccount(
                account_id=a["account_id"],
                org_id=a["org_id"],
                prompt_count=a["prompts"],
                total_prompt_count=a["total_prompts"],
                first_seen=ms_to_timestamp(a["first_seen_ms"]),
                last_seen=ms_to_timestamp(a["last_seen_ms"]),
            )
            for a in c["account_list"][:account_limit]
        ],
        volume_per_day=[pb.DailyVolume(day=ms_to_timestamp(d["day_ms"]), prompt_count=d["prompts"]) for d in c["volume_per_day"]],
        repeat_account_count=c["repeat_accounts"],
        burst_account_count=c["burst_accounts"],
        distinct_text_count=c["distinct_texts"],
    )
