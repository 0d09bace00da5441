"""English key phrases computed by shared/core/yake_keywords.py give exactly yake's keywords and
scores (yake itself is the reference), on real texts written by no one on this project: the 11
English feeds (tests/data/real_feeds), the English Qwen blog posts, the WMT English references and
the extraction benchmark's English article bodies (copies of ../shared/data/). Also: the result
of a text does not depend on which texts came before it (the similarity caches), and the edge
cases (empty, apostrophes, very long, not English, only stop-words) agree with yake too."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from services.ingest.articles import build_article, identify
from shared.core.feeds import is_teaser, parse_feed
from shared.core.keyphrases import EN_DEDUP_LIMIT, EN_MAX_WORDS, keyphrases
from shared.core.language import detect_language
from shared.core.yake_keywords import yake_keywords, yake_reference
from shared.sources import Source

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
TOP = 24  # what keyphrases asks for with its default k=8 (k * 3)


def _feed_texts() -> list[str]:
    texts = []
    for path in sorted((DATA / "real_feeds").glob("en_*.xml")):
        source = Source(id="real-feed", name=path.stem, url="https://feeds.invalid/feed.xml")
        parsed = parse_feed(path.read_bytes(), "rss", base_url="https://feeds.invalid/", now=NOW)
        for entry in parsed.entries:
            article = build_article(
                source,
                entry,
                identify(entry.url),
                NOW,
                teaser=is_teaser(entry),
                feed_language=parsed.language,
            )
            body = article.body or article.summary
            if article.language == "en":
                texts.append(f"{article.title}\n{body}" if body else article.title)
    return texts


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@cache
def real_english_texts() -> tuple[str, ...]:
    """analyze's input (title + body) for every English article of the real data in tests/data."""
    texts = _feed_texts()
    texts += [
        f"{r['title']}\n{r['text']}"
        for r in _jsonl(DATA / "bilingual" / "qwen_blog_stories_dev.jsonl")
        if r["lang"] == "en"
    ]
    texts += [r["en"] for r in _jsonl(DATA / "embedding" / "wmt_zh_en_dev.jsonl")]
    pages = json.loads((DATA / "extraction" / "ground-truth.json").read_text("utf-8"))
    texts += [
        p["articleBody"]
        for p in pages.values()
        if p["articleBody"].strip() and detect_language(p["articleBody"]) == "en"
    ]
    return tuple(text.replace("\u2019", "'") for text in texts)  # as keyphrases hands them over


def new_extractor() -> Any:
    import yake

    return yake.KeywordExtractor(lan="en", n=EN_MAX_WORDS, dedup_lim=EN_DEDUP_LIMIT, top=TOP)


def lean(
    text: str, extractor: Any, max_words: int = EN_MAX_WORDS, dedup: float = EN_DEDUP_LIMIT, top: int = TOP
) -> list[tuple[str, float]]:
    return yake_keywords(
        text,
        stopwords=extractor.stopword_set,
        similarity=extractor.dedup_function,
        max_words=max_words,
        dedup_limit=dedup,
        top=top,
    )


def test_the_real_corpus_is_all_there() -> None:
    # 11 feeds, 22 Qwen posts, 125 WMT references, the extraction pages in English.
    assert len(real_english_texts()) > 300


def test_same_keywords_order_and_scores_as_yake_on_every_real_english_text() -> None:
    reference, extractor = new_extractor(), new_extractor()
    differing = [
        (text[:60], expected[:3], got[:3])
        for text in real_english_texts()
        if (expected := yake_reference(reference, text)) != (got := lean(text, extractor))
    ]
    assert differing == []


def test_result_of_a_text_does_not_depend_on_the_texts_before_it() -> None:
    texts = real_english_texts()[::4]
    alone = {text: lean(text, new_extractor()) for text in texts}  # a fresh extractor each
    by_order = []
    for seed in (1, 2):
        shuffled = list(texts)
        random.Random(seed).shuffle(shuffled)
        extractor = new_extractor()  # one through all: its similarity caches fill up
        assert [lean(text, extractor) for text in shuffled] == [alone[text] for text in shuffled]
        # keyphrases' own per-thread extractors, which empty their caches every 50 texts
        by_order.append({text: keyphrases(text, "en") for text in shuffled})
    assert by_order[0] == by_order[1]


EDGE_CASES = {
    "empty": "",
    "blank": "   \n\t ",
    "straight apostrophes": "Don't panic: OpenAI's model isn't Anthropic's. It's the users' choice, "
    "and the company's rivals won't say they'd do otherwise.",
    "only stop-words": "the and of it is that we were they would have been so very much",
    "only punctuation and digits": "... 2026 -- 3.5 %, 1,000 / 42 !!!",
    "one word": "Nvidia",
    # a WMT sentence (tests/data/embedding)
    "chinese given as english": "本周，中国海关总署公布的统计数据显示，"
    "今年前7个月，中国进出口总值13.21万亿元人民币。",
    "mixed scripts": "华为 released HarmonyOS NEXT; 华为的 Ascend 910C chips compete with Nvidia H20.",
    "repeated word": "AI AI AI AI agents agents AI agents.",
    "urls and handles": "Read https://example.invalid/a?b=c and ping @openai or #GPT5 at noon.",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_agree_with_yake(name: str) -> None:
    text = EDGE_CASES[name]
    assert lean(text, new_extractor()) == yake_reference(new_extractor(), text)


def test_very_long_text_agrees_with_yake() -> None:
    # real texts in one: thousands of words, hundreds of sentences.
    text = "\n".join(sorted(real_english_texts(), key=len)[-12:])
    assert len(text.split()) > 5_000
    expected = yake_reference(new_extractor(), text)
    assert expected and lean(text, new_extractor()) == expected


def test_edge_cases_through_keyphrases() -> None:
    assert keyphrases("", "en") == [] and keyphrases(" \n", "en") == []
    assert keyphrases(EDGE_CASES["only stop-words"], "en") == []
    assert keyphrases(EDGE_CASES["only punctuation and digits"], "en") == []
    # yake splits on straight apostrophes only; curly ones are straightened first.
    curly = keyphrases("Nvidia doesn’t expect Blackwell shipments to slow, Nvidia’s CFO said.", "en")
    assert curly and not any("’" in p or p.startswith("n'") for p in curly)
    assert "Nvidia" in " ".join(curly)


def test_other_settings_agree_with_yake() -> None:
    import yake

    for n, dedup, top in ((1, 0.9, 10), (2, 0.5, 40), (3, 1.0, 15)):  # 1.0: no deduplication
        reference = yake.KeywordExtractor(lan="en", n=n, dedup_lim=dedup, top=top)
        extractor = yake.KeywordExtractor(lan="en", n=n, dedup_lim=dedup, top=top)
        for text in real_english_texts()[::25]:
            got = lean(text, extractor, n, dedup, top)
            assert got == yake_reference(reference, text), (n, dedup, top, text[:60])


def test_an_extractor_failure_gives_no_phrases_instead_of_failing_the_story(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # yake answered [] for any error; the reimplementation must not turn a tokenizer failure on one
    # odd text into an exception that dead-letters the whole story.
    import shared.core.keyphrases as module

    def broken(*_args: object, **_kwargs: object) -> list[tuple[str, float]]:
        raise ValueError("tokenizer failed")

    monkeypatch.setattr(module, "yake_keywords", broken)
    assert keyphrases("OpenAI released a new reasoning model for enterprise customers.", "en") == []
