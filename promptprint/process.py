"""Facts about the server process itself (not the index)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8  # glibc mallopt parameter


def resident_memory_bytes() -> int:
    """Resident set size of this process, from /proc (0 where /proc is unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX would), before worker threads start.

    Each thread that allocates gets an arena of its own that is rarely returned; with
    gRPC, FAISS and torch threads that is hundreds of MB of resident memory for nothing.
    Returns False where glibc is not the allocator.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
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
