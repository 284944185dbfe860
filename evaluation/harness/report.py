"""How a bench script ends: its Markdown report on stdout, its JSON report on disk."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

__all__ = ["emit_report", "mib"]


def mib(n: float) -> str:
    """Bytes as whole MiB with thousands separators, as the reports print memory."""
    return f"{n / (1 << 20):,.0f}"


def emit_report(report: dict[str, Any], render: Callable[[dict[str, Any], str], str], out: Path | None) -> None:
    """What a bench script ends with: its Markdown report (``render(report, command)``,
    the command as the user typed it) on stdout and, when ``out`` is given, the report as
    JSON there."""
    print(render(report, shlex.join([Path(sys.executable).name, *sys.argv])))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))

