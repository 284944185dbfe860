"""The skeleton version is part of a data directory's identity: a store or snapshot
written with another one is refused with a message that says what to do, and a data dir
written before the version was recorded (by skel-1) still opens."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from promptprint.errors import FailedPrecondition
from promptprint.index.config import IndexConfig
from promptprint.index.prompt_index import PromptIndex
from promptprint.records import PromptRecord
from promptprint.storage.snapshot import SnapshotDirectory, save_rows
from promptprint.storage.store import RecordStore
from promptprint.storage.identity import UNRECORDED_SKELETON_VERSION, StoreIdentity, read_identity
from promptprint.text.normalize import NORMALIZER_VERSION
from promptprint.text.skeleton import SKELETON_VERSION, signature, signature_to_bytes

DIM = 8
RECORD = PromptRecord("p-1", "acct-1", "", 1_770_000_000_000, "Summarize the following text in three bullet points: hello")


class _NoModel:
    """The identity of an embedder, for opening a data dir (a refused open embeds nothing)."""

    model_id = "no-model"
    dimension = DIM

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("nothing is embedded when the store is refused")


def _identity(skeleton_version: str) -> StoreIdentity:
    return StoreIdentity(_NoModel.model_id, DIM, NORMALIZER_VERSION, skeleton_version)


def _write_store(data_dir: Path, skeleton_version: str, *, privacy: bool = False) -> Path:
    path = data_dir / "records.sqlite"
    store = RecordStore(path, _identity(skeleton_version), store_text=not privacy)
    vector = np.eye(1, DIM, dtype=np.float32)
    store.insert([RECORD], vector, [signature_to_bytes(signature(RECORD.text))] if privacy else None)
    store.close()
    return path


def test_current_identity_records_the_skeleton_version(tmp_path: Path) -> None:
    path = _write_store(tmp_path, SKELETON_VERSION)
    assert read_identity(path) == StoreIdentity.current(_NoModel.model_id, DIM)
    assert read_identity(path).skeleton_version == SKELETON_VERSION  # type: ignore[union-attr]
    with sqlite3.connect(path) as conn:
        assert dict(conn.execute("SELECT key, value FROM meta"))["skeleton_version"] == SKELETON_VERSION


def test_another_skeleton_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    _write_store(tmp_path, "skel-0")
    with pytest.raises(FailedPrecondition) as caught:
        PromptIndex.open(IndexConfig(data_dir=tmp_path), _NoModel())  # type: ignore[arg-type]
    error = caught.value
    assert error.reason == "STORE_IDENTITY_MISMATCH"
    assert str(tmp_path) in error.message and "'skel-0'" in error.message and repr(SKELETON_VERSION) in error.message
    assert "promptprint reindex" in error.message and "privacy mode" not in error.message


def test_a_privacy_mode_store_says_its_signatures_cannot_be_rederived(tmp_path: Path) -> None:
    _write_store(tmp_path, "skel-0", privacy=True)
    with pytest.raises(FailedPrecondition) as caught:
        RecordStore(tmp_path / "records.sqlite", StoreIdentity.current(_NoModel.model_id, DIM), store_text=False)
    assert "privacy mode" in caught.value.message and "cannot be re-derived" in caught.value.message


def test_a_store_without_the_field_was_written_by_skel_1(tmp_path: Path) -> None:
    """Data dirs written before the skeleton version was recorded hold skel-1 signatures:
    they open with skel-1 and are refused by any other version."""
    assert UNRECORDED_SKELETON_VERSION == "skel-1"
    path = _write_store(tmp_path, UNRECORDED_SKELETON_VERSION)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'skeleton_version'")
    assert read_identity(path) == _identity("skel-1")
    RecordStore(path, _identity("skel-1")).close()
    with pytest.raises(FailedPrecondition, match="skel-1"):
        RecordStore(path, _identity("skel-2"))
    with sqlite3.connect(path) as conn:  # opening added nothing: the absence keeps its meaning
        assert "skeleton_version" not in dict(conn.execute("SELECT key, value FROM meta"))


def _write_snapshot(root: Path, identity: StoreIdentity) -> SnapshotDirectory:
    snapshots = SnapshotDirectory(root)
    staging = snapshots.begin(0)
    SnapshotDirectory.index_path(staging).write_bytes(b"index")
    empty = np.zeros(0, np.int64)
    save_rows(SnapshotDirectory.rows_path(staging), empty, empty.astype(np.int32), empty.astype(np.int32), empty)
    assert snapshots.commit(staging, identity=identity, count=0, watermark=0, index_description="Flat") is not None
    return snapshots


def test_snapshot_manifest_carries_the_skeleton_version(tmp_path: Path) -> None:
    snapshots = _write_snapshot(tmp_path / "snapshots", _identity("skel-0"))
    with pytest.raises(FailedPrecondition) as caught:
        snapshots.current(_identity("skel-1"))
    assert caught.value.reason == "SNAPSHOT_IDENTITY_MISMATCH" and "'skel-0'" in caught.value.message


def test_a_manifest_without_the_field_was_written_by_skel_1(tmp_path: Path) -> None:
    snapshots = _write_snapshot(tmp_path / "snapshots", _identity("skel-1"))
    manifest = snapshots.root / (snapshots.current_name() or "") / "manifest.json"
    raw = json.loads(manifest.read_text())
    del raw["skeleton_version"]
    manifest.write_text(json.dumps(raw))
    found = snapshots.current(_identity("skel-1"))
    assert found is not None and found.manifest.skeleton_version == "skel-1"
