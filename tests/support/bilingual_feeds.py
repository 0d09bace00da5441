"""Real bilingual stories as a local feed pair, and how the published items pair them.

``tests/data/bilingual/qwen_blog_stories_dev.jsonl`` (a copy of the real-world dev set): 22 stories,
each published by its authors in English and in Chinese (same post), with same-day releases of one
model family as hard negatives. ``write_feed_pair`` turns it into one English RSS feed, one Chinese
RSS feed and a sources file that ingests them as they are (no page fetch: the feed carries the
text). ``pairing_report`` scores the items that come out: which labelled stories are bilingual,
and any wrong pairing (a title in one language from another story)."""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[2]
QWEN_STORIES = REPO / "tests" / "data" / "bilingual" / "qwen_blog_stories_dev.jsonl"


def load_rows(path: Path = QWEN_STORIES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _published(value: str) -> datetime:
    # One row has an unpadded hour ("2024-08-29T0:24:00+08:00").
    fixed = re.sub(r"T(\d):", r"T0\1:", value)
    return datetime.fromisoformat(fixed)


def _rss(rows: Sequence[Mapping[str, Any]], title: str, language: str) -> str:
    items = []
    for row in rows:
        when = email.utils.format_datetime(_published(row["published"]))
        items.append(
            f"<item><title>{escape(row['title'])}</title><link>{escape(row['url'])}</link>"
            f"<guid>{escape(row['url'])}</guid><description>{escape(row['text'])}</description>"
            f"<pubDate>{when}</pubDate></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://qwenlm.github.io/</link><description>{escape(title)}"
        f"</description><language>{language}</language>{''.join(items)}</channel></rss>"
    )


def write_feed_pair(rows: Sequence[Mapping[str, Any]], folder: Path) -> Path:
    """Write en.rss, zh.rss and sources.yaml into ``folder``; returns the sources file."""
    folder.mkdir(parents=True, exist_ok=True)
    for language, name in (("en", "Qwen blog"), ("zh", "Qwen 博客")):
        chosen = [r for r in rows if r["lang"] == language]
        (folder / f"{language}.rss").write_text(_rss(chosen, name, language), encoding="utf-8")
    (folder / "sources.yaml").write_text(
        "sources:\n"
        + "".join(
            f"  - id: qwen-{language}\n    name: {name}\n    url: {folder / f'{language}.rss'}\n"
            f"    kind: rss\n    language: {language}\n    weight: 1.0\n    full_text: never\n"
            for language, name in (("en", "Qwen blog"), ("zh", "Qwen 博客"))
        ),
        encoding="utf-8",
    )
    return folder / "sources.yaml"


def normal_url(url: str) -> str:
    """An article URL without query, fragment or trailing slash (the labels' key)."""
    return url.split("#")[0].split("?")[0].rstrip("/").lower()


def labels_of_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {normal_url(r["url"]): r["story"] for r in rows}


SAMPLE_LABELS = REPO / "tests" / "data" / "bilingual" / "sample_corpus_stories.json"


def sample_corpus_labels() -> dict[str, str]:
    raw = json.loads(SAMPLE_LABELS.read_text(encoding="utf-8"))
    return {normal_url(url): story for url, story in raw.items() if not url.startswith("_")}


def pairing_report(items: Iterable[Mapping[str, Any]], label_of: Mapping[str, str]) -> dict[str, Any]:
    """How the items pair the labelled stories (``label_of``: article URL -> story).

    An item's text in a language is attributed to the member it comes from (the representative
    for the primary language, ``languages.<lang>.article_id`` otherwise); a story is bilingual
    when one item shows its English and its Chinese article; a story is eligible when it has an
    article in each language; a wrong pairing is an item whose two titles come from different
    stories; an item whose sources span several stories is a wrong merge (clustering's)."""
    items = list(items)
    languages_of: dict[str, set[str]] = {}
    bilingual: set[str] = set()
    wrong_pairings: list[dict[str, Any]] = []
    wrong_merges = 0
    both_titles = both_summaries = 0
    for item in items:
        url_of = {s["article_id"]: s["url"] for s in item.get("sources", [])}
        for source in item.get("sources", []):
            label = label_of.get(normal_url(source["url"]))
            if label:
                languages_of.setdefault(label, set()).add(source["language"])
        labels = {label_of.get(normal_url(u)) for u in url_of.values()} - {None}
        wrong_merges += len(labels) > 1
        title = item.get("title") or {}
        summary = item.get("summary") or {}
        both_titles += bool(title.get("en") and title.get("zh"))
        both_summaries += bool(summary.get("en") and summary.get("zh"))
        origin: dict[str, str | None] = {}
        for language in ("en", "zh"):
            text = (item.get("languages") or {}).get(language) or {}
            if language == item.get("origin_language"):
                article = item.get("representative_article_id")
            elif text.get("origin") == "source":
                article = text.get("article_id")
            else:
                article = None
            origin[language] = label_of.get(normal_url(url_of.get(article or "", "")))
        if origin["en"] and origin["zh"]:
            if origin["en"] == origin["zh"]:
                bilingual.add(origin["en"])
            else:
                wrong_pairings.append({"en": title.get("en"), "zh": title.get("zh")})
    eligible = {label for label, langs in languages_of.items() if {"en", "zh"} <= langs}
    return {
        "stories": len(languages_of),
        "stories_with_both_languages": len(eligible),
        "stories_bilingual": len(bilingual & eligible),
        "share_stories_bilingual": round(len(bilingual & eligible) / len(eligible), 3) if eligible else 0.0,
        "items": len(items),
        "share_items_both_titles": round(both_titles / len(items), 3) if items else 0.0,
        "share_items_both_summaries": round(both_summaries / len(items), 3) if items else 0.0,
        "wrong_pairings": len(wrong_pairings),
        "wrong_pairing_examples": wrong_pairings[:5],
        "items_spanning_several_stories": wrong_merges,
        "not_bilingual": sorted(eligible - bilingual),
    }
