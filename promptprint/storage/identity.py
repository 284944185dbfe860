"""What a data dir's vectors and signatures were made with: the model (and its dimension),
the normalizer version and the skeleton version. A store or snapshot is reused only when
all four match the running build; otherwise its vectors or template signatures would
silently stop comparing with new ones."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from promptprint.text.normalize import NORMALIZER_VERSION
from promptprint.text.skeleton import SKELETON_VERSION

# What a store or snapshot that records no skeleton version was written with: the field
# came after skel-1 was in use, so every such data dir holds skel-1 signatures.
UNRECORDED_SKELETON_VERSION = "skel-1"


@dataclasses.dataclass(frozen=True)
class StoreIdentity:
    """What the stored vectors and signatures were made with; all four must match to reuse
    them."""

    model_id: str
    dimension: int
    normalizer_version: str
    skeleton_version: str

    @classmethod
    def current(cls, model_id: str, dimension: int) -> "StoreIdentity":
        """The identity this build writes with a given model."""
        return cls(model_id, dimension, NORMALIZER_VERSION, SKELETON_VERSION)

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> "StoreIdentity":
        """The identity recorded in a store's meta table (see UNRECORDED_SKELETON_VERSION)."""
        return cls(
            meta["model_id"], int(meta["dimension"]), meta["normalizer_version"],
            meta.get("skeleton_version", UNRECORDED_SKELETON_VERSION),
        )

    def as_meta(self) -> dict[str, str]:
        return {
            "model_id": self.model_id,
            "dimension": str(self.dimension),
            "normalizer_version": self.normalizer_version,
            "skeleton_version": self.skeleton_version,
        }


def read_identity(path: Path) -> StoreIdentity | None:
    """The identity a store was written with, without binding to it (None: no store yet).
    Lets a rebuild from stored vectors run without loading the model."""
    if not Path(path).exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    if "model_id" not in meta:
        return None
    return StoreIdentity.from_meta(meta)
