"""ingest's side of revised clustering decisions: tell the pipeline (``news.story.revised``) and
keep ingest's own records in step with the index.

``after_assignment`` is the one-article form of what ``Ingestor.emit_many`` does once the
newcomer's own event was published (the engine keeps the article in its bulk record of the chunk
and calls ``publish_revisions`` itself, with its pending records as ``RevisionRecords``: the
revision reads them and adds to them, and they are written with the chunk's). It

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
4. records the revision in ingest's stores: the story's members, revision number, representative
   and the arrival that caused it (``stories``), the moved articles' story (``articles``), and the
   revised stories' index state (``story_index``; an ended story's is removed).

Crash safety: everything is published before it is recorded, and the newcomer's own record (its
"known" mark) is written only after its revisions were announced. After a crash in between, the
arrival is assigned again from the saved index, which revises the same stories with the same
numbers and members: the stream drops the repeats (same Nats-Msg-Id). A story whose record already
holds this arrival's revision (a crash between two of the chunk's bulk writes) announces it under
the same number again, not under the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

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
# In a story's record: the arrival that caused its last revision and the members it left.
LAST_REVISION_FIELD = "last_revision"


class RevisionRecords(Protocol):
    """Where ``publish_revisions`` reads the stories' and articles' records and records a revision."""

    async def story(self, story_id: str) -> dict[str, Any] | None: ...

    async def article(self, article_id: str) -> dict[str, Any] | None: ...

    async def record(self, event: StoryRevised, now: datetime) -> None: ...


class StoredRecords:
    """The records as stored; a revision is written at once (stories, articles, index state)."""

    def __init__(self, store: MongoStore, index: StoryIndex, index_store: IndexStore | None) -> None:
        self.store, self.index, self.index_store = store, index, index_store

    async def story(self, story_id: str) -> dict[str, Any] | None:
        return await self.store.get(STORIES, story_id)

    async def article(self, article_id: str) -> dict[str, Any] | None:
        return await self.store.get(ARTICLES, article_id)

    async def record(self, event: StoryRevised, now: datetime) -> None:
        await _record(self.store, self.index, self.index_store, event, now)


def story_fields(event: StoryRevised, now: datetime) -> dict[str, Any]:
    """What a revision sets in its story's record (members as rows, to be dumped when written)."""
    return {
        "members": list(event.members),
        "revision": event.revision,
        "representative": event.representative,
        "merged_into": event.merged_into,
        LAST_REVISION_FIELD: {"caused_by": event.caused_by, "member_ids": list(event.member_ids)},
        "updated_at": now,
    }


def revision_number(record: dict[str, Any], revision: StoryRevision, newcomer: str) -> int:
    """The story's next revision number; the recorded one when the record already holds this very
    revision (same arrival, same members: recorded before a crash, so announced before it too)."""
    last = int(record.get("revision", 0))
    this = {"caused_by": newcomer, "member_ids": list(revision.members)}
    return last if last and record.get(LAST_REVISION_FIELD) == this else last + 1


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
    kept: RevisionRecords | None = None,
) -> list[StoryRevised]:
    """Announce ``revisions`` (caused by ``newcomer``'s arrival) and record them in ``kept``
    (default: written to ``store`` at once)."""
    kept = kept or StoredRecords(store, index, index_store)
    records = {r.story_id: await kept.story(r.story_id) for r in revisions}
    rows: dict[str, StoryMember] = {newcomer.article_id: newcomer}
    for record in records.values():
        for raw in (record or {}).get("members", []):
            row = raw if isinstance(raw, StoryMember) else StoryMember.model_validate(raw)
            rows.setdefault(row.article_id, row)
    articles: dict[str, Article] = {}

    async def stored_article(article_id: str) -> Article | None:
        if article_id not in articles:
            doc = await kept.article(article_id)
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
        number = revision_number(record, revision, newcomer.article_id)
        previous = record.get("representative") or next(
            (
                m.article_id if isinstance(m, StoryMember) else m.get("article_id")
                for m in record.get("members", [])
            ),
            None,
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
        await kept.record(event, now)
    return events


async def _record(
    store: MongoStore, index: StoryIndex, index_store: IndexStore | None, event: StoryRevised, now: datetime
) -> None:
    fields = story_fields(event, now)
    fields["members"] = [m.model_dump(mode="python") for m in event.members]
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
