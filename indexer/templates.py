"""Online template clustering with per-template activity in a sliding window.

Each recorded prompt joins a template or founds one. A template is the *constant part*
of its members (as in log-template miners such as Drain): it starts as the founder's
shingles (see :mod:`indexer.skeleton`), and once others join, its **core** is the set of
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

import collections
import dataclasses
import sys
import threading
import time

from indexer.skeleton import Signature

MIN_CORE = 6  # shingles (8+ words): shorter templates are not distinctive
ABS_SHARED = 10
JOIN_SHARE = 0.6
POSTINGS_PER_SHINGLE = 8
# A template remembers at most this many of its founder's shingles: the ones with the
# smallest hashes (a bottom-k sample, so two prompts sharing a text sample the same
# shingles of it). Bounds memory per template whatever the prompt's length.
FOUNDER_SHINGLES = 64
BUCKET_MS = 10 * 60 * 1000
# Window expiry never runs ahead of the wall clock by more than this: one prompt stamped
# in the year 9999 must not empty every template's window for everybody else.
MAX_CLOCK_SKEW_MS = 3600 * 1000


def _expiry_horizon(t_ms: int) -> int:
    return min(t_ms, int(time.time() * 1000) + MAX_CLOCK_SKEW_MS)


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


class _Activity:
    """Sliding-window counters of one template."""

    __slots__ = ("events", "accounts", "orgs", "named_orgs", "texts", "repeat", "buckets", "payload")

    def __init__(self) -> None:
        # (created_at_ms, account, org key, text hash, payload share, row id)
        self.events: collections.deque[tuple[int, str, str, int, float, int]] = collections.deque()
        self.payload = 0.0
        self.accounts: dict[str, int] = {}
        self.orgs: dict[str, int] = {}
        self.named_orgs = 0  # keys of self.orgs that are real orgs
        self.texts: dict[int, int] = {}
        self.repeat = 0
        self.buckets: dict[int, dict[str, int]] = {}

    def add(self, t: int, account: str, org: str, text_hash: int, payload_share: float, row_id: int) -> None:
        self.events.append((t, account, org, text_hash, payload_share, row_id))
        self.payload += payload_share
        n = self.accounts.get(account, 0) + 1
        self.accounts[account] = n
        if n == 2:
            self.repeat += 1
        if org not in self.orgs and not org.startswith("\x00"):
            self.named_orgs += 1
        self.orgs[org] = self.orgs.get(org, 0) + 1
        self.texts[text_hash] = self.texts.get(text_hash, 0) + 1
        bucket = self.buckets.setdefault(t // BUCKET_MS, {})
        bucket[account] = bucket.get(account, 0) + 1

    def expire(self, before: int) -> None:
        while self.events and self.events[0][0] < before:
            t, account, org, text_hash, payload_share, _ = self.events.popleft()
            self.payload -= payload_share
            n = self.accounts[account] - 1
            if n == 1:
                self.repeat -= 1
            if n:
                self.accounts[account] = n
            else:
                del self.accounts[account]
            _decrement(self.orgs, org)
            if org not in self.orgs and not org.startswith("\x00"):
                self.named_orgs -= 1
            _decrement(self.texts, text_hash)
            bucket = self.buckets.get(t // BUCKET_MS)
            if bucket is not None:
                _decrement(bucket, account)
                if not bucket:
                    del self.buckets[t // BUCKET_MS]


def _decrement(counts: dict, key: object) -> None:  # type: ignore[type-arg]
    n = counts[key] - 1
    if n:
        counts[key] = n
    else:
        del counts[key]


class Template:
    """One template: its founder's shingles, member counts per shingle, and its activity.

    Most prompts found a template nobody else joins, so a one-member template is kept
    lean: ``hits`` (member counts per founder shingle) is only built by the first join.
    """

    __slots__ = ("template_id", "hits", "members", "core", "anchors", "activity")

    def __init__(self, template_id: int, signature: Signature) -> None:
        self.template_id = template_id
        kept = signature.shingles
        if len(kept) > FOUNDER_SHINGLES:
            anchors = {a for a in (signature.head, signature.tail) if a}
            rest = sorted(kept - anchors)[: FOUNDER_SHINGLES - len(anchors)]
            kept = frozenset(rest) | anchors
        self.hits: dict[int, int] | None = None  # None: every founder shingle seen once
        self.members = 1
        self.core: frozenset[int] = kept
        self.anchors = (signature.head, signature.tail)
        self.activity = _Activity()

    def shared(self, shingles: frozenset[int]) -> int:
        return len(self.core & shingles)

    def anchored(self, signature: Signature) -> tuple[bool, bool]:
        """Whether the prompt starts / ends like the template's founder, with that anchor
        still part of the template's core (the members share it)."""
        head, tail = self.anchors
        head_hit = bool(head) and head == signature.head and head in self.core
        tail_hit = bool(tail) and tail == signature.tail and tail in self.core
        return head_hit, tail_hit

    def join(self, shingles: frozenset[int]) -> None:
        hits = self.hits
        if hits is None:
            hits = self.hits = dict.fromkeys(self.core, 1)
        for s in shingles & hits.keys():
            hits[s] += 1
        self.members += 1
        need = max(2, (self.members + 1) // 2)
        self.core = frozenset(s for s, n in hits.items() if n >= need)


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
    """Assigns prompts to templates and keeps each template's windowed activity.

    Args:
        window_ms: the sliding window of the activity counters (24 h by default).

    Thread-safe: one lock around every operation (each is microseconds).
    """

    def __init__(self, window_ms: int = 24 * 3600 * 1000, sweep_every: int = 4096) -> None:
        if window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {window_ms}")
        if sweep_every < 1:
            raise ValueError(f"sweep_every must be >= 1, got {sweep_every}")
        self._window = window_ms
        self._sweep_every = sweep_every
        self._since_sweep = 0
        self._templates: dict[int, Template] = {}
        # shingle -> template ids founded with it; a lone id is kept as a bare int, not
        # a one-element list (most shingles belong to one template: ~5 KB per template).
        self._postings: dict[int, int | list[int]] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    @property
    def window_ms(self) -> int:
        return self._window

    def __len__(self) -> int:
        return len(self._templates)

    def template(self, template_id: int) -> Template | None:
        return self._templates.get(template_id)

    def _best(self, signature: Signature) -> tuple[Template | None, int]:
        shingles = signature.shingles
        counts: dict[int, int] = {}
        postings = self._postings
        for s in shingles:
            posting = postings.get(s)
            if posting is None:
                continue
            if isinstance(posting, int):
                counts[posting] = counts.get(posting, 0) + 1
            else:
                for tid in posting:
                    counts[tid] = counts.get(tid, 0) + 1
        best: Template | None = None
        best_key: tuple[bool, bool, float, int] | None = None
        for tid, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:8]:
            template = self._templates[tid]
            shared = template.shared(shingles)
            if shared < MIN_CORE:
                continue
            head, tail = template.anchored(signature)
            containment = shared / len(template.core)
            if not (head or tail or shared >= ABS_SHARED or containment >= JOIN_SHARE):
                continue
            # A prompt can hold two templates' constant parts (an instruction wrapped around
            # a popular pasted text): the one it *starts* with is its template.
            key = (head, tail, containment, shared)
            if best_key is None or key > best_key:
                best, best_key = template, key
        return best, (best_key[3] if best_key else 0)

    def match(self, signature: Signature) -> Template | None:
        """The template a prompt with this signature would join (no change is made)."""
        if len(signature) < MIN_CORE:
            return None
        with self._lock:
            return self._best(signature)[0]

    def record(self, signature: Signature, event: Event) -> int:
        """Join (or found) a template and count the event. Returns the template id,
        0 for prompts too short to carry a template."""
        if len(signature) < MIN_CORE:
            return 0
        shingles = signature.shingles
        with self._lock:
            template, _ = self._best(signature)
            payload_share = 0.0
            if template is None:
                template = Template(self._next_id, signature)
                tid = template.template_id
                self._templates[tid] = template
                self._next_id += 1
                postings = self._postings
                for s in template.core:
                    posting = postings.get(s)
                    if posting is None:
                        postings[s] = tid
                    elif isinstance(posting, int):
                        postings[s] = [posting, tid]
                    elif len(posting) < POSTINGS_PER_SHINGLE:
                        posting.append(tid)
            else:
                template.join(shingles)
                payload_share = 1.0 - len(template.core & shingles) / len(shingles)
            activity = template.activity
            account = sys.intern(event.account_id)
            activity.add(
                event.created_at_ms, account, sys.intern(org_key(account, event.org_id)), signature.text_hash,
                payload_share, event.row_id,
            )
            horizon = _expiry_horizon(event.created_at_ms) - self._window
            activity.expire(horizon)
            self._since_sweep += 1
            if self._since_sweep >= self._sweep_every:
                self._sweep(horizon)
            return template.template_id

    def _sweep(self, before: int) -> None:
        """Forget one-prompt templates whose only prompt left the window: nobody reused
        them, and ordinary traffic would otherwise grow the tracker without bound."""
        self._since_sweep = 0
        for tid in [t.template_id for t in self._templates.values() if t.members == 1]:
            template = self._templates[tid]
            template.activity.expire(before)
            if template.activity.events:
                continue
            del self._templates[tid]
            for s in template.core:
                posting = self._postings.get(s)
                if posting == tid:
                    del self._postings[s]
                elif isinstance(posting, list) and tid in posting:
                    posting.remove(tid)
                    if len(posting) == 1:
                        self._postings[s] = posting[0]

    def forget_rows(self, row_ids: set[int]) -> int:
        """Take deleted prompts (by store row id) out of every template's window, so a
        deleted account stops counting at once. An admin path: it scans every event in
        the window. Returns how many events were removed."""
        removed = 0
        with self._lock:
            for template in self._templates.values():
                events = template.activity.events
                if not any(e[5] in row_ids for e in events):
                    continue
                kept = [e for e in events if e[5] not in row_ids]
                removed += len(events) - len(kept)
                activity = _Activity()
                for event in kept:
                    activity.add(*event)
                template.activity = activity
        return removed

    def recent_rows(self, template: Template, limit: int) -> list[int]:
        """Row ids of the template's latest prompts in its window, newest first."""
        with self._lock:
            events = template.activity.events
            return [events[i][5] for i in range(len(events) - 1, max(-1, len(events) - 1 - limit), -1) if events[i][5]]

    def features(
        self, template: Template, now_ms: int, account_id: str, org_id: str = "", *, exclude_row_id: int = 0
    ) -> TemplateFeatures:
        """The template's activity in [now - window, now], seen from ``account_id`` (of
        ``org_id``). ``exclude_row_id``: a prompt checked again after it was recorded
        (a replay) is left out of the counts, so it never counts itself (first/last
        seen and the burst bucket still include it)."""
        with self._lock:
            activity = template.activity
            activity.expire(_expiry_horizon(now_ms) - self._window)
            volume = len(activity.events)
            if volume:
                last = max(activity.events[-1][0], activity.events[0][0])
                first = activity.events[0][0]
                top_org = max(activity.orgs.values())
                burst = max(len(b) for b in activity.buckets.values())
            else:
                first = last = None
                top_org = burst = 0
            accounts = len(activity.accounts)
            other_accounts = accounts - (1 if account_id in activity.accounts else 0)
            orgs, named_orgs, repeat = len(activity.orgs), activity.named_orgs, activity.repeat
            texts, payload = len(activity.texts), activity.payload
            own = next((e for e in reversed(activity.events) if e[5] == exclude_row_id), None) if exclude_row_id else None
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
            return TemplateFeatures(
                template_id=template.template_id,
                core_size=len(template.core),
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
                payload_share=payload / volume if volume > 0 else 0.0,
                first_seen_ms=first if volume > 0 else None,
                last_seen_ms=last if volume > 0 else None,
            )
