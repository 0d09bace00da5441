"""ingest's side of revised clustering decisions: tell the pipeline (``news.story.revised``) and
keep ingest's own records in step with the index.

``after_assignment`` is the one-article form of what ``Ingestor.emit_many`` does once the
newcomer's own event was published and its story recorded, before the index is saved (the engine
keeps the article in its bulk record of the chunk and calls ``publish_revisions`` itself, after
writing the chunk's records so far, so that the revision reads them). It

1. keeps the newcomer's full article in its ``articles`` document (field ``article``): a later
   revision may make it a story's representative, and only ingest has its text;
2. for each story the index revised (``Assignment.revisions``): publishes one ``StoryRevised``
   with the story's complete member list (rows from the stories' records, else from the stored
   articles), the next revision number of the story and Nats-Msg-Id = hash(story, number,
   members), so a re-sent revision is dropped by the stream;
3. when the story's representative left it, or the story is new (a split), sends its new
   representative through the pipeline again (``news.ingested`` with the stored article, the
   story's members as cluster), because the item's text, analysis and scores came from the
   representative's text (see shared/core/item_revisions.py); it costs one translate, analyze and
   score pass of that story (LLM calls when a model is configured), only for those revisions;
4. records the revision in ingest's stores: the story's members, revision number and
   representative (``stories``), the moved articles' story (``articles``), and the revised
   stories' index state (``story_index``; an ended story's is removed).

Crash safety: everything is published before it is recorded. After a crash in between, the
arrival is assigned again from the saved index, which revises the same stories with the same
numbers and members: the stream drops the repeats (same Nats-Msg-Id).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from services.ingest.index_store import STORY_INDEX, IndexStore
from shared import subjects
from shared.core.clustering import Assignment, StoryIndex
from shared.core.embeddings import encode_vector
from shared.core.story_revisions import StoryRevision
from shared.events import Article, Cluster, StoryEvent, StoryMember, StoryRevised, StoryVector
from shared.pipeline import Outgoing
from shared.storage import ARTICLES, STORIES, MongoStore

log = logging.getLogger("newsroom.ingest")

Publish = Callable[[Outgoing], Awaitable[bool]]
ARTICLE_FIELD = "article"


async def after_assignment(
    store: MongoStore,
    publish: Publish,
    index: StoryIndex,
    index_store: IndexStore | None,
    assignment: Assignment,
    article: Article,
    member: StoryMember,
    now: datetime,
) -> list[StoryRevised]:
    """Keep the article and announce the revisions of this arrival (see the module doc)."""
    await store.upsert(ARTICLES, article.article_id, {ARTICLE_FIELD: article.model_dump(mode="python")})
    if not assignment.revisions:
        return []
    return await publish_revisions(store, publish, index, index_store, assignment.revisions, member, now)


async def publish_revisions(
    store: MongoStore,
    publish: Publish,
    index: StoryIndex,
    index_store: IndexStore | None,
    revisions: Sequence[StoryRevision],
    newcomer: StoryMember,
    now: datetime,
) -> list[StoryRevised]:
    records = {r.story_id: await store.get(STORIES, r.story_id) for r in revisions}
    rows: dict[str, StoryMember] = {newcomer.article_id: newcomer}
    for record in records.values():
        for raw in (record or {}).get("members", []):
            row = StoryMember.model_validate(raw)
            rows.setdefault(row.article_id, row)
    articles: dict[str, Article] = {}

    async def stored_article(article_id: str) -> Article | None:
        if article_id not in articles:
            doc = await store.get(ARTICLES, article_id)
            raw = (doc or {}).get(ARTICLE_FIELD)
            if raw is None:
                return None
            articles[article_id] = Article.model_validate(raw)
            if article_id not in rows:
                joined = doc.get("ingested_at") if doc else None
                rows[article_id] = StoryMember.of(articles[article_id], joined or now)
        return articles.get(article_id)

    events: list[StoryRevised] = []
    for revision in revisions:
        for article_id in revision.members:
            if article_id not in rows:
                await stored_article(article_id)
        record = records[revision.story_id] or {}
        number = int(record.get("revision", 0)) + 1
        previous = record.get("representative") or next(
            (m.get("article_id") for m in record.get("members", [])), None
        )
        representative, rerun_article = None, None
        if not revision.ended:
            if previous in revision.members:
                representative = previous
            else:  # the representative left, or the story is new: the first member with a text
                for article_id in revision.members:
                    found = await stored_article(article_id)
                    if found is not None:
                        representative, rerun_article = article_id, found
                        break
                if representative is None:
                    log.warning(
                        "revised story has no stored article to re-run",
                        extra={"story_id": revision.story_id, "members": list(revision.members)},
                    )
        members = [rows[a] for a in revision.members if a in rows]
        event = StoryRevised(
            story_id=revision.story_id,
            revision=number,
            as_of=now,
            kind=revision.kind,
            member_ids=list(revision.members),
            members=members,
            added=list(revision.added),
            removed=list(revision.removed),
            merged_into=revision.merged_into,
            representative=representative,
            rerun=rerun_article is not None,
            caused_by=newcomer.article_id,
        )
        await publish(Outgoing(subjects.STORY_REVISED, event, event.msg_id()))
        if rerun_article is not None:
            rerun = StoryEvent(
                story_id=revision.story_id,
                article_id=rerun_article.article_id,
                article=rerun_article,
                cluster=Cluster(story_id=revision.story_id, is_new=True, method="new", members=members),
                vector=representative_vector(index, rerun_article.article_id),
            )
            await publish(
                Outgoing(
                    subjects.INGESTED, rerun, f"ingest:rerun:{revision.story_id}:{number}:{representative}"
                )
            )
        events.append(event)
        log.info(
            "story revised",
            extra={
                "story_id": revision.story_id,
                "revision": number,
                "kind": revision.kind,
                "members": len(revision.members),
                "merged_into": revision.merged_into,
                "rerun": rerun_article is not None,
            },
        )
    for event in events:
        await _record(store, index, index_store, event, now)
    return events


async def _record(
    store: MongoStore, index: StoryIndex, index_store: IndexStore | None, event: StoryRevised, now: datetime
) -> None:
    fields: dict[str, Any] = {
        "members": [m.model_dump(mode="python") for m in event.members],
        "revision": event.revision,
        "representative": event.representative,
        "merged_into": event.merged_into,
        "updated_at": now,
    }
    await store.upsert(STORIES, event.story_id, fields)
    for article_id in event.added or event.member_ids:
        await store.upsert(ARTICLES, article_id, {"story_id": event.story_id})
    if index_store is None:
        return
    if event.ended or not index.members(event.story_id):
        await store.collection(STORY_INDEX).delete_one({"_id": event.story_id})
    else:
        await index_store.save_story(index, event.story_id, now)


def representative_vector(index: StoryIndex, article_id: str) -> StoryVector | None:
    """The re-run article's vector as the index keeps it, to travel with the re-sent story (analyze
    tags with it instead of loading the model to embed the story again)."""
    vector = index.member_vector(article_id)
    if vector is None or index.embedder is None:
        return None
    return StoryVector(model=index.embedder.name, dim=int(vector.shape[0]), data=encode_vector(vector))
