"""The built Chinese lexicon (``keyphrases.ZhLexicon``) as bytes and back, for the on-disk cache
(shared/adapters/zh_lexicon_cache.py): building it from jieba's dict.txt costs ~1.3 s of CPU at
every start, reading this ~0.1 s (bench/README.md, "h19ops").

A plain format, parsed here field by field (never unpickled: whoever can write the cache folder
must not be able to run code in the services). Layout:

- the line ``MAGIC``;
- one JSON header line: the format, the key it was built for, the sizes of the sections below,
  the SHA-256 of those sections, the tokenizer's total, the median IDF, the function characters,
  the user words' tags and the words jieba force-splits;
- the sections, in order: ``words`` (every key of the frequency table, UTF-8, separated by
  ``"\\n"``), ``counts`` (int64 per word), ``content`` (uint32: the index of each content word),
  ``idf`` (uint32 per content word: the index of its IDF among ``values``), ``values`` (float64:
  the distinct IDF values). Little-endian throughout.

``decode`` refuses (``LexiconFileError``) anything that is not exactly such a file for the
expected key: a truncated, corrupt or foreign file is rebuilt by the caller, never half-used.
"""

from __future__ import annotations

import hashlib
import json
import sys
from array import array
from collections.abc import Callable, Iterable
from types import CodeType
from typing import Any, BinaryIO

from shared.core.keyphrases import (
    ZH_LEXICON_CODE,
    ZH_LEXICON_PARAMETERS,
    ZhLexicon,
    ZhUserWord,
    new_zh_tokenizer,
)

MAGIC = b"AI-NEWSROOM ZH-LEXICON\n"
# Bump when the layout above changes (what the lexicon is built from, and the code that builds
# it, are in the key: ``code_fingerprint``).
FORMAT = 1
# The largest header and file accepted (the real ones: ~10 KB and ~11 MB).
MAX_HEADER_BYTES = 1 << 20
MAX_FILE_BYTES = 256 << 20
_SECTIONS = ("words", "counts", "content", "idf", "values")
_ITEM_BYTES = {"counts": 8, "content": 4, "idf": 4, "values": 8}
_TYPECODES = {"counts": "q", "content": "I", "idf": "I", "values": "d"}


class LexiconFileError(ValueError):
    """The bytes are not a lexicon file of this format for the expected key."""


def code_fingerprint(functions: Iterable[Callable[..., Any]]) -> str:
    """A digest of the functions' bytecode, names and constants (nested code included, line
    numbers and file names not): a lexicon cached by other code is not read back."""
    digest = hashlib.sha256()

    def add(code: CodeType) -> None:
        digest.update(code.co_code)
        digest.update(repr(code.co_names).encode())
        for const in code.co_consts:
            if isinstance(const, CodeType):
                add(const)
            else:
                digest.update(repr(const).encode())

    for function in functions:
        add(function.__code__)
    return digest.hexdigest()


def _packed(typecode: str, values: Iterable[Any]) -> bytes:
    packed = array(typecode, values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _unpacked(typecode: str, data: bytes | memoryview) -> array[Any]:
    values = array(typecode)
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def encode(lexicon: ZhLexicon, user_words: Iterable[ZhUserWord], key: str) -> list[bytes]:
    """The lexicon as a cache file for ``key``, in pieces to write one after the other (joined
    they would be a third copy of ~11 MB at the peak). ValueError when a word cannot be stored
    (a word with a line break: none in jieba's dictionaries)."""
    tokenizer = lexicon.tokenizer
    content, idf = array("I"), array("I")
    value_index: dict[float, int] = {}
    for index, word in enumerate(tokenizer.FREQ):
        value = lexicon.content_idf.get(word)
        if value is not None:
            content.append(index)
            idf.append(value_index.setdefault(value, len(value_index)))
    if len(content) != len(lexicon.content_idf):
        raise ValueError("a content word is not in the frequency table")
    words = "\n".join(tokenizer.FREQ)
    if words.count("\n") != len(tokenizer.FREQ) - 1:
        raise ValueError("a dictionary word contains a line break")
    sections = {
        "words": words.encode("utf-8"),
        "counts": _packed("q", tokenizer.FREQ.values()),
        "content": _packed("I", content),
        "idf": _packed("I", idf),
        "values": _packed("d", value_index),
    }
    del words
    checksum = hashlib.sha256()
    for name in _SECTIONS:
        checksum.update(sections[name])
    header = {
        "format": FORMAT,
        "key": key,
        "sizes": {name: len(sections[name]) for name in _SECTIONS},
        "words": len(tokenizer.FREQ),
        "sha256": checksum.hexdigest(),
        "total": tokenizer.total,
        "median_idf": lexicon.median_idf,
        "function_chars": sorted(lexicon.function_chars),
        "user_tags": tokenizer.user_word_tag_tab,
        # add_word hands a word of count 0 to jieba's HMM as "always split" (process-wide).
        "force_split": sorted({word for word, count, _tag in user_words if count == 0}),
    }
    line = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return [MAGIC + line + b"\n", *(sections[name] for name in _SECTIONS)]


def _field(header: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = header.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise LexiconFileError(f"header field {name!r} is missing or not {kind}")
    return value


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise LexiconFileError(f"header field {name!r} is not a list of strings")
    return value


def _header(stream: BinaryIO, key: str) -> dict[str, Any]:
    if stream.read(len(MAGIC)) != MAGIC:
        raise LexiconFileError("not a lexicon file")
    line = stream.readline(MAX_HEADER_BYTES)
    if not line.endswith(b"\n"):
        raise LexiconFileError("no header")
    try:
        header = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LexiconFileError(f"unreadable header: {exc}") from exc
    if not isinstance(header, dict):
        raise LexiconFileError("the header is not an object")
    if header.get("format") != FORMAT or header.get("key") != key:
        raise LexiconFileError("another format or key")
    sizes = _field(header, "sizes", dict)
    if set(sizes) != set(_SECTIONS) or not all(
        isinstance(sizes[name], int) and not isinstance(sizes[name], bool) and sizes[name] >= 0
        for name in _SECTIONS
    ):
        raise LexiconFileError("bad section sizes")
    if sum(sizes.values()) > MAX_FILE_BYTES:
        raise LexiconFileError("too large")
    for name, item in _ITEM_BYTES.items():
        if sizes[name] % item:
            raise LexiconFileError(f"section {name} is not a whole number of items")
    return header


def decode(stream: BinaryIO, key: str) -> ZhLexicon:
    """The lexicon of a cache file made by ``encode`` for ``key``, read from ``stream`` one
    section at a time (each section's temporaries are dropped before the next is read: the peak
    RSS stays near the lexicon's own size); LexiconFileError when it is not exactly such a file.
    The checksum is compared once every section is read, before anything is returned."""
    header = _header(stream, key)
    sizes: dict[str, int] = header["sizes"]
    checksum = hashlib.sha256()

    def section(name: str) -> bytes:
        data = stream.read(sizes[name])
        if len(data) != sizes[name]:
            raise LexiconFileError("truncated")
        checksum.update(data)
        return data

    total = _field(header, "total", int)
    median = _field(header, "median_idf", float)
    user_tags = _field(header, "user_tags", dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in user_tags.items()):
        raise LexiconFileError("bad user tags")
    function_chars = _strings(header.get("function_chars"), "function_chars")
    force_split = _strings(header.get("force_split"), "force_split")
    try:
        words = str(section("words"), "utf-8").split("\n") if sizes["words"] else []
    except UnicodeDecodeError as exc:
        raise LexiconFileError("words are not UTF-8") from exc
    if len(words) != header.get("words") or sizes["counts"] != 8 * len(words):
        raise LexiconFileError("section lengths disagree")
    counts = _unpacked("q", section("counts"))
    if counts and min(counts) < 0:
        raise LexiconFileError("a negative count")
    freq = dict(zip(words, counts, strict=True))
    del counts
    if len(freq) != len(words) or not set(user_tags) <= freq.keys():
        raise LexiconFileError("repeated words, or a tagged word not in the dictionary")
    content = _unpacked("I", section("content"))
    idf = _unpacked("I", section("idf"))
    values = _unpacked("d", section("values")).tolist()
    if stream.read(1):
        raise LexiconFileError("data after the last section")
    if checksum.hexdigest() != header.get("sha256"):
        raise LexiconFileError("checksum mismatch")
    if (
        len(content) != len(idf)
        or (content and max(content) >= len(words))
        or (idf and max(idf) >= len(values))
    ):
        raise LexiconFileError("a word or IDF index out of range")
    content_idf = dict(zip(map(words.__getitem__, content), map(values.__getitem__, idf), strict=True))
    if len(content_idf) != len(content):
        raise LexiconFileError("repeated content words")
    del words, content, idf
    tokenizer = new_zh_tokenizer()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True
    tokenizer.user_word_tag_tab = dict(user_tags)
    if force_split:
        from jieba import finalseg

        for word in force_split:
            finalseg.add_force_split(word)
    return ZhLexicon(tokenizer, content_idf, median, frozenset(function_chars))


def code_key() -> str:
    """The part of a cache key that the code gives: this format, the builder's and this module's
    code, the parts of speech the builder keeps."""
    code = code_fingerprint([*ZH_LEXICON_CODE, encode, decode])
    return hashlib.sha256(f"{FORMAT}|{code}|{ZH_LEXICON_PARAMETERS}".encode()).hexdigest()
