"""Facts about the server process itself (not the index)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8  # glibc mallopt parameters
_M_MMAP_THRESHOLD = -3


def resident_memory_bytes() -> int:
    """Resident set size of this process, from /proc (0 where /proc is unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tune_malloc(arenas: int = 2, mmap_threshold: int = 128 * 1024) -> bool:
    """Set glibc's malloc up for a long-running index server, before worker threads start.

    * ``arenas`` caps malloc's arenas (as MALLOC_ARENA_MAX would): each thread that
      allocates gets an arena of its own that is rarely returned; with gRPC, FAISS and
      torch threads that is hundreds of MB of resident memory for nothing.
    * ``mmap_threshold`` pins the size from which an allocation gets pages of its own
      (as MALLOC_MMAP_THRESHOLD_ would). glibc raises that threshold each time such a
      block is freed, up to 32 MiB, and from then on multi-MB temporaries (a batch of
      vectors, a FAISS buffer, the template postings' merges) are carved from the heap,
      where the holes they leave stay resident: measured with ``scripts/bench_memory.py``
      at 10k prompts, 3.9 KB per prompt with the moving threshold against 2.3 KB pinned.
      0 leaves glibc's moving threshold alone.

    Returns False where glibc is not the allocator.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = bool(libc.mallopt(_M_ARENA_MAX, arenas))
        if mmap_threshold:
            ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and ok
        return ok
    except (OSError, AttributeError):
        return False


def release_free_memory() -> bool:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``).

    After a hot swap the old index's many small FAISS allocations (inverted lists,
    graph levels) are freed but stay in malloc's arenas; without a trim the resident
    set would grow by one index per swap. Returns False where glibc is not the allocator."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0))
    except (OSError, AttributeError):
        return False
