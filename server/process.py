"""Facts about the server process itself (not the index)."""

from __future__ import annotations

import os


def resident_memory_bytes() -> int:
    """Resident set size of this process, from /proc (0 where /proc is unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
