"""Run a real `promptprint serve` in a child process, for jobs that need a server.

The evaluation and the benchmarks talk to the service the way an abuse system does:
over gRPC to a separate process. This starts one on a free loopback port, waits until
health says SERVING, and stops it with SIGTERM (graceful: final snapshot) on exit.

Jobs that run for hours and measure the server (scripts/bench.py) also want it in its
own session, so Ctrl-C in the terminal reaches only the job, which then stops the
server gracefully itself, and want it gone even when the job is SIGKILLed
(``kill_with_parent``).
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
from typing import Mapping, Sequence

from promptprint.client import PromptprintClient


class LocalServer:
    """``with LocalServer(data_dir) as server: PromptprintClient(server.target)``.

    Args:
        data_dir: the server's data directory.
        extra_args: more `promptprint serve` flags.
        log_path: where the server's output goes (default: a temp file).
        start_timeout: seconds to wait for SERVING (model load + index replay).
        env: environment variables for the server, on top of this process's.
        new_session: start the server in its own session: a terminal's Ctrl-C then
            reaches only the caller, which stops the server itself (gracefully).
        kill_with_parent: Linux only, best effort: the server gets SIGTERM when the
            thread that started it dies (even by SIGKILL), so no server is orphaned.
            Start it from a long-lived thread (the main one).
        listen: the address to bind; a free loopback port by default. Members of a
            deployment name each other's addresses up front (``--peers``), so they bind
            chosen ports.
    """

    def __init__(
        self,
        data_dir: str | Path,
        extra_args: Sequence[str] = (),
        *,
        log_path: str | Path | None = None,
        start_timeout: float = 600.0,
        env: Mapping[str, str] | None = None,
        new_session: bool = False,
        kill_with_parent: bool = False,
        listen: str = "127.0.0.1:0",
    ) -> None:
        self.data_dir = Path(data_dir)
        self._extra = list(extra_args)
        self._log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="promptprint-server-", suffix=".log")[1])
        self._start_timeout = start_timeout
        self._env = dict(env or {})
        self._new_session = new_session
        self._kill_with_parent = kill_with_parent
        self._listen = listen
        self._proc: subprocess.Popen[bytes] | None = None
        self.target = ""
        #: The server's command line, once started (for reports).
        self.command: list[str] = []
        #: How the last stop() ended it: "SIGTERM", "SIGKILL" or None (had already exited).
        self.stopped_by: str | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("server not started")
        return self._proc.pid

    @property
    def log_path(self) -> Path:
        return self._log_path

    @property
    def returncode(self) -> int | None:
        """The server's exit status; None while it runs or before start()."""
        return self._proc.poll() if self._proc is not None else None

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server's output ("" if unreadable)."""
        try:
            return "\n".join(self._log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> "LocalServer":
        """Launch and wait for SERVING. On any failure or interrupt the server is stopped
        before the exception propagates (``with`` does not call __exit__ then)."""
        port_file = Path(tempfile.mkstemp(prefix="promptprint-port-")[1])
        port_file.unlink()
        self.command = [sys.executable, "-m", "promptprint.cli", "serve", "--data-dir", str(self.data_dir),
                        "--listen", self._listen, "--port-file", str(port_file), *self._extra]
        log = open(self._log_path, "ab")
        try:
            self._proc = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"} | self._env,
                start_new_session=self._new_session,
                preexec_fn=_set_parent_death_signal if self._kill_with_parent else None,
            )
        finally:
            log.close()
        try:
            deadline = time.monotonic() + self._start_timeout
            while not _port_written(port_file):
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start; see {self._log_path}:\n{self._log_path.read_text()[-2000:]}")
                time.sleep(0.1)
            self.target = f"127.0.0.1:{port_file.read_text().strip()}"
            port_file.unlink()
            with PromptprintClient(self.target) as client:
                client.wait_until_serving(timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            port_file.unlink(missing_ok=True)
            raise
        return self

    def stop(self, timeout: float = 120.0) -> int | None:
        """SIGTERM, wait; SIGKILL if it does not stop in time. Returns the exit code."""
        if self._proc is None or self._proc.poll() is not None:
            self.stopped_by = None
            return self._proc.returncode if self._proc else None
        self._proc.send_signal(signal.SIGTERM)
        self.stopped_by = "SIGTERM"
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stopped_by = "SIGKILL"
            if self._new_session:  # the whole group: nothing it started outlives it
                os.killpg(self._proc.pid, signal.SIGKILL)
            else:
                self._proc.kill()
            return self._proc.wait()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _port_written(port_file: Path) -> bool:
    """The server writes the port file atomically, but an empty read is still retried."""
    try:
        return bool(port_file.read_text().strip())
    except OSError:
        return False


def _set_parent_death_signal() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, Linux only
        pass
