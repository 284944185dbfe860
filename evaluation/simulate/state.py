"""The state of one run while it is built: accounts, prompts and organisations so far.

Each kind of traffic (:mod:`evaluation.simulate.campaigns`,
:mod:`evaluation.simulate.benign`) adds to one :class:`Run`; ids are only given out at
the end (:func:`evaluation.simulate.truth.finish`), so no id encodes the order or the
kind that made it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, Literal

from evaluation.simulate.config import LOOKALIKE_KINDS, TRAP_KINDS, SimulationConfig
from evaluation.simulate.pools import Pools
from evaluation.simulate.sampling import TIMEZONES, TZ_WEIGHTS, sub_rng

__all__ = ["Account", "Prompt", "Run", "format_time"]


@dataclasses.dataclass
class Account:
    label: Literal["campaign", "benign"]
    kind: str
    campaign_id: str | None = None
    family: str | None = None  # the campaign family ("templated", "short_wrapper", ...); None for benign
    org: int | None = None  # internal org number
    tz_hours: float = 0.0
    account_id: str = ""


@dataclasses.dataclass
class Prompt:
    t: int  # seconds since the start
    tie: float  # random tie-break so equal timestamps don't reveal generation order
    account: int
    text: str
    kind: str
    campaign_id: str | None = None
    family_id: str | None = None
    variant: str | None = None
    noise: tuple[str, ...] = ()
    payload_ref: str | None = None


class Run:
    """Holds the state of one run; each ``add_*`` function of the traffic modules adds one kind of traffic."""

    def __init__(self, config: SimulationConfig, pools: Pools) -> None:
        self.config = config
        self.pools = pools
        self.span = config.span_seconds()
        self.accounts: list[Account] = []
        self.prompts: list[Prompt] = []
        self.org_count = 0
        self.campaign_orgs: set[int] = set()
        self.campaign_info: list[dict[str, Any]] = []
        self.active_window: dict[int, tuple[float, float]] = {}  # campaign account -> (first, last) second
        self.lookalike_info: dict[str, list[dict[str, Any]]] = {k: [] for k in LOOKALIKE_KINDS}
        self.trap_info: dict[str, list[dict[str, Any]]] = {k: [] for k in TRAP_KINDS}
        self._tie_rng = sub_rng(config.seed, "ties")
        self._tz_rng = sub_rng(config.seed, "timezones")

    def new_org(self) -> int:
        self.org_count += 1
        return self.org_count - 1

    def new_account(self, label: Literal["campaign", "benign"], kind: str, **kw: Any) -> int:
        tz = self._tz_rng.choices(TIMEZONES, weights=TZ_WEIGHTS)[0]
        self.accounts.append(Account(label=label, kind=kind, tz_hours=tz, **kw))
        return len(self.accounts) - 1

    def emit(self, t: float, account: int, text: str, kind: str, **kw: Any) -> None:
        t_int = min(self.span - 1, max(0, int(t)))
        self.prompts.append(Prompt(t_int, self._tie_rng.random(), account, text, kind, **kw))

    def iso(self, t: float) -> str:
        """Second ``t`` of the run as an ISO-8601 UTC timestamp, for the summary."""
        return format_time(self.config.start_datetime(), int(t))


def format_time(start: datetime, seconds: int) -> str:
    """``start`` plus ``seconds``, as the files write times: ``2026-02-01T12:00:00Z``."""
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
