"""The web page in real headless Chromium (Debian's `chromium` package), as a reader uses it, at
desktop (1280 px) and phone (390 px) widths: both languages, true relative times (a story first
published three days ago and processed a minute ago reads "3d ago"), a view count that grows after a
visit, readable score reasons in both languages, the search box finding a Chinese story from an
English query, the compact list, and a `<script>` stored in an article title shown as text, never run.
The read API runs as its own process (`python -m services.publish.read_api`) over nx-27017.
Screenshots are saved under the test's temporary directory (printed with -s), not in the tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import html as lxml_html
from pymongo import MongoClient

from shared.core.items import merge_event
from shared.events import Article, Bilingual, Cluster, ScoreDetail, Scores, SectionStatus, StoryMember
from shared.items import Item
from shared.runtime.embedded import free_port
from shared.storage import ITEMS
from tests.support.items import as_document, entity, make_item, sample_items
from tests.support.waits import WAIT_S
from tests.unit.test_items_merge import full_event

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)
XSS_TITLE = "<script>document.documentElement.setAttribute('data-pwned','yes')</script>Evil headline"
# A reader's browser. Chromium's own headless User-Agent says "HeadlessChrome": a bot, never counted.
READER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)
DESKTOP, PHONE = (1280, 1400), (390, 1400)
HOT_COMPONENTS = {
    "independent_sources": 4.0,
    "duplicates": 1.0,
    "coverage": 3.4,
    "coverage_points": 1.65,
    "engagement": 0.0,
    "engagement_points": 0.0,
    "age_h": 17.3,
    "decay": 0.42,
    "velocity": 0.8,
    "velocity_points": 0.3,
    "raw": 1.2,
}
QUALITY_COMPONENTS = {
    "word_units": 840.0,
    "data_points": 6.0,
    "quotes": 2.0,
    "structure_units": 5.0,
    "substance": 0.62,
    "originality": 0.8,
    "source_reputation": 0.7,
    "readability": 0.66,
    "local": 0.68,
    "llm": 0.0,
    "llm_weight": 0.0,
    "marketing_hits": 0.0,
    "penalty_translation_qa": 0.0,
    "penalty_paywall": 0.0,
    "penalty_marketing": 0.0,
    "final": 0.68,
}
IMPACT_COMPONENTS = {
    "entities": 0.9,
    "event_type": 0.7,
    "magnitude": 0.0,
    "scope": 0.5,
    "money": 0.0,
    "users": 0.0,
    "regions": 2.0,
    "local": 0.66,
    "llm": 0.0,
    "llm_weight": 0.0,
    "final": 0.66,
}


def three_day_old_story(now: datetime) -> Item:
    """A story through the real merge: its source published it 74 h ago, the pipeline saw it 70 h
    ago and published the item a minute ago (the old page said "just now" for such a story)."""
    base = full_event()
    seen, published = now - timedelta(hours=70), now - timedelta(hours=74)
    source = StoryMember(
        article_id="a-6g",
        source_id="bandaoti",
        source_name="半导体快讯",
        url="https://bandaoti.example/6g",
        title="工信部启动6G创新试点",
        language="zh",
        published_at=published,
        joined_at=seen,
    )
    article = Article(
        article_id="a-6g",
        source_id="bandaoti",
        source_name="半导体快讯",
        url="https://bandaoti.example/6g",
        canonical_url="https://bandaoti.example/6g",
        title="工信部启动6G创新试点,目标2029年形成自主技术方案",
        language="zh",
        published_at=published,
        fetched_at=seen,
    )
    assert base.translation is not None and base.analysis is not None
    event = base.next(
        story_id="story-6g",
        article_id="a-6g",
        article=article,
        cluster=Cluster(story_id="story-6g", is_new=True, method="new", members=[source]),
        translation=base.translation.model_copy(update={"source_language": "zh", "title": Bilingual()}),
        analysis=base.analysis.model_copy(
            update={"summary": Bilingual(zh="工业和信息化部发布通知,启动6G技术创新试点工作。")}
        ),
        scores=Scores(
            status=SectionStatus.OK,
            computed_at=now,
            hot=ScoreDetail(value=30, components=HOT_COMPONENTS, formula_version="hot-test"),
        ),
    )
    merge = merge_event(None, None, event, now - timedelta(minutes=1))
    assert merge is not None
    return merge.item


def wire(now: datetime) -> list[Item]:
    items = sample_items(now)
    # Readable reasons: the top story carries real-looking Hot components
    top = items[0]
    assert top.scores.hot is not None
    assert top.scores.quality is not None and top.scores.impact is not None
    real_looking = {
        "hot": top.scores.hot.model_copy(update={"components": HOT_COMPONENTS}),
        "quality": top.scores.quality.model_copy(update={"components": QUALITY_COMPONENTS}),
        "impact": top.scores.impact.model_copy(update={"components": IMPACT_COMPONENTS}),
    }
    items[0] = top.model_copy(update={"scores": top.scores.model_copy(update=real_looking)})
    return [
        *items,
        three_day_old_story(now),
        # Chinese only: found by an English query through its entity, and "English version not available yet"
        make_item(
            "story-tsmc-cowos",
            now=now,
            title_en=None,
            title_zh="台积电CoWoS产能明年翻倍",
            summary_zh="台积电计划明年将CoWoS先进封装产能提高一倍,以满足AI芯片需求。",
            entities=(entity("tsmc", "TSMC", "台积电", "company"),),
            tags=("chips",),
            hot=20,
            published_hours_ago=5,
        ),
        make_item(
            "story-xss",
            now=now,
            title_en=XSS_TITLE,
            title_zh="<b>恶意</b>标题",
            hot=10,
            tags=("chips",),
            summary_en="<img src=x onerror=\"document.title='pwned'\">",
            published_hours_ago=2,
        ),
    ]


@pytest.fixture(scope="module")
def read_api(mongo_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One read API process for the module (its start-up took ~8 s per test): the tests only read,
    and the one that counts views is the only one that sends a reader's User-Agent."""
    mongo_db_name = f"t_{uuid.uuid4().hex[:10]}"
    tmp_path = tmp_path_factory.mktemp("read_api")
    client: MongoClient[dict[str, object]] = MongoClient(mongo_server, tz_aware=True)
    client[mongo_db_name][ITEMS].insert_many([as_document(i) for i in wire(NOW)])
    port = free_port()
    env = {
        **os.environ,
        "NEWSROOM_MONGO_URL": mongo_server,
        "NEWSROOM_MONGO_DB": mongo_db_name,
        "NEWSROOM_PUBLISH__API_HOST": "127.0.0.1",
        "NEWSROOM_PUBLISH__API_PORT": str(port),
        "PYTHONPATH": str(ROOT),
    }
    log = open(tmp_path / "read_api.log", "wb")  # closed in the finally below
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.publish.read_api"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S  # the API's start-up on a loaded machine
        while True:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "read_api.log").read_text())
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                output = (tmp_path / "read_api.log").read_text()
                raise AssertionError("read API did not become ready: " + output)
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        client.drop_database(mongo_db_name)
        client.close()


def chromium(
    *args: str, size: tuple[int, int] = DESKTOP, agent: str | None = None
) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                f"--window-size={size[0]},{size[1]}",
                *([f"--user-agent={agent}"] if agent else []),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def dump_dom(url: str, size: tuple[int, int] = DESKTOP, agent: str | None = None) -> lxml_html.HtmlElement:
    result = chromium("--dump-dom", url, size=size, agent=agent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<html" in result.stdout, result.stderr[-2000:]
    return lxml_html.fromstring(result.stdout)


def screenshot(url: str, path: Path, size: tuple[int, int]) -> Path:
    path.unlink(missing_ok=True)
    result = chromium(f"--screenshot={path}", url, size=size)
    assert result.returncode == 0, result.stderr[-2000:]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    print(f"screenshot: {path}")  # shown with pytest -s
    return path


def text_of(node: lxml_html.HtmlElement, xpath: str) -> list[str]:
    return [" ".join(n.text_content().split()) for n in node.xpath(xpath)]


def card(tree: lxml_html.HtmlElement, item_id: str) -> lxml_html.HtmlElement:
    found = tree.xpath(f"//li[@id='item-{item_id}']")
    assert found, item_id
    return found[0]


def test_list_page_true_times_both_languages_and_stored_script_is_text(read_api: str, tmp_path: Path) -> None:
    tree = dump_dom(read_api + "/?lang=both")
    assert tree.get("data-pwned") is None  # the stored script did not run
    titles = text_of(tree, "//h2[@class='title']//span[contains(@class,'t')]")
    assert titles[:2] == [
        "OpenAI CFO Sarah Friar says the company's AI device will be released by the end of the year",
        "OpenAI首席财务官谈公司AI设备:今年年底前将正式发布",
    ]
    assert XSS_TITLE in titles  # shown as text, characters intact
    assert "<b>恶意</b>标题" in titles
    assert not tree.xpath("//body//script") and not tree.xpath("//main//img")
    # Hot order and the three scores
    hot = [int(v) for v in tree.xpath("//li[@class='item']//div[contains(@class,'score-hot')]/dd/text()")]
    assert hot == sorted(hot, reverse=True) and hot[0] == 75
    first = tree.xpath("//li[@class='item']")[0]
    labels = " ".join(first.xpath(".//dl[@class='scores']//dt//text()"))
    assert all(word in labels for word in ("Hot", "热度", "Quality", "质量", "Impact", "影响力"))
    # True relative times: the first appearance, and the last change when there was one
    assert text_of(first, ".//span[@class='when']") == [
        "17h ago · updated 1h ago",
        "17小时前 · 更新于1小时前",
    ]
    # published three days ago, processed a minute ago: "3d ago", not "just now"; never changed since
    assert text_of(card(tree, "story-6g"), ".//span[@class='when']") == ["3d ago", "3天前"]
    # a story only in Chinese says so, briefly, in the missing language
    assert text_of(card(tree, "story-tsmc-cowos"), ".//span[@class='missing']") == [
        "English version not available yet"
    ]
    # "Latest" is in order of first appearance
    latest = dump_dom(read_api + "/?lang=en&sort=time")
    ids = [li.get("id") for li in latest.xpath("//li[@class='item']")]
    assert ids[:2] == ["item-story-xss", "item-story-xiaomi-hengmai"] and ids[-1] == "item-story-6g"

    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        screenshot(read_api + "/?lang=both", tmp_path / f"list-cards-{name}.png", size)
        screenshot(read_api + "/?lang=both&view=list", tmp_path / f"list-compact-{name}.png", size)


def test_compact_list_view_puts_each_story_on_two_lines(read_api: str) -> None:
    tree = dump_dom(read_api + "/?lang=en&view=list", size=PHONE)
    rows = tree.xpath("//ol[contains(@class,'list')]/li[@class='row']")
    assert len(rows) == 10
    top = rows[0]
    assert text_of(top, "./a[@class='title']") == [
        "OpenAI CFO Sarah Friar says the company's AI device will be released by the end of the year"
    ]
    meta = text_of(top, "./div[@class='meta']")[0]
    assert meta.startswith("17h ago · updated 1h ago") and "2 sources" in meta
    assert "75 Hot" in meta and "65 Quality" in meta and "70 Impact" in meta
    assert not top.xpath(".//p[@class='summary']")  # no summaries or tag chips in the compact list
    # the switch back to cards keeps the language
    assert tree.xpath("//nav[@class='views']/a[1]/@href") == ["/?lang=en&sort=hot"]


def test_a_view_is_counted_when_a_reader_opens_the_item_page(read_api: str) -> None:
    item_url = read_api + "/items/story-tsmc-copos?lang=both"
    before = dump_dom(read_api + "/?lang=both")
    assert text_of(card(before, "story-tsmc-copos"), ".//span[@class='views']") == []  # no views yet
    page = dump_dom(item_url, agent=READER_UA)
    assert text_of(page, "//article//span[@class='views']") == ["1 view · 1 次浏览"]
    after = dump_dom(read_api + "/?lang=both")
    assert text_of(card(after, "story-tsmc-copos"), ".//span[@class='views']") == ["1 view · 1 次浏览"]
    # the same reader again within the hour, a headless browser, the API and the feeds: no new view
    dump_dom(item_url, agent=READER_UA)
    dump_dom(item_url)  # Chromium's own headless User-Agent
    assert httpx.get(read_api + "/api/v1/items/story-tsmc-copos").json()["views"] == 1
    httpx.get(read_api + "/api/v1/items", headers={"User-Agent": READER_UA})
    httpx.get(read_api + "/feeds/en.rss", headers={"User-Agent": READER_UA})
    assert httpx.get(read_api + "/api/v1/items/story-tsmc-copos").json()["views"] == 1
    # another reader (another browser) counts
    other = READER_UA.replace("Chrome/131.0", "Chrome/130.0")
    assert text_of(dump_dom(item_url, agent=other), "//article//span[@class='views']") == [
        "2 views · 2 次浏览"
    ]


def test_item_page_reasons_in_both_languages_analysis_sources_disclaimer(
    read_api: str, tmp_path: Path
) -> None:
    url = read_api + "/items/story-openai-device?lang=both"
    tree = dump_dom(url)
    hot_reasons = text_of(tree, "//div[contains(@class,'why-hot')]//ul[@class='reasons']/li")
    assert "4 independent sources / 4 个独立来源" in hot_reasons
    assert "1 copy of another report / 1 篇转载" in hot_reasons
    assert not any("coverage_points" in r or "age_h" in r for r in hot_reasons)
    zh = dump_dom(read_api + "/items/story-openai-device?lang=zh")
    assert "4 个独立来源" in text_of(zh, "//div[contains(@class,'why-hot')]//ul[@class='reasons']/li")
    # times: first appearance and last change; provenance of each language, quietly
    assert text_of(tree, "//article/div[@class='meta']//span[@class='when']") == [
        "17h ago · updated 1h ago",
        "17小时前 · 更新于1小时前",
    ]
    assert text_of(tree, "//span[@class='text-provenance']") == [
        "English: machine-translated · 中文:来自 36Kr"
    ]
    analysis = tree.xpath("//section[@class='analysis']")[0].text_content()
    assert "Analysis" in analysis and "深度分析" in analysis
    assert (
        "The CFO personally testing and announcing the device" in analysis and "CFO亲自试用并官宣" in analysis
    )
    sources = tree.xpath("//section[@class='sources']//li/a")
    assert [a.text_content() for a in sources] == ["36Kr", "The Verge"]
    assert sources[0].get("href") == "https://36kr.com/newsflashes/openai-device"
    disclaimer = tree.xpath("//section[@class='disclaimer']")[0].text_content()
    assert "generated by AI" in disclaimer and "以上内容由 AI 生成" in disclaimer
    # a story with no analysis and one language: short notes, never configuration advice
    six_g = dump_dom(read_api + "/items/story-6g?lang=both")
    body = " ".join(six_g.xpath("//main")[0].text_content().split())
    assert "English version not available yet" in body and "本条暂无深度分析" in body
    assert "LLM" not in body and "NEWSROOM_" not in body and "configured" not in body
    assert text_of(six_g, "//article/div[@class='meta']//span[@class='when']") == ["3d ago", "3天前"]
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        screenshot(url, tmp_path / f"item-{name}.png", size)
    screenshot(read_api + "/items/story-6g?lang=en", tmp_path / "item-6g-phone.png", PHONE)

    xss = dump_dom(read_api + "/items/story-xss?lang=en")
    assert xss.get("data-pwned") is None
    assert XSS_TITLE in xss.xpath("//h1")[0].text_content()


def test_search_box_finds_a_chinese_story_from_an_english_query(read_api: str, tmp_path: Path) -> None:
    home = dump_dom(read_api + "/?lang=en")
    form = home.xpath("//form[@role='search']")[0]
    assert form.get("method") == "get" and form.get("action") == "/"
    assert form.xpath(".//input[@type='search']/@name") == ["q"]
    # what the form sends when a reader types "TSMC" and presses Enter
    url = read_api + "/?lang=en&q=TSMC"
    tree = dump_dom(url)
    titles = text_of(tree, "//h2[@class='title']")
    assert titles == [
        "TSMC's C.C. Wei: CoPoS production lines need two to three years to scale",
        "台积电CoWoS产能明年翻倍",
    ]
    assert tree.xpath("//form[@role='search']//input[@name='q']/@value") == ["TSMC"]
    assert "Results for" in text_of(tree, "//p[@class='results-for']")[0]
    nothing = dump_dom(read_api + "/?lang=zh&q=quantum")
    assert text_of(nothing, "//li[@class='empty']") == ["没有找到相关资讯。"]
    screenshot(read_api + "/?lang=both&q=TSMC", tmp_path / "search-phone.png", PHONE)


def test_language_switch_and_tag_filter(read_api: str) -> None:
    tree = dump_dom(read_api + "/?lang=zh&tag=chips")
    titles = text_of(tree, "//h2[@class='title']//span[contains(@class,'t')]")
    assert titles == [
        "台积电魏哲家:CoPoS试产线需两三年才能放量",
        "小米旗下基金入股芯片公司恒脉微",
        "工信部启动6G创新试点,目标2029年形成自主技术方案",
        "台积电CoWoS产能明年翻倍",
        "<b>恶意</b>标题",
    ]
    assert tree.xpath("//nav[@class='langs']/a[@aria-current='true']/text()") == ["中文"]
    english = dump_dom(read_api + "/?lang=en&tag=chips")
    # one title per story in a single-language view; the Chinese-only one marked as such
    assert len(english.xpath("//h2[@class='title']//span[contains(@class,'t')]")) == 5
    assert text_of(card(english, "story-tsmc-cowos"), ".//span[@class='missing']") == [
        "English version not available yet"
    ]
