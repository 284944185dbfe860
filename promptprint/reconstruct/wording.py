"""Templates that word one instruction differently, linked by the meaning of the wording
when their dedicated accounts work at once: the offline counterpart of the online
tracker's semantic links (:mod:`promptprint.templates.tracker`,
:mod:`promptprint.index.template_linker`).

A campaign can give every account its own paraphrase or translation of one instruction;
each account is then a lexical template of its own, dedicated and persistent but alone,
and shares no account with the others. Such a template is *worded* here when one
account keeps to it (two thirds of its traffic, ``min_prompts`` prompts or more) and few
accounts use it. What two of its prompts have in common
(:func:`promptprint.text.constant_part.constant_part`: the instruction, without the
payload) is fingerprinted with the index's recipe
(:func:`promptprint.index.fingerprint.fingerprint_texts`), as the online linker does: one
forward pass per template, not per prompt. Two worded templates are linked when their
instructions embed close *and* they were in use at once, prompts of each within an hour
of the other's (see :func:`link_by_wording`), or, whatever their wording, when accounts
of one named org are dedicated to both and they were in use at once (see
:func:`link_by_org`: translations the model puts too far apart).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.sparse import csr_matrix

from promptprint.index.fingerprint import Embed, fingerprint_texts
from promptprint.reconstruct.corpus import Corpus
from promptprint.reconstruct.progress import SILENT, Progress
from promptprint.templates.tracker import (
    COMMIT_PROMPTS,
    SEMANTIC_CROSS_LINGUAL_COSINE,
    SEMANTIC_LINK_COSINE,
    SEMANTIC_MAX_ACCOUNTS,
)
from promptprint.templates.worded_alike import language_code, worded_alike
from promptprint.text.answer_markers import answer_markers
from promptprint.text.constant_part import constant_part
from promptprint.text.language import language

EMBED_BATCH = 256  # instructions per embed call
LINK_BLOCK = 1024  # templates compared with all others at a time
# An org whose dedicated accounts keep to more templates than this is a platform's own
# pipelines, not a few throw-away accounts: its templates are not linked by the org (its
# pairs would grow as the square; linked, they would still be one org's traffic).
ORG_MAX_TEMPLATES = 64

HOUR_MS = 3600 * 1000


@dataclasses.dataclass(frozen=True)
class WordingParams:
    """Which templates are worded and when two are linked (see module docstring).

    Attributes:
        min_prompts / share: an account is dedicated to a template with this many of its
            prompts in it, that being this share of all its prompts or more.
        max_accounts: a template used by more accounts links by the accounts themselves.
        cosine: instructions at least this close (cosine of their vectors) may link;
            cross_lingual_cosine: ... this close when either is not English
            (promptprint.text.language: the model places translations lower).
        gap_hours: ... when the two templates' periods of use (first to last prompt)
            overlap or lie this close,
        max_period_share: ... and each period lasts at most this share of the corpus's:
            two templates in use for most of it overlap whatever they are (two companies'
            support integrations, each one account sending all day), while a campaign's
            accounts keep at it for days (two of one, four and three days in a 14-day
            corpus, were kept apart when the two periods were summed),
        near_hours: ... and a prompt of one was sent within this many hours of a prompt
            of the other: a campaign's scripted accounts work in the same waves, while two
            operations that word a similar task alike (two math-tutoring campaigns) run
            the same days on schedules of their own.
    """

    min_prompts: int = COMMIT_PROMPTS
    share: float = 2 / 3
    max_accounts: int = SEMANTIC_MAX_ACCOUNTS
    cosine: float = SEMANTIC_LINK_COSINE
    cross_lingual_cosine: float = SEMANTIC_CROSS_LINGUAL_COSINE
    gap_hours: float = 0.0
    max_period_share: float = 0.5
    near_hours: float = 1.0

    def __post_init__(self) -> None:
        if self.min_prompts < 2 or self.max_accounts < 1:
            raise ValueError(f"min_prompts must be >= 2 (two prompts give the instruction) and max_accounts >= 1, "
                             f"got {self.min_prompts} and {self.max_accounts}")
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {self.share}")
        for name in ("cosine", "cross_lingual_cosine"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a cosine in [-1, 1], got {getattr(self, name)}")
        if self.gap_hours < 0 or self.max_period_share <= 0 or self.near_hours < 0:
            raise ValueError(f"gap_hours and near_hours must be >= 0 and max_period_share > 0, got {self.gap_hours}, "
                             f"{self.near_hours} and {self.max_period_share}")


@dataclasses.dataclass(frozen=True)
class WordedTemplates:
    """The worded templates of a corpus (as ``labels`` codes) and their instruction vectors."""

    templates: np.ndarray  # int64 template codes, sorted
    vectors: np.ndarray  # float32 (n, d), unit norm
    languages: np.ndarray  # each instruction's code (promptprint.templates.worded_alike.language_code)
    markers: np.ndarray  # each instruction's answer markers (promptprint.text.answer_markers), as a code: equal codes, equal markers
    first_ms: np.ndarray  # first and last prompt of each
    last_ms: np.ndarray
    corpus_ms: int  # the corpus's period, first to last prompt
    times: tuple[np.ndarray, ...]  # each one's prompt times, sorted (first_ms and last_ms are their ends)
    orgs: tuple[frozenset[int], ...]  # each one's dedicated accounts' named orgs (corpus org codes)


def dedicated_pairs(counts: csr_matrix, totals: np.ndarray, params: WordingParams) -> tuple[np.ndarray, np.ndarray]:
    """The (account, template) pairs, as codes of the account × template ``counts``, where
    the account is dedicated to the template: ``min_prompts`` of its ``totals`` prompts
    there, that being ``share`` of them or more."""
    coo = counts.tocoo()
    dedicated = (coo.data >= params.min_prompts) & (coo.data >= params.share * totals[coo.row])
    return coo.row[dedicated], coo.col[dedicated]


def worded_candidates(counts: csr_matrix, dedicated: tuple[np.ndarray, np.ndarray], usable: np.ndarray,
                      params: WordingParams) -> np.ndarray:
    """Template codes (columns of the account × template ``counts``) among ``usable`` that
    few accounts use and one of them is dedicated to (``dedicated``: see dedicated_pairs)."""
    presence = counts.copy()
    presence.data[:] = 1
    accounts = np.asarray(presence.sum(axis=0)).ravel()
    has_dedicated = np.zeros(counts.shape[1], dtype=bool)
    has_dedicated[dedicated[1]] = True
    return np.flatnonzero(has_dedicated & (accounts <= params.max_accounts) & usable)


def instruction_texts(corpus: Corpus, labels: np.ndarray, text_hashes: np.ndarray, templates: np.ndarray) -> list[str]:
    """Each template's instruction: the constant part of its last two prompts with
    different texts ("" when they share too little)."""
    rows = np.flatnonzero(np.isin(labels, templates))
    order = np.argsort(labels[rows], kind="stable")  # by template, each in time order
    rows = rows[order]
    bounds = np.searchsorted(labels[rows], np.append(templates, np.iinfo(np.int64).max))
    out = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        last = int(rows[hi - 1])
        earlier = rows[lo : hi - 1][text_hashes[rows[lo : hi - 1]] != text_hashes[last]]
        out.append(constant_part(corpus.texts[int(earlier[-1])], corpus.texts[last]) if len(earlier) else "")
    return out


def worded_templates(corpus: Corpus, labels: np.ndarray, text_hashes: np.ndarray, candidates: np.ndarray, embed: Embed | None,
                     dedicated: tuple[np.ndarray, np.ndarray], progress: Progress = SILENT) -> WordedTemplates:
    """The ``candidates`` whose prompts share an instruction, with its vector (none
    without ``embed``: such templates then link by their orgs only), its prompts' times
    and the orgs of the accounts ``dedicated`` to it (see dedicated_pairs)."""
    texts = instruction_texts(corpus, labels, text_hashes, candidates)
    keep = np.asarray([bool(t) for t in texts], dtype=bool)
    templates = candidates[keep]
    texts = [t for t in texts if t]
    parts = []
    if embed is not None:
        with progress("instructions", len(texts), "template") as advance:
            for start in range(0, len(texts), EMBED_BATCH):
                parts.append(fingerprint_texts(embed, texts[start : start + EMBED_BATCH]))
                advance(len(parts[-1]))
    vectors = np.concatenate(parts) if parts else np.zeros((0, corpus.vectors.shape[1]), np.float32)
    rows = np.flatnonzero(np.isin(labels, templates))
    position = np.searchsorted(templates, labels[rows])
    order = np.lexsort((corpus.created_at_ms[rows], position))
    bounds = np.searchsorted(position[order], np.arange(len(templates) + 1))
    stamps = corpus.created_at_ms[rows][order]
    times = tuple(stamps[lo:hi] for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    first = np.asarray([t[0] for t in times], dtype=np.int64)
    last = np.asarray([t[-1] for t in times], dtype=np.int64)
    period = int(corpus.created_at_ms.max() - corpus.created_at_ms.min()) if len(corpus) else 0
    languages = np.asarray([language_code(language(t)) for t in texts], dtype=np.int8)
    codes: dict[frozenset[str], int] = {}
    markers = np.asarray([codes.setdefault(answer_markers(t), len(codes)) for t in texts], dtype=np.int64)
    return WordedTemplates(templates, vectors, languages, markers, first, last, period, times,
                           _dedicated_orgs(corpus, templates, dedicated))


def wording_alike(worded: WordedTemplates, rows: np.ndarray, params: WordingParams) -> tuple[np.ndarray, np.ndarray]:
    """The cosines of the worded templates at positions ``rows`` with all of them, and
    which pairs are worded alike: within ``cosine`` (``cross_lingual_cosine`` when either
    is not English), asking for the same answer markers (two operations can word one
    task alike; their parsers want the answer in different places)."""
    cosines = worded.vectors[rows] @ worded.vectors.T
    alike = worded_alike(cosines, worded.languages[rows, None], worded.languages[None, :], worded.markers[rows, None],
                         worded.markers[None, :], cosine=params.cosine, cross_lingual_cosine=params.cross_lingual_cosine)
    return cosines, alike


def _dedicated_orgs(corpus: Corpus, templates: np.ndarray, dedicated: tuple[np.ndarray, np.ndarray]) -> tuple[frozenset[int], ...]:
    """Per template of ``templates``, the named orgs of its ``dedicated`` accounts (each
    account's org as on its first prompt)."""
    account_org = np.zeros(len(corpus.account_names), dtype=np.int64)
    account_org[corpus.accounts[::-1]] = corpus.orgs[::-1]  # the first prompt's org is written last
    accounts, of_template = dedicated
    org = account_org[accounts]
    keep = np.isin(of_template, templates) & (org > 0)
    orgs: list[set[int]] = [set() for _ in range(len(templates))]
    for position, code in zip(np.searchsorted(templates, of_template[keep]).tolist(), org[keep].tolist()):
        orgs[position].add(code)
    return tuple(frozenset(o) for o in orgs)


def _sent_near(a: np.ndarray, b: np.ndarray, within_ms: float) -> bool:
    """Whether some time in sorted ``a`` lies within ``within_ms`` of some time in sorted ``b``."""
    at = np.searchsorted(b, a)
    before = np.abs(a - b[np.maximum(at - 1, 0)])
    after = np.abs(b[np.minimum(at, len(b) - 1)] - a)
    return bool((np.minimum(before, after) <= within_ms).any())


def link_by_wording(worded: WordedTemplates, params: WordingParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (a, b) of worded templates (their codes), with their cosines, whose instructions are worded
    alike (:func:`wording_alike`), whose periods of use lie within ``gap_hours`` and are short beside the
    corpus's (``max_period_share``), and that were sent within ``near_hours`` of each
    other: accounts that each word an instruction their own way but work in the same
    waves, not users who each keep a wrapper of their own (those are not dedicated to
    it), campaigns weeks apart or on schedules of their own, or integrations that run
    all the time."""
    n = len(worded.vectors)  # none when the instructions were not embedded
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    found_a, found_b, found_cos = [], [], []
    for start in range(0, n, LINK_BLOCK):  # a block of rows at a time: bounded memory
        rows = np.arange(start, min(n, start + LINK_BLOCK))
        cosines, alike = wording_alike(worded, rows, params)
        a, b = np.nonzero(alike)
        a, b = rows[a], b
        upper = a < b
        a, b = a[upper], b[upper]
        at_once = _at_once(worded, a, b, params)
        a, b = a[at_once], b[at_once]
        found_a.append(a)
        found_b.append(b)
        found_cos.append(cosines[a - start, b])
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    return worded.templates[a], worded.templates[b], np.concatenate(found_cos)


def in_use_briefly(worded: WordedTemplates, params: WordingParams) -> np.ndarray:
    """Which worded templates were in use (first to last prompt) for at most
    ``max_period_share`` of the corpus's period: one in use for most of it (an
    integration sending all day) is near everything in time, whatever it is."""
    return worded.last_ms - worded.first_ms <= params.max_period_share * worded.corpus_ms


def _at_once(worded: WordedTemplates, a: np.ndarray, b: np.ndarray, params: WordingParams) -> np.ndarray:
    """Which pairs (positions ``a``, ``b``) have periods of use within ``gap_hours`` of
    each other, short beside the corpus's, and were sent within ``near_hours`` of each other."""
    gap = np.maximum(worded.first_ms[a], worded.first_ms[b]) - np.minimum(worded.last_ms[a], worded.last_ms[b])
    brief = in_use_briefly(worded, params)
    keep = (gap <= params.gap_hours * HOUR_MS) & brief[a] & brief[b]
    for k in np.flatnonzero(keep).tolist():
        keep[k] = _sent_near(worded.times[a[k]], worded.times[b[k]], params.near_hours * HOUR_MS)
    return keep


def link_by_org(worded: WordedTemplates, params: WordingParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (a, b) of worded templates (their codes) that dedicated accounts of one named
    org keep to, whatever their wording, and whether each pair was in use at once as
    :func:`link_by_wording` requires: an operation's throw-away orgs hold accounts it
    gives different wordings or translations of one instruction, and a translation can
    embed too far from its original to link by wording (the online tracker's org links,
    :mod:`promptprint.templates.tracker`). A pair in use at once is a link; one that is
    not may still join two groups that worked the same hours (see
    promptprint.reconstruct.attribution._bridges_kept). An org's own templates linked
    together stay one org's traffic, which the campaign score reads as such."""
    by_org: dict[int, list[int]] = {}
    for position, orgs in enumerate(worded.orgs):
        for org in orgs:
            by_org.setdefault(org, []).append(position)
    pairs = {
        (i, j) for members in by_org.values() if len(members) <= ORG_MAX_TEMPLATES
        for k, i in enumerate(members) for j in members[k + 1 :]
    }
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    a, b = (np.asarray(side, dtype=np.int64) for side in zip(*sorted(pairs)))
    return worded.templates[a], worded.templates[b], _at_once(worded, a, b, params)
