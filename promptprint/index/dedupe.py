"""Idempotency on prompt_id: which records of a batch are new, and which repeat one
already taken (in the store, or earlier in the same batch).

Against the store, "the same text" is decided by SHA-256
(promptprint.storage.store.text_digest), so a privacy-mode store, which keeps no text,
answers it too. Live ingest and the reindex
job both decide it here; they differ only in what they report for a repeat.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

from promptprint.records import PromptRecord
from promptprint.storage.store import text_digest


@dataclasses.dataclass(frozen=True, slots=True)
class Repeat:
    """A record whose prompt_id was already taken.

    Attributes:
        position: the record's position in its batch.
        same_text: whether it carries the text already taken (a replay) or another one
            (a conflict).
        stored_row: the store row holding the prompt_id, or None when the first holder
            is ``first_position``, earlier in the same batch.
        first_position: that earlier record's position (None when the store holds it).
    """

    position: int
    same_text: bool
    stored_row: int | None
    first_position: int | None


def split_repeats(
    records: Sequence[PromptRecord], stored: Mapping[str, tuple[int, bytes]]
) -> tuple[list[int], list[Repeat]]:
    """Split a batch into the positions of new records (the first of each prompt_id not
    in ``stored``) and the repeats. ``stored`` maps prompt_id to (row id, text digest),
    as RecordStore.existing returns it."""
    fresh: dict[str, int] = {}  # prompt_id -> position of its first new occurrence
    repeats: list[Repeat] = []
    for position, record in enumerate(records):
        known = stored.get(record.prompt_id)
        first = fresh.get(record.prompt_id)
        if known is not None:
            repeats.append(Repeat(position, known[1] == text_digest(record.text), known[0], None))
        elif first is not None:
            repeats.append(Repeat(position, records[first].text == record.text, None, first))
        else:
            fresh[record.prompt_id] = position
    return list(fresh.values()), repeats
