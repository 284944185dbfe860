"""How a PromptIndex is set up: the data directory, limits, index choice and tier.

Kept apart from the index itself so that jobs (reindex, purge), the server and the CLI
can describe a data directory without loading one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from promptprint.index.build import BuildKind, IndexChoice
from promptprint.index.ivf_index import IvfParams
from promptprint.index.embedding_policy import EmbeddingPolicy
from promptprint.index.vector_index import HnswParams, VectorStorage
from promptprint.records import DEFAULT_MAX_TEXT_BYTES
from promptprint.templates.scoring import DEFAULT_FLAG_THRESHOLD

DAY_MS = 24 * 3600 * 1000

Tier = Literal["fingerprint", "semantic"]
TIERS: tuple[Tier, ...] = ("fingerprint", "semantic")


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    """Settings of a :class:`~promptprint.index.prompt_index.PromptIndex`. All limits are
    enforced on every entry point.

    Attributes:
        data_dir: where the record store (``records.sqlite``) and snapshots live.
        max_text_bytes: longest accepted prompt, in UTF-8 bytes.
        max_k: most hits one FindNearDuplicates may ask for.
        default_min_similarity: CheckPrompt's near-duplicate threshold when the caller
            sets none. 0.8 on MiniLM: paraphrases and re-filled templates score
            0.8-0.97, unrelated prompts on the same topic rarely pass 0.7.
        default_lookback_ms: CheckPrompt's window when the caller sets none (24 h).
        max_fanout_neighbors: most neighbours one CheckPrompt examines; past it the
            fan-out is reported as saturated (a lower bound).
        index_kind / hnsw_threshold / hnsw / ivf_threshold / ivf: FAISS index choice
            (see promptprint.index.build): flat, HNSW past hnsw_threshold, IVF-PQ with
            re-ranking past ivf_threshold (chosen when an index is built from the store).
        vector_storage: how flat and HNSW indexes hold vectors in memory: ``"fp16"``
            (default; the store's precision, so nothing is lost) or ``"fp32"`` (twice the
            memory).
        snapshot_every: new records between automatic snapshots (0 disables them;
            one is still written on close).
        campaign_threshold: campaign score at which CheckPrompt sets ``flagged``
            (see promptprint.templates.scoring for how 0.5 was chosen).
        template_window_ms: sliding window of the per-template activity counters.
        semantic_links: link templates whose instructions embed alike, on the background
            embedding thread (promptprint.index.template_linker). Off, verdicts do not
            depend on how far that thread has got (equivalence checks).
        link_lag_ms: how long, by the traffic's own clock (its prompts' times), a template
            may wait for its link by wording before a check waits for its embedding (0:
            checks never wait; links then trail a fast replay). Live traffic's clock is
            the wall clock, which a forward pass never falls a minute behind: only a
            replay, hours of traffic a second, waits. A minute, not ten: live, a link
            lands within a second of its template qualifying, and a campaign account's
            sitting is minutes long (at ten, a replay judged the rest of such a sitting
            without the link live traffic would have had). See PromptIndex._link_now.
        cluster_members: serving processes the traffic is routed over by template
            (promptprint.cluster; 1: this one alone): accounts' volumes are estimated
            from the part each process sees (TemplateTracker.set_members).
        builtin_allow_bank: seed a new data directory with the public agent-framework
            scaffolds (promptprint.templates.builtin_banks).
        tier: ``"fingerprint"`` (default: vectors computed behind the acknowledgement,
            CheckPrompt answered from the template tracker) or ``"semantic"`` (vectors
            before the acknowledgement, CheckPrompt fan-out by transformer search). See
            promptprint.index.prompt_index.
        embed_batch: most pending rows the background thread takes at once (oldest
            first). The embedder sorts them by length and runs them in forward passes of
            its own batch size, so a wide window pads less (see the README's
            Performance section for the measured difference).
        max_vector_backlog: most rows waiting for their vector, so memory stays bounded
            when prompts arrive faster than the transformer can embed them. Past it the
            embedding policy sheds the oldest waiting rows (they are skipped: no vector),
            except the ``all`` policy, under which a fingerprint-tier write waits up to
            ``backlog_wait_s`` for room and then fails with RESOURCE_EXHAUSTED (nothing is
            recorded).
        embedding_policy: which prompts get a vector at all (see
            promptprint.index.embedding_policy). The library's default is ``all`` (a
            batch job or a notebook wants every vector and can wait for them);
            ``promptprint serve`` defaults to ``templates``, since live traffic arrives
            faster than the transformer embeds.
        privacy_mode: store fingerprints, metadata, the SHA-256 of the text and its
            template signature, never the raw text (see promptprint.storage.store). What is lost:
            texts in FindNearDuplicates(include_text) answers and any re-embedding from
            the stored source (a model change needs the source data again).
        retention_ms: prompts older than this are purged by :meth:`PromptIndex.purge_expired`
            (0 keeps everything), in both privacy modes.
    """

    data_dir: Path
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
    max_k: int = 1000
    default_min_similarity: float = 0.8
    default_lookback_ms: int = DAY_MS
    max_fanout_neighbors: int = 1024
    index_kind: BuildKind = "auto"
    hnsw_threshold: int = 20_000
    hnsw: HnswParams = HnswParams()
    vector_storage: VectorStorage = "fp16"
    ivf_threshold: int = 2_000_000
    ivf: IvfParams = IvfParams()
    snapshot_every: int = 50_000
    campaign_threshold: float = DEFAULT_FLAG_THRESHOLD
    template_window_ms: int = DAY_MS
    cluster_members: int = 1
    semantic_links: bool = True
    link_lag_ms: int = 60 * 1000
    builtin_allow_bank: bool = True
    tier: Tier = "fingerprint"
    embed_batch: int = 512
    max_vector_backlog: int = 250_000
    backlog_wait_s: float = 5.0
    embedding_policy: EmbeddingPolicy = EmbeddingPolicy("all")
    privacy_mode: bool = False
    retention_ms: int = 0

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {self.tier!r}")
        if self.embed_batch < 1:
            raise ValueError(f"embed_batch must be >= 1, got {self.embed_batch}")
        if self.max_vector_backlog < 1:
            raise ValueError(f"max_vector_backlog must be >= 1, got {self.max_vector_backlog}")
        if self.backlog_wait_s < 0:
            raise ValueError(f"backlog_wait_s must be >= 0, got {self.backlog_wait_s}")
        if not 0.0 <= self.campaign_threshold <= 1.0:
            raise ValueError(f"campaign_threshold must be in [0, 1], got {self.campaign_threshold}")
        if self.link_lag_ms < 0:
            raise ValueError(f"link_lag_ms must be >= 0, got {self.link_lag_ms}")
        if self.cluster_members < 1:
            raise ValueError(f"cluster_members must be >= 1, got {self.cluster_members}")
        if self.template_window_ms <= 0:
            raise ValueError(f"template_window_ms must be positive, got {self.template_window_ms}")
        if self.max_text_bytes < 1:
            raise ValueError(f"max_text_bytes must be positive, got {self.max_text_bytes}")
        if not 1 <= self.max_k <= 100_000:
            raise ValueError(f"max_k must be in 1..100000, got {self.max_k}")
        if not 0.0 <= self.default_min_similarity <= 1.0:
            raise ValueError(f"default_min_similarity must be in [0, 1], got {self.default_min_similarity}")
        if self.default_lookback_ms <= 0:
            raise ValueError(f"default_lookback_ms must be positive, got {self.default_lookback_ms}")
        if self.max_fanout_neighbors < 16:
            raise ValueError(f"max_fanout_neighbors must be >= 16, got {self.max_fanout_neighbors}")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0 (0 = only on close), got {self.snapshot_every}")
        if self.retention_ms < 0:
            raise ValueError(f"retention_ms must be >= 0 (0 = keep forever), got {self.retention_ms}")
        self.choice  # validates the index settings

    @property
    def choice(self) -> IndexChoice:
        return IndexChoice(
            kind=self.index_kind, hnsw_threshold=self.hnsw_threshold, ivf_threshold=self.ivf_threshold, hnsw=self.hnsw, ivf=self.ivf,
            storage=self.vector_storage,
        )

    @property
    def store_path(self) -> Path:
        return Path(self.data_dir) / "records.sqlite"

    @property
    def snapshot_root(self) -> Path:
        return Path(self.data_dir) / "snapshots"
