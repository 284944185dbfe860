"""Background upkeep of a serving index: hot swap to a rebuilt snapshot, retention purge,
and handing freed heap memory back to the OS.

A reindex job (``promptprint reindex``) switches the data directory's CURRENT pointer;
every replica polls it (a file read every ``poll_seconds``) and, on a change, waits a
random delay in ``[0, jitter_seconds]`` before reloading, so that replicas sharing a
snapshot do not all spend CPU and memory on loading it in the same instant (and a
load balancer always has most of them at full speed). The reload itself runs on the
worker pool: lookups keep being answered from the old index until the swap.

Every ``trim_every_seconds`` the loop also calls glibc's ``malloc_trim``. glibc raises
its mmap threshold each time a large block is freed (up to 32 MiB), so multi-MB
temporaries (vector batches, FAISS buffers, the template postings' merges) end up in the
heap, and the holes they leave stay resident: at 10k indexed prompts that was ~1.1 KB
per prompt (``scripts/bench_memory.py``). Pinning the threshold low instead cost the
embedder ~5% more CPU (every forward pass's activations became fresh, zero-filled pages),
so the heap is trimmed now and then rather than kept out of use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import random
import time

from promptprint.errors import PromptprintError
from promptprint.index.prompt_index import PromptIndex
from promptprint.process import release_free_memory

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MaintenanceSettings:
    """Attributes:
    poll_seconds: how often CURRENT is checked for a rebuilt snapshot (0: never;
        ReloadIndex still works).
    jitter_seconds: most random delay before an automatic reload.
    retention_every_seconds: how often IndexConfig.retention_ms is applied.
    trim_every_seconds: how often freed heap memory is handed back (0: never).
    """

    poll_seconds: float = 5.0
    jitter_seconds: float = 30.0
    retention_every_seconds: float = 3600.0
    trim_every_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.poll_seconds < 0 or self.jitter_seconds < 0 or self.retention_every_seconds <= 0 or self.trim_every_seconds < 0:
            raise ValueError(
                "poll_seconds, jitter_seconds and trim_every_seconds must be >= 0, retention_every_seconds > 0"
            )


def reload_now(index: PromptIndex) -> bool:
    """Reload if CURRENT changed, then give the old index's memory back."""
    reloaded = index.reload()
    if reloaded:
        release_free_memory()
    return reloaded


class Maintenance:
    """The loop; ``get_index`` returns the index or raises while it is loading."""

    def __init__(self, get_index, executor: concurrent.futures.Executor, settings: MaintenanceSettings, rng: random.Random | None = None) -> None:  # type: ignore[no-untyped-def]
        self._get_index = get_index
        self._executor = executor
        self._settings = settings
        self._rng = rng or random.Random()
        self._reload_lock = asyncio.Lock()
        self._last_retention = 0.0
        self._last_trim = time.monotonic()

    @property
    def reload_lock(self) -> asyncio.Lock:
        """Held during any reload, so an admin ReloadIndex and the poller never overlap."""
        return self._reload_lock

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        intervals = [self._settings.poll_seconds, self._settings.trim_every_seconds]
        interval = min([i for i in intervals if i] or [self._settings.retention_every_seconds])
        while True:
            await asyncio.sleep(interval)
            try:
                index = self._get_index()
            except PromptprintError:
                continue  # still loading
            try:
                if self._settings.poll_seconds and index.snapshot_changed():
                    delay = self._rng.uniform(0, self._settings.jitter_seconds)
                    log.info("CURRENT changed; reloading in %.1fs", delay)
                    await asyncio.sleep(delay)
                    async with self._reload_lock:
                        await loop.run_in_executor(self._executor, reload_now, index)
                if index.config.retention_ms and time.monotonic() - self._last_retention >= self._settings.retention_every_seconds:
                    self._last_retention = time.monotonic()
                    purged = await loop.run_in_executor(self._executor, index.purge_expired)
                    if purged:
                        log.info("retention: purged %d prompts older than %d ms", purged, index.config.retention_ms)
                trim = self._settings.trim_every_seconds
                if trim and time.monotonic() - self._last_trim >= trim:
                    self._last_trim = time.monotonic()
                    await loop.run_in_executor(self._executor, release_free_memory)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed reload keeps the old index serving; say so and retry later
                log.exception("maintenance step failed; still serving the previous index")
