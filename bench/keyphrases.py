"""English key phrases: yake's ``KeywordExtractor.extract_keywords`` (before) against
``shared.core.yake_keywords`` (after, what ``keyphrases`` uses), on every English text we have.

Texts: the English articles of the 11 real English feeds (as ingest builds them: title + body or
summary), the English Qwen blog posts, the 125 WMT English references (all
``../shared/data/real-world/``), the English article bodies of the extraction benchmark
(``../shared/data/article-extraction-benchmark/``, long pages) and the bench corpora written for
this project (tagging, clustering and scoring sets, the sample corpus feeds).

Reports, per set: texts, how many give identical yake keywords (the top ``k * 3`` = 24, strings
and order), identical scores, identical key phrases (``keyphrases(text, "en")``), the differences;
the same through three shuffled orders (the result of a text must not depend on the texts before
it); CPU ms per text before and after, alternated in the same run (``--rounds``); the Chinese
key-phrase cost on the real Chinese texts for comparison. Load average printed with the timings.

    .venv/bin/python bench/keyphrases.py [--rounds 3] [--data ../shared/data]

Prints JSON. Speeds depend on the machine and its load; identity counts do not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent.parent / "shared" / "data"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
K = 8  # keyphrases' default: 8 phrases from yake's 24 keywords


def feed_texts(path: Path, kind: str = "rss") -> list[tuple[str, str]]:
    """(language, title + body or summary) of each article of a feed, as ingest builds it."""
    from services.ingest.articles import build_article, identify
    from shared.core.feeds import is_teaser, parse_feed
    from shared.sources import Source

    source = Source(id="bench", name=path.stem, url="https://feeds.invalid/feed.xml")
    parsed = parse_feed(path.read_bytes(), kind, base_url="https://feeds.invalid/", now=NOW)
    out: list[tuple[str, str]] = []
    for entry in parsed.entries:
        article = build_article(
            source, entry, identify(entry.url), NOW, teaser=is_teaser(entry), feed_language=parsed.language
        )
        body = article.body or article.summary
        out.append((article.language, f"{article.title}\n{body}" if body else article.title))
    return out


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def load_texts(data: Path) -> dict[str, list[str]]:
    """English texts by set; Chinese real texts under "zh (real)"."""
    from shared.core.language import detect_language

    real = data / "real-world"
    sets: dict[str, list[str]] = {"real feeds": [], "qwen blog": [], "wmt": [], "extraction pages": []}
    zh: list[str] = []
    for path in sorted((real / "feeds").glob("*.xml")):
        for language, text in feed_texts(path):
            (sets["real feeds"] if language == "en" else zh if language == "zh" else []).append(text)
    for row in jsonl(real / "qwen_blog_stories_dev.jsonl"):
        (sets["qwen blog"] if row["lang"] == "en" else zh).append(f"{row['title']}\n{row['text']}")
    for row in jsonl(real / "wmt_zh_en_dev.jsonl"):
        sets["wmt"].append(row["en"])
        zh.append(row["zh"])
    pages = json.loads((data / "article-extraction-benchmark" / "ground-truth.json").read_text("utf-8"))
    for page in pages.values():
        body = page.get("articleBody") or ""
        if body.strip() and detect_language(body) == "en":
            sets["extraction pages"].append(body)
    ours: list[str] = []  # written for this project (fictional or composite)
    tests = REPO / "tests" / "data"
    for row in jsonl(tests / "tagging" / "items.jsonl") + jsonl(tests / "clustering" / "articles.jsonl"):
        if row.get("language") == "en":
            ours.append(f"{row['title']}\n{row.get('lead') or ''}".strip())
    for row in jsonl(tests / "scoring" / "stories.jsonl"):
        if row.get("language") == "en":
            ours.append(f"{row['title']}\n{row['body']}")
    corpus = REPO / "shared" / "sample_corpus" / "feeds"
    for name, kind in (("aiwire.rss", "rss"), ("techdaily.atom", "rss"), ("regional-roundup.rss", "rss")):
        ours += [text for language, text in feed_texts(corpus / name, kind) if language == "en"]
    sets["bench corpora (ours)"] = ours
    sets["zh (real)"] = zh
    return sets


def cpu_ms_per_text(function: Callable[[str], object], texts: list[str]) -> float:
    start = time.process_time()
    for text in texts:
        function(text)
    return (time.process_time() - start) * 1000 / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import yake

    from shared.core.keyphrases import (
        EN_DEDUP_LIMIT,
        EN_MAX_WORDS,
        en_keywords_input,
        keyphrases,
        select_en_phrases,
        zh_lexicon,
    )
    from shared.core.yake_keywords import yake_keywords, yake_reference

    sets = load_texts(args.data)
    zh_texts = sets.pop("zh (real)")
    reference = yake.KeywordExtractor(lan="en", n=EN_MAX_WORDS, dedup_lim=EN_DEDUP_LIMIT, top=K * 3)
    lean = yake.KeywordExtractor(lan="en", n=EN_MAX_WORDS, dedup_lim=EN_DEDUP_LIMIT, top=K * 3)

    def before(text: str) -> list[str]:  # what keyphrases did before: yake's extractor
        return select_en_phrases([kw for kw, _ in reference.extract_keywords(en_keywords_input(text))], K)

    def after(text: str) -> list[str]:
        return keyphrases(text, "en", K)

    identity: dict[str, Any] = {}
    differences: list[dict[str, Any]] = []
    for name, texts in sets.items():
        same_keywords = same_scores = same_phrases = 0
        for text in texts:
            expected = yake_reference(reference, en_keywords_input(text))
            got = yake_keywords(
                en_keywords_input(text),
                stopwords=lean.stopword_set,
                similarity=lean.dedup_function,
                max_words=EN_MAX_WORDS,
                dedup_limit=EN_DEDUP_LIMIT,
                top=K * 3,
            )
            same_keywords += [kw for kw, _ in expected] == [kw for kw, _ in got]
            same_scores += expected == got
            phrases_before, phrases_after = before(text), after(text)
            same_phrases += phrases_before == phrases_after
            if expected != got or phrases_before != phrases_after:
                differences.append({"set": name, "text": text[:80], "yake": expected[:5], "lean": got[:5]})
        identity[name] = {
            "texts": len(texts),
            "identical_keywords_top24": same_keywords,
            "identical_scores": same_scores,
            "identical_keyphrases_top8": same_phrases,
        }
    every = [text for texts in sets.values() for text in texts]
    canonical = {text: after(text) for text in every}
    shuffled_identical = []
    for seed in (1, 2, 3):
        order = list(every)
        random.Random(seed).shuffle(order)
        shuffled_identical.append(sum(after(text) == canonical[text] for text in order))

    news = [text for name, texts in sets.items() if name != "extraction pages" for text in texts]
    pages = sets["extraction pages"]
    timings: dict[str, list[float]] = {
        "before_news": [],
        "after_news": [],
        "before_pages": [],
        "after_pages": [],
    }
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):  # alternated, so a change of load hits both
        timings["before_news"].append(cpu_ms_per_text(before, news))
        timings["after_news"].append(cpu_ms_per_text(after, news))
        timings["before_pages"].append(cpu_ms_per_text(before, pages))
        timings["after_pages"].append(cpu_ms_per_text(after, pages))
        loads.append(os.getloadavg()[0])
    median = {key: round(statistics.median(values), 3) for key, values in timings.items()}

    start = time.process_time()
    zh_lexicon()
    zh_load_s = time.process_time() - start
    zh_ms = [cpu_ms_per_text(lambda text: keyphrases(text, "zh", K), zh_texts) for _ in range(args.rounds)]

    print(
        json.dumps(
            {
                "benchmark": "keyphrases",
                "identity": identity,
                "texts": len(every),
                "identical_keywords_top24": sum(v["identical_keywords_top24"] for v in identity.values()),
                "identical_scores": sum(v["identical_scores"] for v in identity.values()),
                "identical_keyphrases_top8": sum(v["identical_keyphrases_top8"] for v in identity.values()),
                "differences": differences[:10],
                "shuffled_orders_identical": shuffled_identical,
                "en_cpu_ms_per_text": median,
                "en_cpu_ms_per_text_rounds": {k: [round(v, 3) for v in vs] for k, vs in timings.items()},
                "en_speedup_news": round(median["before_news"] / median["after_news"], 2),
                "en_speedup_pages": round(median["before_pages"] / median["after_pages"], 2),
                "en_texts_timed": {"news": len(news), "pages": len(pages)},
                "en_chars_mean": {
                    "news": round(statistics.mean(map(len, news))),
                    "pages": round(statistics.mean(map(len, pages))),
                },
                "zh_texts": len(zh_texts),
                "zh_cpu_ms_per_text": round(statistics.median(zh_ms), 3),
                "zh_lexicon_load_cpu_s": round(zh_load_s, 2),
                "load_average_1min": loads,
            },
            indent=1,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
