"""What the prompt index answers: ingest outcomes, near-duplicate hits, fan-outs,
CheckPrompt verdicts and index statistics (plain values the server converts)."""

from __future__ import annotations

import dataclasses
import enum

from promptprint.errors import PromptprintError
from promptprint.index.build import SearchTuning
from promptprint.index.config import Tier
from promptprint.templates.scoring import CampaignAssessment


class IngestStatus(enum.Enum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclasses.dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What happened to one prompt of an ingest batch."""

    status: IngestStatus
    error: PromptprintError | None = None


class MatchView(enum.Enum):
    """Which view of the index found a hit."""

    SEMANTIC = "semantic"  # the fingerprint vectors: similarity is their cosine
    LEXICAL = "lexical"  # the canonical-text hash: a copy (similarity 1), vector or not


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """One indexed prompt near the query."""

    prompt_id: str
    account_id: str
    org_id: str
    created_at_ms: int
    similarity: float
    text: str | None = None
    view: MatchView | None = None  # None: not stated (CheckPrompt examples)


@dataclasses.dataclass(frozen=True)
class NearDuplicateQuery:
    """FindNearDuplicates: by text or by prompt_id (exactly one), with filters."""

    text: str | None = None
    prompt_id: str | None = None
    k: int = 10
    min_similarity: float | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    exclude_account_id: str = ""
    exclude_org_id: str = ""
    include_text: bool = False
    tuning: SearchTuning | None = None  # per-request search effort (nprobe, ef_search, ...)


@dataclasses.dataclass(frozen=True)
class Fanout:
    """Near-duplicates of a checked prompt in its window, across accounts and orgs.

    In the semantic tier they are the transformer neighbours above the similarity
    threshold; in the fingerprint tier, the prompts of the template the checked prompt
    matches (``max_similarity`` is then the share of the template's constant part that
    the prompt contains)."""

    matching_prompts: int
    distinct_accounts: int
    distinct_other_accounts: int
    distinct_orgs: int
    distinct_other_orgs: int
    first_seen_ms: int | None
    last_seen_ms: int | None
    max_similarity: float
    saturated: bool


#: The fan-out of a prompt nothing matched (no template, or no neighbour).
NO_FANOUT = Fanout(0, 0, 0, 0, 0, None, None, 0.0, False)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """CheckPrompt's answer."""

    prompt_id: str
    recorded: IngestStatus | None  # None: not asked to record
    fanout: Fanout
    examples: list[Hit]
    min_similarity: float
    window_start_ms: int
    window_end_ms: int
    campaign: CampaignAssessment
    tier: Tier = "semantic"


@dataclasses.dataclass(frozen=True)
class IndexStats:
    prompt_count: int
    indexed_count: int
    account_count: int
    org_count: int
    index_type: str
    model: str
    dimension: int
    normalizer_version: str
    disk_bytes: int
    index_memory_bytes: int
    snapshot_watermark: int
    snapshot_time_unix: float | None
    template_count: int
    pending_vectors: int = 0
    embedding_policy: str = ""  # EmbeddingPolicy.describe()
    skipped_vectors: int = 0  # rows the policy left without a vector since start
    embedding_lag_s: float = 0.0  # how long the oldest row waiting for its vector has waited
