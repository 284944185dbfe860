"""`promptprint ingest --rate N`: a client-side token bucket that holds a send rate.

Without it the CLI sends as fast as the server acknowledges. A pipeline that forwards
live traffic, or replays a day of logs at the pace it happened, or a benchmark that
offers a fixed load, wants the client to hold a rate instead.

The bucket refills at ``rate`` prompts a second and holds at most ``BURST_SECONDS`` of
them: the client sends in streams and waits for each acknowledgement, and the credit
earned during that wait is spent afterwards, so the average holds. It starts empty, so
N prompts take N / rate seconds (not less, as a full bucket's opening burst would make
it). Short waits are coalesced (at most one sleep per ``MIN_SLEEP_S``), so pacing
thousands of prompts a second costs hundreds of sleeps, not thousands.
"""

from __future__ import annotations

import math
import time
from typing import Callable

__all__ = ["BURST_SECONDS", "MIN_SLEEP_S", "TokenBucket"]

BURST_SECONDS = 2.0
MIN_SLEEP_S = 0.005


class TokenBucket:
    """``take()`` before each send: blocks as long as the rate requires."""

    def __init__(
        self,
        rate: float,
        *,
        burst_seconds: float = BURST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number, got {rate!r}")
        self.rate = rate
        self.capacity = max(1.0, rate * burst_seconds)
        self._clock, self._sleep = clock, sleep
        self._tokens = 0.0  # negative: prompts sent ahead of the rate, slept off in MIN_SLEEP_S slices
        self._last = clock()

    def take(self, n: float = 1.0) -> None:
        """Spend ``n`` tokens, sleeping once the debt is worth a sleep."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate) - n
        self._last = now
        wait = -self._tokens / self.rate
        if wait >= MIN_SLEEP_S:
            self._sleep(wait)
