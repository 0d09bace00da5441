"""The search term index on a real Mongo wire server (nx-27017): filing, redelivery, changed text,
bilingual names, the read API answering through the index, and the walk for frequent terms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.publish import queries as queries_module
from services.publish.queries import ItemQueries, SortKey
from services.publish.read_api import create_read_app
from services.publish.search_index import ITEM_TERMS, POSTINGS, TERM_SOURCES, SearchIndex
from shared.llm.prompts import load_glossary
from shared.settings import Settings
from shared.storage import ITEMS, MongoStore
from tests.support.items import as_document, entity, make_item, sample_items

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture()
async def store(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_server, mongo_db_name)
    await store.ensure_indexes([ITEMS])
    yield store
    await store.client.drop_database(mongo_db_name)
    await store.close()


async def postings(store: MongoStore, term: str) -> list[str]:
    doc = await store.get(POSTINGS, term)
    return list(doc["ids"]) if doc else []


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
