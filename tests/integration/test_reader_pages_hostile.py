"""What a reader sees when stored text is what real and hostile feeds send, through the real read API
over nx-27017 (or NEWSROOM_TEST_MONGO_URL).

The inputs are the ones a run over /work/shared/data/real-world and a hostile feed put in the store:
a title with terminal escapes and a vertical tab (a malformed feed that the lenient parser
recovered), a story whose only source is in neither English nor Chinese (so no title in either
language), titles and a search with an unclosed right-to-left override, a tag filter, and the
analysis reasons the analyze stage and story revisions write when there is no analysis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import feedparser
import httpx
import pytest
from lxml import etree
from lxml import html as lxml_html

from services.publish.read_api import create_read_app
from shared.core.bilingual import NO_MODEL_REASON
from shared.core.item_revisions import REP_LEFT_REASON
from shared.settings import Settings
from shared.storage import ITEMS, MongoStore
from tests.support.items import Src, as_document, make_item

NOW = datetime.now(UTC).replace(microsecond=0)
# As ingest stored it from a feed whose <title> carried an ANSI colour code and a vertical tab.
CONTROL_TITLE = "Control chars \x1b[31m red \x0b vertical tab in DeepSeek title"
RLO = "\u202e"
BIDI_TITLE = f"Anthropic {RLO}evil launches model"
HUGE_SOURCE_TITLE = "Huge " + "word " * 600  # a source in another language, no en/zh title


@pytest.fixture()
async def api(mongo_server: str, mongo_db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    store = MongoStore(mongo_server, mongo_db_name)
    await store.ensure_indexes([ITEMS])
    items = [
        make_item(
            "story-control",
            now=NOW,
            title_en=CONTROL_TITLE,
            title_zh=None,
            origin_language="en",
            summary_en="DeepSeek published a paper on reasoning \x1b[0m models.",
            tags=("model-release",),
            published_hours_ago=2,
        ),
        make_item(
            "story-untitled",
            now=NOW,
            title_en=None,
            title_zh=None,
            origin_language="other",
            tags=("chips",),
            published_hours_ago=3,
            sources=(Src("Hostile Feed", "https://example.com/huge", HUGE_SOURCE_TITLE, "other", 3),),
        ),
        make_item(
            "story-bidi",
            now=NOW,
            title_en=BIDI_TITLE,
            title_zh="Anthropic 发布新模型",
            origin_language="en",
            tags=("model-release",),
            published_hours_ago=4,
        ),
        make_item(
            "story-half",
            now=NOW,
            title_en="Introducing Claude Design by Anthropic Labs",
            title_zh="Claude推出Claude Design",
            origin_language="en",
            summary_zh="Anthropic推出Claude Design，面向设计师的新产品。",
            published_hours_ago=5,
        ),
    ]
    docs = [as_document(i) for i in items]
    docs[0]["analysis_reason"] = NO_MODEL_REASON
    docs[2]["analysis_reason"] = REP_LEFT_REASON
    await store.collection(ITEMS).insert_many(docs)
    app = create_read_app(store, Settings(), rate_limit=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client
    await store.client.drop_database(mongo_db_name)
    await store.close()


async def test_a_control_character_in_one_title_does_not_take_the_feeds_down(api: httpx.AsyncClient) -> None:
    for path in (
        "/feeds/en.rss",
        "/feeds/zh.rss",
        "/feeds/en.atom",
        "/feeds/zh.atom",
        "/feeds/tags/model-release/en.rss",
    ):
        response = await api.get(path)
        assert response.status_code == 200, path
        etree.fromstring(response.content)  # well-formed XML
        feed = feedparser.parse(response.content)
        assert not feed.bozo, (path, feed.get("bozo_exception"))
        titles = [e.title for e in feed.entries]
        assert "Control chars [31m red  vertical tab in DeepSeek title" in titles, (path, titles)
    body = (await api.get("/feeds/en.json")).text
    assert "\\u001b" not in body and "\\u000b" not in body  # JSON would carry them escaped
    titles = [entry["title"] for entry in json.loads(body)["items"]]
    assert "Control chars [31m red  vertical tab in DeepSeek title" in titles
    for path in ("/", "/items/story-control", "/?view=list"):
        page = (await api.get(path)).text
        assert "Control chars [31m red  vertical tab" in page, path
        assert "\x1b" not in page and "\x0b" not in page, path


async def test_a_story_with_no_title_in_either_language_stays_reachable(api: httpx.AsyncClient) -> None:
    for path in ("/", "/?view=list", "/?lang=en", "/?lang=zh"):
        doc = lxml_html.fromstring((await api.get(path)).text)
        links = [a for a in doc.iter("a") if a.get("href", "").startswith("/items/story-untitled")]
        assert links, path
        texts = [" ".join(a.text_content().split()) for a in links]
        assert all(texts), (path, texts)
    page = lxml_html.fromstring((await api.get("/items/story-untitled")).text)
    heading = " ".join(page.xpath("//h1")[0].text_content().split())
    assert heading.startswith("Huge word word") and heading.endswith("…") and len(heading) <= 301
    assert "Original headline" in page.text_content()
    assert page.findtext(".//title").startswith("Huge word")
    for path in ("/feeds/en.rss", "/feeds/zh.atom"):
        titles = {e.id: e.title for e in feedparser.parse((await api.get(path)).content).entries}
        assert titles["urn:ai-newsroom:story:story-untitled"] in ("Untitled story", "无标题资讯"), path
    data = json.loads((await api.get("/feeds/zh.json")).content)
    entry = next(e for e in data["items"] if e["id"].endswith("story-untitled"))
    assert entry["title"] == "无标题资讯"


def _unisolated(doc: lxml_html.HtmlElement, needle: str) -> list[str]:
    """Texts holding ``needle`` whose element neither is <bdi> nor has a dir attribute, nor sits in
    one (an unclosed override there would turn the rest of the line around)."""
    bad: list[str] = []
    for text in doc.xpath("//body//text()[contains(., $n)]", n=needle):
        owner = text.getparent()
        if text.is_tail:
            owner = owner.getparent()
        isolated = any(e.tag == "bdi" or e.get("dir") for e in [owner, *owner.iterancestors()])
        if not isolated:
            bad.append(str(text))
    return bad


async def test_a_bidi_override_in_a_title_or_a_search_reverses_only_itself(api: httpx.AsyncClient) -> None:
    for path in ("/", "/?view=list", "/items/story-bidi", f"/?q={RLO}evil", f"/?q={RLO}Anthropic&lang=zh"):
        response = await api.get(path)
        assert response.status_code == 200
        doc = lxml_html.fromstring(response.text)
        assert RLO in doc.xpath("string(//body)"), path  # kept: the text is not altered...
        assert _unisolated(doc, RLO) == [], path  # ...but isolated
        assert RLO not in (doc.findtext(".//title") or ""), path


async def test_the_chosen_tag_is_marked_and_named(api: httpx.AsyncClient) -> None:
    doc = lxml_html.fromstring((await api.get("/?tag=chips&lang=en")).text)
    chosen = doc.xpath("//nav[@class='filters']//*[contains(concat(' ', @class, ' '), ' on ')]")
    assert [" ".join(c.text_content().split()) for c in chosen] == ["Chips"]
    assert chosen[0].get("aria-current") == "true"
    line = " ".join(doc.xpath("//p[@class='filtered-by']")[0].text_content().split())
    assert line.startswith("Tag: Chips") and "all tags" in line
    unknown = lxml_html.fromstring((await api.get("/?tag=no-such-tag&lang=en")).text)
    assert "No stories carry the tag “no-such-tag”" in " ".join(unknown.text_content().split())


async def test_a_missing_analysis_says_why(api: httpx.AsyncClient) -> None:
    async def note(item_id: str, lang: str) -> str:
        doc = lxml_html.fromstring((await api.get(f"/items/{item_id}?lang={lang}")).text)
        return " ".join(doc.xpath("//section[@class='analysis']")[0].text_content().split())

    assert "runs without a language model" in await note("story-control", "en")
    assert "未配置撰写分析的语言模型" in await note("story-control", "zh")
    assert "being rewritten" in await note("story-bidi", "en")


async def test_an_english_title_over_a_chinese_summary_is_explained(api: httpx.AsyncClient) -> None:
    english = lxml_html.fromstring((await api.get("/items/story-half?lang=en")).text)
    notes = [" ".join(n.text_content().split()) for n in english.xpath("//*[@class='missing']")]
    assert "No English summary yet" in notes
    assert "Anthropic推出Claude Design" in english.text_content()  # the summary there is, still shown
    chinese = (await api.get("/items/story-half?lang=zh")).text
    assert "暂无中文摘要" not in chinese and "No English summary yet" not in chinese
    card = (await api.get("/?lang=en")).text
    assert "No English summary yet" in card


async def test_a_later_page_links_back_to_the_first(api: httpx.AsyncClient) -> None:
    first = (await api.get("/?lang=zh&view=list")).text
    assert "第一页" not in first
    cursor = (await api.get("/api/v1/items", params={"limit": 1})).json()["next_cursor"]
    later = lxml_html.fromstring(
        (await api.get("/", params={"lang": "zh", "view": "list", "cursor": cursor})).text
    )
    back = [a for a in later.iter("a") if "第一页" in a.text_content()]
    assert [a.get("href") for a in back] == ["/?lang=zh&sort=hot&view=list"]
