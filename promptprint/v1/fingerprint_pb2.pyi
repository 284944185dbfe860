import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MatchView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_VIEW_UNSPECIFIED: _ClassVar[MatchView]
    MATCH_VIEW_SEMANTIC: _ClassVar[MatchView]
    MATCH_VIEW_LEXICAL: _ClassVar[MatchView]

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_FINGERPRINT: _ClassVar[Tier]
    TIER_SEMANTIC: _ClassVar[Tier]

class RecordOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_OUTCOME_UNSPECIFIED: _ClassVar[RecordOutcome]
    RECORD_OUTCOME_RECORDED: _ClassVar[RecordOutcome]
    RECORD_OUTCOME_DUPLICATE: _ClassVar[RecordOutcome]

class BankKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BANK_KIND_UNSPECIFIED: _ClassVar[BankKind]
    BANK_KIND_ALLOW: _ClassVar[BankKind]
    BANK_KIND_DENY: _ClassVar[BankKind]

class CampaignLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_LEVEL_UNSPECIFIED: _ClassVar[CampaignLevel]
    CAMPAIGN_LEVEL_NONE: _ClassVar[CampaignLevel]
    CAMPAIGN_LEVEL_WATCH: _ClassVar[CampaignLevel]
    CAMPAIGN_LEVEL_FLAGGED: _ClassVar[CampaignLevel]
MATCH_VIEW_UNSPECIFIED: MatchView
MATCH_VIEW_SEMANTIC: MatchView
MATCH_VIEW_LEXICAL: MatchView
TIER_UNSPECIFIED: Tier
TIER_FINGERPRINT: Tier
TIER_SEMANTIC: Tier
RECORD_OUTCOME_UNSPECIFIED: RecordOutcome
RECORD_OUTCOME_RECORDED: RecordOutcome
RECORD_OUTCOME_DUPLICATE: RecordOutcome
BANK_KIND_UNSPECIFIED: BankKind
BANK_KIND_ALLOW: BankKind
BANK_KIND_DENY: BankKind
CAMPAIGN_LEVEL_UNSPECIFIED: CampaignLevel
CAMPAIGN_LEVEL_NONE: CampaignLevel
CAMPAIGN_LEVEL_WATCH: CampaignLevel
CAMPAIGN_LEVEL_FLAGGED: CampaignLevel

class Prompt(_message.Message):
    __slots__ = ("prompt_id", "account_id", "org_id", "created_at", "text")
    PROMPT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    prompt_id: str
    account_id: str
    org_id: str
    created_at: _timestamp_pb2.Timestamp
    text: str
    def __init__(self, prompt_id: _Optional[str] = ..., account_id: _Optional[str] = ..., org_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class TimeWindow(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NearDuplicate(_message.Message):
    __slots__ = ("prompt_id", "account_id", "org_id", "created_at", "similarity", "text", "view")
    PROMPT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    prompt_id: str
    account_id: str
    org_id: str
    created_at: _timestamp_pb2.Timestamp
    similarity: float
    text: str
    view: MatchView
    def __init__(self, prompt_id: _Optional[str] = ..., account_id: _Optional[str] = ..., org_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., similarity: _Optional[float] = ..., text: _Optional[str] = ..., view: _Optional[_Union[MatchView, str]] = ...) -> None: ...

class IngestPromptsRequest(_message.Message):
    __slots__ = ("prompts",)
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    prompts: _containers.RepeatedCompositeFieldContainer[Prompt]
    def __init__(self, prompts: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ...) -> None: ...

class IngestRejection(_message.Message):
    __slots__ = ("position", "prompt_id", "code", "reason", "message")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    position: int
    prompt_id: str
    code: int
    reason: str
    message: str
    def __init__(self, position: _Optional[int] = ..., prompt_id: _Optional[str] = ..., code: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IngestPromptsResponse(_message.Message):
    __slots__ = ("accepted_count", "duplicate_count", "rejected_count", "rejections")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    duplicate_count: int
    rejected_count: int
    rejections: _containers.RepeatedCompositeFieldContainer[IngestRejection]
    def __init__(self, accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., rejected_count: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[IngestRejection, _Mapping]]] = ...) -> None: ...

class FindNearDuplicatesRequest(_message.Message):
    __slots__ = ("text", "prompt_id", "k", "min_similarity", "window", "exclude_account_id", "exclude_org_id", "include_text", "search")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_ID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ORG_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TEXT_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    text: str
    prompt_id: str
    k: int
    min_similarity: float
    window: TimeWindow
    exclude_account_id: str
    exclude_org_id: str
    include_text: bool
    search: SearchOptions
    def __init__(self, text: _Optional[str] = ..., prompt_id: _Optional[str] = ..., k: _Optional[int] = ..., min_similarity: _Optional[float] = ..., window: _Optional[_Union[TimeWindow, _Mapping]] = ..., exclude_account_id: _Optional[str] = ..., exclude_org_id: _Optional[str] = ..., include_text: _Optional[bool] = ..., search: _Optional[_Union[SearchOptions, _Mapping]] = ...) -> None: ...

class FindNearDuplicatesResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[NearDuplicate]
    def __init__(self, hits: _Optional[_Iterable[_Union[NearDuplicate, _Mapping]]] = ...) -> None: ...

class CheckPromptRequest(_message.Message):
    __slots__ = ("prompt", "record", "min_similarity", "lookback", "example_count", "tier", "search")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    prompt: Prompt
    record: bool
    min_similarity: float
    lookback: _duration_pb2.Duration
    example_count: int
    tier: Tier
    search: SearchOptions
    def __init__(self, prompt: _Optional[_Union[Prompt, _Mapping]] = ..., record: _Optional[bool] = ..., min_similarity: _Optional[float] = ..., lookback: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., example_count: _Optional[int] = ..., tier: _Optional[_Union[Tier, str]] = ..., search: _Optional[_Union[SearchOptions, _Mapping]] = ...) -> None: ...

class CheckPromptsRequest(_message.Message):
    __slots__ = ("prompts", "record", "min_similarity", "lookback", "example_count", "tier", "search")
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    prompts: _containers.RepeatedCompositeFieldContainer[Prompt]
    record: bool
    min_similarity: float
    lookback: _duration_pb2.Duration
    example_count: int
    tier: Tier
    search: SearchOptions
    def __init__(self, prompts: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ..., record: _Optional[bool] = ..., min_similarity: _Optional[float] = ..., lookback: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., example_count: _Optional[int] = ..., tier: _Optional[_Union[Tier, str]] = ..., search: _Optional[_Union[SearchOptions, _Mapping]] = ...) -> None: ...

class CheckPromptsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CheckPromptsResult]
    def __init__(self, results: _Optional[_Iterable[_Union[CheckPromptsResult, _Mapping]]] = ...) -> None: ...

class CheckPromptsResult(_message.Message):
    __slots__ = ("verdict", "rejection")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    verdict: CheckPromptResponse
    rejection: IngestRejection
    def __init__(self, verdict: _Optional[_Union[CheckPromptResponse, _Mapping]] = ..., rejection: _Optional[_Union[IngestRejection, _Mapping]] = ...) -> None: ...

class Fanout(_message.Message):
    __slots__ = ("matching_prompts", "distinct_accounts", "distinct_other_accounts", "distinct_orgs", "distinct_other_orgs", "first_seen", "last_seen", "max_similarity", "saturated")
    MATCHING_PROMPTS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_OTHER_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_ORGS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_OTHER_ORGS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    MAX_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    SATURATED_FIELD_NUMBER: _ClassVar[int]
    matching_prompts: int
    distinct_accounts: int
    distinct_other_accounts: int
    distinct_orgs: int
    distinct_other_orgs: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    max_similarity: float
    saturated: bool
    def __init__(self, matching_prompts: _Optional[int] = ..., distinct_accounts: _Optional[int] = ..., distinct_other_accounts: _Optional[int] = ..., distinct_orgs: _Optional[int] = ..., distinct_other_orgs: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_similarity: _Optional[float] = ..., saturated: _Optional[bool] = ...) -> None: ...

class CheckPromptResponse(_message.Message):
    __slots__ = ("prompt_id", "record_outcome", "fanout", "examples", "min_similarity", "window_start", "window_end", "campaign", "tier")
    PROMPT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    FANOUT_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    prompt_id: str
    record_outcome: RecordOutcome
    fanout: Fanout
    examples: _containers.RepeatedCompositeFieldContainer[NearDuplicate]
    min_similarity: float
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    campaign: CampaignAssessment
    tier: Tier
    def __init__(self, prompt_id: _Optional[str] = ..., record_outcome: _Optional[_Union[RecordOutcome, str]] = ..., fanout: _Optional[_Union[Fanout, _Mapping]] = ..., examples: _Optional[_Iterable[_Union[NearDuplicate, _Mapping]]] = ..., min_similarity: _Optional[float] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., campaign: _Optional[_Union[CampaignAssessment, _Mapping]] = ..., tier: _Optional[_Union[Tier, str]] = ...) -> None: ...

class TemplateActivity(_message.Message):
    __slots__ = ("volume", "accounts", "other_accounts", "orgs", "repeat_accounts", "distinct_texts", "burst_accounts", "first_seen", "last_seen", "core_size", "payload_share", "members_total")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    OTHER_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    ORGS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_TEXTS_FIELD_NUMBER: _ClassVar[int]
    BURST_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    CORE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SHARE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    volume: int
    accounts: int
    other_accounts: int
    orgs: int
    repeat_accounts: int
    distinct_texts: int
    burst_accounts: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    core_size: int
    payload_share: float
    members_total: int
    def __init__(self, volume: _Optional[int] = ..., accounts: _Optional[int] = ..., other_accounts: _Optional[int] = ..., orgs: _Optional[int] = ..., repeat_accounts: _Optional[int] = ..., distinct_texts: _Optional[int] = ..., burst_accounts: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., core_size: _Optional[int] = ..., payload_share: _Optional[float] = ..., members_total: _Optional[int] = ...) -> None: ...

class CampaignAssessment(_message.Message):
    __slots__ = ("template_id", "score", "flagged", "threshold", "reasons", "activity", "bank_entry_id", "bank_kind", "level", "reconstructed_campaign_id")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    BANK_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_KIND_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    RECONSTRUCTED_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: int
    score: float
    flagged: bool
    threshold: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    activity: TemplateActivity
    bank_entry_id: int
    bank_kind: BankKind
    level: CampaignLevel
    reconstructed_campaign_id: str
    def __init__(self, template_id: _Optional[int] = ..., score: _Optional[float] = ..., flagged: _Optional[bool] = ..., threshold: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., activity: _Optional[_Union[TemplateActivity, _Mapping]] = ..., bank_entry_id: _Optional[int] = ..., bank_kind: _Optional[_Union[BankKind, str]] = ..., level: _Optional[_Union[CampaignLevel, str]] = ..., reconstructed_campaign_id: _Optional[str] = ...) -> None: ...

class GetAccountAssessmentRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class AccountTemplateGroup(_message.Message):
    __slots__ = ("group_id", "template_ids", "prompt_count", "share", "first_use", "last_use", "campaign", "score", "level")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_IDS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    FIRST_USE_FIELD_NUMBER: _ClassVar[int]
    LAST_USE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    template_ids: _containers.RepeatedScalarFieldContainer[int]
    prompt_count: int
    share: float
    first_use: _timestamp_pb2.Timestamp
    last_use: _timestamp_pb2.Timestamp
    campaign: CampaignAssessment
    score: float
    level: CampaignLevel
    def __init__(self, group_id: _Optional[int] = ..., template_ids: _Optional[_Iterable[int]] = ..., prompt_count: _Optional[int] = ..., share: _Optional[float] = ..., first_use: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_use: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., campaign: _Optional[_Union[CampaignAssessment, _Mapping]] = ..., score: _Optional[float] = ..., level: _Optional[_Union[CampaignLevel, str]] = ...) -> None: ...

class AccountAssessment(_message.Message):
    __slots__ = ("account_id", "score", "level", "flagged", "threshold", "reasons", "first_seen", "last_seen", "prompt_count", "groups")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    score: float
    level: CampaignLevel
    flagged: bool
    threshold: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    prompt_count: int
    groups: _containers.RepeatedCompositeFieldContainer[AccountTemplateGroup]
    def __init__(self, account_id: _Optional[str] = ..., score: _Optional[float] = ..., level: _Optional[_Union[CampaignLevel, str]] = ..., flagged: _Optional[bool] = ..., threshold: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., prompt_count: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[AccountTemplateGroup, _Mapping]]] = ...) -> None: ...

class GetAccountAssessmentResponse(_message.Message):
    __slots__ = ("assessment",)
    ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    assessment: AccountAssessment
    def __init__(self, assessment: _Optional[_Union[AccountAssessment, _Mapping]] = ...) -> None: ...

class BankEntry(_message.Message):
    __slots__ = ("entry_id", "kind", "text", "note", "source", "create_time")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    entry_id: int
    kind: BankKind
    text: str
    note: str
    source: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, entry_id: _Optional[int] = ..., kind: _Optional[_Union[BankKind, str]] = ..., text: _Optional[str] = ..., note: _Optional[str] = ..., source: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateBankEntryRequest(_message.Message):
    __slots__ = ("kind", "text", "note")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    kind: BankKind
    text: str
    note: str
    def __init__(self, kind: _Optional[_Union[BankKind, str]] = ..., text: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class CreateBankEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: BankEntry
    def __init__(self, entry: _Optional[_Union[BankEntry, _Mapping]] = ...) -> None: ...

class ListBankEntriesRequest(_message.Message):
    __slots__ = ("kind", "page_size", "page_token")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: BankKind
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[BankKind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBankEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[BankEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[BankEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteBankEntryRequest(_message.Message):
    __slots__ = ("entry_id",)
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    entry_id: int
    def __init__(self, entry_id: _Optional[int] = ...) -> None: ...

class DeleteBankEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: BankEntry
    def __init__(self, entry: _Optional[_Union[BankEntry, _Mapping]] = ...) -> None: ...

class GetIndexStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetIndexStatsResponse(_message.Message):
    __slots__ = ("prompt_count", "indexed_count", "account_count", "org_count", "index_type", "model", "dimension", "normalizer_version", "disk_bytes", "resident_memory_bytes", "index_memory_bytes", "snapshot_watermark", "snapshot_time", "template_count", "pending_vectors", "embedding_policy", "skipped_vectors", "embedding_lag")
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEXED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ORG_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    NORMALIZER_VERSION_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    INDEX_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_WATERMARK_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TIME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PENDING_VECTORS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_POLICY_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_VECTORS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_LAG_FIELD_NUMBER: _ClassVar[int]
    prompt_count: int
    indexed_count: int
    account_count: int
    org_count: int
    index_type: str
    model: str
    dimension: int
    normalizer_version: str
    disk_bytes: int
    resident_memory_bytes: int
    index_memory_bytes: int
    snapshot_watermark: int
    snapshot_time: _timestamp_pb2.Timestamp
    template_count: int
    pending_vectors: int
    embedding_policy: str
    skipped_vectors: int
    embedding_lag: _duration_pb2.Duration
    def __init__(self, prompt_count: _Optional[int] = ..., indexed_count: _Optional[int] = ..., account_count: _Optional[int] = ..., org_count: _Optional[int] = ..., index_type: _Optional[str] = ..., model: _Optional[str] = ..., dimension: _Optional[int] = ..., normalizer_version: _Optional[str] = ..., disk_bytes: _Optional[int] = ..., resident_memory_bytes: _Optional[int] = ..., index_memory_bytes: _Optional[int] = ..., snapshot_watermark: _Optional[int] = ..., snapshot_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., template_count: _Optional[int] = ..., pending_vectors: _Optional[int] = ..., embedding_policy: _Optional[str] = ..., skipped_vectors: _Optional[int] = ..., embedding_lag: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CampaignSummary(_message.Message):
    __slots__ = ("campaign_id", "rank", "score", "reasons", "prompt_count", "account_count", "org_count", "template_count", "first_seen", "last_seen", "dedication", "template_text")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ORG_COUNT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    DEDICATION_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_TEXT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    rank: int
    score: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    prompt_count: int
    account_count: int
    org_count: int
    template_count: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    dedication: float
    template_text: str
    def __init__(self, campaign_id: _Optional[str] = ..., rank: _Optional[int] = ..., score: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., prompt_count: _Optional[int] = ..., account_count: _Optional[int] = ..., org_count: _Optional[int] = ..., template_count: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dedication: _Optional[float] = ..., template_text: _Optional[str] = ...) -> None: ...

class TemplatePart(_message.Message):
    __slots__ = ("text", "slot", "slot_type")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    SLOT_TYPE_FIELD_NUMBER: _ClassVar[int]
    text: str
    slot: bool
    slot_type: str
    def __init__(self, text: _Optional[str] = ..., slot: _Optional[bool] = ..., slot_type: _Optional[str] = ...) -> None: ...

class TemplateVariant(_message.Message):
    __slots__ = ("variant_id", "prompt_count", "text")
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    variant_id: str
    prompt_count: int
    text: str
    def __init__(self, variant_id: _Optional[str] = ..., prompt_count: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class CampaignTemplate(_message.Message):
    __slots__ = ("template_id", "prompt_count", "account_count", "text", "parts", "variants", "examples")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    prompt_count: int
    account_count: int
    text: str
    parts: _containers.RepeatedCompositeFieldContainer[TemplatePart]
    variants: _containers.RepeatedCompositeFieldContainer[TemplateVariant]
    examples: _containers.RepeatedCompositeFieldContainer[Prompt]
    def __init__(self, template_id: _Optional[str] = ..., prompt_count: _Optional[int] = ..., account_count: _Optional[int] = ..., text: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[TemplatePart, _Mapping]]] = ..., variants: _Optional[_Iterable[_Union[TemplateVariant, _Mapping]]] = ..., examples: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ...) -> None: ...

class CampaignAccount(_message.Message):
    __slots__ = ("account_id", "org_id", "prompt_count", "total_prompt_count", "first_seen", "last_seen")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    org_id: str
    prompt_count: int
    total_prompt_count: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., org_id: _Optional[str] = ..., prompt_count: _Optional[int] = ..., total_prompt_count: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DailyVolume(_message.Message):
    __slots__ = ("day", "prompt_count")
    DAY_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    day: _timestamp_pb2.Timestamp
    prompt_count: int
    def __init__(self, day: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., prompt_count: _Optional[int] = ...) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("summary", "templates", "accounts", "volume_per_day", "repeat_account_count", "burst_account_count", "distinct_text_count")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    REPEAT_ACCOUNT_COUNT_FIELD_NUMBER: _ClassVar[int]
    BURST_ACCOUNT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_TEXT_COUNT_FIELD_NUMBER: _ClassVar[int]
    summary: CampaignSummary
    templates: _containers.RepeatedCompositeFieldContainer[CampaignTemplate]
    accounts: _containers.RepeatedCompositeFieldContainer[CampaignAccount]
    volume_per_day: _containers.RepeatedCompositeFieldContainer[DailyVolume]
    repeat_account_count: int
    burst_account_count: int
    distinct_text_count: int
    def __init__(self, summary: _Optional[_Union[CampaignSummary, _Mapping]] = ..., templates: _Optional[_Iterable[_Union[CampaignTemplate, _Mapping]]] = ..., accounts: _Optional[_Iterable[_Union[CampaignAccount, _Mapping]]] = ..., volume_per_day: _Optional[_Iterable[_Union[DailyVolume, _Mapping]]] = ..., repeat_account_count: _Optional[int] = ..., burst_account_count: _Optional[int] = ..., distinct_text_count: _Optional[int] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "window", "min_score")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    window: TimeWindow
    min_score: float
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., window: _Optional[_Union[TimeWindow, _Mapping]] = ..., min_score: _Optional[float] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token", "total_size", "reconstruction_time")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECONSTRUCTION_TIME_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignSummary]
    next_page_token: str
    total_size: int
    reconstruction_time: _timestamp_pb2.Timestamp
    def __init__(self, campaigns: _Optional[_Iterable[_Union[CampaignSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., reconstruction_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("campaign_id", "account_limit")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    account_limit: int
    def __init__(self, campaign_id: _Optional[str] = ..., account_limit: _Optional[int] = ...) -> None: ...

class GetCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class SearchOptions(_message.Message):
    __slots__ = ("nprobe", "ef_search", "rerank_factor")
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    RERANK_FACTOR_FIELD_NUMBER: _ClassVar[int]
    nprobe: int
    ef_search: int
    rerank_factor: int
    def __init__(self, nprobe: _Optional[int] = ..., ef_search: _Optional[int] = ..., rerank_factor: _Optional[int] = ...) -> None: ...

class ReloadIndexRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadIndexResponse(_message.Message):
    __slots__ = ("reloaded", "snapshot", "index_type", "prompt_count")
    RELOADED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    reloaded: bool
    snapshot: str
    index_type: str
    prompt_count: int
    def __init__(self, reloaded: _Optional[bool] = ..., snapshot: _Optional[str] = ..., index_type: _Optional[str] = ..., prompt_count: _Optional[int] = ...) -> None: ...

class DeleteAccountPromptsRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class DeleteAccountPromptsResponse(_message.Message):
    __slots__ = ("deleted_count",)
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    def __init__(self, deleted_count: _Optional[int] = ...) -> None: ...
