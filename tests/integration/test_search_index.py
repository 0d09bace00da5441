"""The search term index on a real Mongo wire server (nx-27017): filing, redelivery, changed text,
bilingual names, the read API answering through the index, and the walk for frequent terms."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.publish import queries as queries_module
from services.publish import search_index as search_index_module
from services.publish.queries import ItemFilter, ItemQueries, SortKey
from services.publish.read_api import create_read_app
from services.publish.search_index import (
    ITEM_TERMS,
    POSTINGS,
    STATE,
    STATE_ID,
    TERM_SOURCES,
    TERM_VERSIONS,
    SearchIndex,
    posting_key,
    posting_keys,
    sort_row,
)
from shared.core.search_terms import TERMS_VERSION
from shared.items import Item
from shared.llm.prompts import load_glossary
from shared.settings import Settings
from shared.storage import ITEMS, SEARCH_SORT, MongoStore
from tests.support.items import Src, as_document, entity, make_item, sample_items
from tests.support.mongo_commands import watched_store

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture()
async def store(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_server, mongo_db_name)
    await store.ensure_indexes([ITEMS, SEARCH_SORT])
    yield store
    await store.client.drop_database(mongo_db_name)
    await store.close()


async def postings(store: MongoStore, term: str) -> list[str]:
    """The ids filed under a term (over its buckets), in storage order: a double would show."""
    found = store.collection(POSTINGS).find({"_id": {"$in": posting_keys(term)}})
    return [item_id async for doc in found for item_id in doc["ids"]]


def search_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_round_trip_and_redelivery_files_each_item_once(store: MongoStore) -> None:
    index = SearchIndex(store)
    item = sample_items(NOW)[1]  # TSMC CoWoS
    doc = item.model_dump(mode="json", include=TERM_SOURCES)
    added, removed = await index.index_item(item.id, doc)
    assert added > 10 and removed == 0
    assert await postings(store, "台积") == [item.id]
    assert await postings(store, "tsmc") == [item.id]
    assert await index.matching({"tsmc", "台积", "积电"}) is None  # not marked complete yet
    assert await index.backfill() == 0  # nothing stored in items: marks the index complete
    assert await index.matching({"tsmc", "台积", "积电"}) == {item.id}
    # A redelivery files nothing twice.
    assert await index.index_item(item.id, doc) == (0, 0)
    assert await postings(store, "tsmc") == [item.id]


async def test_changed_text_loses_its_old_terms(store: MongoStore) -> None:
    index = SearchIndex(store)
    before = make_item("story-x", now=NOW, title_en="Nvidia ships Blackwell", title_zh="英伟达发货")
    after = make_item("story-x", now=NOW, title_en="Nvidia delays Rubin", title_zh="英伟达推迟")
    await index.index_item(before.id, before.model_dump(mode="json", include=TERM_SOURCES))
    assert await postings(store, "blackwell") == ["story-x"]
    added, removed = await index.index_item(after.id, after.model_dump(mode="json", include=TERM_SOURCES))
    assert added and removed
    assert await postings(store, "blackwell") == []
    assert await postings(store, "发货") == []
    assert await postings(store, "rubin") == ["story-x"]
    assert await postings(store, "nvidia") == ["story-x"]
    stored = await store.get(ITEM_TERMS, "story-x")
    assert stored is not None and "blackwell" not in stored["terms"] and "rubin" in stored["terms"]


async def test_an_english_query_finds_a_chinese_only_item(store: MongoStore) -> None:
    by_entity = make_item(
        "story-zh-tsmc",
        now=NOW,
        title_en=None,
        title_zh="台积电扩产先进封装",
        entities=[entity("tsmc", "TSMC", "台积电", "company")],
        hot=60.0,
    )
    by_glossary = make_item(
        "story-zh-foxconn", now=NOW, title_en=None, title_zh="鸿海在美国建设新工厂", hot=50.0
    )
    await store.collection(ITEMS).insert_many([as_document(by_entity), as_document(by_glossary)])
    await SearchIndex(store, load_glossary()).backfill()
    app = create_read_app(store, Settings(), rate_limit=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
        assert search_ids(await api.get("/api/v1/search", params={"q": "TSMC"})) == ["story-zh-tsmc"]
        assert search_ids(await api.get("/api/v1/search", params={"q": "foxconn"})) == ["story-zh-foxconn"]
        assert search_ids(await api.get("/api/v1/search", params={"q": "臺積電 封裝"})) == ["story-zh-tsmc"]
        assert search_ids(await api.get("/api/v1/search", params={"q": "TSMC 工厂"})) == []


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("台积电封装", ["story-tsmc-copos"]),
        ("臺積電", ["story-tsmc-copos"]),
        ("芯片", ["story-tsmc-copos", "story-xiaomi-hengmai"]),
        ("鸿海 数据中心", ["story-foxconn-sk"]),
        ("OpenAI device", ["story-openai-device"]),
        ("Doubao", ["story-bytedance-goals"]),
        ("chip", ["story-tsmc-copos", "story-xiaomi-hengmai"]),
        ("a.*b (", []),
        ("OpenAI 台积电", []),
    ],
)
async def test_the_index_answers_as_the_scan_did(store: MongoStore, q: str, expected: list[str]) -> None:
    await store.collection(ITEMS).insert_many([as_document(item) for item in sample_items(NOW)])
    scan = await ItemQueries(store).search(q)  # index not complete yet: the scan
    await SearchIndex(store).backfill()
    queries = ItemQueries(store)
    assert await queries.search_index.is_complete()
    indexed = await queries.search(q)
    assert [i.id for i in indexed.items] == [i.id for i in scan.items] == expected


@pytest.mark.parametrize("sort", ["hot", "time"])
async def test_frequent_terms_walk_the_list_page_by_page(
    store: MongoStore, monkeypatch: pytest.MonkeyPatch, sort: SortKey
) -> None:
    items = [
        make_item(
            f"story-{n:02d}",
            now=NOW,
            title_en=f"OpenAI note {n}",
            title_zh=None,
            hot=float(n % 7),
            published_hours_ago=n,
        )
        for n in range(30)
    ]
    other = make_item("story-other", now=NOW, title_en="Unrelated", title_zh=None, hot=3.0)
    await store.collection(ITEMS).insert_many([as_document(i) for i in [*items, other]])
    await SearchIndex(store).backfill()
    pages: dict[int, list[str]] = {}
    for limit in (100_000, 0):  # _id $in, then the walk
        monkeypatch.setattr(queries_module, "ID_LIST_VS_WALK", limit)
        monkeypatch.setattr(queries_module, "WALK_BATCH", 4)
        queries, seen, cursor = ItemQueries(store), [], None
        while True:
            page = await queries.search("openai", sort=sort, limit=7, cursor=cursor)
            seen += [i.id for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        pages[limit] = seen
    assert pages[0] == pages[100_000]
    assert sorted(pages[0]) == sorted(i.id for i in items)


# --- sort rows, term versions and the read side's postings cache (issue 17 point 5) ----------


def dumped(item: Item) -> dict[str, Any]:
    """What publish hands the index (services/publish/app.py): the item's TERM_SOURCES, JSON mode."""
    return item.model_dump(mode="json", include=TERM_SOURCES)


async def test_redelivery_keeps_one_sort_row_and_bumps_no_version(store: MongoStore) -> None:
    index = SearchIndex(store)
    item = sample_items(NOW)[1]
    await index.index_item(item.id, dumped(item))
    versions = await index.term_versions(["tsmc", "台积"])
    assert versions == {"tsmc": 1, "台积": 1}
    row = await store.get(SEARCH_SORT, item.id)
    stored = as_document(item)
    # The row holds the item's values as stored (BSON keeps milliseconds).
    assert row is not None and row["hot"] == stored["scores"]["hot"]["value"]
    assert row["published_at"] == stored["published_at"].replace(
        microsecond=stored["published_at"].microsecond // 1000 * 1000
    )
    assert await index.index_item(item.id, dumped(item)) == (0, 0)
    assert await index.term_versions(["tsmc", "台积"]) == versions
    assert await store.collection(SEARCH_SORT).count_documents({}) == 1
    # The row from the stored form (the backfill) is the row from the dumped form (publish).
    assert sort_row(item.id, stored) == sort_row(item.id, dumped(item))


async def test_a_re_score_moves_the_item_in_the_search_order(
    store: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [
        make_item(f"story-chip-{n}", now=NOW, title_en=f"Chip news {n}", title_zh=None, hot=10.0 * n)
        for n in range(1, 6)
    ]
    await store.collection(ITEMS).insert_many([as_document(i) for i in items])
    index = SearchIndex(store)
    await index.backfill()
    queries = ItemQueries(store)
    assert (await queries.search("chip")).items[0].id == "story-chip-5"
    # Score re-scores story-chip-1 from the bottom to the top: a new version of the item.
    rescored = make_item("story-chip-1", now=NOW, title_en="Chip news 1", title_zh=None, hot=99.0, version=2)
    await store.collection(ITEMS).replace_one({"_id": rescored.id}, as_document(rescored))
    await index.index_item(rescored.id, dumped(rescored))
    for rows_share in (10**9, 0):  # the rows' id list, then their walk
        monkeypatch.setattr(queries_module, "ROWS_ID_LIST_VS_WALK", rows_share)
        page = await queries.search("chip", limit=2)
        assert [i.id for i in page.items] == ["story-chip-1", "story-chip-5"]
        assert page.items[0].scores.hot == 99.0
    # A late delivery of the older version does not move it back.
    await index.index_item(items[0].id, dumped(items[0]))
    row = await store.get(SEARCH_SORT, "story-chip-1")
    assert row is not None and row["hot"] == 99.0 and row["version"] == 2


async def test_a_cached_term_sees_a_change_filed_by_another_process(store: MongoStore) -> None:
    """Two read API processes (two caches) and publish (a third index): a new item, a changed
    text and a hidden (merged) item are all seen by the next search of a process that cached
    the term before."""
    first = make_item("story-a", now=NOW, title_en="Nvidia ships Blackwell", title_zh=None, hot=50.0)
    await store.collection(ITEMS).insert_one(as_document(first))
    publish = SearchIndex(store)
    await publish.backfill()
    reader, other_reader = ItemQueries(store), ItemQueries(store)
    assert [i.id for i in (await reader.search("blackwell")).items] == ["story-a"]
    assert [i.id for i in (await other_reader.search("nvidia")).items] == ["story-a"]
    assert reader.search_index.cache is not None and reader.search_index.cache.misses == 1

    second = make_item("story-b", now=NOW, title_en="Blackwell racks sold out", title_zh=None, hot=60.0)
    await store.collection(ITEMS).insert_one(as_document(second))
    await publish.index_item(second.id, dumped(second))
    assert [i.id for i in (await reader.search("blackwell")).items] == ["story-b", "story-a"]

    changed = make_item(
        "story-a", now=NOW, title_en="Nvidia delays Rubin", title_zh=None, hot=50.0, version=2
    )
    await store.collection(ITEMS).replace_one({"_id": "story-a"}, as_document(changed))
    await publish.index_item(changed.id, dumped(changed))
    assert [i.id for i in (await reader.search("blackwell")).items] == ["story-b"]
    assert [i.id for i in (await other_reader.search("rubin")).items] == ["story-a"]

    # h16rev's revision merge: story-b's members moved into story-a; story-b stays stored, hidden.
    hidden = {**dumped(second), "merged_into": "story-a", "version": 2}
    await store.collection(ITEMS).update_one({"_id": "story-b"}, {"$set": {"merged_into": "story-a"}})
    await publish.index_item(second.id, hidden)
    assert (await reader.search("blackwell")).items == []
    assert await postings(store, "racks") == []
    # The cache served the terms whose version held.
    await reader.search("blackwell")
    assert reader.search_index.cache.hits >= 1


async def test_the_backfill_files_source_titles_and_an_older_layout_is_refiled(store: MongoStore) -> None:
    """nx-27017 answers a projection of "sources.title" with nothing: the backfill read whole
    fields. A data dir indexed before the sort rows (layout 1) is re-filed at start-up."""
    item = make_item(
        "story-src",
        now=NOW,
        title_en="A chip plant",
        title_zh=None,
        sources=[Src("Reuters", "https://example.com/x", "Hengmai opens foundry", "en", 2)],
    )
    await store.collection(ITEMS).insert_one(as_document(item))
    await store.upsert(STATE, STATE_ID, {"complete": True, "v": TERMS_VERSION, "items": 0})
    index = SearchIndex(store)
    assert not await index.is_complete()  # layout 1: no sort rows
    assert await index.backfill() == 1
    assert [i.id for i in (await ItemQueries(store).search("hengmai foundry")).items] == ["story-src"]
    assert await store.get(SEARCH_SORT, "story-src") is not None


SCAN_QUERIES = ["openai", "chip", "芯片", "台积电", "TSMC", "model", "模型", "invests", "AI", "Meta 模型"]


@pytest.mark.parametrize("sort", ["hot", "quality", "impact", "time", "updated"])
async def test_every_page_is_the_page_the_scan_gives(
    store: MongoStore, monkeypatch: pytest.MonkeyPatch, sort: SortKey
) -> None:
    """Real-looking items in both languages (the sample wire, each story four times with other
    scores and times, ties and unscored items among them): every page of the index, through the
    sort rows (id list and walk) and through items (with a filter), is the scan's page."""
    rng = random.Random(17)
    docs = []
    for copy in range(4):
        for item in sample_items(NOW):
            doc = as_document(item)
            doc["_id"] = f"{item.id}-{copy}"
            for name in ("hot", "quality", "impact"):
                doc["scores"][name]["value"] = rng.choice([None, 40.0, 40.0, round(rng.uniform(0, 99), 1)])
            doc["published_at"] = NOW - timedelta(hours=rng.choice([1, 1, rng.randint(2, 90)]))
            doc["updated_at"] = doc["published_at"] + timedelta(minutes=rng.choice([0, 0, 30]))
            docs.append(doc)
    await store.collection(ITEMS).insert_many(docs)

    async def all_pages(queries: ItemQueries, q: str, filters: ItemFilter | None, limit: int) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            page = await queries.search(q, filters=filters, sort=sort, limit=limit, cursor=cursor)
            seen += [i.id for i in page.items]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    path = queries_module.SORT_FIELDS[sort].split(".")

    def in_order(ids: list[str]) -> list[str]:
        """Value descending, ties by id descending, items without the score last (the spec)."""
        by_id = {doc["_id"]: doc for doc in docs}

        def key(item_id: str) -> tuple[bool, Any, str]:
            value: Any = by_id[item_id]
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            return (value is not None, value if value is not None else 0, item_id)

        return sorted(ids, key=key, reverse=True)

    # The scan, in one page (its cursors lose unscored items on nx-27017: not the index's concern).
    scan = {
        (q, f): await all_pages(ItemQueries(store), q, f, 100)
        for q in SCAN_QUERIES
        for f in (
            None,
            ItemFilter(language="zh"),  # the sort rows answer it
            ItemFilter(min_hot=30.0, since=NOW - timedelta(hours=48)),  # the rows too
            ItemFilter(tag="chips"),  # only the items can
        )
    }
    assert all(scan[(q, None)] for q in SCAN_QUERIES) and sum(len(ids) for ids in scan.values()) > 80
    await SearchIndex(store).backfill()  # no glossary: the scan knows no cross-language names
    for rows_share, items_share in ((10**9, 10**9), (0, 0)):  # id lists, then walks
        monkeypatch.setattr(queries_module, "ROWS_ID_LIST_VS_WALK", rows_share)
        monkeypatch.setattr(queries_module, "ID_LIST_VS_WALK", items_share)
        monkeypatch.setattr(queries_module, "ROWS_WALK_BATCH", 3)
        monkeypatch.setattr(queries_module, "WALK_BATCH", 3)
        queries = ItemQueries(store)
        for (q, f), expected in scan.items():
            assert await all_pages(queries, q, f, 100) == expected, (q, f, rows_share)
            assert await all_pages(queries, q, f, 4) == in_order(expected), (q, f, rows_share)


async def test_a_created_item_is_filed_without_reads_like_any_other(
    store: MongoStore, mongo_server: str, mongo_db_name: str
) -> None:
    """publish files an item it has just inserted without reading its term list or sort row
    (two round trips fewer per new story); the postings, term list and row are those of the
    full path, and a later version of the item (the full path) moves both as before."""
    async with watched_store(mongo_server, mongo_db_name) as (watched, commands):
        fresh = make_item("story-new", now=NOW, title_en="Nvidia ships Blackwell", title_zh=None, hot=50.0)
        twin = make_item("story-twin", now=NOW, title_en="Nvidia ships Blackwell", title_zh=None, hot=50.0)
        index = SearchIndex(watched)
        added, removed = await index.index_item(fresh.id, dumped(fresh), created=True)
        assert added > 0 and removed == 0
        reads = [c for c in commands.commands if c[0] == "find"]
        assert reads == [], reads
        await SearchIndex(store).index_item(twin.id, dumped(twin))
        terms = {doc["_id"]: doc["terms"] async for doc in store.collection(ITEM_TERMS).find({})}
        assert terms["story-new"] == terms["story-twin"]
        for term in terms["story-new"]:
            assert sorted(await postings(store, term)) == ["story-new", "story-twin"]
        rows = {doc["_id"]: doc async for doc in store.collection(SEARCH_SORT).find({})}
        assert {**rows["story-new"], "_id": "x"} == {**rows["story-twin"], "_id": "x"}
        # The next version reads what the created path wrote and drops the old terms.
        renamed = make_item(
            "story-new", now=NOW, title_en="AMD ships MI400", title_zh=None, hot=70.0, version=2
        )
        added, removed = await index.index_item(renamed.id, dumped(renamed))
        assert added > 0 and removed > 0
        assert await postings(store, "blackwell") == ["story-twin"]
        row = await store.get(SEARCH_SORT, "story-new")
        assert row is not None and row["version"] == 2 and row["hot"] == 70.0


async def test_term_versions_move_for_known_and_new_buckets_and_a_lost_version(store: MongoStore) -> None:
    """Every change of a term's postings moves its version: a new bucket (upsert), a bucket that
    existed (one update_many for all such terms), and a term whose version document was lost
    between the two writes (a crash) gets one again."""
    index = SearchIndex(store)
    first = make_item("story-b0", now=NOW, title_en="Nvidia ships Blackwell", title_zh=None)
    # An id filed in the same bucket as the first: its terms' buckets exist already.
    twin_id = next(
        f"story-b{n}" for n in range(1, 500) if posting_key("x", f"story-b{n}") == posting_key("x", first.id)
    )
    twin = make_item(twin_id, now=NOW, title_en="Nvidia ships Blackwell", title_zh=None)
    await index.index_item(first.id, dumped(first), created=True)
    assert await index.term_versions(["nvidia", "blackwell"]) == {"nvidia": 1, "blackwell": 1}
    await index.index_item(twin.id, dumped(twin), created=True)
    assert await index.term_versions(["nvidia", "blackwell"]) == {"nvidia": 2, "blackwell": 2}
    assert sorted(await postings(store, "blackwell")) == sorted([first.id, twin.id])

    await store.collection(TERM_VERSIONS).delete_one({"_id": "blackwell"})  # lost in a crash
    renamed = make_item(twin.id, now=NOW, title_en="Nvidia ships Rubin", title_zh=None, version=2)
    await index.index_item(renamed.id, dumped(renamed))  # pulls blackwell from an existing bucket
    versions = await index.term_versions(["nvidia", "blackwell", "rubin"])
    assert versions["blackwell"] >= 1 and versions["rubin"] >= 1
    assert versions["nvidia"] == 2  # unchanged term: not bumped
    assert await postings(store, "blackwell") == [first.id]


# --- tag and entity filters as terms of the index (layout 3, issue 17 point 5) ---------------


async def filtered_wire(store: MongoStore) -> list[dict[str, Any]]:
    """The sample wire three times over, with other scores: tags and entities shared by several
    items, and items with the query's words but not the filter's tag."""
    rng = random.Random(18)
    docs = []
    for copy in range(3):
        for item in sample_items(NOW):
            doc = as_document(item)
            doc["_id"] = f"{item.id}-{copy}"
            doc["scores"]["hot"]["value"] = round(rng.uniform(0, 99), 1)
            docs.append(doc)
    await store.collection(ITEMS).insert_many(docs)
    return docs


FILTERED = [
    ("chip", ItemFilter(tag="chips")),
    ("芯片", ItemFilter(tag="chips", language="zh")),
    ("openai", ItemFilter(tag="product-launch")),
    ("TSMC", ItemFilter(entity="tsmc")),
    ("model", ItemFilter(tag="no-such-tag")),
]


async def test_a_tag_or_entity_filter_is_looked_up_in_the_postings(
    store: MongoStore, mongo_server: str, mongo_db_name: str
) -> None:
    """A search with a tag or entity filter gives the scan's items in the scan's order, and reads
    no item but the page's (one find by _id): the filter's postings are intersected with the
    words', and the sort rows order the page. Before layout 3 the items were walked."""
    docs = await filtered_wire(store)
    scan = {(q, f): [i.id for i in (await ItemQueries(store).search(q, f)).items] for q, f in FILTERED}
    assert sum(len(ids) for ids in scan.values()) >= 12 and scan[("model", FILTERED[-1][1])] == []
    await SearchIndex(store).backfill()
    chips = sorted(doc["_id"] for doc in docs if any(t["id"] == "chips" for t in doc["tags"]))
    assert sorted(await postings(store, "tag:chips")) == chips
    assert sorted(await postings(store, "entity:tsmc")) == sorted(
        doc["_id"] for doc in docs if any(e["id"] == "tsmc" for e in doc["entities"])
    )
    async with watched_store(mongo_server, mongo_db_name) as (watched, commands):
        queries = ItemQueries(watched)
        for (q, f), expected in scan.items():
            commands.commands.clear()
            page = await queries.search(q, f)
            assert [i.id for i in page.items] == expected, (q, f)
            # The item count (it picks a plan) aside, one find: the page's items by _id.
            item_reads = [c for c in commands.commands if c[1] == ITEMS and c[0] != "count"]
            assert item_reads == ([("find", ITEMS)] if expected else []), (q, f, commands.commands)


async def test_a_re_tagged_item_leaves_the_filtered_search_of_every_reader(store: MongoStore) -> None:
    """publish files a new version without the tag: a reader that cached the tag's postings and
    the intersection sees the change on its next search (the term versions moved)."""
    chip = make_item("story-chip", now=NOW, title_en="Chip plant opens", title_zh=None, tags=("chips",))
    tags = ("chips", "funding-ma")
    other = make_item("story-chip-2", now=NOW, title_en="Chip tariffs", title_zh=None, tags=tags, hot=60.0)
    await store.collection(ITEMS).insert_many([as_document(chip), as_document(other)])
    publish = SearchIndex(store)
    await publish.backfill()
    reader = ItemQueries(store)
    chips = ItemFilter(tag="chips")
    assert [i.id for i in (await reader.search("chip", chips)).items] == ["story-chip-2", "story-chip"]
    assert [i.id for i in (await reader.search("chip", chips)).items] == ["story-chip-2", "story-chip"]
    retagged = make_item(
        "story-chip", now=NOW, title_en="Chip plant opens", title_zh=None, tags=("funding-ma",), version=2
    )
    await store.collection(ITEMS).replace_one({"_id": retagged.id}, as_document(retagged))
    await publish.index_item(retagged.id, dumped(retagged))
    assert [i.id for i in (await reader.search("chip", chips)).items] == ["story-chip-2"]
    funding = ItemFilter(tag="funding-ma")
    assert [i.id for i in (await reader.search("chip", funding)).items] == ["story-chip-2", "story-chip"]
    assert reader.search_index.cache is not None and reader.search_index.cache.hits >= 2


async def test_an_index_of_layout_2_serves_searches_while_publish_files_the_filter_terms(
    store: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data dir indexed before the filter terms (layout 2): search keeps using the word terms
    (no scan) and answers a tag filter from the items, as before; once publish has re-filed every
    item (layout 3), a running reader looks the filter up in the postings."""
    docs = await filtered_wire(store)
    with monkeypatch.context() as layout_2:  # filed as layout 2 did: no filter terms
        layout_2.setattr(search_index_module, "filter_terms", lambda doc: set())
        await SearchIndex(store).backfill()
    await store.collection(STATE).update_one({"_id": STATE_ID}, {"$set": {"layout": 2}})
    assert await postings(store, "tag:chips") == []
    monkeypatch.setattr(search_index_module, "STATE_RECHECK_S", 0.0)
    reader = ItemQueries(store)
    chips = ItemFilter(tag="chips")
    expected = [i.id for i in (await reader.search("chip", chips)).items]
    assert expected and all(any(t["id"] == "chips" for t in d["tags"]) for d in docs if d["_id"] in expected)
    assert await reader.search_index.is_complete() and not await reader.search_index.filters_filed()
    assert await SearchIndex(store).backfill() == len(docs)  # publish's start-up re-files
    assert await reader.search_index.filters_filed()
    assert [i.id for i in (await reader.search("chip", chips)).items] == expected
    assert await postings(store, "tag:chips")


async def test_a_remembered_walk_length_never_changes_a_page(
    store: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader remembers how many sort rows a search walked to fill its page and asks for about
    as many the next time: after items moved (a re-score pushes the matches down, so the page now
    needs more rows than remembered) its pages are still those of a reader without that memory."""
    monkeypatch.setattr(queries_module, "ROWS_ID_LIST_VS_WALK", 0)  # always the walk
    items = [
        make_item(
            f"story-{n:03d}",
            now=NOW,
            title_en=f"OpenAI note {n}" if n % 3 == 0 else f"Unrelated note {n}",
            title_zh=None,
            hot=float(n),
        )
        for n in range(90)
    ]
    await store.collection(ITEMS).insert_many([as_document(i) for i in items])
    publish = SearchIndex(store)
    await publish.backfill()
    reader = ItemQueries(store)

    async def pages(queries: ItemQueries) -> list[list[str]]:
        seen, cursor = [], None
        while True:
            page = await queries.search("openai", limit=4, cursor=cursor)
            seen.append([i.id for i in page.items])
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    first = await pages(reader)
    assert first == await pages(ItemQueries(store)) and len(first) == 8
    assert reader._walk_hints  # remembered
    # The top matches fall to the bottom: the remembered lengths are now far too short.
    for n in range(60, 90, 3):
        lower = make_item(
            f"story-{n:03d}", now=NOW, title_en=f"OpenAI note {n}", title_zh=None, hot=0.5, version=2
        )
        await store.collection(ITEMS).replace_one({"_id": lower.id}, as_document(lower))
        await publish.index_item(lower.id, dumped(lower))
    again = await pages(reader)
    assert again == await pages(ItemQueries(store)) != first
    shown = sorted(item_id for page in again for item_id in page)
    assert shown == sorted(i.id for i in items if "OpenAI" in (i.title.en or ""))
