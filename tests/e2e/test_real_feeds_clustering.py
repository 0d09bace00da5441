"""Real feeds through the whole pipeline (`newsroom up --once FEED,...` as processes on a real
nats-server and nx-27017, embeddings on, no language model): the merges and summaries a reader
audit found on the 13 real feeds do not come back.

- OpenAI's feed (its first 22 entries): "Measuring AI's capability to accelerate biological
  research", "Advancing science and math with GPT-5.2", "Update to GPT-5 System Card: GPT-5.2" and
  "Introducing GPT-5.2" were one item ("Plus 3 copies of the same text"); now four. The same post
  at two URLs ("Introducing GPT-5.2-Codex") is still one item.
- AIbase's daily digests (first 10) and Anthropic's news: "AI日报：Claude推出Claude Design；…" was
  the Chinese side of "Introducing Claude Design"; digests of different days were one item. Now
  every digest is an item of its own.
- Hacker News (first 10): every item's summary was the feed's "Score: … Comments: … By: …"; now
  no summary, with the reason, and the counters still count as engagement.

Nothing lost, nothing doubled: every entry is a source of exactly one item."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from services.ingest.articles import identify
from tests.e2e import test_real_feeds_titles as real_feeds
from tests.e2e.test_real_feeds_titles import REAL_FEEDS, entry_urls, ingested_stories, trimmed_feed
from tests.support.stack import Stack

pytestmark = pytest.mark.slow
# The titles test's ``stack`` fixture (the pipeline as `newsroom up --once FEED,...` runs it), on the
# feeds of this module's ``trimmed_feeds``.
real_feeds_stack = real_feeds.stack

FEEDS = {
    "en_rssminer_openai.xml": 22,
    "zh_ainewsdirect_aibase_daily.xml": 10,
    "en_ainewsdirect_anthropic_news.xml": 13,
    "en_ainewsdirect_hackernews_best_stories.xml": 10,
}
OPENAI_WEEK = (
    "Measuring AI’s capability to accelerate biological research",
    "Advancing science and math with GPT-5.2",
    "Update to GPT-5 System Card: GPT-5.2",
    "Introducing GPT-5.2",
)


@pytest.fixture()
def trimmed_feeds(tmp_path: Path) -> list[Path]:
    """These feeds, trimmed (overrides the fixture of the same name that ``stack`` uses)."""
    folder = tmp_path / "feeds"
    folder.mkdir()
    out = []
    for name, keep in FEEDS.items():
        raw = (REAL_FEEDS / name).read_bytes()
        short = trimmed_feed(raw, keep)
        assert entry_urls(short) == entry_urls(raw)[:keep], name
        (folder / name).write_bytes(short)
        out.append(folder / name)
    return out


def test_distinct_posts_digests_and_aggregator_entries_stay_apart(
    real_feeds_stack: Stack, trimmed_feeds: list[Path]
) -> None:
    expected = {identify(url).article_id for path in trimmed_feeds for url in entry_urls(path.read_bytes())}
    # Once drained no stage can emit or write anything more (each acks after handing on).
    real_feeds_stack.wait_drained(timeout_s=280.0)
    items = list(real_feeds_stack.mongo().items.find({}))
    _, articles = ingested_stories(real_feeds_stack)
    assert articles == expected, sorted(expected ^ articles)[:10]
    # Nothing lost, nothing doubled: every article is a source of exactly one item.
    sources = Counter(s["article_id"] for item in items for s in item["sources"])
    doubled = {
        a: [i["_id"] for i in items if any(s["article_id"] == a for s in i["sources"])]
        for a, n in sources.items()
        if n > 1
    }
    assert set(sources) == expected and not doubled, doubled

    home = {s["title"]: item["_id"] for item in items for s in item["sources"]}
    assert len({home[title] for title in OPENAI_WEEK}) == 4, {t: home[t] for t in OPENAI_WEEK}
    codex = [item for item in items if item["title"].get("en") == "Introducing GPT-5.2-Codex"]
    assert len(codex) == 1 and len(codex[0]["sources"]) == 2

    digests = [item for item in items if any(s["title"].startswith("AI日报：") for s in item["sources"])]
    assert len(digests) == FEEDS["zh_ainewsdirect_aibase_daily.xml"]
    assert all(len(item["sources"]) == 1 for item in digests)

    hacker_news = [
        item for item in items if any(s["source_name"] == "Hackernews Best Stories" for s in item["sources"])
    ]
    assert hacker_news
    for item in hacker_news:
        assert not item["summary"].get("en"), item["summary"]
        assert "no sentence to summarise" in item["analysis_state"]["reason"]
        assert item["scores"]["hot"]["components"]["engagement"] > 0
