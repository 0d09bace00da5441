"""How publish writes the search postings (services/publish/search_index.py: one ``update_many``
per story for the buckets its process knows to exist, an upsert for the others) on a real
nx-27017, over items made from real texts (tests/data: 36Kr, Hacker News, lab blogs, the Qwen
blog's bilingual posts): the same postings, term lists and search pages as a filing made of
upserts only (what publish wrote before), with two publishers side by side, after a crash
between the filing steps and its redelivery, and when a known bucket is gone."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from services.publish.batching import CoalescingStore
from services.publish.queries import ItemFilter, ItemQueries
from services.publish.search_index import ITEM_TERMS, POSTINGS, TERM_VERSIONS, SearchIndex, posting_key
from shared.core.entities import find_entities
from shared.core.tagging import load_taxonomy
from shared.events import Entity, Tag
from shared.items import Item
from shared.storage import ITEMS, SEARCH_SORT, MongoStore
from tests.integration.test_search_index import NOW, dumped
from tests.support.items import as_document, make_item

DATA = Path(__file__).resolve().parents[1] / "data"
QUERIES = [
    "OpenAI",
    "model",
    "models agents",
    "Qwen",
    "通义千问",
    "模型",
    "智能手机",
    "创始人",
    "AI 模型",
    "Qwen 模型",
    "GPU",
    "chip",
    "开源",
]
FILTERS = [None, ItemFilter(tag="model-release"), ItemFilter(tag="agent"), ItemFilter(entity="openai")]


def real_items() -> list[Item]:
    """Items as publish stores them, from real texts: 36Kr (zh) and English feeds (title, lead),
    and the Qwen blog's posts with their English and Chinese versions as one bilingual item. Tags
    as labelled for the scoring set (taxonomy labels), entities as the gazetteer finds them."""
    taxonomy = load_taxonomy()
    rng = random.Random(19)

    def labelled(tag_ids: Sequence[str]) -> list[Tag]:
        found = [taxonomy.get(tag_id) for tag_id in tag_ids]
        return [Tag(id=t.id, en=t.en, zh=t.zh, source="local") for t in found if t is not None]

    def entities(text: str) -> list[Entity]:
        return [Entity(id=e.id, en=e.en, zh=e.zh, kind=e.kind, source="local") for e in find_entities(text)]

    items = []
    rows = [
        json.loads(line) for line in (DATA / "scoring" / "real_items.jsonl").read_text("utf-8").splitlines()
    ]
    for row in rows[::4]:
        content = row["content"]
        language = content["language"]
        title, lead = content["title"], content["body"][:400]
        items.append(
            make_item(
                f"real-{row['article_id']}",
                now=NOW,
                origin_language=language,
                title_en=title if language == "en" else None,
                title_zh=title if language == "zh" else None,
                summary_en=lead if language == "en" else None,
                summary_zh=lead if language == "zh" else None,
                tags=(),
                entities=entities(f"{title}\n{lead}"),
                hot=rng.choice([None, *range(10, 90, 7)]),
                published_hours_ago=rng.uniform(1, 48),
            ).model_copy(update={"tags": labelled(content["tags"])})
        )
    posts: dict[str, dict[str, Any]] = {}
    for line in (DATA / "bilingual" / "qwen_blog_stories_dev.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        posts.setdefault(row["story"], {})[row["lang"]] = row
    for story, by_language in sorted(posts.items()):
        en, zh = by_language.get("en", {}), by_language.get("zh", {})
        parts = [en.get("title", ""), zh.get("title", ""), en.get("text", "")[:400], zh.get("text", "")[:300]]
        text = "\n".join(parts)
        items.append(
            make_item(
                story.replace(":", "-"),
                now=NOW,
                origin_language="en",
                title_en=en.get("title"),
                title_zh=zh.get("title"),
                summary_en=en.get("text", "")[:400] or None,
                summary_zh=zh.get("text", "")[:300] or None,
                tags=("model-release",),
                entities=entities(text),
                hot=rng.choice([None, *range(10, 90, 7)]),
                published_hours_ago=rng.uniform(1, 48),
            )
        )
    return items


def twin_of(item: Item, prefix: str) -> Item:
    """Another story with the item's content, filed in the same buckets (the bucket of a posting
    depends on the item id only): every one of its postings documents exists."""
    twin_id = next(
        candidate
        for candidate in (f"{prefix}-{n}" for n in range(10_000))
        if posting_key("x", candidate) == posting_key("x", item.id)
    )
    return item.model_copy(update={"id": twin_id})


def retitled(item: Item) -> Item:
    """The next version of an item with another title (drops and adds terms)."""
    title = {"en": "Anthropic ships Claude agents", "zh": "智谱发布新模型"}
    return item.model_copy(update={"version": item.version + 1, "title": item.title.model_copy(update=title)})


class Statements(CommandListener):
    """Every update statement sent to the postings: (multi, number of _ids it names)."""

    def __init__(self) -> None:
        self.updates: list[tuple[bool, int]] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "update" and event.command.get("update") == POSTINGS:
            for statement in event.command.get("updates", []):
                ids = statement["q"]["_id"]
                self.updates.append(
                    (bool(statement.get("multi")), len(ids["$in"]) if isinstance(ids, dict) else 1)
                )

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


async def open_store(url: str, database: str, listener: CommandListener | None = None) -> MongoStore:
    store = MongoStore(url, database)
    if listener is not None:
        await store.close()
        store.client = AsyncMongoClient(url, tz_aware=True, event_listeners=[listener])
        store.db = store.client[database]
    await store.ensure_indexes([ITEMS, SEARCH_SORT])
    return store


@pytest.fixture()
async def stores(mongo_server: str, mongo_db_name: str) -> AsyncIterator[dict[str, MongoStore]]:
    opened: dict[str, MongoStore] = {}
    for name in ("upserts", "known"):
        opened[name] = await open_store(mongo_server, f"{mongo_db_name}_{name}")
    yield opened
    for store in opened.values():
        await store.client.drop_database(store.db.name)
        await store.close()


async def store_items(store: MongoStore, items: Sequence[Item]) -> None:
    """``items`` stored (a later version of an id in the list replaces the earlier)."""
    latest = {item.id: item for item in items}
    await store.collection(ITEMS).delete_many({})
    await store.collection(ITEMS).insert_many([as_document(item) for item in latest.values()])


async def file_with_upserts_only(store: MongoStore, items: Sequence[Item]) -> None:
    """The filing before this change: a SearchIndex that knows no bucket upserts every one."""
    for item in items:
        await SearchIndex(store).index_item(item.id, dumped(item))


async def index_contents(store: MongoStore) -> dict[str, Any]:
    async def docs(name: str) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc async for doc in store.collection(name).find({})}

    postings = {key: sorted(doc["ids"]) for key, doc in (await docs(POSTINGS)).items()}
    for key, ids in postings.items():
        assert len(ids) == len(set(ids)), key  # an id filed twice in one bucket
    return {
        "postings": {key: ids for key, ids in postings.items() if ids},
        "terms": {key: doc["terms"] for key, doc in (await docs(ITEM_TERMS)).items()},
        "rows": {key: (doc["version"], doc["hot"]) for key, doc in (await docs(SEARCH_SORT)).items()},
        "versioned_terms": set(await docs(TERM_VERSIONS)),
    }


async def search_pages(store: MongoStore) -> dict[tuple[str, str, str, int], list[list[str]]]:
    """Every page of every query and filter, in hot order (pages of 50 and of 4) and time order."""
    await SearchIndex(store).backfill()  # marks the index complete (every item is filed already)
    queries = ItemQueries(store)
    out: dict[tuple[str, str, str, int], list[list[str]]] = {}
    for q in QUERIES:
        for filters in FILTERS:
            for sort in ("hot", "time"):
                for limit in (50, 4) if sort == "hot" else (50,):
                    pages, cursor = [], None
                    while True:
                        page = await queries.search(q, filters=filters, sort=sort, limit=limit, cursor=cursor)
                        pages.append([item.id for item in page.items])
                        cursor = page.next_cursor
                        if cursor is None:
                            break
                    out[(q, repr(filters), sort, limit)] = pages
    return out


async def test_known_buckets_take_one_update_many_per_story_and_store_what_upserts_store(
    stores: dict[str, MongoStore], mongo_server: str
) -> None:
    """A publisher filing 8 stories at a time: once it has seen a story's buckets exist, the
    story's postings go in one update_many; postings, term lists, sort rows and every search page
    (English, Chinese, mixed, tag and entity filters, pagination) are those of the upserts."""
    originals = real_items()
    items = [*originals, *(twin_of(item, f"twin-{item.id}") for item in originals[::2])]
    changed = [retitled(item) for item in items[::5]]
    await store_items(stores["upserts"], [*items, *changed])  # the later versions replace theirs
    await file_with_upserts_only(stores["upserts"], [*items, *changed])

    statements = Statements()
    watched = await open_store(mongo_server, stores["known"].db.name, statements)
    try:
        await store_items(watched, [*items, *changed])
        publisher = CoalescingStore(watched)
        index = SearchIndex(publisher)
        for start in range(0, len(items), 8):
            batch = items[start : start + 8]
            await asyncio.gather(*(index.index_item(item.id, dumped(item), created=True) for item in batch))
        for item in changed:
            await index.index_item(item.id, dumped(item))
    finally:
        await watched.close()

    assert await index_contents(stores["known"]) == await index_contents(stores["upserts"])
    assert await search_pages(stores["known"]) == await search_pages(stores["upserts"])
    # A twin's postings (all its buckets exist) went in as one update_many statement; the real
    # texts' other words mostly as one upsert each (a new word, or a bucket not filed yet).
    multi = [count for is_multi, count in statements.updates if is_multi]
    by_one = sum(1 for is_multi, _ in statements.updates if not is_multi)
    assert len(multi) >= len(originals) // 2 and sum(multi) > by_one / 4, (len(multi), sum(multi), by_one)


async def test_two_publishers_side_by_side_store_what_one_stores(
    stores: dict[str, MongoStore], mongo_server: str, mongo_db_name: str
) -> None:
    """Two publish processes (own client, own known buckets) file halves of the wire at the same
    time, then each re-titles stories the other filed: the index is the one publisher's."""
    originals = real_items()[::2]
    # Each story and its twin (same buckets) side by side: the twin goes to the other publisher.
    items = [story for item in originals for story in (item, twin_of(item, f"twin-{item.id}"))]
    changed = [retitled(item) for item in items[1::4]]
    await store_items(stores["upserts"], [*items, *changed])
    await file_with_upserts_only(stores["upserts"], [*items, *changed])

    target = stores["known"]
    await store_items(target, [*items, *changed])
    a = CoalescingStore(await open_store(mongo_server, target.db.name))
    b = CoalescingStore(await open_store(mongo_server, target.db.name))
    try:
        first, second = SearchIndex(a), SearchIndex(b)

        async def publish(index: SearchIndex, share: Sequence[Item]) -> None:
            for start in range(0, len(share), 4):
                batch = share[start : start + 4]
                await asyncio.gather(*(index.index_item(i.id, dumped(i), created=True) for i in batch))

        await asyncio.gather(publish(first, items[0::2]), publish(second, items[1::2]))
        assert len(first.known) and len(second.known)
        by_id = {item.id: n for n, item in enumerate(items)}
        await asyncio.gather(
            *(
                (second if by_id[item.id] % 2 == 0 else first).index_item(item.id, dumped(item))
                for item in changed
            )
        )
    finally:
        await a.close()
        await b.close()
    assert await index_contents(target) == await index_contents(stores["upserts"])
    assert await search_pages(target) == await search_pages(stores["upserts"])


async def terms_of(store: MongoStore, item_id: str) -> list[str]:
    doc = await store.get(ITEM_TERMS, item_id)
    return list(doc["terms"]) if doc else []


class Crash(Exception):
    pass


@pytest.mark.parametrize("step", ["_bump_versions", "_write_sort_row"])
@pytest.mark.parametrize("redelivered_to", ["same process", "another process"])
async def test_a_crash_between_filing_steps_is_finished_by_the_redelivery(
    stores: dict[str, MongoStore], monkeypatch: pytest.MonkeyPatch, step: str, redelivered_to: str
) -> None:
    """publish dies after a story's postings went in through update_many (its buckets known),
    before the term versions or the sort row and its term list: the redelivery (same process with
    its known buckets, or a new one that knows none) leaves the index of a clean filing, and a
    reader that cached the terms before sees the story."""
    warm = real_items()[-8:]  # Qwen blog posts, English and Chinese
    twin = warm[-1]
    story = twin_of(twin, "story")  # every bucket of its terms is known to the publisher
    await store_items(stores["upserts"], [*warm, story])
    await file_with_upserts_only(stores["upserts"], [*warm, story])

    target = stores["known"]
    await store_items(target, warm)
    index = SearchIndex(target)
    for item in warm:
        await index.index_item(item.id, dumped(item), created=True)
    await SearchIndex(target).backfill()  # complete for the reader
    await target.collection(ITEMS).insert_one(as_document(story))  # publish's fold, then filing
    reader = ItemQueries(target)
    query = " ".join(sorted(w for w in (story.title.en or story.title.zh or "").split() if w.isalpha())[:2])
    before = [i.id for i in (await reader.search(query, limit=100)).items]
    assert story.id not in before and twin.id in before

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise Crash(step)

    monkeypatch.setattr(index, step, crash)
    with pytest.raises(Crash):
        await index.index_item(story.id, dumped(story), created=True)
    monkeypatch.undo()
    # The postings are in; the term list is not: the redelivery files every term again.
    assert await target.get(ITEM_TERMS, story.id) is None
    redelivery = index if redelivered_to == "same process" else SearchIndex(target)
    await redelivery.index_item(story.id, dumped(story))

    assert await index_contents(target) == await index_contents(stores["upserts"])
    after = [i.id for i in (await reader.search(query, limit=100)).items]
    assert sorted(after) == sorted([*before, story.id])


async def test_a_known_bucket_that_is_gone_is_upserted_again(stores: dict[str, MongoStore]) -> None:
    """The known buckets are a hint: when the postings were dropped under a running publisher,
    its next story's update_many matches fewer documents than it names, and every one of them is
    upserted (with its term's version), so nothing filed is lost."""
    first = real_items()[-1]
    twin = twin_of(first, "twin")
    target = stores["known"]
    await store_items(target, [first, twin])
    index = SearchIndex(target)
    await index.index_item(first.id, dumped(first), created=True)
    assert all(index.known.has(posting_key(term, twin.id)) for term in await terms_of(target, first.id))
    await target.collection(POSTINGS).drop()
    await target.collection(TERM_VERSIONS).drop()
    await index.index_item(twin.id, dumped(twin), created=True)

    terms = await terms_of(target, twin.id)
    assert terms
    for term in terms:
        doc = await target.get(POSTINGS, posting_key(term, twin.id))
        assert doc is not None and doc["ids"] == [twin.id], term
    versions = await index.term_versions(terms)
    assert all(version >= 1 for version in versions.values()), versions


async def test_a_new_bucket_of_a_known_term_moves_its_version_in_the_one_update_many(
    stores: dict[str, MongoStore], mongo_server: str
) -> None:
    """A story in another bucket than the stories before it creates bucket documents, but its
    terms' version documents exist and its process saw them: they move in the one update_many
    (no upsert each); a version document lost meanwhile (a crash) is upserted again."""
    first = real_items()[-1]
    other = next(
        candidate
        for candidate in (f"other-{n}" for n in range(100))
        if posting_key("x", candidate) != posting_key("x", first.id)
    )
    second = first.model_copy(update={"id": other})
    statements: list[tuple[bool, int]] = []

    class Versions(CommandListener):
        def started(self, event: CommandStartedEvent) -> None:
            if event.command_name == "update" and event.command.get("update") == TERM_VERSIONS:
                for statement in event.command.get("updates", []):
                    ids = statement["q"]["_id"]
                    statements.append(
                        (bool(statement.get("multi")), len(ids["$in"]) if isinstance(ids, dict) else 1)
                    )

        def succeeded(self, event: CommandSucceededEvent) -> None:
            pass

        def failed(self, event: CommandFailedEvent) -> None:
            pass

    watched = await open_store(mongo_server, stores["known"].db.name, Versions())
    try:
        await store_items(watched, [first, second])
        index = SearchIndex(watched)
        await index.index_item(first.id, dumped(first), created=True)
        terms = await terms_of(watched, first.id)
        statements.clear()
        await watched.collection(TERM_VERSIONS).delete_one({"_id": terms[0]})  # lost in a crash
        await index.index_item(second.id, dumped(second), created=True)
        assert statements[0] == (True, len(terms)), statements[:3]
        versions = await index.term_versions(terms)
        # Every version moved (the lost one exists again; a term moved twice is fine: readers
        # compare versions for equality only).
        assert versions[terms[0]] >= 1 and all(versions[t] >= 2 for t in terms[1:]), versions
        for term in terms:
            doc = await watched.get(POSTINGS, posting_key(term, second.id))
            assert doc is not None and doc["ids"] == [second.id], term
    finally:
        await watched.close()
