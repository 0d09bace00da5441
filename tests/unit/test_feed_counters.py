"""An aggregator's counters (Hacker News "Score / Comments", hnrss "Points / # Comments") become the
entry's engagement, which Hot reads; prose is never mined for numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.core.feeds import counters_engagement, is_metadata_only, parse_feed

FEEDS = Path(__file__).resolve().parents[1] / "data" / "real_feeds"  # copies of the real feeds
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _feed(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def test_every_hacker_news_entry_carries_its_score_and_comments() -> None:
    raw = _feed("en_ainewsdirect_hackernews_best_stories.xml")
    # The counters as the feed's own text states them, read independently of the parser.
    stated = [
        (int(score), int(comments))
        for score, comments in re.findall(rb"Score: (\d+)&lt;br/&gt;Comments: (\d+)", raw)
    ]
    entries = parse_feed(raw, "rss", base_url="https://hn.example/", now=NOW).entries
    assert len(entries) == len(stated) == 50
    got = [(e.engagement.likes, e.engagement.comments) for e in entries if e.engagement]
    assert got == stated
    assert entries[0].engagement is not None and entries[0].engagement.likes == 3421


@pytest.mark.parametrize(
    "name",
    [
        "en_ainewsdirect_anthropic_news.xml",
        "en_ainewsdirect_deepseek_news.xml",
        "en_rssminer_openai.xml",
        "zh_36kr_2016.xml",
        "zh_ainewsdirect_aibase_daily.xml",
    ],
)
def test_feeds_of_prose_get_no_invented_counters(name: str) -> None:
    entries = parse_feed(_feed(name), "rss", base_url="https://x.example/", now=NOW).entries
    assert entries
    assert all(e.engagement is None for e in entries)


def test_hnrss_points_and_hash_comments() -> None:
    text = "\n".join(
        [
            "Article URL: https://a.example/x",
            "Comments URL: https://hn.example/item?id=1",
            "Points: 1,204",
            "# Comments: 45",
        ]
    )
    assert is_metadata_only(text)
    engagement = counters_engagement(text)
    assert engagement is not None
    assert (engagement.likes, engagement.comments, engagement.views) == (1204, 45, None)


@pytest.mark.parametrize(
    "text",
    [
        "Score: 12\nThe model beats the baseline on every benchmark we ran.",  # prose: not read
        "Update: 3",  # a label we do not know
        "By: someone\nDiscussion: https://hn.example/item?id=1",  # metadata without counters
        "",
    ],
)
def test_no_counter_is_read_outside_a_metadata_block(text: str) -> None:
    assert counters_engagement(text) is None


@pytest.mark.parametrize(
    ("text", "likes"),
    [
        ("Score: 99999999999999999999999\nBy: someone", None),  # would overflow MongoDB's int64
        ("Score: ²³\nBy: someone", None),  # unicode digits are not a count
        ("Score: 1,000,000\nBy: someone", 1_000_000),
    ],
)
def test_a_hostile_counter_is_dropped_not_stored(text: str, likes: int | None) -> None:
    engagement = counters_engagement(text)
    assert (engagement.likes if engagement else None) == likes


def test_a_hostile_slash_comments_count_does_not_break_the_feed() -> None:
    rss = """<?xml version="1.0"?><rss version="2.0" xmlns:slash="http://purl.org/rss/1.0/modules/slash/">
<channel><title>t</title>
<item><title>One</title><link>https://a.example/1</link><slash:comments>²</slash:comments></item>
<item><title>Two</title><link>https://a.example/2</link><slash:comments>99999999999999999999999</slash:comments></item>
<item><title>Three</title><link>https://a.example/3</link><slash:comments>12</slash:comments></item>
</channel></rss>""".encode()
    entries = parse_feed(rss, "rss", base_url="https://a.example/", now=NOW).entries
    assert [e.title for e in entries] == ["One", "Two", "Three"]
    assert [e.engagement.comments if e.engagement else None for e in entries] == [None, None, 12]
