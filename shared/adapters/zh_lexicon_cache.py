"""The Chinese lexicon (``shared.core.keyphrases.zh_lexicon``) kept on disk between starts.

Building it from jieba's dict.txt costs ~1.3 s of CPU in every process that segments Chinese
(analyze, the read API, publish); reading the cached file ~0.1 s (bench/README.md, "h19ops").
The file is named by its key, a SHA-256 of everything the lexicon is built from: jieba's
dictionary and IDF files (their bytes), the domain words and gazetteer names added to them, the
jieba version, and the code that builds and stores it (``zh_lexicon_file.code_key``). Any of
those changing gives a new file name; the old file is simply no longer read.

Reading never trusts the file: it is parsed (``zh_lexicon_file.decode``: checksum, sizes, indices,
the key in its header), never unpickled, and a regular file of bounded size only. Anything wrong
(missing, truncated, corrupt, another key, unreadable) and the lexicon is built as before; a
folder that cannot be written only costs the cache. Someone who can write the folder can still
give the services another segmentation (not code to run): keep it private to the user running
them (the default is under ``~/.cache``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from pathlib import Path

from shared.adapters.allocator import return_freed_memory
from shared.core import zh_lexicon_file
from shared.core.keyphrases import (
    ZhLexicon,
    ZhUserWord,
    build_zh_lexicon,
    use_zh_lexicon_loader,
    zh_dictionary_files,
    zh_user_words,
)

log = logging.getLogger(__name__)

FILE_PREFIX = "zh-lexicon-"


def lexicon_key(user_words: list[ZhUserWord]) -> str:
    """The key of the lexicon built from jieba's installed files and ``user_words`` by this code."""
    import jieba

    digest = hashlib.sha256()
    digest.update(f"{zh_lexicon_file.code_key()}|jieba {jieba.__version__}|".encode())
    for path in zh_dictionary_files():
        data = path.read_bytes()
        digest.update(f"{len(data)}|".encode())
        digest.update(data)
    digest.update(json.dumps(user_words, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{FILE_PREFIX}{key[:32]}.bin"


def _read_lexicon(path: Path, key: str) -> ZhLexicon:
    """The lexicon in ``path`` if it is a regular file (not a link, a device or a FIFO) holding
    the lexicon of ``key``; OSError or LexiconFileError otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise zh_lexicon_file.LexiconFileError("not a regular file")
        lexicon = zh_lexicon_file.decode(stream, key)
    return_freed_memory()  # the file's sections, read and dropped one by one
    return lexicon


def _write_atomically(path: Path, pieces: list[bytes]) -> None:
    """``pieces`` one after the other at ``path``, whole or not at all (a reader never sees a
    half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            for piece in pieces:
                stream.write(piece)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_or_build(cache_dir: Path) -> ZhLexicon:
    """The lexicon from ``cache_dir`` when a valid file for its key is there; else built (and
    left there for the next start when the folder can be written)."""
    user_words = zh_user_words()
    try:
        key = lexicon_key(user_words)
    except OSError as exc:  # jieba's files unreadable: the build will say why
        log.warning("Chinese lexicon cache unusable, building the lexicon: %s", exc)
        return build_zh_lexicon(user_words)
    path = cache_path(cache_dir, key)
    try:
        return _read_lexicon(path, key)
    except FileNotFoundError:
        log.info("no cached Chinese lexicon at %s yet: building it", path)
    except (OSError, zh_lexicon_file.LexiconFileError) as exc:
        log.warning("cached Chinese lexicon %s not used (%s): building it", path, exc)
    lexicon = build_zh_lexicon(user_words)
    try:
        _write_atomically(path, zh_lexicon_file.encode(lexicon, user_words, key))
    except (OSError, ValueError) as exc:
        log.warning("could not keep the Chinese lexicon in %s: %s", cache_dir, exc)
    return_freed_memory()
    return lexicon


def use_lexicon_cache(cache_dir: Path | None) -> None:
    """Make this process's ``zh_lexicon`` come from ``cache_dir`` (None: built at every start).
    Only the first load of the process reads it; call before anything segments Chinese."""
    if cache_dir is None:
        use_zh_lexicon_loader(None)
    else:
        use_zh_lexicon_loader(lambda: load_or_build(Path(cache_dir)))
