"""Links templates that word one instruction differently, by the meaning of the wording.

A campaign can give every account its own paraphrase of one instruction, so each account
is a template of its own: dedicated and persistent, but alone, and alone it proves
nothing. The template tracker queues such templates (a committed account, few others);
this step embeds what their prompts have in common (:func:`promptprint.text.constant_part`,
the instruction without the payload) and hands the vector back, and the tracker links
templates in use together whose instructions embed close. It runs on a thread of its own
(:meth:`TemplateLinker.start`), at the lookups' priority (its texts are few and short),
so no acknowledgement waits on a forward pass, and the vector backlog (whose batches take
seconds) does not hold links back: a template is linked within a forward pass of
qualifying, however far behind the vectors are.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

import numpy as np

from promptprint.storage.store import RecordStore, StoredPrompt
from promptprint.templates.tracker import TemplateTracker
from promptprint.text.answer_markers import answer_markers
from promptprint.text.constant_part import constant_part
from promptprint.text.language import language
from promptprint.text.lines import instruction_and_payload
from promptprint.text.skeleton import signature

log = logging.getLogger(__name__)
# An account's own prompts ask for one thing when their instructions embed this close to
# one another on average (MiniLM cosine). Measured on a held-out adversarial split (seed
# 1616), the first five prompts' instructions: a per-prompt-paraphrase campaign's
# accounts 0.35 (median; 20 of 22 at 0.25 or more), ordinary users 0.07 (15 of 369).
TASK_COHERENCE = 0.25
# ... worded at least this many ways out of five: a wording kept prompt after prompt is a
# template (its account links by it), and a power user's own wrapper is one; on the held-out
# split 1616 five power users' "Make this clearer and more concise:" made tasks linked into
# a campaign's group, and were flagged.
TASK_WORDINGS = 4
# ... and whose payloads (the first 48 words after the instruction) embed this close to one
# another: a distillation campaign sends one dataset's items through its instruction, a
# person asking one common thing (fix my grammar, summarize) pastes texts of his own. On
# split 1717 (the reworded_requests trap): per-prompt-paraphrase accounts 0.24 and more
# (10th percentile, math problems), the trap's users 0.13 and less (90th percentile); with
# no payload test 29 of its 80 users were flagged through tasks linked by their request.
TASK_PAYLOAD_COHERENCE = 0.18
# A task account's later prompt counts on its task when its instruction embeds this close
# to the task's vector: a per-prompt-paraphrase campaign's prompts 0.55 from the rest of
# their account's (median; three in four 0.32 or more), an ordinary question 0.10 from a
# campaign account's (99th percentile 0.36).
TASK_FIT = 0.3


def _coherence(vectors: np.ndarray) -> float:
    """The mean pairwise cosine of unit vectors (two at least)."""
    n = len(vectors)
    return (float((vectors @ vectors.T).sum()) - n) / (n * (n - 1)) if n > 1 else 0.0


def _wraps_a_payload(instruction: str, text: str) -> bool:
    """Whether the prompt is an instruction over a payload (the instruction is half its
    words or less), not a question that is all instruction: a person's follow-up
    questions stay on one subject, a campaign's wordings wrap payloads of their own."""
    words = len(instruction.split())
    return 0 < 2 * words <= len(text.split())


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
        batch: int = 32, poll_s: float = 0.05,
    ) -> None:
        self._templates = templates
        self._store = store
        self._fingerprint = fingerprint
        self._batch = batch
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promptprint-template-linker", daemon=True)
        self.linked = 0  # links made since start
        self.task_texts = 0  # accounts' instructions embedded for their tasks since start
        self.tasks = 0  # accounts given a task since start
        self._pass = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the thread (after its current pass)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        log.info("linked %d templates by wording; embedded %d accounts' instructions, %d tasks", self.linked, self.task_texts, self.tasks)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once() == 0 and not self._templates.waiting_for_embedding():
                    self._stop.wait(self._poll_s)
            except Exception:  # keep going: a template not linked now stays unlinked by wording
                log.exception("linking templates by their instructions failed")
                self._stop.wait(1.0)

    def run_once(self) -> int:
        """Embed the instructions of the templates queued now; returns the links made.
        A store without texts (privacy mode) has nothing to embed: its templates stay
        unlinked by wording. One pass at a time: a check that calls it while the thread's
        pass is under way waits for that pass (its templates' links), then takes the rest."""
        with self._pass:
            taken = self._templates.take_for_embedding(self._batch)
            try:
                made = self._embed_and_link(taken) if taken else 0
            finally:
                self._templates.embedding_done([template_id for template_id, _ in taken])
            tasks = self._templates.take_tasks_for_embedding(self._batch)
            try:
                return made + (self._embed_tasks(tasks) if tasks else 0)
            finally:
                self._templates.embedding_done(accounts=[account for account, _ in tasks])

    def _embed_tasks(self, taken: list[tuple[str, list[int]]]) -> int:
        """Embed the instructions of each taken account's latest prompts that wrap a
        payload of their own (:func:`promptprint.text.lines.instruction_and_payload`; the
        instruction half the prompt's words or less), and give the account a task, or
        count them on the one it has (see the tracker's TaskTemplate):

        * an account without a task gets one when all of them but one at most are such
          wrappers, worded differently (TASK_WORDINGS: a wording kept prompt after prompt
          is a template, and a person's own wrapper is one), their instructions embed
          coherently (TASK_COHERENCE, their mean pairwise cosine) and so do their
          payloads (TASK_PAYLOAD_COHERENCE: items of one dataset, not a person's own
          texts); its vector is the instructions' mean, and the task is linked by it;
        * an account with a task counts those that embed within TASK_FIT of its vector:
          what else it sends is its own traffic, not the task's.

        Markers are those every instruction of a new task asks for."""
        rows = self._store.fetch([row for _, own in taken for row in own], with_text=True)
        items: list[tuple[str, list[tuple[StoredPrompt, str, str]], np.ndarray | None]] = []
        for account, own in taken:
            wrappers = [
                (p, part, payload) for row in own
                if (p := rows.get(row)) is not None and p.text
                for part, payload in [instruction_and_payload(p.text)] if _wraps_a_payload(part, p.text)
            ]
            task = self._templates.task_vector(account)
            if wrappers and (task is not None or (
                len(wrappers) >= len(own) - 1 >= 2  # one short payload among them is no matter
                and len({" ".join(part.lower().split()) for _, part, _ in wrappers}) >= min(TASK_WORDINGS, len(wrappers))
            )):
                items.append((account, wrappers, task))
        if not items:
            return 0
        vectors = self._fingerprint([part for _, wrappers, _ in items for _, part, _ in wrappers])
        self.task_texts += len(vectors)
        found: list[tuple[str, list[tuple[StoredPrompt, str, str]], np.ndarray, bool]] = []  # ..., new task
        at = 0
        for account, wrappers, task in items:
            n = len(wrappers)
            block = vectors[at : at + n]
            at += n
            if task is not None:
                fit = [w for w, ok in zip(wrappers, block @ task >= TASK_FIT) if ok]
                if fit:
                    found.append((account, fit, task, False))
            elif _coherence(block) >= TASK_COHERENCE:
                centre = block.mean(axis=0)
                found.append((account, wrappers, centre / (float(np.linalg.norm(centre)) or 1.0), True))
        new = [(account, wrappers) for account, wrappers, _, fresh in found if fresh]
        if new:  # a new task's payloads too: one embedding each, for the few with a coherent instruction
            payloads = self._fingerprint([payload for _, wrappers in new for _, _, payload in wrappers])
            self.task_texts += len(payloads)
            incoherent, at = set(), 0
            for account, wrappers in new:
                if _coherence(payloads[at : at + len(wrappers)]) < TASK_PAYLOAD_COHERENCE:
                    incoherent.add(account)
                at += len(wrappers)
            found = [item for item in found if item[0] not in incoherent]
        made = 0
        for account, wrappers, centre, fresh in found:
            parts = [part for _, part, _ in wrappers]
            markers = frozenset.intersection(*(answer_markers(part) for part in parts))
            events = [(p.created_at_ms, p.org_id, signature(p.text or "").text_hash, p.row_id) for p, _, _ in wrappers]
            self.tasks += fresh
            made += len(self._templates.add_task(
                account, events, centre, max(p.created_at_ms for p, _, _ in wrappers), language(" ".join(parts)), markers,
            ))
        self.linked += made
        return made

    def _embed_and_link(self, taken: list[tuple[int, list[int]]]) -> int:
        """Embed what each taken template's two latest prompts share, and link by it."""
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
            len(self._templates.add_instruction_vector(template_id, vector, at, language(part), answer_markers(part)))
            for (template_id, part, at), vector in zip(items, vectors)
        )
        self.linked += made
        return made
