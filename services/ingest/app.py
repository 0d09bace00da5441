"""ingest: polls sources, turns entries into articles, assigns stories and emits
``news.ingested`` (a new story) or ``news.story.joined`` (an article of a known story)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx

from shared import subjects
from shared.events import Article, Cluster, DeadLetter, StoryEvent, StoryMember, stable_id, utcnow
from shared.pipeline import Outgoing, document_publisher, publish_durably
from shared.service import Service, new_service
from shared.settings import Settings
from shared.storage import ARTICLES, STORIES, MongoStore

log = logging.getLogger("newsroom.ingest")


class FeedError(Exception):
    pass


async def read_feed(location: str) -> bytes:
    if location.startswith(("http://", "https://")):
        async with httpx.AsyncClient(timeout=20.0, follow_redirects=True) as client:
            response = await client.get(location)
            response.raise_for_status()
            return response.content
    path = Path(location.removeprefix("file://"))
    return await asyncio.to_thread(path.read_bytes)


def _published(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime(*parsed[:6], tzinfo=UTC)


def articles_from_feed(raw: bytes, location: str, now: datetime) -> list[Article]:
    parsed = feedparser.parse(raw)
    if parsed.bozo and not parsed.entries:
        raise FeedError(f"unparseable feed {location}: {parsed.get('bozo_exception')!r}")
    source_name = parsed.feed.get("title") or location
    source_id = stable_id(location, length=12)
    language = "zh" if str(parsed.feed.get("language", "")).lower().startswith("zh") else "en"
    articles = []
    for entry in parsed.entries:
        url = entry.get("link")
        title = (entry.get("title") or "").strip()
        if not url or not title:
            continue
        canonical = url.strip()
        articles.append(Article(
            article_id=stable_id(canonical), source_id=source_id, source_name=source_name, url=url,
            canonical_url=canonical, title=title, summary=entry.get("summary"), body=None,
            language=language, published_at=_published(entry), fetched_at=now,
        ))
    return articles


async def ingest_article(service: Service, store: MongoStore, article: Article) -> str:
    """Emit the article's event unless it is already known. Publish first, then record: a crash
    in between re-publishes with the same Nats-Msg-Id, which the stream drops."""
    if await store.get(ARTICLES, article.article_id):
        return "known"
    story_id = stable_id("story", article.article_id)
    member = StoryMember(
        article_id=article.article_id, source_id=article.source_id, source_name=article.source_name,
        source_weight=article.source_weight, url=article.url, title=article.title, language=article.language,
        published_at=article.published_at, joined_at=article.fetched_at,
    )
    event = StoryEvent(
        story_id=story_id, article_id=article.article_id, article=article,
        cluster=Cluster(story_id=story_id, is_new=True, method="new", members=[member]),
    )
    await publish_durably(service.broker, Outgoing(subjects.INGESTED, event, f"ingest:{article.article_id}"), "ingest")
    await store.upsert(STORIES, story_id, {"members": [member.model_dump(mode="python")],
                                           "first_seen_at": article.fetched_at})
    await store.upsert(ARTICLES, article.article_id, {"story_id": story_id, "url": article.canonical_url})
    return "new"


async def poll_feed(service: Service, store: MongoStore, location: str) -> dict[str, int]:
    counts = {"new": 0, "known": 0}
    try:
        raw = await read_feed(location)
        articles = articles_from_feed(raw, location, utcnow())
    except (FeedError, OSError, httpx.HTTPError) as exc:
        letter = DeadLetter(stage="ingest", subject="source", error_type=type(exc).__name__, error=str(exc),
                            deliveries=1, payload=location)
        await publish_durably(service.broker, Outgoing(subjects.dlq("ingest"), letter,
                                                       f"dlq:ingest:{location}:{utcnow():%Y%m%d%H}"), "ingest")
        log.error("feed failed", extra={"feed": location, "error": str(exc)[:300]})
        return counts
    for article in articles:
        counts[await ingest_article(service, store, article)] += 1
    return counts


def build(settings: Settings | None = None) -> Service:
    service = new_service("ingest", settings)
    store = service.store
    assert store is not None
    feeds: Sequence[str] = service.settings.ingest.feed_list

    async def poll_forever() -> None:
        while True:
            for location in feeds:
                counts = await poll_feed(service, store, location)
                log.info("feed polled", extra={"feed": location, **counts})
            if not service.settings.ingest.poll:
                return
            await asyncio.sleep(service.settings.ingest.poll_interval_s)

    service.background.append(poll_forever)
    document_publisher(service.broker, subjects.INGESTED, "A new story's first article", StoryEvent)
    document_publisher(service.broker, subjects.STORY_JOINED, "An article that joined a known story", StoryEvent)
    return service
