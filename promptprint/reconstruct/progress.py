"""Progress of a reconstruction's long stages, reported to whoever runs it.

A reconstruction of weeks of traffic runs for minutes per stage (embedding, the
lexical replay, the k-NN search, the clustering, the attribution); the library only
*announces* each stage and its advances, and the caller decides what to show
(the CLI: a tqdm bar per stage on stderr, none with ``--no-progress``). The library
itself never prints.

A stage is a context manager yielding an ``advance(n)`` function; ``total`` is in the
stage's own unit (prompts, query batches, components, campaigns).
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator, Protocol

Advance = Callable[[int], None]


class Progress(Protocol):
    """Opens one stage: ``with progress("k-NN", total, "prompt") as advance: ...``."""

    def __call__(self, stage: str, total: int, unit: str) -> ContextManager[Advance]: ...


@contextlib.contextmanager
def _silent_stage(stage: str, total: int, unit: str) -> Iterator[Advance]:
    yield lambda n: None


#: Reports nothing (the library's default).
SILENT: Progress = _silent_stage
