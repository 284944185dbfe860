"""Start real `promptprint serve` processes quickly, for the crash campaign.

Importing torch and sentence-transformers takes ~20 s of a server's start on a loaded
two-core machine; a campaign of 20+ SIGKILLs would spend most of its time there. This
helper imports them once, then forks one child per server life on request; each child
runs exactly `promptprint serve` (``promptprint.cli.main``) with its own arguments, loads
the model and opens the data directory itself, and can be SIGKILLed like any server.
Nothing gRPC, no model and no thread exists in this parent when it forks.

Protocol (stdin/stdout, one line each): ``SERVE LOG ARG...`` -> ``PID``. EOF ends it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys


def _serve(log_path: str, args: list[str]) -> None:  # in the child
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with this helper
    except OSError:
        pass
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    from promptprint.cli import main

    code = 1
    try:
        code = main(["serve", *args])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run() -> None:
    import sentence_transformers  # noqa: F401 - the slow imports, done once
    import torch  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    for line in sys.stdin:
        verb, log_path, *args = line.split()
        if verb != "SERVE":
            continue
        pid = os.fork()
        if pid == 0:
            _serve(log_path, args)
        print(pid, flush=True)


if __name__ == "__main__":
    run()
