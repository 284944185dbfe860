"""Snapshots of the in-memory index: written atomically, checked on read.

A snapshot is a directory ``snapshots/<watermark>/`` holding the FAISS index, the
per-row metadata arrays and ``manifest.json``; the file ``snapshots/CURRENT`` names the
live one and is replaced atomically (``os.replace``) as the very last step, so a crash
at any moment leaves either the old or the new snapshot in force, never half of one.

The manifest records what the vectors were made with (model, dimension, normalizer
and skeleton version; a manifest without the skeleton version was written by skel-1, see
promptprint.storage.identity.UNRECORDED_SKELETON_VERSION), how many rows and up to which record id (the watermark) they cover, and each
file's size. On start a snapshot of other settings is refused with an error that says
which setting differs; records newer than the watermark are replayed from the store.

Two writers may share a data directory: the server (periodic snapshots) and a reindex
job (a rebuilt index). The pointer switch happens under an exclusive ``flock`` on
``snapshots/.lock``, and a writer can make it conditional (``replaces=``): the server
only replaces the snapshot it loaded, so it never overwrites a rebuild it has not yet
picked up. Cleanup removes finished snapshots only, never another writer's staging.

An IVF-PQ snapshot carries its float16 vector file (``index.faiss.f16``), which the
live server keeps appending to and hard-links into its next snapshot; the manifest
records its size at sealing time and a larger file is accepted on read.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from promptprint.errors import FailedPrecondition
from promptprint.storage.identity import UNRECORDED_SKELETON_VERSION, StoreIdentity

FORMAT_VERSION = 1
_INDEX_FILE = "index.faiss"
_META_FILE = "rows.npz"
_MANIFEST = "manifest.json"
_CURRENT = "CURRENT"
_LOCK = ".lock"
_GROWING_SUFFIX = ".f16"  # see promptprint.index.ivf_index.SIDECAR_SUFFIX
ANY = "*"  # commit(replaces=ANY): switch whatever CURRENT names

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What a snapshot holds and what it was made with."""

    format_version: int
    model_id: str
    dimension: int
    normalizer_version: str
    count: int
    watermark: int
    index_description: str
    created_at_unix: float
    files: dict[str, int]
    skeleton_version: str = UNRECORDED_SKELETON_VERSION  # absent from manifests written before it was recorded

    def identity(self) -> StoreIdentity:
        return StoreIdentity(self.model_id, self.dimension, self.normalizer_version, self.skeleton_version)


@dataclasses.dataclass(frozen=True)
class SnapshotPaths:
    """Files of one loaded snapshot."""

    manifest: Manifest
    index_path: Path
    rows_path: Path


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotDirectory:
    """The ``snapshots/`` folder of a data directory."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    def begin(self, watermark: int) -> Path:
        """A fresh, empty staging folder for the snapshot at ``watermark``."""
        self._root.mkdir(parents=True, exist_ok=True)
        staging = self._root / f".staging-{watermark}-{os.getpid()}-{time.monotonic_ns()}"
        staging.mkdir()
        return staging

    def commit(
        self,
        staging: Path,
        *,
        identity: StoreIdentity,
        count: int,
        watermark: int,
        index_description: str,
        replaces: str | None = ANY,
    ) -> Manifest | None:
        """Seal a staging folder (index and rows already written into it) and make it live.

        With ``replaces`` other than ANY, the switch happens only if CURRENT still names
        that snapshot (None: no snapshot yet); otherwise the staging folder is discarded
        and None returned."""
        files = {p.name: p.stat().st_size for p in sorted(staging.iterdir())}
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            model_id=identity.model_id,
            dimension=identity.dimension,
            normalizer_version=identity.normalizer_version,
            skeleton_version=identity.skeleton_version,
            count=count,
            watermark=watermark,
            index_description=index_description,
            created_at_unix=time.time(),
            files=files,
        )
        manifest_path = staging / _MANIFEST
        manifest_path.write_text(json.dumps(dataclasses.asdict(manifest), indent=2, sort_keys=True))
        for path in staging.iterdir():
            _fsync_file(path)
        _fsync_dir(staging)
        with open(self._root / _LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if replaces != ANY and self.current_name() != replaces:
                log.info("snapshot not switched: CURRENT now names %s, not %s", self.current_name(), replaces)
                shutil.rmtree(staging, ignore_errors=True)
                return None
            final = self._root / f"{watermark:012d}-{time.time_ns()}"
            os.replace(staging, final)
            pointer_tmp = self._root / (_CURRENT + ".tmp")
            pointer_tmp.write_text(final.name + "\n")
            _fsync_file(pointer_tmp)
            os.replace(pointer_tmp, self._root / _CURRENT)
            _fsync_dir(self._root)
            self._remove_all_but(final.name)
        return manifest

    def _remove_all_but(self, keep: str) -> None:
        for path in self._root.iterdir():
            if path.is_dir() and path.name != keep and not path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)

    def current_name(self) -> str | None:
        """Name of the snapshot CURRENT points at (None when there is none): cheap enough
        to poll, which is how a server notices a rebuild."""
        try:
            return (self._root / _CURRENT).read_text().strip() or None
        except FileNotFoundError:
            return None

    def remove_stale_staging(self) -> None:
        """Remove staging folders left by killed writers (call only when no other writer
        is building: a reindex job owns the directory while it runs)."""
        if self._root.exists():
            for path in self._root.glob(".staging-*"):
                shutil.rmtree(path, ignore_errors=True)

    def current(self, expected: StoreIdentity) -> SnapshotPaths | None:
        """The live snapshot, checked against the configured identity; None when there
        is none or it is damaged (then the caller rebuilds from the record store).

        Raises:
            FailedPrecondition: the snapshot was made with another model, dimension,
                normalizer or skeleton version.
        """
        pointer = self._root / _CURRENT
        if not pointer.exists():
            return None
        folder = self._root / pointer.read_text().strip()
        try:
            raw = json.loads((folder / _MANIFEST).read_text())
            manifest = Manifest(**raw)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("snapshot %s is unreadable (%s); rebuilding from the record store", folder, exc)
            return None
        if manifest.format_version != FORMAT_VERSION:
            log.warning("snapshot %s has format %s, expected %s; rebuilding", folder, manifest.format_version, FORMAT_VERSION)
            return None
        if manifest.identity() != expected:
            found, wanted = manifest.identity(), expected
            raise FailedPrecondition(
                f"snapshot {folder} was built with model {found.model_id!r} (dimension {found.dimension}, "
                f"normalizer {found.normalizer_version!r}, skeleton {found.skeleton_version!r}) but this server is "
                f"configured with model {wanted.model_id!r} (dimension {wanted.dimension}, normalizer "
                f"{wanted.normalizer_version!r}, skeleton {wanted.skeleton_version!r}). "
                "Point --data-dir elsewhere or configure the model the data was built with.",
                reason="SNAPSHOT_IDENTITY_MISMATCH",
            )
        for name, size in manifest.files.items():
            path = folder / name
            actual = path.stat().st_size if path.exists() else -1
            if actual != size and not (name.endswith(_GROWING_SUFFIX) and actual > size):
                log.warning("snapshot %s: %s is missing or has the wrong size; rebuilding", folder, name)
                return None
        return SnapshotPaths(manifest, folder / _INDEX_FILE, folder / _META_FILE)

    @staticmethod
    def index_path(staging: Path) -> Path:
        return staging / _INDEX_FILE

    @staticmethod
    def rows_path(staging: Path) -> Path:
        return staging / _META_FILE


def save_rows(path: Path, ids: np.ndarray, accounts: np.ndarray, orgs: np.ndarray, created_at_ms: np.ndarray) -> None:
    """Write the per-row metadata arrays of a snapshot."""
    with open(path, "wb") as fh:
        np.savez(fh, ids=ids, accounts=accounts, orgs=orgs, created_at_ms=created_at_ms)


def load_rows(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read the arrays written by :func:`save_rows`: (ids, accounts, orgs, created_at_ms)."""
    with np.load(path) as data:
        return data["ids"], data["accounts"], data["orgs"], data["created_at_ms"]
