"""What each account sent in the template window: how much, and on which shared templates.

No per-account rule sees a distillation campaign, but the campaign's accounts look
alike from the template's side: they send almost nothing but its template (*dedication*),
and they keep at it — more prompts than one person pasting one thing, or over more than
one sitting (*persistence*). A student pasting an assignment twice in one evening, or a
user who sends "Summarize this:" among fifty other prompts, is neither. Those two facts
need each account's own traffic in the window, which this book keeps:

* the times of its prompts in the window (its volume there), and
* for each shared template it used (one with two members or more; a template nobody else
  joined says nothing), how many prompts and when it first and last used it.

An account's template entries are few: at most ``MAX_TEMPLATES_PER_ACCOUNT``, the least
recently used dropped first (an account spread over dozens of templates is dedicated to
none). Counts restart when a template was not used for a whole window, but the entry
remembers that the account used it before (``earlier``), and an account with template
entries is remembered for ``RETURN_MS`` after its last prompt: a campaign that fires
each of its accounts once or twice a day is *persistent*, it came back to the template a
day later, which no single window shows.

Not thread-safe: the template tracker calls it under its own lock.
"""

from __future__ import annotations

import dataclasses
from array import array

MAX_TEMPLATES_PER_ACCOUNT = 16
# how long an account that used shared templates is remembered after its last prompt (a
# return to one of them within this counts as persistence)
RETURN_MS = 7 * 24 * 3600 * 1000


@dataclasses.dataclass(slots=True)
class TemplateUse:
    """One account's use of one shared template in the window (``count``), and how many
    times it used it in earlier windows (``earlier``)."""

    count: int
    first_ms: int
    last_ms: int
    earlier: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignMark:
    """The last time a campaign group the account was committed to was flagged: its
    group (root template id), the template of the flagged prompt, when, and the score it
    was flagged at."""

    group: int
    template_id: int
    flagged_ms: int
    score: float


class _Account:
    __slots__ = (
        "times", "start", "shared", "uses", "first_seen_ms", "last_ms", "state", "total", "shared_total", "mark", "recent",
    )

    def __init__(self, t: int) -> None:
        self.times = array("q")
        self.start = 0
        self.shared = array("q")  # times of its prompts that joined a shared template (in the window)
        self.uses: dict[int, TemplateUse] = {}
        self.first_seen_ms = self.last_ms = t
        self.total = self.shared_total = 0  # prompts, and those on shared templates, since first seen
        self.state = 0  # how the templates it uses last judged it (the tracker's states; 0: not yet)
        self.mark: CampaignMark | None = None  # the campaign it was found committed to, if one was flagged
        self.recent: array[int] | None = None  # store rows of its latest prompts while it is new (see note_recent)

    def expire(self, before: int) -> None:
        times, i, n = self.times, self.start, len(self.times)
        while i < n and times[i] < before:
            i += 1
        if i and (i == n or (i >= 32 and 2 * i >= n)):
            del times[:i]
            i = 0
        self.start = i
        shared, j = self.shared, 0
        while j < len(shared) and shared[j] < before:
            j += 1
        if j:
            del shared[:j]


@dataclasses.dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """An account's traffic in the window, for its assessment."""

    account_id: str
    prompts: int  # in the window
    uses: dict[int, TemplateUse]  # shared template id -> its use (a copy)
    first_seen_ms: int | None  # first prompt the book saw (it may be older than the window)
    last_seen_ms: int | None


class AccountBook:
    """Per-account traffic in a sliding window (see the module docstring).

    Args:
        window_ms: the window, the template tracker's.
    """

    def __init__(self, window_ms: int) -> None:
        self._window = window_ms
        self._accounts: dict[str, _Account] = {}
        self._since_sweep = 0

    def __len__(self) -> int:
        return len(self._accounts)

    def record(self, account_id: str, t: int, horizon: int) -> None:
        """Count one prompt of ``account_id`` at ``t``; events before ``horizon`` leave."""
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = _Account(t)
        if not account.times or t >= account.times[-1]:
            account.times.append(t)
        else:  # out of order (a late record): keep the times sorted
            i = len(account.times)
            while i > account.start and account.times[i - 1] > t:
                i -= 1
            account.times.insert(i, t)
        account.last_ms = max(account.last_ms, t)
        account.total += 1
        account.expire(horizon)
        self._since_sweep += 1
        if self._since_sweep >= 4096:
            self._sweep(horizon)

    def shared_prompt(self, account_id: str, t: int) -> None:
        """Count one prompt of the account that joined a shared template (once, however
        many templates it joined: a prompt is a template and its instruction lines, and
        a founding prompt is counted when each of them gets its second member)."""
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = _Account(t)
        shared = account.shared
        i = len(shared)
        while i and shared[i - 1] > t:
            i -= 1
        if i and shared[i - 1] == t:  # this prompt was counted already
            return
        account.shared_total += 1
        shared.insert(i, t)

    def note_recent(self, account_id: str, row_id: int, keep: int, until: int | None) -> list[int]:
        """Note a prompt of the account (its store row); returns the rows of its latest
        ``keep`` prompts, oldest first, while it sent ``until`` prompts or fewer since first
        seen (then [] and nothing kept: an account that words every prompt its own way
        for one task, the tracker's TaskTemplate, is a new one; None: no limit)."""
        account = self._accounts.get(account_id)
        if account is None or not row_id or (until is not None and account.total > until):
            if account is not None:
                account.recent = None
            return []
        if account.recent is None:
            account.recent = array("q")
        account.recent.append(row_id)
        if len(account.recent) > keep:
            del account.recent[: len(account.recent) - keep]
        return list(account.recent)

    def lifetime(self, account_id: str) -> tuple[int, int]:
        """(prompts, prompts on shared templates) since the book first saw the account."""
        account = self._accounts.get(account_id)
        return (account.total, account.shared_total) if account is not None else (0, 0)

    def shared_span(self, account_id: str) -> tuple[int, int]:
        """(prompts on shared templates, ms from the first of them to the last) in the window
        as of the last record."""
        account = self._accounts.get(account_id)
        if account is None or not account.shared:
            return 0, 0
        return len(account.shared), account.shared[-1] - account.shared[0]

    def use(self, account_id: str, template_id: int, t: int, horizon: int) -> TemplateUse:
        """Count one prompt of the account on a shared template; returns its use so far."""
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = _Account(t)
        entry = account.uses.get(template_id)
        if entry is None:
            if len(account.uses) >= MAX_TEMPLATES_PER_ACCOUNT:
                stalest = min(account.uses, key=lambda tid: account.uses[tid].last_ms)
                del account.uses[stalest]
            entry = account.uses[template_id] = TemplateUse(0, t, t)
        elif entry.last_ms < horizon:  # back after a whole window: a new count, the old one remembered
            entry.earlier += entry.count
            entry.count, entry.first_ms, entry.last_ms = 0, t, t
        entry.count += 1
        entry.first_ms = min(entry.first_ms, t)
        entry.last_ms = max(entry.last_ms, t)
        return entry

    def uses(self, account_id: str) -> dict[int, TemplateUse]:
        """The account's shared templates (not copied: read under the tracker's lock)."""
        account = self._accounts.get(account_id)
        return account.uses if account is not None else {}

    def state(self, account_id: str) -> int:
        """The account's last judged state (0: never judged)."""
        account = self._accounts.get(account_id)
        return account.state if account is not None else 0

    def set_state(self, account_id: str, state: int) -> None:
        account = self._accounts.get(account_id)
        if account is not None:
            account.state = state

    def mark(self, account_id: str, mark: CampaignMark) -> bool:
        """Note that a campaign group the account is committed to was flagged (a later
        mark replaces an earlier one); whether it was marked. An account without shared
        templates is not: nothing in the book says it was committed."""
        account = self._accounts.get(account_id)
        if account is None or not account.uses:
            return False
        account.mark = mark
        return True

    def campaign_mark(self, account_id: str, now_ms: int) -> CampaignMark | None:
        """The account's campaign mark, while it is at most ``RETURN_MS`` old."""
        account = self._accounts.get(account_id)
        mark = account.mark if account is not None else None
        return mark if mark is not None and now_ms - mark.flagged_ms <= RETURN_MS else None

    def prompts(self, account_id: str, now_ms: int) -> int:
        """The account's prompts in the window ending at ``now_ms``."""
        account = self._accounts.get(account_id)
        if account is None:
            return 0
        horizon = now_ms - self._window
        times = account.times
        lo, hi = account.start, len(times)
        while lo < hi:  # first time >= horizon
            mid = (lo + hi) // 2
            if times[mid] < horizon:
                lo = mid + 1
            else:
                hi = mid
        return len(times) - lo

    def snapshot(self, account_id: str, now_ms: int) -> AccountSnapshot | None:
        """The account's window as plain values, None when the book never saw it."""
        account = self._accounts.get(account_id)
        if account is None:
            return None
        horizon = now_ms - self._window
        uses = {
            tid: TemplateUse(u.count, u.first_ms, u.last_ms, u.earlier)
            for tid, u in account.uses.items() if u.last_ms >= horizon
        }
        prompts = self.prompts(account_id, now_ms)
        last = account.times[-1] if len(account.times) > account.start else None
        return AccountSnapshot(account_id, prompts, uses, account.first_seen_ms, last)

    def _sweep(self, horizon: int) -> None:
        """Forget accounts with nothing left in the window, those that used shared
        templates once ``RETURN_MS`` has passed since their last prompt."""
        self._since_sweep = 0
        for account_id in [a for a, acc in self._accounts.items() if self._forgotten(acc, horizon)]:
            del self._accounts[account_id]

    @staticmethod
    def _forgotten(account: _Account, horizon: int) -> bool:
        return account.last_ms < (horizon - RETURN_MS if account.uses else horizon)
