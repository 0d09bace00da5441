"""The read API over a real Mongo wire server (nx-27017, or NEWSROOM_TEST_MONGO_URL): Hot order,
filters, cursor pagination, search in Chinese and English, one item, OpenAPI, page-size cap,
validation (422), rate limit (429), view counter, feeds and the web page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import httpx
import jsonschema
import pytest

from services.publish.read_api import RateLimit, create_read_app
from shared.settings import Settings
from shared.storage import ITEMS, MongoStore
from tests.support.items import as_document, make_item, sample_items
from tests.unit.test_feeds_output import FORMATS, JSON_FEED_SCHEMA

NOW = datetime.now(UTC).replace(microsecond=0)
HOT_ORDER = [
    "story-openai-device",
    "story-tsmc-copos",
    "story-uber-nuro",
    "story-meta-muse-spark",
    "story-bytedance-goals",
    "story-foxconn-sk",
    "story-xiaomi-hengmai",
]


@pytest.fixture()
async def store(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_server, mongo_db_name)
    await store.ensure_indexes([ITEMS])
    docs = [as_document(item) for item in sample_items(NOW)]
    docs[0]["announced_version"] = 1  # bookkeeping the publish stage stores beside the item
    await store.collection(ITEMS).insert_many(docs)
    yield store
    await store.client.drop_database(mongo_db_name)
    await store.close()


def client_for(store: MongoStore, rate_limit: RateLimit | None = None) -> httpx.AsyncClient:
    app = create_read_app(store, Settings(), rate_limit=rate_limit)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture()
async def api(store: MongoStore) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(store) as client:
        yield client


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_list_is_in_hot_order_with_the_three_scores(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/items")
    assert ids(response) == HOT_ORDER
    first = response.json()["items"][0]
    assert first["scores"] == {"hot": 75.0, "quality": 65.0, "impact": 70.0}
    assert first["title"]["zh"] == "OpenAI首席财务官谈公司AI设备:今年年底前将正式发布"
    assert [s["name"] for s in first["sources"]] == ["36Kr", "The Verge"]
    assert "analysis" not in first and "body" not in first
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tag=chips", ["story-tsmc-copos", "story-xiaomi-hengmai"]),
        ("entity=bytedance", ["story-bytedance-goals"]),
        ("language=en", ["story-uber-nuro", "story-meta-muse-spark"]),
        ("min_hot=60", HOT_ORDER[:3]),
        ("min_quality=60&min_impact=60", ["story-openai-device", "story-tsmc-copos"]),
        ("tag=funding-ma&min_hot=50", ["story-uber-nuro"]),
        (
            "sort=time",
            [
                "story-xiaomi-hengmai",
                "story-uber-nuro",
                "story-foxconn-sk",
                "story-tsmc-copos",
                "story-bytedance-goals",
                "story-openai-device",
                "story-meta-muse-spark",
            ],
        ),
        ("sort=quality&limit=3", ["story-openai-device", "story-bytedance-goals", "story-tsmc-copos"]),
        ("sort=updated&limit=2", ["story-openai-device", "story-xiaomi-hengmai"]),
    ],
)
async def test_filters_and_sorts(api: httpx.AsyncClient, query: str, expected: list[str]) -> None:
    assert ids(await api.get(f"/api/v1/items?{query}")) == expected


async def test_time_range_filter(api: httpx.AsyncClient) -> None:
    since = (NOW - timedelta(hours=8, minutes=30)).isoformat()
    until = (NOW - timedelta(hours=4)).isoformat()
    response = await api.get("/api/v1/items", params={"since": since, "until": until, "sort": "time"})
    assert ids(response) == ["story-uber-nuro", "story-foxconn-sk"]


async def walk(api: httpx.AsyncClient, params: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        response = await api.get("/api/v1/items", params={**params, **({"cursor": cursor} if cursor else {})})
        seen += ids(response)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


async def test_cursor_pagination_walks_every_item_once(api: httpx.AsyncClient) -> None:
    assert await walk(api, {"limit": 2}) == HOT_ORDER
    assert await walk(api, {"limit": 3, "sort": "time"}) == ids(await api.get("/api/v1/items?sort=time"))


async def test_pagination_through_ties_and_missing_scores(mongo_server: str, mongo_db_name: str) -> None:
    store = MongoStore(mongo_server, mongo_db_name)
    await store.ensure_indexes([ITEMS])
    hots: list[float | None] = [50, 50, 50, 50, 40, None, None, None, 70]
    items = [
        make_item(
            f"t{i}", now=NOW, title_en=f"Tie {i}", title_zh=f"并列{i}", hot=hot, published_hours_ago=1 + i % 3
        )
        for i, hot in enumerate(hots)
    ]
    await store.collection(ITEMS).insert_many([as_document(i) for i in items])
    try:
        async with client_for(store) as api:
            expected = ["t8", "t3", "t2", "t1", "t0", "t4", "t7", "t6", "t5"]  # value desc, then id desc
            for size in (1, 2, 3, 4):
                assert await walk(api, {"limit": size}) == expected, size
            # ties in time (three items per published time) page correctly too
            by_time = await walk(api, {"limit": 2, "sort": "time"})
            assert by_time == ["t6", "t3", "t0", "t7", "t4", "t1", "t8", "t5", "t2"]
            assert await walk(api, {"limit": 2, "min_hot": 45}) == ["t8", "t3", "t2", "t1", "t0"]
    finally:
        await store.client.drop_database(mongo_db_name)
        await store.close()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("台积电封装", ["story-tsmc-copos"]),
        ("臺積電", ["story-tsmc-copos"]),  # Traditional spelling finds the Simplified text
        ("芯片", ["story-tsmc-copos", "story-xiaomi-hengmai"]),  # tag label
        ("鸿海 数据中心", ["story-foxconn-sk"]),
        ("OpenAI device", ["story-openai-device"]),
        ("nuro INVESTMENT", ["story-uber-nuro"]),
        ("Doubao", ["story-bytedance-goals"]),  # entity name
        ("chip", ["story-tsmc-copos", "story-xiaomi-hengmai"]),  # word start: "chips", "chip designer"
        ("a.*b (", []),  # regex syntax is matched literally
        ("OpenAI 台积电", []),  # every term must occur
    ],
)
async def test_search_in_both_languages(api: httpx.AsyncClient, q: str, expected: list[str]) -> None:
    assert ids(await api.get("/api/v1/search", params={"q": q})) == expected


async def test_search_with_filter_and_only_stopwords(api: httpx.AsyncClient) -> None:
    assert ids(await api.get("/api/v1/search", params={"q": "芯片", "tag": "funding-ma"})) == [
        "story-xiaomi-hengmai"
    ]
    response = await api.get("/api/v1/search", params={"q": "the of 的"})
    assert response.status_code == 422


async def test_one_item_in_full(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/items/story-openai-device")
    assert response.status_code == 200
    item = response.json()
    assert item["id"] == "story-openai-device"
    assert item["analysis"]["en"].startswith("The CFO personally testing")
    assert item["analysis"]["zh"].startswith("CFO亲自试用并官宣")
    assert item["disclaimer"]["zh"] == "免责声明:以上内容由 AI 生成,仅供参考。"
    assert "announced_version" not in item
    missing = await api.get("/api/v1/items/no-such-story")
    assert missing.status_code == 404


async def test_view_counter(api: httpx.AsyncClient) -> None:
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}
    for _ in range(2):  # the same client twice within the hour: one view
        assert (await api.post("/api/v1/items/story-tsmc-copos/view", headers=browser)).status_code == 204
    assert (await api.post("/api/v1/items/story-tsmc-copos/view")).status_code == 204  # httpx's UA: a bot
    assert (await api.get("/api/v1/items/story-tsmc-copos")).json()["views"] == 1
    assert (await api.post("/api/v1/items/nope/view")).status_code == 404
    assert (await api.delete("/api/v1/items/story-tsmc-copos")).status_code == 405  # read-only


async def test_openapi_is_served(api: httpx.AsyncClient) -> None:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/items", "/api/v1/search", "/api/v1/items/{item_id}", "/feeds/{language}.{fmt}"):
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/api/v1/items"]["get"]["parameters"]}
    assert {"tag", "entity", "language", "since", "until", "min_hot", "sort", "limit", "cursor"} <= params
    # the documented item matches what is served: "id", as in the list, not MongoDB's "_id"
    assert "id" in spec["components"]["schemas"]["ItemOut"]["properties"]


async def test_page_size_is_capped(mongo_server: str, mongo_db_name: str) -> None:
    store = MongoStore(mongo_server, mongo_db_name)
    items = [
        make_item(f"bulk-{i:03d}", now=NOW, title_en=f"Item {i}", title_zh=f"条目{i}", hot=i % 97)
        for i in range(130)
    ]
    await store.collection(ITEMS).insert_many([as_document(i) for i in items])
    try:
        async with client_for(store) as api:
            response = await api.get("/api/v1/items", params={"limit": 500})
            assert len(ids(response)) == 100
            assert response.json()["next_cursor"] is not None
            assert len(ids(await api.get("/api/v1/items"))) == 20  # the default
    finally:
        await store.client.drop_database(mongo_db_name)
        await store.close()


@pytest.mark.parametrize(
    "query",
    [
        "sort=bogus",
        "limit=0",
        "limit=ten",
        "min_hot=101",
        "min_quality=-1",
        "language=fr",
        "since=yesterday",
        "tag=<script>",
        "entity=" + "x" * 300,
        "cursor=not-a-cursor",
        "cursor=" + "A" * 600,
    ],
)
async def test_invalid_input_is_422(api: httpx.AsyncClient, query: str) -> None:
    response = await api.get(f"/api/v1/items?{query}")
    assert response.status_code == 422, query


async def test_cursor_of_another_sort_is_422(api: httpx.AsyncClient) -> None:
    cursor = (await api.get("/api/v1/items?limit=2")).json()["next_cursor"]
    response = await api.get("/api/v1/items", params={"sort": "time", "cursor": cursor})
    assert response.status_code == 422
    assert "sort" in response.json()["detail"]


async def test_rate_limit(store: MongoStore) -> None:
    async with client_for(store, RateLimit(per_second=0.01, burst=3)) as api:
        statuses = [(await api.get("/api/v1/items?limit=1")).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        limited = await api.get("/api/v1/tags")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert (await api.get("/healthz")).status_code == 200  # probes are never limited


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/readyz")).json() == {"status": "ready"}


async def test_feeds_validate(api: httpx.AsyncClient) -> None:
    rss = await api.get("/feeds/zh.rss")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(rss.content)
    assert parsed.bozo == 0 and len(parsed.entries) == 7
    assert parsed.entries[0].title == "小米旗下基金入股芯片公司恒脉微"  # newest first
    atom = feedparser.parse((await api.get("/feeds/tags/chips/en.atom")).content)
    assert atom.bozo == 0 and [e.title for e in atom.entries] == [
        "Xiaomi's fund invests in chip designer Hengmai Micro",
        "TSMC's C.C. Wei: CoPoS production lines need two to three years to scale",
    ]
    assert atom.feed.title.endswith("Chips")
    document = json.loads((await api.get("/feeds/en.json")).content)
    jsonschema.validate(document, JSON_FEED_SCHEMA, format_checker=FORMATS)
    assert document["feed_url"] == "http://testserver/feeds/en.json"
    assert (await api.get("/feeds/fr.rss")).status_code == 422


async def test_web_pages_escape_stored_markup(store: MongoStore, api: httpx.AsyncClient) -> None:
    hostile = make_item(
        "story-xss",
        now=NOW,
        title_en="<script>alert(1)</script>Evil",
        title_zh="<b>粗体</b>",
        hot=99,
        tags=("chips",),
        sources=(),
    )
    doc = as_document(hostile)
    doc["sources"][0]["url"] = "javascript:alert(2)"
    await store.collection(ITEMS).insert_one(doc)
    page = await api.get("/?lang=both")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Evil" in page.text and "<script>" not in page.text
    assert "&lt;b&gt;粗体&lt;/b&gt;" in page.text
    csp = page.headers["content-security-policy"]
    # No script may run: either no script-src (default-src 'none' covers it) or script-src 'none'.
    assert "script-src" not in csp or "script-src 'none'" in csp
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    item_page = await api.get("/items/story-xss")
    assert "javascript:" not in item_page.text
    english = await api.get("/?lang=en")
    assert "OpenAI CFO Sarah Friar" in english.text and "首席财务官谈公司" not in english.text
    assert (await api.get("/items/nope")).status_code == 404
