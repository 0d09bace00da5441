"""The read API at its edges, over a real nx-27017 (or NEWSROOM_TEST_MONGO_URL): a reader who follows
a stale or edited link gets a page, never raw JSON (the JSON API keeps its 422); pages, feeds and
health checks answer HEAD; feed links cannot be steered into a shared cache by the Host header; and
an old story that a first pass over old feeds completes today does not read as freshly updated."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import feedparser
import httpx
import pytest
from lxml import html as lxml_html

from services.publish.read_api import RateLimit, create_read_app
from shared.settings import PublishSettings, Settings
from shared.storage import ITEMS, MongoStore
from tests.support.items import Src, as_document, make_item, sample_items

NOW = datetime.now(UTC).replace(microsecond=0)
APRIL_17, APRIL_20 = datetime(2026, 4, 17, 9, 30, tzinfo=UTC), datetime(2026, 4, 20, 7, 0, tzinfo=UTC)


def april_story() -> dict[str, object]:
    """Two months-old reports that a first pass over old feeds joined into one story today: the
    item was made 30 minutes ago and changed (the second report joined) 16 minutes ago."""
    item = make_item(
        "story-april",
        now=NOW,
        title_en="Anthropic introduces Claude Design",
        title_zh="Anthropic推出Claude Design",
        origin_language="en",
        tags=("product-launch",),
        sources=(
            Src(
                "Anthropic",
                "https://www.anthropic.com/news/claude-design",
                "Introducing Claude Design",
                "en",
                0,
            ),
            Src("AIbase", "https://www.aibase.com/zh/news/1", "Anthropic推出Claude Design", "zh", 0),
        ),
        updated_hours_ago=16 / 60,
    )
    first_pass = [NOW - timedelta(minutes=30), NOW - timedelta(minutes=16)]
    sources = [
        source.model_copy(update={"published_at": published, "joined_at": joined})
        for source, published, joined in zip(item.sources, (APRIL_17, APRIL_20), first_pass, strict=True)
    ]
    return as_document(item.model_copy(update={"sources": sources, "published_at": APRIL_17}))


@pytest.fixture()
async def store(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_server, mongo_db_name)
    await store.ensure_indexes([ITEMS])
    await store.collection(ITEMS).insert_many([*(as_document(i) for i in sample_items(NOW)), april_story()])
    yield store
    await store.client.drop_database(mongo_db_name)
    await store.close()


def client(store: MongoStore, settings: Settings | None = None) -> httpx.AsyncClient:
    app = create_read_app(store, settings or Settings(), rate_limit=None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture()
async def api(store: MongoStore) -> AsyncIterator[httpx.AsyncClient]:
    async with client(store) as api:
        yield api


def text_of(response: httpx.Response) -> str:
    return " ".join(lxml_html.fromstring(response.text).text_content().split())


# --- 1. bad values in a page's link -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "bad", "retry"),
    [
        ("/?cursor=abc", "cursor", "/"),
        ("/?lang=fr", "lang", "/"),
        ("/?lang=en&view=x", "view", "/?lang=en"),
        ("/?sort=bogus&lang=zh", "sort", "/?lang=zh"),
        ("/?tag=Chips", "tag", "/?tag=chips"),  # a tag in capitals is the same tag
        ("/?q=" + "x" * 201, "q", "/"),
        ("/?lang=en&sort=time&limit=3&cursor=" + "A" * 600, "cursor", "/?lang=en&sort=time&limit=3"),
    ],
)
async def test_a_bad_value_in_a_page_link_answers_a_page(
    api: httpx.AsyncClient, path: str, bad: str, retry: str
) -> None:
    response = await api.get(path)
    assert response.status_code == 400, path
    assert response.headers["content-type"].startswith("text/html")
    assert "This link has a value this site does not understand" in text_of(response)
    assert f"{bad} (" in text_of(response)
    page = lxml_html.fromstring(response.text)
    assert page.xpath("//main//a/@href")[0] == retry
    assert (await api.get(retry)).status_code == 200  # the way out works


async def test_a_stale_more_link_answers_a_page(api: httpx.AsyncClient) -> None:
    # A "More" link of the Hot order, opened with another order (or after the cursor format changed)
    cursor = (await api.get("/api/v1/items?limit=2")).json()["next_cursor"]
    response = await api.get("/", params={"lang": "en", "sort": "time", "cursor": cursor})
    assert response.status_code == 400 and "cursor (" in text_of(response)
    assert lxml_html.fromstring(response.text).xpath("//html/@lang") == ["en"]
    searched = await api.get("/", params={"q": "TSMC", "cursor": cursor, "sort": "time"})
    assert searched.status_code == 400 and "cursor (" in text_of(searched)


async def test_an_item_id_that_cannot_exist_is_the_not_found_page(api: httpx.AsyncClient) -> None:
    missing = await api.get("/items/x")
    for path in ("/items/<script>", "/items/" + "a" * 200, "/items/%20x"):
        response = await api.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert text_of(response) == text_of(missing)
    unknown = await api.get("/about")
    assert unknown.status_code == 404 and "No such page." in text_of(unknown)


async def test_the_json_api_and_the_feeds_keep_their_json_errors(api: httpx.AsyncClient) -> None:
    for path in (
        "/api/v1/items?sort=bogus",
        "/api/v1/items?cursor=abc",
        "/api/v1/items/<script>",
        "/api/v1/search?q=" + "x" * 201,
        "/feeds/fr.rss",
    ):
        response = await api.get(path)
        assert response.status_code == 422, path
        assert "detail" in response.json(), path
    missing = await api.get("/api/v1/nothing")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}


async def test_a_reader_over_the_rate_limit_gets_a_page(store: MongoStore) -> None:
    app = create_read_app(store, Settings(), rate_limit=RateLimit(per_second=0.01, burst=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as api:
        assert [(await api.get("/?lang=zh")).status_code for _ in range(2)] == [200, 200]
        for _ in range(2):  # the second answer is the same page (rendered once per language)
            page = await api.get("/items/story-tsmc-copos?lang=zh")
            assert page.status_code == 429 and int(page.headers["Retry-After"]) >= 1
            assert page.headers["content-type"].startswith("text/html")
            assert "您的请求过于频繁" in text_of(page)
            assert lxml_html.fromstring(page.text).xpath("//html/@lang") == ["zh-Hans"]
        limited = await api.get("/api/v1/items")
        assert limited.status_code == 429 and limited.json() == {"detail": "rate limit exceeded, retry later"}


# --- 2. HEAD ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?lang=en&sort=time",
        "/items/story-tsmc-copos",
        "/feeds/en.rss",
        "/feeds/zh.atom",
        "/feeds/tags/chips/en.json",
        "/healthz",
        "/readyz",
        "/static/style.css",
    ],
)
async def test_head_answers_like_get_without_a_body(
    store: MongoStore, api: httpx.AsyncClient, path: str
) -> None:
    head = await api.head(path, headers={"User-Agent": "Mozilla/5.0 Chrome/131.0 Safari/537.36"})
    get = await api.get(path)
    assert head.status_code == 200, path
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) > 0
    doc = await store.get(ITEMS, "story-tsmc-copos")
    assert doc is not None and doc.get("views", 0) == 0  # a HEAD is not a reader


async def test_head_of_a_missing_item_is_404_and_the_api_documents_no_head(api: httpx.AsyncClient) -> None:
    assert (await api.head("/items/no-such-story")).status_code == 404
    assert (await api.head("/items/<script>")).status_code == 404
    spec = (await api.get("/openapi.json")).json()
    assert not [path for path, operations in spec["paths"].items() if "head" in operations]


# --- 3. Host header and feed links --------------------------------------------------------------


async def test_without_a_base_url_feed_links_follow_the_host_for_that_client_only(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/feeds/en.rss", headers={"Host": "evil.example"})
    assert response.status_code == 200
    # the links name the Host this client sent; no shared cache may keep them for anyone else
    assert "public" not in response.headers["cache-control"]
    assert "private" in response.headers["cache-control"]
    assert "host" in response.headers["vary"].lower()
    normal = feedparser.parse((await api.get("/feeds/en.rss")).content)
    assert normal.entries and all(e.link.startswith("http://testserver/items/") for e in normal.entries)


async def test_with_a_base_url_feed_links_ignore_the_host(store: MongoStore) -> None:
    settings = Settings(publish=PublishSettings(public_base_url="https://news.example/"))
    async with client(store, settings) as api:
        for path in ("/feeds/en.rss", "/feeds/zh.atom", "/feeds/tags/chips/en.json"):
            response = await api.get(path, headers={"Host": "evil.example"})
            assert response.status_code == 200
            assert "evil.example" not in response.text, path
            assert response.headers["cache-control"] == "public, max-age=60"
        document = json.loads((await api.get("/feeds/en.json", headers={"Host": "evil.example"})).content)
        assert document["feed_url"] == "https://news.example/feeds/en.json"
        assert document["home_page_url"].startswith("https://news.example")
        atom = feedparser.parse((await api.get("/feeds/en.atom", headers={"Host": "evil.example"})).content)
        assert [link.href for link in atom.feed.links if link.rel == "self"] == [
            "https://news.example/feeds/en.atom"
        ]


# --- 4. "updated" is news time --------------------------------------------------------------------


async def test_an_old_story_completed_today_does_not_read_as_freshly_updated(api: httpx.AsyncClient) -> None:
    full = (await api.get("/api/v1/items/story-april")).json()
    assert datetime.fromisoformat(full["published_at"]) == APRIL_17
    assert datetime.fromisoformat(full["updated_at"]) == APRIL_20  # the later report, not 16 min ago
    listed = {i["id"]: i for i in (await api.get("/api/v1/items?limit=50")).json()["items"]}
    assert datetime.fromisoformat(listed["story-april"]["updated_at"]) == APRIL_20
    page = await api.get("/items/story-april?lang=en")
    when = lxml_html.fromstring(page.text).xpath("//article[@class='story']//span[@class='when']/text()")
    assert when[0] == "2026-04-17 · updated 2026-04-20"  # then each source's own time
    assert when[1:] == ["2026-04-17", "2026-04-20"]
    cards = lxml_html.fromstring((await api.get("/?lang=en&sort=time")).text)
    card = cards.xpath("//*[@id='item-story-april']//span[@class='when']/text()")
    assert card == ["2026-04-17 · updated 2026-04-20"]
    feed = json.loads((await api.get("/feeds/en.json")).content)
    entry = next(e for e in feed["items"] if e["id"].endswith("story-april"))
    assert datetime.fromisoformat(entry["date_modified"]) == APRIL_20
