"""Offline campaign reconstruction, end to end: corpus in, ranked campaigns out.

    signatures + lexical templates (promptprint.text.skeleton, promptprint.templates.tracker replayed)
    -> semantic k-NN candidates (knn_graph, FAISS)      -> weighted graph (graph)
    -> template clusters (clustering: components + Leiden)
    -> campaigns (campaigns: account x template graph, score with reasons)
    -> per campaign: templates with slots and variants (slots), accounts, timeline

The result is plain data (:class:`Reconstruction`); :mod:`promptprint.reconstruct.outputs`
writes it as JSON Lines + Parquet and :mod:`promptprint.reconstruct.report` as HTML.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Callable, Collection

import numpy as np

from promptprint.templates.scoring import BankHit
from promptprint.text.normalize import canonical_text
from promptprint.reconstruct.campaigns import (
    DAY_MS,
    CampaignParams,
    CampaignStats,
    campaign_stats,
    core_accounts,
    group_templates,
    score_campaign,
)
from promptprint.reconstruct.clustering import ClusterParams, cluster
from promptprint.reconstruct.corpus import Corpus
from promptprint.reconstruct.graph import GraphParams, weigh
from promptprint.executors import BatchExecutor, one_ahead
from promptprint.reconstruct.knn_graph import KnnParams, knn_edges
from promptprint.reconstruct.minhash import PERMUTATIONS, sketches
from promptprint.reconstruct.slots import TemplateText, extract_template
from promptprint.text.skeleton import Signature, canonical_hash, signature, signatures
from promptprint.templates.tracker import Event, TemplateTracker

# The tracker's window when replayed offline: it only decides when a one-prompt
# template is forgotten (memory); joined templates are kept for the whole corpus.
LEXICAL_WINDOW_MS = 7 * DAY_MS
# Banks.match: a prompt (its signature) and its template's core shingles (None: no template)
BankMatcher = Callable[[Signature, Collection[int] | None], BankHit | None]


@dataclasses.dataclass(frozen=True)
class ReconstructConfig:
    """Every knob of a reconstruction (each step's own parameters, plus presentation).

    Attributes:
        examples: example prompts kept per template.
        max_variants: lexical variants (paraphrases, translations) shown per template.
    """

    knn: KnnParams = KnnParams()
    graph: GraphParams = GraphParams()
    clusters: ClusterParams = ClusterParams()
    campaigns: CampaignParams = CampaignParams()
    examples: int = 5
    max_variants: int = 5

    def __post_init__(self) -> None:
        if self.examples < 1 or self.max_variants < 1:
            raise ValueError("examples and max_variants must be >= 1")


@dataclasses.dataclass(frozen=True)
class Example:
    prompt_id: str
    account_id: str
    created_at_ms: int
    text: str


@dataclasses.dataclass(frozen=True)
class Variant:
    """A lexical variant of a template: a paraphrase, a translation, an edit."""

    variant_id: str
    prompts: int
    template: TemplateText


@dataclasses.dataclass(frozen=True)
class TemplateResult:
    template_id: str
    prompts: int
    accounts: int
    template: TemplateText
    variants: tuple[Variant, ...]
    examples: tuple[Example, ...]


@dataclasses.dataclass(frozen=True)
class AccountResult:
    account_id: str
    org_id: str
    prompts: int  # in the campaign
    total_prompts: int  # in the whole corpus
    first_seen_ms: int
    last_seen_ms: int


@dataclasses.dataclass(frozen=True)
class CampaignResult:
    campaign_id: str
    rank: int
    score: float
    reasons: tuple[str, ...]
    stats: CampaignStats
    templates: tuple[TemplateResult, ...]
    accounts: tuple[AccountResult, ...]  # busiest first
    volume_per_day: tuple[tuple[int, int], ...]  # (day start ms, prompts)
    bank: BankHit | None
    prompt_rows: np.ndarray  # corpus positions of its prompts, time order
    prompt_templates: np.ndarray  # template index (into templates) of each


@dataclasses.dataclass
class Reconstruction:
    campaigns: list[CampaignResult]
    corpus: Corpus
    clusters: np.ndarray  # cluster label per prompt
    template_ids: np.ndarray  # online lexical template per prompt (0 = none)
    timings_s: dict[str, float]
    config: ReconstructConfig


@dataclasses.dataclass
class LexicalView:
    """What the skeletons say about each prompt, kept compact (no per-prompt sets)."""

    sketches: np.ndarray  # (n, PERMUTATIONS) uint32 MinHash of the skeleton shingles
    sizes: np.ndarray  # int32 number of shingles of each prompt
    text_hashes: np.ndarray  # int64 canonical-text hash (tells payloads apart)
    template_ids: np.ndarray  # online lexical template per prompt (0 = too short)
    tracker: TemplateTracker  # its templates with 2+ members (their cores)


def lexical_view(corpus: Corpus, *, window_ms: int = LEXICAL_WINDOW_MS, batch: int = 4096) -> LexicalView:
    """Replay the online template tracker over the corpus in time order, and sketch
    every prompt's shingles. One-prompt templates older than ``window_ms`` are swept
    as online (bounded memory); templates that found a second member stay."""
    tracker = TemplateTracker(window_ms=window_ms)
    ids = np.zeros(len(corpus), dtype=np.int64)
    hashes = np.zeros(len(corpus), dtype=np.int64)
    sizes = np.zeros(len(corpus), dtype=np.int32)
    sketch_parts = []

    def sign(start: int) -> list[Signature]:
        return signatures(corpus.texts[start : start + batch])

    # a worker signs the next batch (in C, without the GIL) while this thread records one
    for start, signed in one_ahead(sign, range(0, len(corpus), batch), name="promptprint-lexical"):
        for i, sig in enumerate(signed, start):
            ids[i] = tracker.record(sig, Event(int(corpus.created_at_ms[i]), "", ""))
            hashes[i] = sig.text_hash
            sizes[i] = len(sig)
        sketch_parts.append(sketches([sig.sorted_shingles for sig in signed]))
    empty = np.zeros((0, PERMUTATIONS), dtype=np.uint32)
    return LexicalView(np.concatenate(sketch_parts) if sketch_parts else empty, sizes, hashes, ids, tracker)


def _examples(corpus: Corpus, rows: np.ndarray, count: int) -> tuple[Example, ...]:
    """Up to ``count`` examples with distinct texts, spread over the template's life."""
    picked: list[int] = []
    seen: set[int] = set()
    for r in rows[np.linspace(0, len(rows) - 1, min(len(rows), 4 * count)).astype(int)].tolist():
        h = canonical_hash(canonical_text(corpus.texts[r]))
        if h not in seen:
            seen.add(h)
            picked.append(r)
        if len(picked) == count:
            break
    return tuple(
        Example(corpus.prompt_ids[r], corpus.account_names[corpus.accounts[r]], int(corpus.created_at_ms[r]), corpus.texts[r])
        for r in picked
    )


def _template(corpus: Corpus, label: int, rows: np.ndarray, template_ids: np.ndarray, config: ReconstructConfig) -> TemplateResult:
    """A cluster as a template: its lexical variants (the online tracker's templates
    inside it), each with its slots, the biggest one standing for the cluster."""
    variants = []
    for vid, count in collections.Counter(template_ids[rows].tolist()).most_common(config.max_variants):
        members = rows[template_ids[rows] == vid]
        text = extract_template([corpus.texts[r] for r in members.tolist()])
        variants.append(Variant(f"v-{vid}" if vid else "v-none", int(count), text))
    return TemplateResult(
        template_id=f"t-{label}",
        prompts=len(rows),
        accounts=len(np.unique(corpus.accounts[rows])),
        template=variants[0].template,
        variants=tuple(variants),
        examples=_examples(corpus, rows, config.examples),
    )


def _accounts(corpus: Corpus, rows: np.ndarray, account_totals: np.ndarray) -> tuple[AccountResult, ...]:
    accounts = corpus.accounts[rows]
    times = corpus.created_at_ms[rows]
    uniq, inverse, counts = np.unique(accounts, return_inverse=True, return_counts=True)
    first = np.full(len(uniq), np.iinfo(np.int64).max)
    last = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(first, inverse, times)
    np.maximum.at(last, inverse, times)
    org_of = np.zeros(len(uniq), dtype=np.int64)
    org_of[inverse] = corpus.orgs[rows]
    out = [
        AccountResult(
            account_id=corpus.account_names[a],
            org_id=corpus.org_names[org_of[i]],
            prompts=int(counts[i]),
            total_prompts=int(account_totals[a]),
            first_seen_ms=int(first[i]),
            last_seen_ms=int(last[i]),
        )
        for i, a in enumerate(uniq.tolist())
    ]
    out.sort(key=lambda a: (-a.prompts, a.first_seen_ms, a.account_id))
    return tuple(out)


@dataclasses.dataclass
class ClusterView:
    """The template clusters of a corpus and the lexical view they were made from."""

    lexical: LexicalView
    labels: np.ndarray  # cluster per prompt, 0 = biggest
    edge_count: int
    timings_s: dict[str, float]


def template_clusters(
    corpus: Corpus,
    config: ReconstructConfig = ReconstructConfig(),
    executor: BatchExecutor | None = None,
    lexical: LexicalView | None = None,
) -> ClusterView:
    """Steps 1-2 of a reconstruction: the near-duplicate graph and its clusters.
    ``lexical`` may be given precomputed (e.g. by a job that sketched the corpus in
    parallel); by default it is computed here."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if lexical is None:
        lexical = lexical_view(corpus)
    timings["lexical"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    candidates = knn_edges(corpus.vectors, config.knn, executor)
    timings["knn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    edges = weigh(candidates, lexical.sketches, lexical.sizes, lexical.template_ids, config.graph)
    del candidates
    labels = cluster(len(corpus), edges, config.clusters, lexical.template_ids)
    timings["cluster"] = time.perf_counter() - t0
    return ClusterView(lexical, labels, len(edges), timings)


def reconstruct(
    corpus: Corpus,
    config: ReconstructConfig = ReconstructConfig(),
    *,
    bank_match: BankMatcher | None = None,
    executor: BatchExecutor | None = None,
    lexical: LexicalView | None = None,
) -> Reconstruction:
    """Reconstruct the campaigns of a corpus, ranked by score (best first).

    Args:
        corpus: the prompts (see :mod:`promptprint.reconstruct.corpus`).
        config: parameters of every step.
        bank_match: allow/deny bank lookup (``Banks.match``); None = no banks.
        executor: runs the k-NN query batches (default in-process; Ray: see promptprint.executors).
        lexical: a precomputed lexical view (see :func:`template_clusters`).
    """
    view = template_clusters(corpus, config, executor, lexical)
    template_ids, tracker, labels = view.lexical.template_ids, view.lexical.tracker, view.labels
    timings = dict(view.timings_s)
    t0 = time.perf_counter()
    groups = group_templates(corpus, labels, config.campaigns)
    account_totals = np.bincount(corpus.accounts, minlength=len(corpus.account_names))
    text_hashes = view.lexical.text_hashes
    order = np.argsort(labels, kind="stable")  # rows of each cluster: contiguous, in time order
    starts = np.concatenate([[0], np.cumsum(np.bincount(labels))])
    results: list[CampaignResult] = []
    for templates in groups:
        per_template = sorted(((order[starts[t] : starts[t + 1]], int(t)) for t in templates.tolist()), key=lambda x: -len(x[0]))
        rows = np.concatenate([r for r, _ in per_template])
        template_of = np.concatenate([np.full(len(r), i, dtype=np.int32) for i, (r, _) in enumerate(per_template)])
        core = core_accounts(corpus.accounts[rows], account_totals, config.campaigns)
        if len(core) < config.campaigns.min_accounts:
            continue
        mine = np.isin(corpus.accounts[rows], core)  # incidental accounts' prompts are not the campaign's
        rows, template_of = rows[mine], template_of[mine]
        kept = [(r[np.isin(corpus.accounts[r], core)], label) for r, label in per_template]
        by_time = np.lexsort((rows, corpus.created_at_ms[rows]))
        rows, template_of = rows[by_time], template_of[by_time]
        stats = campaign_stats(corpus, rows, account_totals, text_hashes)
        lead_rows = per_template[0][0]
        lead_tid = collections.Counter(template_ids[lead_rows].tolist()).most_common(1)[0][0]
        lead_template = tracker.template(lead_tid) if lead_tid else None
        template_core = lead_template.core if lead_template is not None else None
        lead_sig = signature(corpus.texts[int(lead_rows[0])])
        bank = bank_match(lead_sig, template_core) if bank_match else None
        score, reasons = score_campaign(stats, len(template_core) if template_core is not None else 0, bank)
        days, per_day = np.unique(corpus.created_at_ms[rows] // DAY_MS, return_counts=True)
        results.append(
            CampaignResult(
                campaign_id="",
                rank=0,
                score=score,
                reasons=tuple(reasons),
                stats=stats,
                templates=tuple(_template(corpus, label, r, template_ids, config) for r, label in kept if len(r)),
                accounts=_accounts(corpus, rows, account_totals),
                volume_per_day=tuple((int(d) * DAY_MS, int(c)) for d, c in zip(days, per_day)),
                bank=bank,
                prompt_rows=rows,
                prompt_templates=template_of,
            )
        )
    results.sort(key=lambda c: (-c.score, -c.stats.accounts, c.stats.first_seen_ms))
    width = max(4, len(str(len(results))))
    results = [
        dataclasses.replace(c, campaign_id=f"c-{i + 1:0{width}d}", rank=i + 1) for i, c in enumerate(results)
    ]
    timings["campaigns"] = time.perf_counter() - t0
    return Reconstruction(results, corpus, labels, template_ids, timings, config)
