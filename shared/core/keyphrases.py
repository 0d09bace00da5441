"""Key phrases: jieba TF-IDF with a domain dictionary for Chinese, yake for English.

jieba runs on a private ``Tokenizer`` (not the process-wide ``jieba.dt``) so that the domain words
added here do not change segmentation elsewhere; it is built once per process (``zh_lexicon``,
compact: ~85 MB instead of ~250 MB for stock jieba with posseg and analyse) with its start-up log
silenced.

English keywords are yake's, computed by ``shared.core.yake_keywords`` (the same keywords and
scores as ``yake.KeywordExtractor.extract_keywords``, about a third of its CPU; bench/keyphrases.py).
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shared.core.entities import load_gazetteer
from shared.core.taxonomy import read_data_text
from shared.core.yake_keywords import yake_keywords

_log = logging.getLogger("newsroom.keyphrases")

DOMAIN_DICT_FILE = "jieba_dict.txt"
# Words that TF-IDF ranks high in news but that say nothing about the story.
ZH_STOP_WORDS = frozenset(
    """表示 公司 今年 目前 已经 进行 相关 方面 成为 可以 以及 通过 提供 实现 其中 同时 此前 此次
    未来 当前 记者 报道 消息 获悉 据悉 透露 显示 认为 指出 称 宣布 计划 推动 开展 发布 推出 一家 一款
    一种 一项 这一 该公司 旗下 人士 知情人士 周二 周一 周三 周四 周五 周六 周日 上午 下午 今天 昨天 明年
    去年 多个 数百万 数十万 首个 首款 新一代 新款 新版 最新 全新 进一步 大幅 显著 明显 超过 达到 约 近
    AI ai 人工智能""".split()
)
# yake's settings for English: phrases of up to 3 words, near-duplicates above 0.7 dropped.
EN_MAX_WORDS = 3
EN_DEDUP_LIMIT = 0.7
EN_STOP_PHRASES = frozenset({"ai", "artificial intelligence", "company", "companies", "said", "says"})
_HAS_LETTER = re.compile(r"[A-Za-z\u3400-\u9fff]")


# Parts of speech of key-phrase candidates: nouns, names, verbal nouns, idioms, English words.
ALLOW_POS_ZH = frozenset({"n", "nr", "ns", "nt", "nz", "nrt", "vn", "eng", "l"})
CONTENT_POS = ALLOW_POS_ZH
# jieba's TF-IDF ignores these (its KeywordExtractor.STOP_WORDS).
_JIEBA_STOP_WORDS = frozenset(
    "the of is and to in that we for an are by be as on with can if from which you it this then at "
    "have all not one has or".split()
)
# Closed-class jieba tags: r pronoun, p preposition, u* particles, c conjunction, f localiser,
# y modal particle (open classes such as verbs occur inside names: 乐视, 慧择).
_FUNCTION_POS_INITIALS = frozenset("rpucfy")
_TFIDF_STOP_WORDS = _JIEBA_STOP_WORDS | ZH_STOP_WORDS
_LATIN_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9.+\-]*$")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True, slots=True)
class ZhLexicon:
    """jieba's dictionary, loaded once and compactly (see ``zh_lexicon``)."""

    tokenizer: Any  # a jieba.Tokenizer with the domain words and gazetteer names
    content_idf: dict[str, float]  # dictionary words with a content part of speech -> IDF
    median_idf: float
    # Single characters that are function words in the dictionary (pronouns, prepositions,
    # particles, conjunctions, localisers): a word jieba's HMM found outside the
    # dictionary that starts or ends with one (这是, 推特上, 他会) is not a name or a term.
    function_chars: frozenset[str]


ZhUserWord = tuple[str, int | None, str | None]  # word, count (None: jieba suggests one), tag
ZhLexiconLoader = Callable[[], ZhLexicon]
_zh_lexicon_loader: ZhLexiconLoader | None = None


def use_zh_lexicon_loader(loader: ZhLexiconLoader | None) -> None:
    """Where ``zh_lexicon`` gets the lexicon from (a process sets it before the first use:
    shared/adapters/zh_lexicon_cache.py keeps the built lexicon on disk); None: built here."""
    global _zh_lexicon_loader
    _zh_lexicon_loader = loader


@cache
def zh_lexicon() -> ZhLexicon:
    """The process's lexicon, built once (``build_zh_lexicon``) or read from a cache (the loader
    set by ``use_zh_lexicon_loader``)."""
    if _zh_lexicon_loader is not None:
        return _zh_lexicon_loader()
    return build_zh_lexicon(zh_user_words())


def zh_dictionary_files() -> tuple[Path, Path]:
    """jieba's dictionary (``word count tag`` lines) and its IDF table."""
    import jieba

    package = Path(jieba.__file__).parent
    return package / "dict.txt", package / "analyse" / "idf.txt"


def zh_user_words() -> list[ZhUserWord]:
    """The words added to jieba's dictionary: the domain dictionary, then the gazetteer's Chinese
    names (what ``build_zh_lexicon`` adds, in that order)."""
    user_words: list[ZhUserWord] = []
    for line in read_data_text(DOMAIN_DICT_FILE).splitlines():
        parts = line.split()
        if parts:
            user_words.append(
                (parts[0], int(parts[1]) if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None)
            )
    for entity in load_gazetteer().entities.values():
        for alias in entity.aliases:
            if _CJK.search(alias) and len(alias) >= 2:
                user_words.append((alias, 2000, "nr" if entity.kind == "person" else "nt"))
    return user_words


def new_zh_tokenizer() -> Any:
    """An empty private jieba tokenizer, its start-up log silenced."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = tempfile.gettempdir()
    return tokenizer


def build_zh_lexicon(user_words: list[ZhUserWord]) -> ZhLexicon:
    """jieba's dictionary for segmentation, part of speech and IDF, in one pass and ~1/3 the memory.

    Stock jieba holds the same 349k words in three separate tables, each with its own copy of every
    word (the tokenizer's frequencies, posseg's tags and the TF-IDF module's IDF table, the latter
    loaded twice when ``jieba.analyse`` is imported), plus posseg's tag HMM: ~250 MB, measured.
    Here the frequency table is built from ``dict.txt`` as jieba builds it, the part of speech is
    kept only as "is a content word", merged with the IDF into one table whose keys are the
    frequency table's own strings, and ``jieba.posseg``/``jieba.analyse`` are never imported.
    Segmentation is jieba's own (same dictionary, same HMM for unknown words); bench/zh_lexicon.py
    measures the memory and the agreement with stock jieba on real texts.
    """
    tokenizer = new_zh_tokenizer()
    freq: dict[str, int] = {}
    content: dict[str, float] = {}
    function_chars: set[str] = set()
    dict_path, idf_path = zh_dictionary_files()
    # Line by line: a list of the file's 349k lines would double the peak memory of the load.
    with dict_path.open(encoding="utf-8") as lines:
        for raw in lines:
            _add_dictionary_line(raw, freq, content, function_chars)
    total = sum(freq.values())
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True
    for word, count, tag in user_words:
        tokenizer.add_word(word, freq=count, tag=tag)
        if tag in CONTENT_POS:
            content.setdefault(word, 0.0)
        elif tag is not None:
            content.pop(word, None)
    values: dict[float, float] = {}  # one float object per distinct IDF value
    counts: Counter[float] = Counter()  # for the median (what jieba uses for words without an IDF)
    with idf_path.open(encoding="utf-8") as lines:
        for raw in lines:
            idf_word, _, idf_text = raw.strip().partition(" ")
            number = values.setdefault(float(idf_text), float(idf_text))
            counts[number] += 1
            if idf_word in content:
                content[idf_word] = number
    median = _median_of_counts(counts)
    for content_word, idf in content.items():
        if idf == 0.0:
            content[content_word] = median
    return ZhLexicon(tokenizer, content, median, frozenset(function_chars))


def _add_dictionary_line(
    raw: str, freq: dict[str, int], content: dict[str, float], function_chars: set[str]
) -> None:
    """One ``word count [tag]`` line of jieba's dict.txt, as jieba's ``gen_pfdict`` reads it."""
    parts = raw.rstrip("\n").split(" ")
    if len(parts) < 2:
        return
    word = parts[0]
    freq[word] = int(parts[1])
    for end in range(1, len(word)):
        freq.setdefault(word[:end], 0)
    if len(parts) > 2 and parts[2] in CONTENT_POS:
        content[word] = 0.0
    elif len(parts) > 2 and len(word) == 1 and parts[2][0] in _FUNCTION_POS_INITIALS:
        function_chars.add(word)


def _median_of_counts(counts: Counter[float]) -> float:
    """``sorted(values)[len(values) // 2]`` of the values that ``counts`` counts."""
    target = sum(counts.values()) // 2
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen > target:
            return value
    raise ValueError("no IDF values")


# What a lexicon is built by besides its input files: part of its cache key
# (shared/core/zh_lexicon_file.py), so a lexicon cached by other code is never read back.
ZH_LEXICON_CODE = (build_zh_lexicon, _add_dictionary_line, _median_of_counts, new_zh_tokenizer)
ZH_LEXICON_PARAMETERS = (sorted(CONTENT_POS), sorted(_FUNCTION_POS_INITIALS))


def _zh_content_idf(word: str, lexicon: ZhLexicon) -> float | None:
    """IDF of a key-phrase candidate, None when it is not a content word.

    Dictionary words count by their part of speech. Words jieba's HMM found outside the
    dictionary are mostly names and new terms (stock jieba's posseg tags most of them as nouns or
    names): Chinese words of two characters or more count unless they start or end with a
    function character, English words count as "eng".
    """
    idf = lexicon.content_idf.get(word)
    if idf is not None:
        return idf
    if word in lexicon.tokenizer.FREQ and lexicon.tokenizer.FREQ[word] > 0:
        return None  # a dictionary word with a function part of speech
    if _LATIN_WORD.match(word):
        return lexicon.median_idf
    if _CJK.search(word) and len(word) >= 2 and not ({word[0], word[-1]} & lexicon.function_chars):
        return lexicon.median_idf
    return None


@cache
def zh_tokenizer() -> Any:
    """The shared jieba tokenizer with the domain dictionary and gazetteer names loaded."""
    return zh_lexicon().tokenizer


def zh_extract_tags(text: str, top_k: int) -> list[str]:
    """jieba's TF-IDF keywords (``extract_tags`` with content parts of speech) on ``zh_lexicon``."""
    lexicon = zh_lexicon()
    counts: dict[str, float] = {}
    for word in lexicon.tokenizer.cut(text):
        if len(word.strip()) < 2 or word.lower() in _TFIDF_STOP_WORDS:
            continue
        if _zh_content_idf(word, lexicon) is None:
            continue
        counts[word] = counts.get(word, 0.0) + 1.0
    total = sum(counts.values())
    weights = {w: c * (_zh_content_idf(w, lexicon) or lexicon.median_idf) / total for w, c in counts.items()}
    return sorted(weights, key=weights.__getitem__, reverse=True)[:top_k]


def _zh_keyphrases(text: str, k: int) -> list[str]:
    words = zh_extract_tags(text, k * 2)
    return [w for w in words if _HAS_LETTER.search(w) and len(w.strip()) > 1][:k]


_EXTRACTORS = threading.local()
# yake's extractor empties its similarity caches every 50 documents; the same here (memory).
_EN_CACHE_DOCUMENTS = 50


@dataclass(slots=True)
class _EnExtractor:
    """yake's extractor (its stop-words and dedup similarity) and how many texts used its caches."""

    yake: Any  # yake.KeywordExtractor
    documents: int = 0


def _en_extractor(top: int) -> _EnExtractor:
    """One yake extractor per thread and ``top``: building one reads its stop-word file (~2 ms a
    story); a reused one keeps a cache of its string similarities, a pure function of the two
    strings (bounded by yake, emptied every 50 texts as yake does), so its keywords are the same
    whatever came before (tests/unit/test_yake_keywords.py)."""
    import yake

    extractors: dict[int, _EnExtractor] = getattr(_EXTRACTORS, "by_top", None) or {}
    _EXTRACTORS.by_top = extractors
    if top not in extractors:
        extractors[top] = _EnExtractor(
            yake.KeywordExtractor(lan="en", n=EN_MAX_WORDS, dedup_lim=EN_DEDUP_LIMIT, top=top)
        )
    return extractors[top]


def _en_keywords(text: str, top: int) -> list[str]:
    """yake's keywords of ``text`` (best first), computed by ``yake_keywords`` (the same output
    at ~1/3 the CPU of ``KeywordExtractor.extract_keywords``; bench/keyphrases.py)."""
    extractor = _en_extractor(top)
    keywords = yake_keywords(
        text,
        stopwords=extractor.yake.stopword_set,
        similarity=extractor.yake.dedup_function,
        max_words=EN_MAX_WORDS,
        dedup_limit=EN_DEDUP_LIMIT,
        top=top,
    )
    extractor.documents += 1
    if extractor.documents % _EN_CACHE_DOCUMENTS == 0:
        extractor.yake.clear_caches()
    return [keyword for keyword, _score in keywords]


def en_keywords_input(text: str) -> str:
    """The text as handed to yake: it splits on straight apostrophes only ("don’t" would yield
    "n’t")."""
    return text.replace("\u2019", "'")


def _en_keyphrases(text: str, k: int) -> list[str]:
    return select_en_phrases(_en_keywords(en_keywords_input(text), k * 3), k)


def select_en_phrases(keywords: list[str], k: int) -> list[str]:
    """Up to ``k`` key phrases from yake's ``k * 3`` keywords (best first)."""
    phrases = list(keywords)
    # A single lower-case word ("industry", "model") is rarely what a reader scans for: names and
    # multi-word phrases go first, order otherwise kept.
    phrases.sort(key=lambda p: " " not in p and p.islower())
    out: list[str] = []
    for phrase in phrases:
        if not _HAS_LETTER.search(phrase) or phrase.lower() in EN_STOP_PHRASES or len(phrase) < 3:
            continue
        if any(phrase.lower() in kept.lower() for kept in out):
            continue  # already covered by a longer phrase
        out.append(phrase)
    return out[:k]


def keyphrases(text: str, language: str, k: int = 8) -> list[str]:
    """Up to ``k`` key phrases of ``text`` (most important first); [] for empty or unsupported text."""
    if not text.strip() or k <= 0:
        return []
    if language == "zh":
        return _zh_keyphrases(text, k)
    if language == "en":
        try:
            return _en_keyphrases(text, k)
        except Exception:
            # yake itself answered [] for any error. Key phrases are optional, so a text that the
            # tokenizer chokes on gets none rather than failing (and dead-lettering) its story.
            _log.warning("no English key phrases: the extractor failed", exc_info=True)
            return []
    return []
