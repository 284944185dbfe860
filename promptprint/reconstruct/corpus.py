"""The corpus a reconstruction works on: prompts, who sent them when, and their vectors.

Two sources:

* a **data directory** (what ``promptprint serve`` wrote): texts, metadata and the
  stored float16 fingerprint vectors are read back from ``records.sqlite`` — nothing is
  re-embedded, so weeks of traffic load in seconds;
* **files** (JSONL / CSV / Parquet, see :mod:`promptprint.readers`): the texts are
  fingerprinted here with the index's recipe (:mod:`promptprint.index.fingerprint`:
  canonical text, embed, float16 round trip), batch by batch, by the embedder given:
  in-process, or a :class:`promptprint.vectors.embedder.PooledEmbedder` that spreads each
  batch over Ray workers. Both sources thus give the same vector for the same prompt.

Accounts and orgs are interned into integer codes (org code 0 = none) so that the
account × template graph is built with arrays, not dictionaries of strings.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from promptprint.vectors.embedder import Embedder
from promptprint.errors import FailedPrecondition
from promptprint.readers import read_records
from promptprint.records import PromptRecord
from promptprint.index.fingerprint import Embed, fingerprint_texts
from promptprint.reconstruct.progress import SILENT, Progress
from promptprint.storage.store import RecordStore
from promptprint.storage.identity import read_identity

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Corpus:
    """n prompts in created_at order, as parallel arrays."""

    prompt_ids: list[str]
    accounts: np.ndarray  # int32 codes into account_names
    orgs: np.ndarray  # int32 codes into org_names (0 = no org)
    created_at_ms: np.ndarray  # int64
    texts: list[str]
    vectors: np.ndarray  # float32 (n, d), unit norm
    account_names: list[str]
    org_names: list[str]  # org_names[0] == ""

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def org_key(self) -> np.ndarray:
        """An org code per prompt where accounts without org count as their own org
        (negative: -1 - account code), as in promptprint.templates.tracker.org_key."""
        return np.where(self.orgs > 0, self.orgs.astype(np.int64), -1 - self.accounts.astype(np.int64))


class _Interner:
    def __init__(self, first: Sequence[str] = ()) -> None:
        self.names: list[str] = list(first)
        self.codes: dict[str, int] = {name: i for i, name in enumerate(self.names)}

    def code(self, name: str) -> int:
        code = self.codes.get(name)
        if code is None:
            code = self.codes[name] = len(self.names)
            self.names.append(name)
        return code


def corpus_from_records(
    records: Iterable[PromptRecord],
    embed: Embed,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> Corpus:
    """Records in [since, until), sorted by time, fingerprinted ``batch_size`` texts per
    ``embed`` call (a pooled embedder spreads each call over its workers, so give it
    batches of several per worker). ``embed`` receives canonical texts; the vectors
    come out exactly as the index stores them, so a corpus from files and the same
    prompts read from a data directory cluster alike."""
    kept = [
        r for r in records
        if (since_ms is None or r.created_at_ms >= since_ms) and (until_ms is None or r.created_at_ms < until_ms)
    ]
    kept.sort(key=lambda r: r.created_at_ms)
    accounts, orgs = _Interner(), _Interner([""])
    texts = [r.text for r in kept]
    parts = []
    with progress("embedding", len(texts), "prompt") as advance:
        for start in range(0, len(texts), batch_size):
            parts.append(fingerprint_texts(embed, texts[start : start + batch_size]))
            advance(len(parts[-1]))
    vectors = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
    return Corpus(
        prompt_ids=[r.prompt_id for r in kept],
        accounts=np.fromiter((accounts.code(r.account_id) for r in kept), dtype=np.int32, count=len(kept)),
        orgs=np.fromiter((orgs.code(r.org_id) if r.org_id else 0 for r in kept), dtype=np.int32, count=len(kept)),
        created_at_ms=np.fromiter((r.created_at_ms for r in kept), dtype=np.int64, count=len(kept)),
        texts=texts,
        vectors=vectors,
        account_names=accounts.names,
        org_names=orgs.names,
    )


def corpus_from_files(
    paths: Sequence[str | Path],
    embedder: Embedder,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = 256,
    progress: Progress = SILENT,
) -> tuple[Corpus, int]:
    """Read and embed prompt files. Returns the corpus and the number of unreadable
    lines (skipped and logged: a reconstruction reports on what it could read)."""
    records: list[PromptRecord] = []
    bad = 0
    for path in paths:
        for line in read_records(path):
            if line.record is None:
                bad += 1
                log.warning("%s:%d: skipped [%s] %s", line.source, line.line, line.error.reason, line.error.message)  # type: ignore[union-attr]
            elif line.record.text.strip() and line.record.account_id:
                records.append(line.record)
            else:
                bad += 1
    corpus = corpus_from_records(records, embedder.embed, since_ms=since_ms, until_ms=until_ms, batch_size=batch_size, progress=progress)
    return corpus, bad


def _of_model(embedder: Embedder, model_id: str) -> Embedder:
    """``embedder``, checked to be the model a store's vectors were made with."""
    if embedder.model_id != model_id:
        raise FailedPrecondition(
            f"the record store's vectors were made with {model_id!r}, but the model given to embed its prompts "
            f"without a vector is {embedder.model_id!r}; pass the store's model (--model)",
            reason="STORE_IDENTITY_MISMATCH",
        )
    return embedder


def corpus_from_store(
    data_dir: str | Path,
    *,
    embedder: Callable[[], Embedder] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    progress: Progress = SILENT,
) -> Corpus:
    """The prompts of a data directory in [since, until), with their stored vectors.

    Prompts stored without a vector (still pending, or skipped by the server's embedding
    policy) are fingerprinted here by the same recipe, with the embedder ``embedder()``
    returns (called once, only if such a prompt is in the window; it must be the store's
    model). Without ``embedder`` they are left out, with a warning.

    Raises:
        FailedPrecondition: no record store, or ``embedder`` is another model than the store's.
    """
    path = Path(data_dir) / "records.sqlite"
    identity = read_identity(path)
    if identity is None:
        raise FailedPrecondition(
            f"{data_dir} holds no record store (records.sqlite); ingest prompts with `promptprint ingest` first, "
            "or pass prompt files instead of --data-dir",
            reason="NO_RECORD_STORE",
        )
    store = RecordStore(path, identity)
    try:
        accounts, orgs = _Interner(), _Interner([""])
        ids: list[str] = []
        acc: list[int] = []
        org: list[int] = []
        created: list[int] = []
        texts: list[str] = []
        chunks: list[np.ndarray] = []
        missing = 0
        loaded: list[Embedder] = []  # the embedder, once a prompt without a vector needs it

        with progress("loading", store.count(), "prompt") as advance:  # the count bounds any window
            for all_rows, stored, has_vector in store.iter_window(since_ms, until_ms):
                if has_vector.all():
                    rows, vectors = all_rows, stored
                elif embedder is not None:
                    if not loaded:
                        loaded.append(_of_model(embedder(), identity.model_id))
                    rows, vectors = all_rows, stored.copy()
                    lacking = np.flatnonzero(~has_vector)
                    vectors[lacking] = fingerprint_texts(loaded[0].embed, [all_rows[i][4] for i in lacking.tolist()])
                    missing += len(lacking)
                else:
                    rows, vectors = [r for r, keep in zip(all_rows, has_vector.tolist()) if keep], stored[has_vector]
                    missing += int((~has_vector).sum())
                for prompt_id, account, org_code, created_ms, text in rows:
                    ids.append(prompt_id)
                    acc.append(accounts.code(store.account_name(account)))
                    org.append(orgs.code(store.org_name(org_code)) if org_code else 0)
                    created.append(created_ms)
                    texts.append(text)
                chunks.append(vectors)
                advance(len(all_rows))
        vectors = np.concatenate(chunks) if chunks else np.zeros((0, identity.dimension), np.float32)
        if missing and embedder is None:
            log.warning("%d recorded prompts have no vector (pending, or skipped by the embedding policy) and are left out", missing)
        elif missing:
            log.info("%d recorded prompts had no vector and were embedded here", missing)
    finally:
        store.close()
    return Corpus(
        prompt_ids=ids,
        accounts=np.asarray(acc, dtype=np.int32),
        orgs=np.asarray(org, dtype=np.int32),
        created_at_ms=np.asarray(created, dtype=np.int64),
        texts=texts,
        vectors=vectors,
        account_names=accounts.names,
        org_names=orgs.names,
    )
