"""Links templates that word one instruction differently, by the meaning of the wording.

A campaign can give every account its own paraphrase of one instruction, so each account
is a template of its own: dedicated and persistent, but alone, and alone it proves
nothing. The template tracker queues such templates (a committed account, few others);
this step embeds what their prompts have in common (:func:`promptprint.text.constant_part`,
the instruction without the payload) and hands the vector back, and the tracker links
templates in use together whose instructions embed close. It runs on the background
embedding thread (:class:`promptprint.index.vectorizer.Vectorizer`), so no lookup or
acknowledgement waits on a forward pass.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from promptprint.storage.store import RecordStore
from promptprint.templates.tracker import TemplateTracker
from promptprint.text.constant_part import constant_part


class TemplateLinker:
    """One pass embeds up to ``batch`` queued templates' instructions and links them.

    Args:
        templates: the tracker that queues templates and keeps their vectors.
        store: where the queued templates' latest prompts are read.
        fingerprint: raw texts -> unit vectors, at background priority.
        batch: templates embedded per pass.
    """

    def __init__(
        self, templates: TemplateTracker, store: RecordStore, fingerprint: Callable[[Sequence[str]], np.ndarray],
        batch: int = 32,
    ) -> None:
        self._templates = templates
        self._store = store
        self._fingerprint = fingerprint
        self._batch = batch
        self.linked = 0  # links made since start

    def run_once(self) -> int:
        """Embed the instructions of the templates queued now; returns the links made.
        A store without texts (privacy mode) has nothing to embed: its templates stay
        unlinked by wording."""
        taken = self._templates.take_for_embedding(self._batch)
        if not taken:
            return 0
        rows = self._store.fetch([row for _, pair in taken for row in pair], with_text=True)
        items: list[tuple[int, str, int]] = []
        for template_id, (first, second) in taken:
            a, b = rows.get(first), rows.get(second)
            if a is None or b is None or not a.text or not b.text:
                continue
            part = constant_part(a.text, b.text)
            if part:
                items.append((template_id, part, max(a.created_at_ms, b.created_at_ms)))
        if not items:
            return 0
        vectors = self._fingerprint([part for _, part, _ in items])
        made = sum(
            len(self._templates.add_instruction_vector(template_id, vector, at))
            for (template_id, _, at), vector in zip(items, vectors)
        )
        self.linked += made
        return made
