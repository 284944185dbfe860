"""Online template clustering with per-template activity in a sliding window.

Each recorded prompt joins a template or founds one. A template is the *constant part*
of its members (as in log-template miners such as Drain): it starts as the founder's
shingles (see :mod:`promptprint.text.skeleton`), and once others join, its **core** is the set of
founder shingles present in at least half of the members — the payload's shingles drop
out, the template's stay. A prompt joins the template whose core it shares most, when
it contains at least 60% of the core or a long verbatim run of it (``ABS_SHARED``
shingles, about 12 words), which is how a one-line template wrapped around a
long pasted payload still matches.

Per template the tracker keeps, for a sliding window, what a lookup needs in O(1):
distinct accounts and orgs, volume, distinct texts, accounts that used it repeatedly,
first/last seen, and the busiest 10-minute bucket (synchronized bursts).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from array import array
from typing import Sequence, TypeVar

import numpy as np

from promptprint.text import _shingles
from promptprint.text.skeleton import Signature
from promptprint.templates.accounts import AccountBook, AccountSnapshot, CampaignMark, TemplateUse
from promptprint.templates.postings import ShinglePostings
from promptprint.templates.worded_alike import language_code, worded_alike

MIN_CORE = 6  # shingles (8+ words): shorter templates are not distinctive
ABS_SHARED = 10
JOIN_SHARE = 0.6
POSTINGS_PER_SHINGLE = 8
CANDIDATES = 8  # templates sharing most shingles with a prompt, checked for a join
# A template remembers at most this many of its founder's shingles: the ones with the
# smallest hashes (a bottom-k sample, so two prompts sharing a text sample the same
# shingles of it). Bounds memory per template whatever the prompt's length.
FOUNDER_SHINGLES = 64
BUCKET_MS = 10 * 60 * 1000
# Window expiry never runs ahead of the wall clock by more than this: one prompt stamped
# in the year 9999 must not empty every template's window for everybody else.
MAX_CLOCK_SKEW_MS = 3600 * 1000

# How an account using shared templates (two members or more) looks from them: ENGAGED
# sends mostly shared templates (DEDICATED_SHARE of its prompts in the window) but has not
# yet kept at it; COMMITTED sends mostly them and has kept at it: COMMIT_PROMPTS prompts
# that are COMMIT_SHARE of its window (a tool user's busy day, five tool prompts among
# nine, is half his day, not a commitment: three such users of one extension scored 0.63
# on a fresh adversarial split), or a return to a template it used in an earlier window (the account book remembers) by
# an account that sends almost only shared templates all along (SINGLE_MINDED_SHARE), or
# uses over more than one sitting (SITTING_MS apart) by an account whose window is almost
# only shared templates (SINGLE_MINDED_SHARE of it: two uses of a browser extension three
# hours apart among two prompts of one's own are half a day's traffic, not a commitment;
# three such users of one tool in a day scored 0.63 on the adversarial test splits);
# UNDEDICATED sends them among much else of its own, in the window or, once it sent
# SINGLE_MINDED_PROMPTS, since it was first seen (a tool user whose tool days fill a
# window but not his history). Campaign accounts end up committed; a student who pastes an
# assignment twice in an evening stays engaged, and a user with "Summarize this:" among
# fifty other prompts is undedicated. A prompt that repeats a text its template already
# holds in the window is a copy (a popular question, a dataset prompt many people send):
# it joins the template but is not counted as the account's shared traffic, or a user's
# everyday copies would make his tool's share of his traffic look like dedication.
ENGAGED, COMMITTED, UNDEDICATED = 1, 2, 3
DEDICATED_SHARE = 0.5
# An account that sent almost nothing but shared templates since it was first seen (this
# share of its prompts) is single-minded. Only such an account's return to a template
# after a whole window counts as persistence (a browser-extension user who used the tool
# yesterday and today among a few prompts of his own is dedicated in a window by chance,
# not all along), and only a template such an account is committed to is linked by
# wording (a power user's own wrapper, 40-70% of his traffic, embeds as close to a
# campaign's instruction as its paraphrases do to each other: 0.57-0.59 against 0.56-0.60).
SINGLE_MINDED_SHARE = 0.8
SINGLE_MINDED_PROMPTS = 5  # fewer prompts say little (a power user's first four are all his wrapper one time in ten)

COMMIT_PROMPTS = 4
COMMIT_SHARE = 2 / 3
SITTING_MS = 2 * 3600 * 1000
# Two templates are linked into one group (a campaign's paraphrases, translations or
# pivot) when this many accounts use both, each sending mostly the two of them: one
# account in common proves nothing, a popular prompt has bystanders, not dedicated ones.
LINK_ACCOUNTS = 3
GROUP_FEATURE_TEMPLATES = 32  # the largest templates of a group that its features sum
# Templates whose instruction texts embed this close (cosine of MiniLM vectors) are linked
# when both are in use at once by accounts committed to them: a campaign that gives each
# account its own wording of one instruction. Closeness is never a link on its own: a
# template is only embedded once a committed account uses it and few others do
# (SEMANTIC_MAX_ACCOUNTS: a template with many accounts links by the accounts themselves).
SEMANTIC_LINK_COSINE = 0.55
# ... and this close when one of the two instructions is in another language than English
# (promptprint.text.language): the model places a translation lower than a paraphrase.
SEMANTIC_CROSS_LINGUAL_COSINE = 0.40
SEMANTIC_MAX_ACCOUNTS = 3
# Two templates link by wording only when sent within this many hours of each other:
# scripted accounts work in the same waves (each account a sitting of an hour or so, its
# start jittered by an hour or two), users who each keep a wrapper of their own work on
# their own schedules. Measured on the adversarial simulator's test split: the same hour
# only, per-account paraphrases 20/23 accounts and translated variants 4/22 flagged;
# within 4 hours, 21/23 and 10/22, no benign account more.
SEMANTIC_NEAR_HOURS = 4
# Two small templates (SEMANTIC_MAX_ACCOUNTS accounts at most, none in common, of one kind)
# are also linked when single-minded accounts of one named org are committed to them and
# they are sent within SEMANTIC_NEAR_HOURS of each other: an operation's throw-away orgs
# hold accounts it gives different wordings or translations of one instruction, and a
# translation can embed too far from its original to link by wording (MiniLM puts an
# English instruction and its Portuguese 0.08-0.33 apart). An org that keeps several
# templates of its own stays one org's traffic when they link: a group's org spread
# counts each org's prompts over all of its templates (see _group_totals).
_EXACT_ORG_SPREAD = 64  # a group's orgs summed exactly up to this many; beyond, the largest template's top org
_BUCKETS_PER_HOUR = 3600 * 1000 // BUCKET_MS
SEMANTIC_QUEUE = 4096  # templates waiting for their embedding, at most (the oldest waits on)
# A flagged group marks its committed accounts again at most this often (new accounts
# commit as a campaign goes on; every flagged prompt re-marking them would cost a walk
# over the group's templates per prompt).
MARK_EVERY_MS = 10 * 60 * 1000
LINE_TEMPLATE_IDS = 1 << 48  # the first line template's id: shingle templates' ids stay as they were
TASK_TEMPLATE_IDS = 1 << 49  # ... and the first task template's (see TaskTemplate)
# A new account (TASK_MAX_PROMPTS prompts at most since first seen) is queued for its
# task's embedding at every TASK_PROMPTS-th prompt, with its latest TASK_PROMPTS: a
# campaign's accounts are fresh ones, and a user with a history is not re-embedded
# forever (see TaskTemplate).
TASK_PROMPTS = 5
TASK_MAX_PROMPTS = 20
# A shingle template whose members came under two or more instruction lines, and whose
# core kept this share of its founder's shingles or more (its members are the founder's
# text, not a wrapper around payloads of their own), is a pasted document: a public text
# that a campaign pastes under its instruction and a user pastes under one of his own
# ("Key points?"). Its prompts are assessed by their instruction lines, not by it: a user
# who pastes a document a short-wrapper campaign pasted is not the campaign's, though the
# document's template is linked into it by the campaign's accounts. A wrapper's core
# loses its founder's payload, so a campaign's paraphrases that open with lines of their
# own stay assessed by their template. (Documents of one genre, each member a different
# text sharing boilerplate, keep little of the founder: not recognised as documents.)
PASTED_DOCUMENT_CORE = 0.8
SLIVER_CARRIERS = 3  # shared shingle templates a line lies under that make it a sliver (see LineTemplate.sliver)
_UNDER_LINES = -1


def _text_key(text_hash: int) -> int:
    """A text hash as a template's window keeps it (32 bits: an ``array('I')`` column)."""
    return text_hash & 0xFFFFFFFF


def _line_key(signature: Signature) -> int:
    """The instruction line a prompt comes under: its head line's key, else its tail line's (0: none)."""
    return signature.head_line or signature.tail_line


def _single_minded(total: int, shared: int) -> bool:
    """Whether an account with ``total`` prompts since first seen, ``shared`` of them on
    shared templates, is single-minded (see SINGLE_MINDED_SHARE)."""
    return total >= SINGLE_MINDED_PROMPTS and shared >= SINGLE_MINDED_SHARE * total


def _expiry_horizon(t_ms: int) -> int:
    return min(t_ms, int(time.time() * 1000) + MAX_CLOCK_SKEW_MS)


@dataclasses.dataclass(frozen=True, slots=True)
class GroupFeatures:
    """A template's linked group in the window, summed over its templates (accounts on
    several of them count once per template)."""

    group_id: int  # the id of the group's root template
    templates: int
    volume: int
    accounts: int
    committed_accounts: int
    undedicated_accounts: int
    distinct_texts: int
    top_org_volume: int
    worded_alike: int = 0  # of its templates, those linked by their instruction's embedding
    org_linked: int = 0  # ... and those linked by their accounts' org
    committed_in_orgs: int = 0  # committed accounts, summed over its templates with their orgs known
    committed_top_org: int = 0  # ... of them, those of the org that holds the most
    tasks: int = 0  # of its templates, accounts' tasks (see TaskTemplate)


@dataclasses.dataclass(frozen=True, slots=True)
class TemplateFeatures:
    """What a template looked like in the window when a prompt was checked."""

    template_id: int
    core_size: int  # shingles in the template's constant part
    members_total: int  # prompts ever joined
    volume: int  # prompts in the window
    accounts: int  # distinct accounts in the window
    other_accounts: int  # ... other than the checking account
    orgs: int  # distinct orgs (an account without org counts as its own)
    named_orgs: int  # distinct orgs, accounts without org not counted
    other_named_orgs: int  # ... other than the checking org
    repeat_accounts: int  # accounts with 2+ prompts of it in the window
    distinct_texts: int  # distinct canonical texts in the window
    top_org_volume: int  # prompts of the busiest org in the window
    burst_accounts: int  # most distinct accounts in one 10-minute bucket
    payload_share: float  # mean share of a member's shingles outside the core (its payload)
    first_seen_ms: int | None
    last_seen_ms: int | None
    kind: str = "shingles"  # or "line": an instruction line over a paste
    committed_accounts: int = 0  # accounts committed to it (see ENGAGED)
    undedicated_accounts: int = 0  # accounts with 2+ prompts of it among much else
    group: GroupFeatures | None = None  # its linked group (itself alone when unlinked)
    account_prompts: int = 0  # the checking account's prompts in the window
    account_group_prompts: int = 0  # ... of them on this template's group


# A member's payload share (in [0, 1]) is kept as an integer in 1/65535ths, so a window's
# sum adds and subtracts exactly: a float sum would drift over millions of events.
_SHARE_SCALE = 65535


class _Activity:
    """Sliding-window counters of one template, over its events in arrival order.

    Events are columns (arrays of machine integers, lists of interned strings) read
    from ``start``; expiry moves ``start`` forward and drops the expired prefix once it
    is half the columns. About 30 bytes an event, against ~200 for a deque of tuples.
    """

    __slots__ = (
        "times", "rows", "text_hashes", "shares", "accounts_seq", "orgs_seq", "start",
        "payload", "accounts", "orgs", "named_orgs", "texts", "repeat", "buckets", "states", "committed", "undedicated",
        "committed_orgs", "_committed_in",
    )

    def __init__(self) -> None:
        self.times = array("q")
        self.rows = array("q")
        self.text_hashes = array("I")
        self.shares = array("H")
        self.accounts_seq: list[str] = []
        self.orgs_seq: list[str] = []
        self.start = 0
        self.payload = 0  # sum of shares in the window, in 1/_SHARE_SCALE
        self.accounts: dict[str, int] = {}
        self.orgs: dict[str, int] = {}
        self.named_orgs = 0  # keys of self.orgs that are real orgs
        self.texts: dict[int, int] = {}
        self.repeat = 0
        # 10-minute bucket -> its accounts' event counts; a bucket holding one event is
        # just that event's account (most do: a dict per bucket was 40% of the tracker)
        self.buckets: dict[int, str | dict[str, int]] = {}
        # its accounts as the tracker last judged them (ENGAGED, COMMITTED or
        # UNDEDICATED, see TemplateTracker._judge), and the two counts
        self.states: dict[str, int] = {}
        self.committed = 0
        self.undedicated = 0
        # the committed accounts per org (an org's own app is one org however many
        # accounts it runs), and the org each was committed in; made at the first
        # commitment (most templates never see one)
        self.committed_orgs: dict[str, int] | None = None
        self._committed_in: dict[str, str] | None = None

    def set_state(self, account: str, state: int, org: str) -> None:
        old = self.states.get(account)
        if old == state:
            return
        self.committed += (state == COMMITTED) - (old == COMMITTED)
        self.undedicated += (state == UNDEDICATED) - (old == UNDEDICATED)
        self.states[account] = state
        if old == COMMITTED:
            self._uncommit(account)
        if state == COMMITTED:
            if self.committed_orgs is None or self._committed_in is None:
                self.committed_orgs, self._committed_in = {}, {}
            self._committed_in[account] = org
            self.committed_orgs[org] = self.committed_orgs.get(org, 0) + 1

    def _uncommit(self, account: str) -> None:
        if self.committed_orgs is not None and self._committed_in is not None:
            _decrement(self.committed_orgs, self._committed_in.pop(account))

    def _drop_state(self, account: str) -> None:
        old = self.states.pop(account, None)
        if old is not None:
            self.committed -= old == COMMITTED
            self.undedicated -= old == UNDEDICATED
            if old == COMMITTED:
                self._uncommit(account)

    def __len__(self) -> int:
        return len(self.times) - self.start

    def add(self, t: int, account: str, org: str, text_hash: int, share: int, row_id: int) -> None:
        text_hash = _text_key(text_hash)
        self.times.append(t)
        self.rows.append(row_id)
        self.text_hashes.append(text_hash)
        self.shares.append(share)
        self.accounts_seq.append(account)
        self.orgs_seq.append(org)
        self.payload += share
        n = self.accounts.get(account, 0) + 1
        self.accounts[account] = n
        if n == 2:
            self.repeat += 1
        if org not in self.orgs and not org.startswith("\x00"):
            self.named_orgs += 1
        self.orgs[org] = self.orgs.get(org, 0) + 1
        self.texts[text_hash] = self.texts.get(text_hash, 0) + 1
        key = t // BUCKET_MS
        bucket = self.buckets.get(key)
        if bucket is None:
            self.buckets[key] = account
        elif isinstance(bucket, str):
            self.buckets[key] = {account: 2} if bucket == account else {bucket: 1, account: 1}
        else:
            bucket[account] = bucket.get(account, 0) + 1

    def event(self, i: int) -> tuple[int, str, str, int, int, int]:
        """The i-th event still in the window (0: the oldest)."""
        j = self.start + i
        return self.times[j], self.accounts_seq[j], self.orgs_seq[j], self.text_hashes[j], self.shares[j], self.rows[j]

    def expire(self, before: int) -> None:
        times, i, n = self.times, self.start, len(self.times)
        while i < n and times[i] < before:
            t, account, org, text_hash = times[i], self.accounts_seq[i], self.orgs_seq[i], self.text_hashes[i]
            self.payload -= self.shares[i]
            left = self.accounts[account] - 1
            if left == 1:
                self.repeat -= 1
            if left:
                self.accounts[account] = left
            else:
                del self.accounts[account]
                self._drop_state(account)
            _decrement(self.orgs, org)
            if org not in self.orgs and not org.startswith("\x00"):
                self.named_orgs -= 1
            _decrement(self.texts, text_hash)
            key = t // BUCKET_MS
            bucket = self.buckets.get(key)
            if isinstance(bucket, str):
                del self.buckets[key]
            elif bucket is not None:
                _decrement(bucket, account)
                if not bucket:
                    del self.buckets[key]
            i += 1
        self.start = i
        if i and (i == n or (i >= 64 and 2 * i >= n)):
            for column in (self.times, self.rows, self.text_hashes, self.shares, self.accounts_seq, self.orgs_seq):
                del column[:i]
            self.start = 0


_K = TypeVar("_K")


def _merge_counts(into: dict[str, int] | None, counts: dict[str, int]) -> dict[str, int] | None:
    """Add ``counts`` (per org) into ``into`` while the two hold _EXACT_ORG_SPREAD orgs or
    fewer; None beyond (or when ``into`` already is): the caller falls back to the largest
    template's busiest org."""
    if into is None or len(into) + len(counts) > _EXACT_ORG_SPREAD:
        return None
    for org, n in counts.items():
        into[org] = into.get(org, 0) + n
    return into


def _decrement(counts: dict[_K, int], key: _K) -> None:
    n = counts[key] - 1
    if n:
        counts[key] = n
    else:
        del counts[key]


class TrackedTemplate:
    """What every tracked template has: an id, a member count and windowed activity.

    Most prompts found a template nobody else joins, so a one-member template is kept
    lean: its one event is a tuple until a second arrives."""

    __slots__ = ("template_id", "members", "_activity", "_first")

    def __init__(self, template_id: int) -> None:
        self.template_id = template_id
        self.members = 1
        self._activity: _Activity | None = None
        self._first: tuple[int, str, str, int, int, int] | None = None  # the only event, before a second

    @property
    def core_size(self) -> int:
        raise NotImplementedError

    @property
    def first_event(self) -> tuple[int, str, str, int, int, int] | None:
        """The founding event while it is the only one."""
        return self._first

    def add_event(self, event: tuple[int, str, str, int, int, int]) -> None:
        if self._activity is None and self._first is None:
            self._first = event
            return
        self.activity().add(*event)

    def activity(self) -> _Activity:
        """The template's activity, built from its one event on first use."""
        if self._activity is None:
            self._activity = _Activity()
            if self._first is not None:
                self._activity.add(*self._first)
                self._first = None
        return self._activity

    def peek_activity(self) -> _Activity:
        """The activity for reading: a one-event template's is built apart and not kept
        (a lookup must not grow the template it looks at)."""
        if self._activity is not None:
            return self._activity
        view = _Activity()
        if self._first is not None:
            view.add(*self._first)
        return view

    def has_text(self, text_hash: int) -> bool:
        """Whether a prompt of this very text is in the window (a copy, not a filled template)."""
        key = _text_key(text_hash)
        if self._activity is not None:
            return key in self._activity.texts
        return self._first is not None and _text_key(self._first[3]) == key

    def replace_activity(self, activity: _Activity) -> None:
        self._activity, self._first = activity, None

    def expire(self, before: int) -> bool:
        """Drop the events older than ``before``; whether none is left in the window. A
        one-event template keeps its tuple (the sweep forgets the template instead)."""
        if self._activity is None:
            return self._first is None or self._first[0] < before
        self._activity.expire(before)
        return not len(self._activity)


class Template(TrackedTemplate):
    """A shingle template: its founder's shingles, member counts per shingle, its core.

    ``hits`` (member counts per founder shingle) is only built by the first join, and a
    one-member template's core is its founder array. Shingle sets are sorted
    ``array('Q')`` (8 bytes a shingle, not ~70 in a frozenset).
    """

    __slots__ = ("founder", "hits", "core", "head", "tail", "line")

    def __init__(self, template_id: int, signature: Signature) -> None:
        super().__init__(template_id)
        # the anchors and the lowest other hashes, in C (numpy's union1d and masks cost
        # ~10 us a template, and most prompts found one)
        self.founder = array(
            "Q", _shingles.founder_shingles(signature.sorted_shingles, signature.head, signature.tail, FOUNDER_SHINGLES)
        )
        self.hits: array[int] | None = None  # None: every founder shingle seen once
        self.core: array[int] = self.founder  # the founder shingles at least half the members share
        self.head, self.tail = signature.head, signature.tail
        # the instruction line its members came under (a head- or tail-line key; 0: none
        # yet), or _UNDER_LINES once two members came under different ones
        self.line = _line_key(signature)

    @property
    def core_size(self) -> int:
        return len(self.core)

    def note_line(self, signature: Signature) -> None:
        """Note the instruction line a new member came under (see ``line``)."""
        key = _line_key(signature)
        if key and self.line != _UNDER_LINES:
            self.line = key if not self.line or self.line == key else _UNDER_LINES

    def pasted_document(self, signature: Signature | None = None) -> bool:
        """Whether this is a document pasted under two or more instruction lines (counting
        the line of a prompt about to join, its ``signature``), its members mostly the
        document itself (see PASTED_DOCUMENT_CORE)."""
        if len(self.core) < PASTED_DOCUMENT_CORE * len(self.founder):
            return False
        if self.line == _UNDER_LINES:
            return True
        key = _line_key(signature) if signature is not None else 0
        return bool(key and self.line and key != self.line)

    def shared(self, shingles: np.ndarray) -> int:
        """How many of the template's core shingles a prompt has (its shingles sorted, as in
        ``Signature.sorted_shingles``: a sorted merge in C instead of a set intersection
        that made an int object of every core shingle)."""
        return _shingles.shared_count(shingles, self.core)

    def join(self, shingles: np.ndarray) -> None:
        """Count a new member (its shingles, ``uint64``) and recompute the core."""
        if self.hits is None:
            self.hits = array("I", [1]) * len(self.founder)
        self.members += 1
        need = max(2, (self.members + 1) // 2)
        # one merge of the two sorted arrays in C (it was seven numpy calls)
        self.core = array("Q", _shingles.join_core(self.founder, self.hits, shingles, need))


class LineTemplate(TrackedTemplate):
    """An instruction-line template: every prompt whose first (or last) line is this short
    line set off from a long paste (:mod:`promptprint.text.lines`). Its constant part is
    that line, so it counts as a short template, whatever the paste."""

    __slots__ = ("key", "carried", "carriers")

    def __init__(self, template_id: int, key: int) -> None:
        super().__init__(template_id)
        self.key = key
        self.carried = 0  # members whose prompt also joined a shared shingle template (see sliver)
        self.carriers: tuple[int, ...] = ()  # the first SLIVER_CARRIERS such templates

    def note_carrier(self, template_id: int) -> None:
        """Count a member whose prompt also joined the shared shingle template ``template_id``."""
        self.carried += 1
        if len(self.carriers) < SLIVER_CARRIERS and template_id not in self.carriers:
            self.carriers += (template_id,)

    @property
    def core_size(self) -> int:
        return 0  # a line: as unspecific as the shortest shingle template

    @property
    def sliver(self) -> bool:
        """Whether most of its prompts also joined shared shingle templates (not pasted
        documents), SLIVER_CARRIERS different ones or more: the line is then a sliver of
        those templates, not an instruction over payloads. (Under one or two it is their
        own instruction: a tail instruction long enough to make shingles, whose first
        prompts founded a template of their own; at two, a tail-instruction campaign on
        split 606 lost its wording link and was first flagged after 169 prompts, not 24.)
        A line that payloads carry ("No input", ending every
        Alpaca item with an empty input) lies under many campaigns' templates; linked by
        its wording or its accounts' orgs, it joined fifty templates of several campaigns
        on a fresh test split (seed 1313), and popular prompts ending with it were
        flagged through them. Such a line is linked by nothing but its accounts."""
        return len(self.carriers) >= SLIVER_CARRIERS and 2 * self.carried > self.members


class TaskTemplate(TrackedTemplate):
    """The task one account's own wordings carry: an operation with a paraphrasing model
    in the loop words every prompt's instruction afresh, so no wording repeats, no
    template has two members (or only fragments of the wordings do), and nothing links
    the campaign's accounts; but each account's prompts ask for one thing over a payload
    of their own (their instructions embed close together, where a person's questions go
    everywhere), and the campaign's accounts ask for the same thing in the same hours. A
    new account whose TASK_PROMPTS latest prompts each wrap a payload and whose
    instructions (:func:`promptprint.text.lines.instruction_text`) embed coherently gets
    a task (:class:`promptprint.index.template_linker.TemplateLinker`); its prompts count
    on the task from then on, so it is committed to the task as to a template, and tasks
    link with other accounts' tasks (and templates) by wording like any template of a
    committed, single-minded account: within SEMANTIC_LINK_COSINE, same answer markers,
    in the same hours. The evidence is then the group's, as for a per-account
    paraphrase; a group of tasks alone needs more committed accounts (see
    scoring.COMMITTED_SCALE_TASKS): people who each word one common request their own way
    exist, a dozen new accounts doing it in one wave do not."""

    __slots__ = ("account",)

    def __init__(self, template_id: int, account: str) -> None:
        super().__init__(template_id)
        self.account = account
        self.members = 0

    @property
    def core_size(self) -> int:
        return 16  # as specific as a long template: the vector said what the prompts share


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One recorded prompt as the tracker sees it."""

    created_at_ms: int
    account_id: str
    org_id: str
    row_id: int = 0  # the record store's row (0: not stored, e.g. in offline replays)


def org_key(account_id: str, org_id: str) -> str:
    """Accounts without an org count as an org of their own."""
    return org_id if org_id else "\x00" + account_id


class TemplateTracker:
    """Assigns prompts to templates and keeps each template's windowed activity, each
    account's traffic, and the groups that link templates of one campaign.

    Every recorded prompt joins (or founds) a shingle template, and a line template for
    each instruction line it carries (:mod:`promptprint.text.lines`). The account book
    (:mod:`promptprint.templates.accounts`) tells, per template, which of its accounts
    are committed to it, engaged, or undedicated; accounts that send mostly two templates
    link them into one group (as do, for templates of a few accounts, an instruction
    worded alike or dedicated accounts of one org, working the same hours), so a
    campaign's paraphrases, translations and pivots add their evidence up instead of
    each being a weak template of its own.

    Args:
        window_ms: the sliding window of the activity counters (24 h by default).
        semantic_links: queue templates for their instruction's embedding (see
            take_for_embedding); off, templates link by their accounts only.

    Thread-safe: one lock around every operation (each is microseconds).
    """

    def __init__(self, window_ms: int = 24 * 3600 * 1000, sweep_every: int = 4096, *, semantic_links: bool = True) -> None:
        if window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {window_ms}")
        if sweep_every < 1:
            raise ValueError(f"sweep_every must be >= 1, got {sweep_every}")
        self._window = window_ms
        self._sweep_every = sweep_every
        self._since_sweep = 0
        self._templates: dict[int, Template] = {}
        self._lines: dict[int, LineTemplate] = {}  # line key -> its template
        self._line_ids: dict[int, LineTemplate] = {}  # template id -> line template
        self._postings = ShinglePostings(cap=POSTINGS_PER_SHINGLE)
        self._book = AccountBook(window_ms)
        self._parent: dict[int, int] = {}  # union-find over linked template ids (roots absent)
        self._groups: dict[int, list[int]] = {}  # root -> its templates (linked groups only)
        self._links: dict[tuple[int, int], set[str]] = {}  # template pair -> dedicated accounts that voted for it
        self._to_embed: dict[int, int] = {}  # templates waiting for their instruction's embedding -> traffic time then
        self._embedding: dict[int, int] = {}  # ... and those taken, whose embedding is under way
        self._traffic_ms = 0  # the latest prompt time recorded (the clock of the embedding queue's lag)
        self._embedded: set[int] = set()  # templates queued while their vector is kept (not queued again meanwhile)
        # template id -> its instruction's unit vector, language code (templates.worded_alike) and answer markers
        self._vectors: dict[int, tuple[np.ndarray, int, frozenset[str]]] = {}  # instruction vector, language code, answer markers
        self._compared_ms: dict[int, int] = {}  # template id -> when its vector was last compared (see _queue_for_embedding)
        self._worded_alike: set[int] = set()  # templates linked by their instruction's embedding
        self._org_linked: set[int] = set()  # templates linked by their accounts' org (see _link_by_org)
        # named org -> the small templates its single-minded accounts are committed to
        self._org_templates: dict[str, dict[int, None]] = {}
        self._marked_ms: dict[int, int] = {}  # flagged group root -> when its accounts were last marked
        self._tasks: dict[str, TaskTemplate] = {}  # account -> its task (see TaskTemplate)
        self._task_ids: dict[int, TaskTemplate] = {}  # ... by template id
        self._next_task_id = TASK_TEMPLATE_IDS
        # accounts waiting for their task's embedding -> (traffic time then, their own prompts' rows)
        self._tasks_to_embed: dict[str, tuple[int, list[int]]] = {}
        self._tasks_embedding: dict[str, int] = {}  # ... and those taken, under way
        self._semantic_links = semantic_links
        self._spread = 1  # serving processes the traffic is spread over (see set_members)
        self._next_id = 1
        self._next_line_id = LINE_TEMPLATE_IDS  # line templates have ids of their own
        self._lock = threading.Lock()

    @property
    def window_ms(self) -> int:
        return self._window

    def set_members(self, members: int) -> None:
        """Tell the tracker its traffic is one of ``members`` serving processes' (routed by
        template, promptprint.cluster): an account's prompts on this process's templates
        all arrive here, its other prompts one in ``members``. Its window volume is then
        estimated as the first plus ``members`` times the rest, so its dedication is not
        overstated by the prompts that went elsewhere."""
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        self._spread = members

    def _volume(self, account: str, now_ms: int) -> int:
        """The account's prompts in the window (estimated, see set_members)."""
        prompts = self._book.prompts(account, now_ms)
        if self._spread == 1:
            return prompts
        shared = min(prompts, self._book.shared_span(account)[0])
        return shared + (prompts - shared) * self._spread

    def members(self, template_id: int) -> int:
        """How many prompts ever joined a template (0 for an unknown or forgotten id); read
        without the lock, as one attribute of one dict entry."""
        template = self._templates.get(template_id)
        return template.members if template is not None else 0

    def __len__(self) -> int:
        return len(self._templates)

    def template(self, template_id: int) -> Template | None:
        return self._templates.get(template_id)

    def tracked(self, template_id: int) -> TrackedTemplate | None:
        """A shingle, line or task template by id."""
        return self._templates.get(template_id) or self._line_ids.get(template_id) or self._task_ids.get(template_id)

    def task_of(self, account_id: str) -> TaskTemplate | None:
        """The account's task, if it has one (see TaskTemplate); read without the lock."""
        return self._tasks.get(account_id) if account_id else None

    def _best(self, signature: Signature, shingles: np.ndarray) -> Template | None:
        """The candidate template the prompt joins, if any: among the templates sharing
        most shingles with it, one whose core it shares at least MIN_CORE of, and starts
        or ends like (that anchor still in the core), or shares ABS_SHARED of, or
        JOIN_SHARE of the core. The best by (head hit, tail hit, share of the core, shared):
        a prompt can hold two templates' constant parts (an instruction wrapped around a
        popular pasted text), and the one it *starts* with is its template. Scored in C
        (``_shingles.best_candidate``): in Python the loop cost ~15 us a prompt."""
        candidates = [self._templates[tid] for tid, _ in self._postings.ranked(shingles, CANDIDATES)]
        if not candidates:
            return None
        best = _shingles.best_candidate(
            shingles, signature.head, signature.tail, [t.core for t in candidates], [t.head for t in candidates],
            [t.tail for t in candidates], MIN_CORE, ABS_SHARED, JOIN_SHARE,
        )
        return candidates[best] if best >= 0 else None

    def match(self, signature: Signature) -> Template | None:
        """The template a prompt with this signature would join (no change is made)."""
        if len(signature) < MIN_CORE:
            return None
        shingles = signature.sorted_shingles
        with self._lock:
            return self._best(signature, shingles)

    def line_templates(self, signature: Signature) -> list[LineTemplate]:
        """The head- and tail-line templates a prompt with this signature would join, those
        that exist (no change is made)."""
        keys = [key for key in (signature.head_line, signature.tail_line) if key]
        if not keys:
            return []
        with self._lock:
            return [line for key in keys if (line := self._lines.get(key)) is not None]

    def record(self, signature: Signature, event: Event) -> int:
        """Join (or found) a template and count the event. Returns the shingle template's
        id, 0 for prompts too short to carry one (their instruction lines still count)."""
        t = event.created_at_ms
        with self._lock:
            self._traffic_ms = max(self._traffic_ms, _expiry_horizon(t))
            horizon = _expiry_horizon(t) - self._window
            account = sys.intern(event.account_id)
            org = sys.intern(org_key(account, event.org_id))
            if account:
                self._book.record(account, t, horizon)
            joined: list[tuple[TrackedTemplate, tuple[int, str, str, int, int, int] | None]] = []
            template_id = 0
            copy = False  # the prompt repeats a text a template it joins holds (see ENGAGED)
            shared_template: Template | None = None  # the shingle template it joined, if one was there
            if len(signature) >= MIN_CORE:
                shingles = signature.sorted_shingles
                template = self._best(signature, shingles)
                share = 0
                if template is None:
                    template = Template(self._next_id, signature)
                    self._templates[template.template_id] = template
                    self._next_id += 1
                    self._postings.add(template.template_id, np.frombuffer(template.founder, dtype=np.uint64))
                else:
                    founder = template.first_event
                    copy = template.has_text(signature.text_hash)
                    template.join(shingles)
                    template.note_line(signature)
                    share = round(_SHARE_SCALE * (1.0 - template.shared(shingles) / len(shingles)))
                    joined.append((template, founder))
                    shared_template = template
                template.add_event((t, account, org, signature.text_hash, share, event.row_id))
                template.expire(horizon)
                template_id = template.template_id
            carrier = shared_template.template_id if shared_template is not None and not shared_template.pasted_document(signature) else 0
            for key in (signature.head_line, signature.tail_line):
                if not key:
                    continue
                line = self._lines.get(key)
                if line is None:
                    line = LineTemplate(self._next_line_id, key)
                    self._next_line_id += 1
                    self._lines[key] = self._line_ids[line.template_id] = line
                else:
                    copy = copy or line.has_text(signature.text_hash)
                    line.members += 1
                    joined.append((line, line.first_event))
                if carrier:
                    line.note_carrier(carrier)
                # a line is a sliver of its prompt: the rest is payload
                line.add_event((t, account, org, signature.text_hash, _SHARE_SCALE - 1, event.row_id))
                line.expire(horizon)
            if account:
                self._task_prompt(account, event.row_id)
            self._since_sweep += 1
            if self._since_sweep >= self._sweep_every:
                self._sweep(horizon)
            if account and joined:
                this_prompt = {tracked.template_id for tracked, _ in joined}
                for tracked, founder in joined:
                    if founder is not None and founder[1] and founder[0] >= horizon:
                        # the second member makes the template shared: count its founder too
                        self._book.use(founder[1], tracked.template_id, founder[0], horizon)
                        if not copy:
                            self._book.shared_prompt(founder[1], founder[0])
                    self._note_use(tracked, account, t, horizon, this_prompt)
                if not copy:
                    self._book.shared_prompt(account, t)
                self._judge(account, org, t, horizon, [tracked for tracked, _ in joined])
            return template_id

    def _task_prompt(self, account: str, row_id: int) -> None:
        """Queue the account's TASK_PROMPTS latest prompts for the embedding of their
        instructions at every TASK_PROMPTS-th prompt: a new account's (TASK_MAX_PROMPTS
        prompts at most) to find its task, a task account's to count those that fit its
        task (see TaskTemplate)."""
        task = self._tasks.get(account)
        rows = self._book.note_recent(account, row_id, TASK_PROMPTS, None if task is not None else TASK_MAX_PROMPTS)
        if (
            self._semantic_links and len(rows) == TASK_PROMPTS and self._book.lifetime(account)[0] % TASK_PROMPTS == 0
            and account not in self._tasks_to_embed and account not in self._tasks_embedding
            and len(self._tasks_to_embed) < SEMANTIC_QUEUE
        ):
            self._tasks_to_embed[account] = (self._traffic_ms, rows)

    def task_vector(self, account_id: str) -> np.ndarray | None:
        """The vector of the account's task (None: it has none)."""
        with self._lock:
            task = self._tasks.get(account_id)
            instruction = self._vectors.get(task.template_id) if task is not None else None
            return instruction[0] if instruction is not None else None

    def take_tasks_for_embedding(self, limit: int) -> list[tuple[str, list[int]]]:
        """Up to ``limit`` accounts waiting for their task's embedding, each with the store
        rows of its own prompts (see TaskTemplate)."""
        with self._lock:
            taken: list[tuple[str, list[int]]] = []
            while self._tasks_to_embed and len(taken) < limit:
                account = next(iter(self._tasks_to_embed))
                queued, rows = self._tasks_to_embed.pop(account)
                self._tasks_embedding[account] = queued
                taken.append((account, rows))
            return taken

    def add_task(
        self, account: str, events: Sequence[tuple[int, str, int, int]], vector: np.ndarray, now_ms: int,
        language: str = "", markers: frozenset[str] = frozenset(),
    ) -> list[int]:
        """Give the account a task: its prompts ``events`` (time, org, text hash, store
        row) ask for one thing, whose instructions embed to ``vector`` (unit length; see
        TaskTemplate); or, when it has one, count those prompts on it. The prompts count
        as the account's on the task, the account is judged on it, and a new task is
        linked by wording with the embedded templates in use like any template's
        instruction (see add_instruction_vector). Returns the templates it was linked with."""
        with self._lock:
            horizon = _expiry_horizon(now_ms) - self._window
            kept = sorted(e for e in events if e[0] >= horizon)
            task = self._tasks.get(account)
            new = task is None
            if task is None:
                if len(kept) < 2:
                    return []
                task = TaskTemplate(self._next_task_id, account)
                self._next_task_id += 1
                self._tasks[account] = self._task_ids[task.template_id] = task
                self._vectors[task.template_id] = (np.asarray(vector, dtype=np.float32), language_code(language), markers)
                self._embedded.add(task.template_id)
            if not kept:
                return []
            org = ""
            for t, org_id, text_hash, row_id in kept:
                org = sys.intern(org_key(account, org_id))
                task.add_event((t, account, org, text_hash, _SHARE_SCALE - 1, row_id))
                task.members += 1
                self._book.use(account, task.template_id, t, horizon)
                self._book.shared_prompt(account, t)
            self._judge(account, org, kept[-1][0], horizon, [task])
            return self._link_by_wording(task.template_id, *self._vectors[task.template_id], horizon) if new else []

    def _forget_task(self, template_id: int) -> None:
        """Drop a task out of use: its account starts over (its next own prompts may
        make a task again)."""
        task = self._task_ids.pop(template_id, None)
        if task is not None and self._tasks.get(task.account) is task:
            del self._tasks[task.account]

    # -- accounts and groups ---------------------------------------------------------------
    def _root(self, template_id: int) -> int:
        parent = self._parent.get(template_id)
        if parent is None:
            return template_id
        root = self._root(parent)
        if root != parent:
            self._parent[template_id] = root
        return root

    def _group(self, root: int) -> list[int]:
        return self._groups.get(root) or [root]

    def _link(self, a: int, b: int) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return
        group_a, group_b = self._group(ra), self._group(rb)
        if len(group_a) < len(group_b):
            ra, rb, group_a, group_b = rb, ra, group_b, group_a
        self._parent[rb] = ra
        self._groups[ra] = group_a + group_b
        self._groups.pop(rb, None)

    def _note_use(self, tracked: TrackedTemplate, account: str, t: int, horizon: int, this_prompt: set[int]) -> None:
        """Count the account's use of a shared template, vote for links to the other
        templates it sends mostly, and judge it from the template's side."""
        tid = tracked.template_id
        use = self._book.use(account, tid, t, horizon)
        if use.count == 2:
            prompts = self._book.prompts(account, t)
            for other_tid, other in list(self._book.uses(account).items()):
                if other_tid in this_prompt or other.count < 2 or other.last_ms < horizon:
                    continue
                if use.count + other.count < DEDICATED_SHARE * prompts or self._root(other_tid) == self._root(tid):
                    continue
                if self.tracked(other_tid) is None:
                    continue
                self._vote(account, tid, other_tid)

    def _vote(self, account: str, a: int, b: int) -> None:
        """The account votes to link two templates; LINK_ACCOUNTS accounts link them (an
        account counts once however often it votes)."""
        pair = (a, b) if a < b else (b, a)
        voters = self._links.setdefault(pair, set())
        voters.add(account)
        if len(voters) >= LINK_ACCOUNTS:
            del self._links[pair]
            self._link(a, b)

    def _rotate(
        self, account: str, org: str, uses: dict[int, TemplateUse], touched: list[TrackedTemplate], horizon: int
    ) -> None:
        """A committed, single-minded account that rotates over shingle templates (each
        used once or twice: an operation's paraphrases, filled in turn) votes to link each
        shingle template this prompt joined with the others it used in the window; then,
        on each shingle template of a group it sent two prompts or more, it counts as
        committed where it used the template once. Its commitment is the campaign's, not
        any one template's: fifteen accounts each sending five prompts over fifteen
        templates in a four-minute wave (adversarial test splits) have no template
        repeated by an account. Instruction lines take no part: a line is a sliver of
        its prompts, and one that payloads carry (the "No input" that ends an Alpaca
        item) is shared by many campaigns' accounts, each of which would vote it into its
        own campaign's group; on a fresh test split (seed 1313) it joined fifty templates
        of several campaigns, and the popular prompts and an org's app that end with it
        were flagged."""
        shingle = {tid: use for tid, use in uses.items() if use.last_ms >= horizon and isinstance(self.tracked(tid), Template)}
        for tracked in touched:
            tid = tracked.template_id
            if tid not in shingle:
                continue
            for other_tid in shingle:
                if other_tid != tid and self._root(other_tid) != self._root(tid):
                    self._vote(account, tid, other_tid)
        per_group: dict[int, int] = {}
        for tid, use in shingle.items():
            root = self._root(tid)
            per_group[root] = per_group.get(root, 0) + use.count
        for tid, use in shingle.items():
            if use.count == 1 and per_group[self._root(tid)] >= 2:
                rotated = self.tracked(tid)
                activity = rotated.activity() if rotated is not None else None
                if activity is not None and account in activity.accounts:
                    activity.set_state(account, COMMITTED, org)

    def _judge(self, account: str, org: str, t: int, horizon: int, touched: list[TrackedTemplate]) -> None:
        """Judge an account from its window (see ENGAGED) and set its state on the shared
        templates this prompt joined; on all of its shared templates when it changed.

        Dedication is the share of its prompts that went to shared templates at all, not
        to one: a campaign account spreads over the campaign's paraphrases and pivots
        before anything links them, while an ordinary account's other prompts are its own."""
        uses = self._book.uses(account)
        shared, span = self._book.shared_span(account)
        prompts = max(1, self._volume(account, t))
        total, shared_total = self._book.lifetime(account)
        single_minded = _single_minded(total, shared_total)
        returned = single_minded and any(
            uses[tracked.template_id].earlier for tracked in touched if tracked.template_id in uses
        )
        if shared < DEDICATED_SHARE * prompts or (total >= SINGLE_MINDED_PROMPTS and shared_total < DEDICATED_SHARE * total):
            state = UNDEDICATED
        elif (
            (shared >= COMMIT_PROMPTS and shared >= COMMIT_SHARE * prompts) or returned
            or (span >= SITTING_MS and shared >= SINGLE_MINDED_SHARE * prompts)
        ):
            state = COMMITTED
        else:
            state = ENGAGED
        if state != self._book.state(account):
            self._book.set_state(account, state)
            touched = [tracked for tid in uses if (tracked := self.tracked(tid)) is not None]
        for tracked in touched:
            # Judged where it repeats; one use says nothing of a dedicated account yet, but
            # an account that used the template once among much else of its own is a
            # bystander of it (the users of a public tool, most of a popular prompt's).
            activity = tracked.activity()
            count = activity.accounts.get(account, 0)
            use = uses.get(tracked.template_id)
            if use is not None and use.earlier:  # it used the template in an earlier window too
                count += 1
            if count >= 2 or (count == 1 and state == UNDEDICATED):
                activity.set_state(account, state, org)
            if state == COMMITTED and single_minded:
                self._queue_for_embedding(tracked, t)
                if activity.states.get(account) == COMMITTED:
                    self._link_by_org(tracked, org, horizon)
        if state == COMMITTED and single_minded:
            self._rotate(account, org, uses, touched, horizon)

    def _link_by_org(self, tracked: TrackedTemplate, org: str, horizon: int) -> None:
        """Note that a single-minded account of ``org`` is committed to the template and
        link it with the org's other such templates sent near it (see _EXACT_ORG_SPREAD's
        comment): same kind (a prompt's shingle and line templates are the same prompts),
        no account in common (those link by their accounts), each a few accounts at most."""
        accounts = tracked.peek_activity().accounts
        if org.startswith("\x00") or len(accounts) > SEMANTIC_MAX_ACCOUNTS or self._sliver(tracked.template_id):
            return
        tid = tracked.template_id
        known = self._org_templates.setdefault(org, {})
        known[tid] = None
        if len(known) < 2:
            return
        root = self._root(tid)
        line = isinstance(tracked, LineTemplate)
        near: set[int] | None = None
        for other in list(known):
            if other == tid:
                continue
            other_tracked = self.tracked(other)
            if other_tracked is None or not self._in_use(other, horizon):
                del known[other]
                continue
            other_accounts = other_tracked.peek_activity().accounts
            if (
                isinstance(other_tracked, LineTemplate) != line
                or len(other_accounts) > SEMANTIC_MAX_ACCOUNTS
                or not accounts.keys().isdisjoint(other_accounts)
                or self._root(other) == root
            ):
                continue
            if near is None:
                near = {h + d for h in self._active_hours(tid) for d in range(-SEMANTIC_NEAR_HOURS, SEMANTIC_NEAR_HOURS + 1)}
            if near & self._active_hours(other) and self._loosely_linkable(other):
                self._link(tid, other)
                self._org_linked.update((tid, other))
                root = self._root(tid)

    def _queue_for_embedding(self, tracked: TrackedTemplate, t: int) -> None:
        """Queue a template for its instruction's embedding once it qualifies; an embedded
        one is compared again each time its members double, and in each new wave of its
        (SEMANTIC_NEAR_HOURS after its last comparison): the templates it should link with
        may have been embedded, or become active in its hours, since. A campaign's account
        that keeps to its own wording works a wave one day and the next wave days later,
        beside siblings that were not there the first time."""
        tid = tracked.template_id
        if not self._semantic_links or tracked.members < COMMIT_PROMPTS or self._sliver(tid):
            return
        instruction = self._vectors.get(tid)
        if instruction is None and isinstance(tracked, TaskTemplate):
            return  # its vector is its account's instructions, embedded once (see add_task)
        if instruction is not None:
            if tracked.members & (tracked.members - 1) == 0 or t - self._compared_ms.get(tid, t) >= SEMANTIC_NEAR_HOURS * 3_600_000:
                self._link_by_wording(tid, *instruction, _expiry_horizon(t) - self._window)
            return
        if tid in self._embedded:
            return
        activity = tracked.activity()
        if len(activity.accounts) > SEMANTIC_MAX_ACCOUNTS or not activity.committed:
            return
        self._embedded.add(tid)
        if len(self._to_embed) < SEMANTIC_QUEUE:
            self._to_embed[tid] = self._traffic_ms

    def waiting_for_embedding(self, behind_ms: int = 0) -> bool:
        """Whether templates wait for their instruction's embedding (queued, or taken and
        under way), the oldest of them queued more than ``behind_ms`` ago by the traffic's
        own clock (the latest prompt time recorded; nothing waiting, the usual case, is
        read without the lock)."""
        if not self._to_embed and not self._embedding and not self._tasks_to_embed and not self._tasks_embedding:
            return False
        with self._lock:  # each keeps queue order, and queue times never decrease: each one's oldest is its first
            oldest = [next(iter(queue.values())) for queue in (self._to_embed, self._embedding, self._tasks_embedding) if queue]
            if self._tasks_to_embed:
                oldest.append(next(iter(self._tasks_to_embed.values()))[0])
            return bool(oldest) and self._traffic_ms - min(oldest) >= behind_ms

    def take_for_embedding(self, limit: int) -> list[tuple[int, list[int]]]:
        """Up to ``limit`` templates waiting for their instruction's embedding, each with
        the store rows of its two latest prompts (the instruction is what they share)."""
        with self._lock:
            taken: list[tuple[int, list[int]]] = []
            while self._to_embed and len(taken) < limit:
                tid = next(iter(self._to_embed))
                self._embedding[tid] = self._to_embed.pop(tid)
                tracked = self.tracked(tid)
                if tracked is None:
                    continue
                activity = tracked.peek_activity()
                rows = [r for r in activity.rows[max(activity.start, len(activity.rows) - 2) :] if r]
                if len(rows) == 2:
                    taken.append((tid, rows))
                else:  # back after a pause, one prompt in the window yet: queued again by its next
                    self._embedded.discard(tid)
            return taken

    def embedding_done(self, template_ids: Sequence[int] = (), accounts: Sequence[str] = ()) -> None:
        """The embeddings of these taken templates, and of these taken accounts' tasks, are
        over (linked, a task, or nothing to embed)."""
        with self._lock:
            for tid in template_ids:
                self._embedding.pop(tid, None)
            for account in accounts:
                self._tasks_embedding.pop(account, None)

    def add_instruction_vector(
        self, template_id: int, vector: np.ndarray, now_ms: int, language: str = "", markers: frozenset[str] = frozenset()
    ) -> list[int]:
        """Keep a template's instruction vector (unit length), its language ("en",
        "other" or "" unknown: promptprint.text.language) and its answer markers
        (promptprint.text.answer_markers), and link it with the embedded templates in use
        in the window whose vectors are within SEMANTIC_LINK_COSINE
        (SEMANTIC_CROSS_LINGUAL_COSINE across languages) and whose markers are its own.
        Returns the templates it was linked with."""
        with self._lock:
            horizon = _expiry_horizon(now_ms) - self._window
            for other in [tid for tid in self._vectors if not self._in_use(tid, horizon)]:
                self._forget_vector(other)
            vector = np.asarray(vector, dtype=np.float32)
            code = language_code(language)
            linked = self._link_by_wording(template_id, vector, code, markers, horizon)
            if self._in_use(template_id, horizon):
                self._vectors[template_id] = (vector, code, markers)
            else:
                self._forget_vector(template_id)
            return linked

    def _forget_vector(self, template_id: int) -> None:
        """Drop the vector of a template out of use (the vectors kept are those of the
        window); it is embedded again when a committed account brings it back."""
        self._vectors.pop(template_id, None)
        self._compared_ms.pop(template_id, None)
        self._embedded.discard(template_id)
        self._forget_task(template_id)

    def _link_by_wording(
        self, template_id: int, vector: np.ndarray, language: int, markers: frozenset[str], horizon: int
    ) -> list[int]:
        """Link a template with the embedded ones in use, co-active with it, whose
        instruction vectors are within SEMANTIC_LINK_COSINE of its own
        (SEMANTIC_CROSS_LINGUAL_COSINE when either is in another language than English)
        and that ask for the same answer markers (promptprint.templates.worded_alike, the
        rule offline attribution applies too); both must carry a committed,
        single-minded account. A lone template (an account
        keeping to its own wording) joins the group of the closest such template when any
        template of that group was sent within SEMANTIC_NEAR_HOURS of it: a campaign's
        accounts work in its waves, not necessarily near the one sibling they embed
        closest to. Once linked, it links further only with templates near it themselves
        (one account's wording does not bridge two groups on their hours alone)."""
        self._compared_ms[template_id] = self._traffic_ms
        ids = [tid for tid in self._vectors if tid != template_id]
        if not ids or not self._loosely_linkable(template_id):
            return []
        near = {h + d for h in self._active_hours(template_id) for d in range(-SEMANTIC_NEAR_HOURS, SEMANTIC_NEAR_HOURS + 1)}
        cosines = np.stack([self._vectors[tid][0] for tid in ids]) @ vector
        their_markers = np.empty(len(ids), dtype=object)
        their_markers[:] = [self._vectors[tid][2] for tid in ids]
        alike = worded_alike(
            cosines, language, np.asarray([self._vectors[tid][1] for tid in ids]),
            markers, their_markers, cosine=SEMANTIC_LINK_COSINE, cross_lingual_cosine=SEMANTIC_CROSS_LINGUAL_COSINE,
        )
        lone = len(self._group(self._root(template_id))) == 1
        linked: list[int] = []
        for k in np.argsort(-cosines, kind="stable").tolist():  # the closest first: a lone template joins its group
            other = ids[k]
            if cosines[k] < min(SEMANTIC_CROSS_LINGUAL_COSINE, SEMANTIC_LINK_COSINE):
                break
            if (
                alike[k]
                and self._root(other) != self._root(template_id)
                and self._in_use(other, horizon) and self._loosely_linkable(other)
                and near & (self._group_hours(self._root(other)) if lone else self._active_hours(other))
            ):
                self._link(template_id, other)
                self._worded_alike.update((template_id, other))
                linked.append(other)
                lone = False
        return linked

    def _sliver(self, template_id: int) -> bool:
        """Whether the template is an instruction line that is a sliver of shingle
        templates (see LineTemplate.sliver): linked by its accounts only."""
        line = self._line_ids.get(template_id)
        return line is not None and line.sliver

    def _loosely_linked(self, template_id: int) -> bool:
        """Whether the template was linked by its instruction's wording or its accounts' org."""
        return template_id in self._worded_alike or template_id in self._org_linked

    def _single_minded_count(self, activity: _Activity) -> int:
        """The accounts committed to a template (its ``activity``) that are single-minded
        now. A template is linked by wording or an org for such an account, judged on its
        first prompts: a power user whose first five were all his wrapper was linkable
        then, and with his own traffic since (his wrapper 40-70% of it) proves nothing."""
        return sum(
            1 for account, state in activity.states.items()
            if state == COMMITTED and _single_minded(*self._book.lifetime(account))
        )

    def _loosely_linkable(self, template_id: int) -> bool:
        """Whether the template may be linked by wording or an org: an account committed
        to it is single-minded now (see SINGLE_MINDED_SHARE: a template queued for its
        first committed account's early prompts may turn out to be a power user's wrapper
        among much else), and it is not a sliver line (see LineTemplate.sliver; a line
        embedded before it became one keeps its vector)."""
        tracked = self.tracked(template_id)
        return (
            tracked is not None and not self._sliver(template_id)
            and self._single_minded_count(tracked.peek_activity()) > 0
        )

    def _active_hours(self, template_id: int) -> set[int]:
        """The hours of the window the template was sent in. Two templates link by wording
        only when sent within SEMANTIC_NEAR_HOURS of each other: accounts that each word
        an instruction their own way but work in the same waves, not users who each keep
        a wrapper of their own on their own schedule."""
        tracked = self.tracked(template_id)
        return {bucket // _BUCKETS_PER_HOUR for bucket in tracked.peek_activity().buckets} if tracked is not None else set()

    def _group_hours(self, root: int) -> set[int]:
        """The hours of the window any template of the group was sent in: a lone template
        (an account keeping to its own wording) joins a campaign whose wave it works in,
        not necessarily within hours of the one sibling it embeds closest to."""
        return set().union(*(self._active_hours(tid) for tid in self._group(root)))

    def _in_use(self, template_id: int, horizon: int) -> bool:
        tracked = self.tracked(template_id)
        if tracked is None:
            return False
        times = tracked.peek_activity().times
        return bool(times) and times[-1] >= horizon

    def _sweep(self, before: int) -> None:
        """Forget one-prompt templates whose only prompt left the window: nobody reused
        them, and ordinary traffic would otherwise grow the tracker without bound."""
        self._since_sweep = 0
        for tid in [t.template_id for t in self._templates.values() if t.members == 1]:
            template = self._templates[tid]
            if template.expire(before):
                del self._templates[tid]
                self._postings.remove(tid, template.founder)
        for key in [k for k, line in self._lines.items() if line.members == 1]:
            line = self._lines[key]
            if line.expire(before):
                del self._lines[key]
                del self._line_ids[line.template_id]
        for tid in [tid for tid, task in self._task_ids.items() if task.expire(before)]:
            self._forget_vector(tid)
        for root in [r for r, t in self._marked_ms.items() if t < before]:
            del self._marked_ms[root]
        for org in list(self._org_templates):
            known = self._org_templates[org]
            for tid in [tid for tid in known if not self._in_use(tid, before)]:
                del known[tid]
            if not known:
                del self._org_templates[org]

    def note_flagged(self, template_id: int, now_ms: int, score: float) -> int:
        """A prompt of the template's group was flagged at ``score``: mark every account
        committed to one of the group's templates in the window as the campaign's (see
        ``campaign_mark``), at most once per MARK_EVERY_MS a group. Returns how many
        accounts were marked.

        The evidence that flags a campaign is its accounts' dedication, so they are its
        accounts, whatever they send next: a pivot's accounts that sent the old template
        before it was flagged and then moved to a new one (not yet linked, its evidence
        starting from nothing) were never flagged on a prompt of their own (adversarial
        split 1515: three pivot accounts). Bystanders and users who repeat a template
        among much else are not committed and are not marked."""
        with self._lock:
            root = self._root(template_id)
            last = self._marked_ms.get(root)
            if last is not None and now_ms - last < MARK_EVERY_MS:  # lately, or a prompt stamped earlier
                return 0
            self._marked_ms[root] = now_ms
            mark = CampaignMark(root, template_id, now_ms, score)
            marked = 0
            for tid in self._group(root):
                tracked = self.tracked(tid)
                if tracked is None:
                    continue
                for account, state in tracked.peek_activity().states.items():
                    if state == COMMITTED:
                        marked += self._book.mark(account, mark)
            return marked

    def campaign_mark(self, account_id: str, now_ms: int) -> CampaignMark | None:
        """The flagged campaign group the account was last found committed to, within
        ``accounts.RETURN_MS`` (None: none)."""
        with self._lock:
            return self._book.campaign_mark(account_id, now_ms) if account_id else None

    def forget_rows(self, row_ids: set[int]) -> int:
        """Take deleted prompts (by store row id) out of every template's window, so a
        deleted account stops counting at once. An admin path: it scans every event in
        the window. Returns how many events were removed."""
        removed = 0
        with self._lock:
            for template in [*self._templates.values(), *self._lines.values(), *self._task_ids.values()]:
                activity = template.peek_activity()
                if row_ids.isdisjoint(activity.rows[activity.start :]):
                    continue
                kept = _Activity()
                for i in range(len(activity)):
                    event = activity.event(i)
                    if event[5] in row_ids:
                        removed += 1
                    else:
                        kept.add(*event)
                template.replace_activity(kept)
        return removed

    def recent_rows(self, template: TrackedTemplate, limit: int) -> list[int]:
        """Row ids of the template's latest prompts in its window, newest first."""
        with self._lock:
            activity = template.peek_activity()
            rows = activity.rows[max(activity.start, len(activity.rows) - limit) :]
            return [r for r in reversed(rows) if r]

    def account(self, account_id: str, now_ms: int) -> tuple[AccountSnapshot, dict[int, int]] | None:
        """An account's window (None when unknown) and, per shared template it used, the
        template's group root (the template itself when it is in no group)."""
        with self._lock:
            snapshot = self._book.snapshot(account_id, now_ms)
            if snapshot is None:
                return None
            return snapshot, {tid: self._root(tid) for tid in snapshot.uses}

    def group_templates(self, template_id: int) -> list[int]:
        """The templates linked with this one (itself included), in the order they joined."""
        with self._lock:
            return list(self._group(self._root(template_id)))

    def features(
        self, template: TrackedTemplate, now_ms: int, account_id: str, org_id: str = "", *, exclude_row_id: int = 0
    ) -> TemplateFeatures:
        """The template's activity in [now - window, now], seen from ``account_id`` (of
        ``org_id``), with its group's. ``exclude_row_id``: a prompt checked again after it
        was recorded (a replay) is left out of the counts, so it never counts itself
        (first/last seen, the burst bucket and the account states still include it)."""
        with self._lock:
            horizon = _expiry_horizon(now_ms) - self._window
            activity = template.peek_activity()
            activity.expire(horizon)
            volume = len(activity)
            first: int | None
            last: int | None
            if volume:
                first = activity.times[activity.start]
                last = max(activity.times[-1], first)
                top_org = max(activity.orgs.values())
                burst = max(1 if isinstance(b, str) else len(b) for b in activity.buckets.values())
            else:
                first = last = None
                top_org = burst = 0
            accounts = len(activity.accounts)
            other_accounts = accounts - (1 if account_id in activity.accounts else 0)
            orgs, named_orgs, repeat = len(activity.orgs), activity.named_orgs, activity.repeat
            texts, payload = len(activity.texts), activity.payload
            own = None
            if exclude_row_id:
                rows = activity.rows
                for j in range(len(rows) - 1, activity.start - 1, -1):
                    if rows[j] == exclude_row_id:
                        own = activity.event(j - activity.start)
                        break
            own_org_events = 1 if own is not None and own[2] == org_id else 0
            if own is not None:
                _, account, org, text_hash, share, _ = own
                volume -= 1
                payload -= share
                n = activity.accounts[account]
                accounts -= n == 1
                repeat -= n == 2
                if activity.orgs[org] == 1:
                    orgs -= 1
                    named_orgs -= not org.startswith("\x00")
                texts -= activity.texts[text_hash] == 1
            group = self._group_totals(
                template, horizon, (volume, accounts, activity.committed, activity.undedicated, texts, top_org), activity.orgs
            )
            account_prompts = self._volume(account_id, now_ms) if account_id else 0
            root = self._root(template.template_id)
            account_group = sum(
                use.count for tid, use in self._book.uses(account_id).items()
                if use.last_ms >= horizon and self._root(tid) == root
            ) if account_id else 0
            return TemplateFeatures(
                template_id=template.template_id,
                core_size=template.core_size,
                members_total=template.members - (own is not None),
                volume=volume,
                accounts=accounts,
                other_accounts=other_accounts,
                orgs=orgs,
                named_orgs=named_orgs,
                other_named_orgs=named_orgs - (1 if org_id and activity.orgs.get(org_id, 0) > own_org_events else 0),
                repeat_accounts=repeat,
                distinct_texts=texts,
                top_org_volume=top_org,
                burst_accounts=burst,
                payload_share=payload / _SHARE_SCALE / volume if volume > 0 else 0.0,
                first_seen_ms=first if volume > 0 else None,
                last_seen_ms=last if volume > 0 else None,
                kind="line" if isinstance(template, LineTemplate) else "task" if isinstance(template, TaskTemplate) else "shingles",
                committed_accounts=activity.committed,
                undedicated_accounts=activity.undedicated,
                group=group,
                account_prompts=account_prompts,
                account_group_prompts=account_group,
            )

    def _group_totals(
        self, template: TrackedTemplate, horizon: int, own: tuple[int, int, int, int, int, int], own_orgs: dict[str, int]
    ) -> GroupFeatures:
        """The template's group summed over its largest templates (its own counts as given).
        In a group an org links, the busiest org's prompts are summed over the templates
        while they have few orgs (an org's templates linked together are still one org's
        traffic); otherwise, and beyond that, the largest template's top org."""
        root = self._root(template.template_id)
        members = self._groups.get(root)
        volume, accounts, committed, undedicated, texts, top_org = own
        own_committed = template.peek_activity().committed_orgs or {}
        in_orgs, committed_top = committed, max(own_committed.values(), default=0)  # each committed account has its org
        if not members:
            return GroupFeatures(
                root, 1, volume, accounts, committed, undedicated, texts, top_org,
                committed_in_orgs=in_orgs, committed_top_org=committed_top, tasks=int(isinstance(template, TaskTemplate)),
            )
        same_org = sum(1 for tid in members if tid in self._org_linked)
        # exact only where an org holds the group together: elsewhere (links by accounts or
        # wording) the largest template's top org, as tuned (a campaign whose throw-away orgs
        # hold several accounts each spreads its orgs unevenly over its templates)
        exact = same_org and len(own_orgs) <= _EXACT_ORG_SPREAD
        per_org: dict[str, int] | None = dict(own_orgs) if exact else None
        # committed accounts per org over the group, exactly while they are few orgs; beyond,
        # the largest template's busiest org (a campaign's accounts spread over its orgs)
        committed_per_org: dict[str, int] | None = dict(own_committed)
        alike = sum(1 for tid in members if tid in self._worded_alike)
        if self._loosely_linked(template.template_id):
            committed = min(committed, self._single_minded_count(template.peek_activity()))
        others = [t for tid in members if tid != template.template_id and (t := self.tracked(tid)) is not None]
        others.sort(key=lambda t: -t.members)
        for other in others[: GROUP_FEATURE_TEMPLATES - 1]:
            activity = other.peek_activity()
            activity.expire(horizon)
            if not len(activity):
                continue
            volume += len(activity)
            accounts += len(activity.accounts)
            # a template linked by wording or an org counts the accounts that made it
            # linkable, single-minded ones, as they are now
            committed += self._single_minded_count(activity) if self._loosely_linked(other.template_id) else activity.committed
            undedicated += activity.undedicated
            texts += len(activity.texts)
            top_org = max(top_org, max(activity.orgs.values()))
            if activity.committed_orgs:
                in_orgs += activity.committed
                committed_top = max(committed_top, max(activity.committed_orgs.values()))
                committed_per_org = _merge_counts(committed_per_org, activity.committed_orgs)
            per_org = _merge_counts(per_org, activity.orgs)
        if per_org:
            top_org = max(top_org, max(per_org.values()))
        if committed_per_org:
            committed_top = max(committed_top, max(committed_per_org.values()))
        return GroupFeatures(
            root, len(members), volume, accounts, committed, undedicated, texts, top_org, alike, same_org,
            committed_in_orgs=in_orgs, committed_top_org=committed_top, tasks=sum(1 for tid in members if tid in self._task_ids),
        )
