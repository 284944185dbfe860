"""Offline campaign reconstruction, end to end: corpus in, ranked campaigns out.

    signatures + lexical templates (promptprint.text.skeleton, promptprint.templates.tracker replayed)
    -> semantic k-NN candidates (knn_graph, FAISS)      -> weighted graph (graph)
    -> template clusters (clustering: components + Leiden)
    -> campaigns (attribution: templates linked by campaign-specific evidence, each
       account given to the campaign carrying its traffic; campaigns: score with reasons)
    -> per campaign: stable id (ids), templates with slots and variants (slots),
       accounts with their share and confidence, timeline

Campaigns scoring under ``min_score`` are not reported, only counted (:class:`Unreported`).

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
from promptprint.reconstruct.attribution import AttributedCampaign, AttributionParams, attribute
from promptprint.reconstruct.campaigns import DAY_MS, CampaignStats, campaign_stats, score_campaign
from promptprint.reconstruct.clustering import ClusterParams, cluster
from promptprint.reconstruct.corpus import Corpus
from promptprint.reconstruct.graph import GraphParams, weigh
from promptprint.executors import BatchExecutor, one_ahead
from promptprint.index.fingerprint import Embed
from promptprint.reconstruct.knn_graph import KnnParams, knn_edges
from promptprint.reconstruct.minhash import PERMUTATIONS, sketches
from promptprint.reconstruct.progress import SILENT, Progress
from promptprint.reconstruct.slots import TemplateText, extract_template
from promptprint.reconstruct.ids import campaign_ids
from promptprint.text.skeleton import Signature, canonical_hash, signature, signatures
from promptprint.templates.tracker import MIN_CORE, Event, TemplateTracker

# The tracker's window when replayed offline: it only decides when a one-prompt
# template is forgotten (memory); joined templates are kept for the whole corpus.
LEXICAL_WINDOW_MS = 7 * DAY_MS
# Banks.match: a prompt (its signature) and its template's core shingles (None: no template)
BankMatcher = Callable[[Signature, Collection[int] | None], BankHit | None]


@dataclasses.dataclass(frozen=True)
class ReconstructConfig:
    """Every knob of a reconstruction (each step's own parameters, plus presentation).

    Attributes:
        min_score: campaigns scoring less are counted, not reported. Default 0.3: on
            six simulated corpora (docs/design.md) every true campaign scored 0.34-0.96
            (0.51 and up at 8,000 prompts) and every benign look-alike (popular
            prompts, an org's own app, agent scaffolds, ordinary chatter) at most 0.27;
            0.3 sits between, below the online flag threshold (0.5) that a campaign
            only partly in the window, or a small one, does not reach.
        examples: example prompts kept per template.
        max_variants: lexical variants (paraphrases, translations) shown per template.
    """

    knn: KnnParams = KnnParams()
    graph: GraphParams = GraphParams()
    clusters: ClusterParams = ClusterParams()
    attribution: AttributionParams = AttributionParams()
    min_score: float = 0.3
    examples: int = 5
    max_variants: int = 5

    def __post_init__(self) -> None:
        if self.examples < 1 or self.max_variants < 1:
            raise ValueError("examples and max_variants must be >= 1")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")


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
    cores: tuple[tuple[str, np.ndarray], ...]  # (variant id, sorted uint64 core) of every variant with a core


@dataclasses.dataclass(frozen=True)
class AccountResult:
    account_id: str
    org_id: str
    prompts: int  # in the campaign
    total_prompts: int  # in the whole corpus
    share: float  # prompts / total_prompts: how much of its traffic the campaign carries
    confidence: float  # of the attribution, see promptprint.reconstruct.attribution
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


@dataclasses.dataclass(frozen=True)
class Unreported:
    """The campaigns scoring under the threshold, in one line's worth of numbers."""

    min_score: float
    campaigns: int
    accounts: int
    prompts: int
    best_score: float

    def line(self) -> str:
        if not self.campaigns:
            return f"no other campaign (none under score {self.min_score:.2f})"
        return (f"{self.campaigns} more under score {self.min_score:.2f} (best {self.best_score:.2f}): "
                f"{self.accounts} accounts, {self.prompts} prompts; rerun with --min-score 0 to list them")


@dataclasses.dataclass
class Reconstruction:
    campaigns: list[CampaignResult]  # those scoring >= config.min_score, best first
    unreported: Unreported
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
    # the template attribution reads: the prompt's shingle template when others joined it,
    # else its instruction line's when others share that line (a short instruction over a
    # long paste forms no shingle template: promptprint.text.lines), else its own
    attribution_ids: np.ndarray


def _pasted_under_instructions(ids: np.ndarray, line_ids: np.ndarray, on_shared_line: np.ndarray) -> np.ndarray:
    """Per prompt, whether its shingle template carries two or more shared instruction
    lines: its constant part is then a pasted document, the payload, sent under several
    instructions (two operations drawing on one public dataset, a week apart), and the
    instruction line is the prompt's template. Read by its shingle template, such a
    document linked two short-instruction campaigns through the accounts of each that
    pasted it (account Jaccard 0.37 and 0.60 on a 20,000-prompt adversarial split)."""
    keyed = on_shared_line & (ids != 0)
    pairs = np.unique(np.column_stack([ids[keyed], line_ids[keyed]]), axis=0)
    templates, lines_per_template = np.unique(pairs[:, 0], return_counts=True)
    return np.isin(ids, templates[lines_per_template >= 2])


def lexical_view(
    corpus: Corpus, *, window_ms: int = LEXICAL_WINDOW_MS, batch: int = 4096, progress: Progress = SILENT
) -> LexicalView:
    """Replay the online template tracker over the corpus in time order, and sketch
    every prompt's shingles. One-prompt templates older than ``window_ms`` are swept
    as online (bounded memory); templates that found a second member stay."""
    tracker = TemplateTracker(window_ms=window_ms)
    ids = np.zeros(len(corpus), dtype=np.int64)
    line_ids = np.zeros(len(corpus), dtype=np.int64)
    hashes = np.zeros(len(corpus), dtype=np.int64)
    sizes = np.zeros(len(corpus), dtype=np.int32)
    sketch_parts = []

    def sign(start: int) -> list[Signature]:
        return signatures(corpus.texts[start : start + batch])

    # a worker signs the next batch (in C, without the GIL) while this thread records one
    with progress("replay", len(corpus), "prompt") as advance:
        for start, signed in one_ahead(sign, range(0, len(corpus), batch), name="promptprint-lexical"):
            for i, sig in enumerate(signed, start):
                ids[i] = tracker.record(sig, Event(int(corpus.created_at_ms[i]), "", ""))
                lines = tracker.line_templates(sig)
                if lines:
                    line_ids[i] = lines[0].template_id
                hashes[i] = sig.text_hash
                sizes[i] = len(sig)
            sketch_parts.append(sketches([sig.sorted_shingles for sig in signed]))
            advance(len(signed))
    empty = np.zeros((0, PERMUTATIONS), dtype=np.uint32)
    members = {tid: tracker.members(tid) for tid in np.unique(ids).tolist()}
    shared_line = {lid: (t := tracker.tracked(lid)) is not None and t.members >= 2 for lid in np.unique(line_ids).tolist() if lid}
    on_shared_line = np.asarray([bool(shared_line.get(lid, False)) for lid in line_ids.tolist()], dtype=bool)
    alone = np.asarray([members[t] < 2 for t in ids.tolist()], dtype=bool)
    by_line = (alone | _pasted_under_instructions(ids, line_ids, on_shared_line)) & on_shared_line
    attribution_ids = np.where(by_line, line_ids, ids)
    return LexicalView(np.concatenate(sketch_parts) if sketch_parts else empty, sizes, hashes, ids, tracker, attribution_ids)


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


def _template(corpus: Corpus, label: int, rows: np.ndarray, lexical: LexicalView, config: ReconstructConfig) -> TemplateResult:
    """A cluster as a template: its lexical variants (the online tracker's templates
    inside it), each with its slots, the biggest one standing for the cluster."""
    template_ids = lexical.template_ids
    variants = []
    by_size = collections.Counter(template_ids[rows].tolist()).most_common()
    for vid, count in by_size[: config.max_variants]:
        members = rows[template_ids[rows] == vid]
        text = extract_template([corpus.texts[r] for r in members.tolist()])
        variants.append(Variant(f"v-{vid}" if vid else "v-none", int(count), text))
    cores = []
    for vid, _ in by_size:
        tracked = lexical.tracker.template(vid) if vid else None
        if tracked is not None and len(tracked.core) >= MIN_CORE:
            cores.append((f"v-{vid}", np.asarray(tracked.core, dtype=np.uint64)))
    return TemplateResult(
        template_id=f"t-{label}",
        prompts=len(rows),
        accounts=len(np.unique(corpus.accounts[rows])),
        template=variants[0].template,
        variants=tuple(variants),
        examples=_examples(corpus, rows, config.examples),
        cores=tuple(cores),
    )


def _accounts(corpus: Corpus, campaign: AttributedCampaign, account_totals: np.ndarray) -> tuple[AccountResult, ...]:
    rows = campaign.rows
    position = np.searchsorted(campaign.accounts, corpus.accounts[rows])  # campaign.accounts is sorted
    times = corpus.created_at_ms[rows]
    first = np.full(len(campaign.accounts), np.iinfo(np.int64).max)
    last = np.full(len(campaign.accounts), np.iinfo(np.int64).min)
    np.minimum.at(first, position, times)
    np.maximum.at(last, position, times)
    org_of = np.zeros(len(campaign.accounts), dtype=np.int64)
    org_of[position] = corpus.orgs[rows]
    out = [
        AccountResult(
            account_id=corpus.account_names[a],
            org_id=corpus.org_names[org_of[i]],
            prompts=int(campaign.prompts[i]),
            total_prompts=int(account_totals[a]),
            share=round(float(campaign.shares[i]), 4),
            confidence=round(float(campaign.confidence[i]), 4),
            first_seen_ms=int(first[i]),
            last_seen_ms=int(last[i]),
        )
        for i, a in enumerate(campaign.accounts.tolist())
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
    progress: Progress = SILENT,
) -> ClusterView:
    """Steps 1-2 of a reconstruction: the near-duplicate graph and its clusters.
    ``lexical`` may be given precomputed (e.g. by a job that sketched the corpus in
    parallel); by default it is computed here."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if lexical is None:
        lexical = lexical_view(corpus, progress=progress)
    timings["lexical"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    candidates = knn_edges(corpus.vectors, config.knn, executor, progress)
    timings["knn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    edges = weigh(candidates, lexical.sketches, lexical.sizes, lexical.template_ids, config.graph)
    del candidates
    labels = cluster(len(corpus), edges, config.clusters, lexical.template_ids, progress)
    timings["cluster"] = time.perf_counter() - t0
    return ClusterView(lexical, labels, len(edges), timings)


def reconstruct(
    corpus: Corpus,
    config: ReconstructConfig = ReconstructConfig(),
    *,
    bank_match: BankMatcher | None = None,
    executor: BatchExecutor | None = None,
    lexical: LexicalView | None = None,
    clusters: ClusterView | None = None,
    progress: Progress = SILENT,
    embed: Embed | None = None,
) -> Reconstruction:
    """Reconstruct the campaigns of a corpus, ranked by score (best first).

    Args:
        corpus: the prompts (see :mod:`promptprint.reconstruct.corpus`).
        config: parameters of every step.
        bank_match: allow/deny bank lookup (``Banks.match``); None = no banks.
        executor: runs the k-NN query batches (default in-process; Ray: see promptprint.executors).
        lexical: a precomputed lexical view (see :func:`template_clusters`).
        clusters: precomputed template clusters of this corpus and config (an evaluation
            trying attribution settings on one clustering).
        progress: told of each long stage (see :mod:`promptprint.reconstruct.progress`).
        embed: the corpus's embedder (canonical texts -> unit vectors), for the
            instructions of templates that one dedicated account each uses
            (:mod:`promptprint.reconstruct.wording`); None: those link by their orgs only.
    """
    view = clusters or template_clusters(corpus, config, executor, lexical, progress)
    template_ids, tracker, labels = view.lexical.template_ids, view.lexical.tracker, view.labels
    timings = dict(view.timings_s)
    t0 = time.perf_counter()
    attributed = attribute(corpus, view.lexical.attribution_ids, view.lexical.text_hashes, config.attribution, progress, embed)
    timings["attribution"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    account_totals = np.bincount(corpus.accounts, minlength=len(corpus.account_names))
    text_hashes = view.lexical.text_hashes
    scored: list[tuple[AttributedCampaign, float, list[str], CampaignStats, BankHit | None]] = []
    for campaign in attributed:
        rows = campaign.rows
        stats = campaign_stats(corpus, rows, account_totals, text_hashes)
        bank = _campaign_bank_hit(corpus, rows, template_ids, tracker, bank_match) if bank_match else None
        # specificity: the campaign's most specific lexical template (a campaign runs several;
        # one with a short constant part does not make the others common phrasings)
        core_size = max((len(t.core) for t in map(tracker.template, campaign.templates.tolist()) if t is not None), default=0)
        score, reasons = score_campaign(stats, core_size, bank)
        reasons.append(_link_reason(campaign))
        scored.append((campaign, score, reasons, stats, bank))
    reported = [c for c in scored if c[1] >= config.min_score]
    hidden = [c for c in scored if c[1] < config.min_score]
    unreported = Unreported(
        min_score=config.min_score,
        campaigns=len(hidden),
        accounts=sum(len(c[0].accounts) for c in hidden),
        prompts=sum(len(c[0].rows) for c in hidden),
        best_score=max((c[1] for c in hidden), default=0.0),
    )
    reported.sort(key=lambda c: (-c[1], -c[3].accounts, c[3].first_seen_ms))
    ids = campaign_ids([corpus.texts[int(c[0].rows[0])] for c in reported])
    results: list[CampaignResult] = []
    with progress("templates", len(reported), "campaign") as advance:
        for rank, ((campaign, score, reasons, stats, bank), campaign_id) in enumerate(zip(reported, ids), 1):
            results.append(_result(corpus, campaign, campaign_id, rank, score, reasons, stats, bank, view, account_totals, config))
            advance(1)
    timings["campaigns"] = time.perf_counter() - t0
    return Reconstruction(results, unreported, corpus, labels, template_ids, timings, config)


BANK_SAMPLE = 64  # a campaign's prompts looked up in the banks, evenly spread over it


def _campaign_bank_hit(corpus: Corpus, rows: np.ndarray, template_ids: np.ndarray, tracker: TemplateTracker,
                       bank_match: BankMatcher) -> BankHit | None:
    """The bank entry that covers the campaign, judged on up to BANK_SAMPLE of its prompts
    (each with its lexical template's core): a deny hit on any marks the campaign; an
    allow entry must match most of them. One prompt does not do: an agent framework's
    users fill its scaffold with tool lists of their own, and one in three of its prompts
    no longer holds 60% of the entry (measured on the simulator's structured-chat users:
    44 of 63 prompts match the built-in entry)."""
    sample = rows[np.linspace(0, len(rows) - 1, min(len(rows), BANK_SAMPLE)).astype(np.int64)] if len(rows) else rows
    allowed: collections.Counter[int] = collections.Counter()
    hits: dict[int, BankHit] = {}
    for row in sample.tolist():
        tid = int(template_ids[row])
        template = tracker.template(tid) if tid else None
        hit = bank_match(signature(corpus.texts[row]), template.core if template is not None else None)
        if hit is None:
            continue
        if hit.kind == "deny":
            return hit
        allowed[hit.entry_id] += 1
        hits[hit.entry_id] = hit
    if allowed:
        entry_id, count = allowed.most_common(1)[0]
        if 2 * count >= len(sample):
            return hits[entry_id]
    return None


def _link_reason(campaign: AttributedCampaign) -> str:
    """Why its templates are one campaign, in words."""
    if len(campaign.templates) == 1:
        return "one template"
    links = campaign.links
    evidence = [f"{links.accounts} by dedicated accounts in common"] if links.accounts else []
    if links.sync:
        evidence.append(f"{links.sync} by synchronized bursts")
    if links.embedding:
        evidence.append(f"{links.embedding} by a few dedicated accounts on templates close in meaning")
    if links.wording:
        evidence.append(f"{links.wording} by instructions worded alike, each template its own dedicated account's, in use at once")
    if links.org:
        evidence.append(f"{links.org} by dedicated accounts of one org, each template its own, in use at once")
    return f"{len(campaign.templates)} templates, linked pairwise {', '.join(evidence)}"


def _result(corpus: Corpus, campaign: AttributedCampaign, campaign_id: str, rank: int, score: float, reasons: list[str],
            stats: CampaignStats, bank: BankHit | None, view: ClusterView, account_totals: np.ndarray,
            config: ReconstructConfig) -> CampaignResult:
    """A scored campaign as the outputs show it: templates busiest first, each prompt's template."""
    rows, labels = campaign.rows, view.labels
    label_of = labels[rows]
    per_label = collections.Counter(label_of.tolist())
    ordered = sorted(per_label, key=lambda t: (-per_label[t], t))
    index = {t: i for i, t in enumerate(ordered)}
    days, per_day = np.unique(corpus.created_at_ms[rows] // DAY_MS, return_counts=True)
    return CampaignResult(
        campaign_id=campaign_id,
        rank=rank,
        score=score,
        reasons=tuple(reasons),
        stats=stats,
        templates=tuple(_template(corpus, t, rows[label_of == t], view.lexical, config) for t in ordered),
        accounts=_accounts(corpus, campaign, account_totals),
        volume_per_day=tuple((int(d) * DAY_MS, int(c)) for d, c in zip(days, per_day)),
        bank=bank,
        prompt_rows=rows,
        prompt_templates=np.asarray([index[t] for t in label_of.tolist()], dtype=np.int32),
    )
