"""The random draws every kind of traffic shares: seeded streams, splits and timing.

All randomness flows from ``random.Random`` instances seeded with strings (hashed with
SHA-512 by ``random``, not with the salted ``hash()``), one stream per component, so
the same config, seed and data give byte-identical output and changing one share does
not reshuffle the rest.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

__all__ = [
    "TIMEZONES",
    "bounded_volumes",
    "TZ_WEIGHTS",
    "diurnal_time",
    "largest_remainder",
    "session_times",
    "sub_rng",
    "volumes_until",
    "zipf_weights",
]


def sub_rng(seed: int, name: str) -> random.Random:
    """The stream of one component: changing one share does not reshuffle the rest."""
    return random.Random(f"promptprint-simulate:{seed}:{name}")


def largest_remainder(total: int, weights: Sequence[float], minimum: int = 1) -> list[int]:
    """Split ``total`` into integers proportional to ``weights``, each at least ``minimum``."""
    n = len(weights)
    if n == 0:
        return []
    if total < n * minimum:
        raise ValueError(f"cannot split {total} into {n} parts of at least {minimum}")
    rest = total - n * minimum
    weight_sum = sum(weights)
    raw = [rest * w / weight_sum for w in weights]
    floors = [int(x) for x in raw]
    leftover = rest - sum(floors)
    for i in sorted(range(n), key=lambda i: (-(raw[i] - floors[i]), i))[:leftover]:
        floors[i] += 1
    return [minimum + f for f in floors]


def bounded_volumes(total: int, low: int, high: int, rng: random.Random) -> list[int]:
    """Per-account volumes that sum to exactly ``total``, each within ``[low, high]`` (one account
    with all of ``total`` when it is under ``low``, and a little over ``high`` when no count of accounts
    fits the range): for families whose accounts have a known range."""
    if total <= 0:
        return []
    if total < low:
        return [total]
    count = min(total // low, max(-(-total // high), round(total / ((low + high) / 2))))
    high = max(high, -(-total // count))  # a range too narrow for total: the fewest accounts, a little over
    volumes = [rng.randint(low, high) for _ in range(count)]
    gap = total - sum(volumes)
    while gap:
        i = rng.randrange(count)
        if gap > 0 and volumes[i] < high:
            volumes[i] += 1
            gap -= 1
        elif gap < 0 and volumes[i] > low:
            volumes[i] -= 1
            gap += 1
    return volumes


def volumes_until(total: int, draw: Callable[[], int]) -> list[int]:
    """Draw per-account volumes until they sum to exactly ``total`` (last one trimmed)."""
    out: list[int] = []
    left = total
    while left > 0:
        v = min(max(1, draw()), left)
        out.append(v)
        left -= v
    return out


def zipf_weights(n: int, exponent: float) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(n)]


TIMEZONES = (-8.0, -7.0, -6.0, -5.0, -3.0, 0.0, 1.0, 2.0, 3.0, 5.5, 7.0, 8.0, 9.0, 10.0)
TZ_WEIGHTS = (6, 2, 4, 7, 2, 4, 8, 3, 2, 5, 2, 4, 2, 1)


def _diurnal_weight(t: float, tz_hours: float) -> float:
    # Low at night, peaking mid-afternoon local time; never zero (night owls, bots).
    hour = (t / 3600.0 + tz_hours) % 24.0
    if hour < 7.0:
        return 0.08
    return 0.08 + 0.92 * math.sin(math.pi * (hour - 7.0) / 17.0) ** 1.5


def diurnal_time(rng: random.Random, lo: float, hi: float, tz_hours: float) -> float:
    while True:
        t = rng.uniform(lo, hi)
        if rng.random() < _diurnal_weight(t, tz_hours):
            return t


def session_times(rng: random.Random, n: int, lo: float, hi: float, tz_hours: float) -> list[list[int]]:
    """Times for ``n`` prompts grouped into sessions (diurnal starts, minutes apart inside)."""
    sessions: list[list[int]] = []
    left = n
    while left > 0:
        size = min(left, 1 + int(rng.expovariate(1 / 2.5)))
        t = diurnal_time(rng, lo, hi, tz_hours)
        times = []
        for _ in range(size):
            times.append(min(int(hi) - 1, int(t)))
            t += 10 + rng.expovariate(1 / 80.0)
        sessions.append(times)
        left -= size
    return sessions
