"""Run a real `promptprint serve` in a child process, for jobs that need a server.

The evaluation and the benchmarks talk to the service the way an abuse system does:
over gRPC to a separate process. This starts one on a free loopback port, waits until
health says SERVING, and stops it with SIGTERM (graceful: final snapshot) on exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Sequence

from promptprint.client import PromptprintClient


class LocalServer:
    """``with LocalServer(data_dir) as server: PromptprintClient(server.target)``.

    Args:
        data_dir: the server's data directory.
        extra_args: more `promptprint serve` flags.
        log_path: where the server's output goes (default: a temp file).
        start_timeout: seconds to wait for SERVING (model load + index replay).
    """

    def __init__(
        self,
        data_dir: str | Path,
        extra_args: Sequence[str] = (),
        *,
        log_path: str | Path | None = None,
        start_timeout: float = 600.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._extra = list(extra_args)
        self._log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="promptprint-server-", suffix=".log")[1])
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self.target = ""

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("server not started")
        return self._proc.pid

    @property
    def log_path(self) -> Path:
        return self._log_path

    def start(self) -> "LocalServer":
        port_file = Path(tempfile.mkstemp(prefix="promptprint-port-")[1])
        port_file.unlink()
        log = open(self._log_path, "ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "promptprint.cli", "serve", "--data-dir", str(self.data_dir),
             "--listen", "127.0.0.1:0", "--port-file", str(port_file), *self._extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
        )
        log.close()
        deadline = time.monotonic() + self._start_timeout
        while not port_file.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start; see {self._log_path}:\n{self._log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        self.target = f"127.0.0.1:{port_file.read_text().strip()}"
        port_file.unlink()
        with PromptprintClient(self.target) as client:
            client.wait_until_serving(timeout=max(1.0, deadline - time.monotonic()))
        return self

    def stop(self, timeout: float = 120.0) -> int | None:
        """SIGTERM, wait; SIGKILL if it does not stop in time. Returns the exit code."""
        if self._proc is None or self._proc.poll() is not None:
            return self._proc.returncode if self._proc else None
        self._proc.send_signal(signal.SIGTERM)
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
