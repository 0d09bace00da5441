"""Key phrases: jieba TF-IDF with a domain dictionary for Chinese, yake for English.

jieba runs on a private ``Tokenizer`` (not the process-wide ``jieba.dt``) so that the domain words
added here do not change segmentation elsewhere; it is built once per process, with its cache in
the system temp dir (the package dir may be read-only) and its start-up log silenced.
"""

from __future__ import annotations

import logging
import re
import tempfile
from functools import cache
from typing import Any

from shared.core.entities import load_gazetteer
from shared.core.taxonomy import read_data_text

DOMAIN_DICT_FILE = "jieba_dict.txt"
# Words that TF-IDF ranks high in news but that say nothing about the story.
ZH_STOP_WORDS = frozenset(
    """表示 公司 今年 目前 已经 进行 相关 方面 成为 可以 以及 通过 提供 实现 其中 同时 此前 此次
    未来 当前 记者 报道 消息 获悉 据悉 透露 显示 认为 指出 称 宣布 计划 推动 开展 发布 推出 一家 一款
    一种 一项 这一 该公司 旗下 人士 知情人士 周二 周一 周三 周四 周五 周六 周日 上午 下午 今天 昨天 明年
    去年 多个 数百万 数十万 首个 首款 新一代 新款 新版 最新 全新 进一步 大幅 显著 明显 超过 达到 约 近
    AI ai 人工智能""".split()
)
EN_STOP_PHRASES = frozenset({"ai", "artificial intelligence", "company", "companies", "said", "says"})
_HAS_LETTER = re.compile(r"[A-Za-z\u3400-\u9fff]")


@cache
def _zh_extractor() -> Any:
    import jieba
    import jieba.analyse
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = tempfile.gettempdir()
    tokenizer.initialize()
    for line in read_data_text(DOMAIN_DICT_FILE).splitlines():
        parts = line.split()
        if parts:
            freq = int(parts[1]) if len(parts) > 1 else None
            tokenizer.add_word(parts[0], freq=freq, tag=parts[2] if len(parts) > 2 else None)
    for entity in load_gazetteer().entities.values():
        for alias in entity.aliases:
            if re.search(r"[\u3400-\u9fff]", alias) and len(alias) >= 2:
                tokenizer.add_word(alias, freq=2000, tag="nr" if entity.kind == "person" else "nt")
    extractor = jieba.analyse.TFIDF()
    extractor.tokenizer = tokenizer
    extractor.postokenizer = jieba.posseg.POSTokenizer(tokenizer)
    extractor.stop_words = set(extractor.stop_words) | ZH_STOP_WORDS
    return extractor


@cache
def zh_tokenizer() -> Any:
    """The shared jieba tokenizer with the domain dictionary and gazetteer names loaded."""
    return _zh_extractor().tokenizer


def _zh_keyphrases(text: str, k: int) -> list[str]:
    extractor = _zh_extractor()
    # Nouns, names, verbal nouns and English words: content, not function words.
    words = extractor.extract_tags(
        text, topK=k * 2, allowPOS=("n", "nr", "ns", "nt", "nz", "nrt", "vn", "eng", "l")
    )
    return [w for w in words if _HAS_LETTER.search(w) and len(w.strip()) > 1][:k]


def _en_keyphrases(text: str, k: int) -> list[str]:
    import yake

    extractor = yake.KeywordExtractor(lan="en", n=3, dedup_lim=0.7, top=k * 3)
    # yake splits on straight apostrophes only: "don’t" would yield "n’t".
    phrases = [kw for kw, _score in extractor.extract_keywords(text.replace("\u2019", "'"))]
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
        return _en_keyphrases(text, k)
    return []
