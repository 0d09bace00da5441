"""The Chinese lexicon kept on disk (shared/adapters/zh_lexicon_cache.py, shared/core/zh_lexicon_file.py):
read back it is the built lexicon, table for table, and segments real texts the same; a file that is
missing, truncated, corrupt, foreign, crafted or not a file, and a folder that cannot be written, all
end in the built lexicon (never a crash, never a wrong lexicon); the key follows the inputs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters import zh_lexicon_cache
from shared.core import keyphrases, zh_lexicon_file
from shared.core.keyphrases import ZhLexicon, build_zh_lexicon, zh_user_words
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Real texts (WMT news and the Qwen blog's Chinese posts, copied from ../shared/data/real-world).
TEXTS = [
    json.loads(line)["text"]
    for line in (ROOT / "tests" / "data" / "zh_lexicon" / "texts.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]


@pytest.fixture(scope="module")
def built() -> ZhLexicon:
    return build_zh_lexicon(zh_user_words())


@pytest.fixture(scope="module")
def good_file(built: ZhLexicon) -> bytes:
    """The cache file of the built lexicon for the installed dictionaries and this code."""
    return b"".join(
        zh_lexicon_file.encode(built, zh_user_words(), zh_lexicon_cache.lexicon_key(zh_user_words()))
    )


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch, built: ZhLexicon) -> Iterator[list[int]]:
    """Counts the builds ``load_or_build`` asks for (each answered with the lexicon built once)."""
    calls: list[int] = []

    def build(user_words: list[Any]) -> ZhLexicon:
        calls.append(len(user_words))
        return built

    monkeypatch.setattr(zh_lexicon_cache, "build_zh_lexicon", build)
    yield calls


def decode(data: bytes, key: str) -> ZhLexicon:
    return zh_lexicon_file.decode(io.BytesIO(data), key)


def assert_same(a: ZhLexicon, b: ZhLexicon) -> None:
    assert a.tokenizer.FREQ == b.tokenizer.FREQ
    assert a.tokenizer.total == b.tokenizer.total
    assert a.tokenizer.user_word_tag_tab == b.tokenizer.user_word_tag_tab
    assert a.content_idf == b.content_idf
    assert a.median_idf == b.median_idf
    assert a.function_chars == b.function_chars


def test_the_cached_lexicon_is_the_built_one_and_segments_real_texts_the_same(
    built: ZhLexicon, good_file: bytes
) -> None:
    read = decode(good_file, zh_lexicon_cache.lexicon_key(zh_user_words()))
    assert_same(read, built)
    # content_idf shares its keys with the frequency table (memory: one string per word)
    word = next(iter(read.content_idf))
    assert next(k for k in read.tokenizer.FREQ if k == word) is word
    assert len(TEXTS) == 16
    for text in TEXTS:
        assert read.tokenizer.lcut(text) == built.tokenizer.lcut(text)
        assert read.tokenizer.lcut(text, HMM=False) == built.tokenizer.lcut(text, HMM=False)


def test_a_second_start_reads_the_file_instead_of_building(tmp_path: Path, builds: list[int]) -> None:
    first = zh_lexicon_cache.load_or_build(tmp_path)
    assert len(builds) == 1
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith(zh_lexicon_cache.FILE_PREFIX)
    second = zh_lexicon_cache.load_or_build(tmp_path)
    assert len(builds) == 1  # read, not built
    assert_same(second, first)


def _damaged(data: bytes, how: str) -> bytes:
    header_end = data.index(b"\n", len(zh_lexicon_file.MAGIC))
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "one byte flipped":
        middle = (header_end + len(data)) // 2
        return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
    if how == "empty":
        return b""
    if how == "a pickle":
        return pickle.dumps({"FREQ": {"台积电": 1}})
    if how == "header only":
        return data[: header_end + 1]
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "one byte flipped", "empty", "a pickle", "header only"])
def test_a_damaged_file_is_rebuilt_and_replaced(
    tmp_path: Path, built: ZhLexicon, good_file: bytes, builds: list[int], how: str
) -> None:
    cached = zh_lexicon_cache.cache_path(tmp_path, zh_lexicon_cache.lexicon_key(zh_user_words()))
    cached.write_bytes(_damaged(good_file, how))
    with pytest.raises(zh_lexicon_file.LexiconFileError):
        decode(cached.read_bytes(), zh_lexicon_cache.lexicon_key(zh_user_words()))
    lexicon = zh_lexicon_cache.load_or_build(tmp_path)
    assert len(builds) == 1 and lexicon is built
    assert cached.read_bytes() == good_file  # a sound file is left for the next start


def _crafted(data: bytes, change: Any) -> bytes:
    """A file an attacker rewrote consistently: header edited, checksum recomputed."""
    header_end = data.index(b"\n", len(zh_lexicon_file.MAGIC))
    header = json.loads(data[len(zh_lexicon_file.MAGIC) : header_end])
    payload = bytearray(data[header_end + 1 :])
    change(header, payload)
    header["sha256"] = hashlib.sha256(payload).hexdigest()
    line = json.dumps(header, ensure_ascii=False).encode()
    return zh_lexicon_file.MAGIC + line + b"\n" + bytes(payload)


def _negative_count(header: dict[str, Any], payload: bytearray) -> None:
    start = header["sizes"]["words"]
    payload[start : start + 8] = (-5).to_bytes(8, "little", signed=True)


def _index_out_of_range(header: dict[str, Any], payload: bytearray) -> None:
    start = header["sizes"]["words"] + header["sizes"]["counts"]
    payload[start : start + 4] = (2**32 - 1).to_bytes(4, "little")


def _more_words_than_counts(header: dict[str, Any], payload: bytearray) -> None:
    header["words"] += 1


def _tag_of_an_unknown_word(header: dict[str, Any], payload: bytearray) -> None:
    header["user_tags"]["不存在的词语"] = "nt"


def _wrong_types(header: dict[str, Any], payload: bytearray) -> None:
    header["total"] = "60000000"


@pytest.mark.parametrize(
    "change",
    [_negative_count, _index_out_of_range, _more_words_than_counts, _tag_of_an_unknown_word, _wrong_types],
)
def test_a_crafted_file_with_a_valid_checksum_is_refused(good_file: bytes, change: Any) -> None:
    key = zh_lexicon_cache.lexicon_key(zh_user_words())
    with pytest.raises(zh_lexicon_file.LexiconFileError):
        decode(_crafted(good_file, change), key)


def test_a_file_of_another_key_is_not_read(tmp_path: Path, built: ZhLexicon, builds: list[int]) -> None:
    key = zh_lexicon_cache.lexicon_key(zh_user_words())
    foreign = b"".join(zh_lexicon_file.encode(built, zh_user_words(), "0" * 64))
    zh_lexicon_cache.cache_path(tmp_path, key).write_bytes(foreign)  # renamed into place
    zh_lexicon_cache.load_or_build(tmp_path)
    assert len(builds) == 1
    with pytest.raises(zh_lexicon_file.LexiconFileError):
        decode(foreign, key)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_what_is_not_a_regular_file_is_not_read(tmp_path: Path, builds: list[int], kind: str) -> None:
    key = zh_lexicon_cache.lexicon_key(zh_user_words())
    path = zh_lexicon_cache.cache_path(tmp_path, key)
    if kind == "symlink":
        real = tmp_path / "elsewhere.bin"
        zh_lexicon_cache.load_or_build(tmp_path)  # a sound file, reached through a link
        path.rename(real)
        path.symlink_to(real)
        builds.clear()
    elif kind == "fifo":
        os.mkfifo(path)  # would block a plain open() forever
    else:
        path.mkdir()
    zh_lexicon_cache.load_or_build(tmp_path)
    assert len(builds) == 1


def test_a_folder_that_cannot_be_written_only_costs_the_cache(tmp_path: Path, builds: list[int]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    lexicon = zh_lexicon_cache.load_or_build(blocker / "lexicon")
    assert len(builds) == 1 and lexicon.tokenizer.FREQ


def test_the_key_follows_the_dictionaries_the_domain_words_and_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    words = zh_user_words()
    key = zh_lexicon_cache.lexicon_key(words)
    assert zh_lexicon_cache.lexicon_key(list(words)) == key
    assert zh_lexicon_cache.lexicon_key([*words, ("新词语", 100, "n")]) != key
    assert zh_lexicon_cache.lexicon_key([(w, c, "v" if t else t) for w, c, t in words]) != key
    dictionary, idf = keyphrases.zh_dictionary_files()
    changed = tmp_path / "dict.txt"
    changed.write_bytes(dictionary.read_bytes().replace("台湾".encode(), "台灣".encode(), 1))
    monkeypatch.setattr(zh_lexicon_cache, "zh_dictionary_files", lambda: (changed, idf))
    assert zh_lexicon_cache.lexicon_key(words) != key
    assert zh_lexicon_file.code_fingerprint([build_zh_lexicon]) != zh_lexicon_file.code_fingerprint(
        [keyphrases.new_zh_tokenizer]
    )
    code = zh_lexicon_file.code_key()
    monkeypatch.setattr(zh_lexicon_file, "ZH_LEXICON_PARAMETERS", (["n"], ["r"]))
    assert zh_lexicon_file.code_key() != code


def test_a_service_process_builds_once_then_reads_the_cache(tmp_path: Path) -> None:
    """Two starts of a process with the setting: the first builds and keeps the file, the second
    reads it (no build logged) and segments the same."""
    code = "\n".join(
        [
            "import json, logging, sys",
            "logging.basicConfig(level=logging.INFO, stream=sys.stderr)",
            "from shared.settings import Settings",
            "from shared.adapters.zh_lexicon_cache import use_lexicon_cache",
            "from shared.core.keyphrases import zh_tokenizer",
            "use_lexicon_cache(Settings().lexicon_cache_dir)",
            "texts = json.loads(sys.stdin.read())",
            "print(json.dumps([zh_tokenizer().lcut(t) for t in texts], ensure_ascii=False))",
        ]
    )
    env = {**os.environ, "NEWSROOM_LEXICON_CACHE_DIR": str(tmp_path / "lexicon")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            input=json.dumps(TEXTS),
            capture_output=True,
            text=True,
            check=True,
        )
        for _ in range(2)
    ]
    assert "building it" in runs[0].stderr
    assert "building it" not in runs[1].stderr and "not used" not in runs[1].stderr
    assert runs[0].stdout == runs[1].stdout
    assert len(list((tmp_path / "lexicon").iterdir())) == 1


def test_the_setting_defaults_to_the_user_cache_and_empty_turns_it_off() -> None:
    assert Settings().lexicon_cache_dir is not None
    assert Settings(lexicon_cache_dir="").lexicon_cache_dir is None  # type: ignore[arg-type]
