"""The web page in real headless Chromium (Debian's `chromium` package): the list and an item page
render both languages, and a `<script>` stored in an article title shows as text and never runs.
The read API runs as its own process (`python -m services.publish.read_api`) over nx-27017.
Screenshots are saved under tests/artifacts/ (ignored by git)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from lxml import html as lxml_html
from pymongo import MongoClient

from shared.runtime.embedded import free_port
from shared.storage import ITEMS
from tests.support.items import as_document, make_item, sample_items

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
NOW = datetime.now(UTC)
XSS_TITLE = "<script>document.documentElement.setAttribute('data-pwned','yes')</script>Evil headline"


@pytest.fixture()
def read_api(mongo_server: str, mongo_db_name: str, tmp_path: Path) -> Iterator[str]:
    client: MongoClient[dict[str, object]] = MongoClient(mongo_server, tz_aware=True)
    items = [*sample_items(NOW), make_item(
        "story-xss", now=NOW, title_en=XSS_TITLE, title_zh="<b>恶意</b>标题", hot=10, tags=("chips",),
        summary_en="<img src=x onerror=\"document.title='pwned'\">", published_hours_ago=2,
    )]
    client[mongo_db_name][ITEMS].insert_many([as_document(i) for i in items])
    port = free_port()
    env = {
        **os.environ, "NEWSROOM_MONGO_URL": mongo_server, "NEWSROOM_MONGO_DB": mongo_db_name,
        "NEWSROOM_PUBLISH__API_HOST": "127.0.0.1", "NEWSROOM_PUBLISH__API_PORT": str(port),
        "PYTHONPATH": str(ROOT),
    }
    log = open(tmp_path / "read_api.log", "wb")  # closed in the finally below
    proc = subprocess.Popen([sys.executable, "-m", "services.publish.read_api"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
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


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--window-size=1200,1600", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )


def dump_dom(url: str) -> str:
    result = chromium("--dump-dom", url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def screenshot(url: str, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    result = chromium(f"--screenshot={path}", url)
    assert result.returncode == 0, result.stderr[-2000:]
    return path


def test_list_page_in_both_languages_and_stored_script_is_text(read_api: str) -> None:
    dom = dump_dom(read_api + "/?lang=both")
    tree = lxml_html.fromstring(dom)
    assert tree.get("data-pwned") is None  # the stored script did not run
    titles = [t.text_content() for t in tree.xpath("//h2[@class='title']//span[@class='t']")]
    assert titles[:2] == [
        "OpenAI CFO Sarah Friar says the company's AI device will be released by the end of the year",
        "OpenAI首席财务官谈公司AI设备:今年年底前将正式发布",
    ]
    assert XSS_TITLE in titles  # shown as text, characters intact
    assert "<b>恶意</b>标题" in titles
    assert not tree.xpath("//body//script") and not tree.xpath("//main//img")
    # Hot order, the three scores and the relative times in both languages
    hot = [int(v) for v in tree.xpath("//li[@class='item']//div[contains(@class,'score-hot')]/dd/text()")]
    assert hot == sorted(hot, reverse=True) and hot[0] == 75
    first = tree.xpath("//li[@class='item']")[0]
    assert [w.text_content() for w in first.xpath(".//span[@class='when']")] == [
        "17h ago · updated 1h ago", "17小时前 · 更新于1小时前",
    ]
    labels = " ".join(first.xpath(".//dl[@class='scores']//dt//text()"))
    assert all(word in labels for word in ("Hot", "热度", "Quality", "质量", "Impact", "影响力"))

    path = screenshot(read_api + "/?lang=both", "web-list.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_language_switch_and_tag_filter(read_api: str) -> None:
    tree = lxml_html.fromstring(dump_dom(read_api + "/?lang=zh&tag=chips"))
    titles = [t.text_content() for t in tree.xpath("//h2[@class='title']//span[@class='t']")]
    assert titles == [
        "台积电魏哲家:CoPoS试产线需两三年才能放量", "小米旗下基金入股芯片公司恒脉微", "<b>恶意</b>标题",
    ]
    assert tree.xpath("//nav[@class='langs']/a[@aria-current='true']/text()") == ["中文"]


def test_item_page_shows_analysis_sources_and_disclaimer(read_api: str) -> None:
    url = read_api + "/items/story-openai-device?lang=both"
    tree = lxml_html.fromstring(dump_dom(url))
    analysis = tree.xpath("//section[@class='analysis']")[0]
    text = analysis.text_content()
    assert "Analysis" in text and "深度分析" in text
    assert "The CFO personally testing and announcing the device" in text
    assert "CFO亲自试用并官宣" in text
    sources = tree.xpath("//section[@class='sources']//li/a")
    assert [a.text_content() for a in sources] == ["36Kr", "The Verge"]
    assert sources[0].get("href") == "https://36kr.com/newsflashes/openai-device"
    disclaimer = tree.xpath("//section[@class='disclaimer']")[0].text_content()
    assert "generated by AI" in disclaimer and "以上内容由 AI 生成" in disclaimer
    path = screenshot(url, "web-item.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    xss = lxml_html.fromstring(dump_dom(read_api + "/items/story-xss?lang=en"))
    assert xss.get("data-pwned") is None
    assert XSS_TITLE in xss.xpath("//h1")[0].text_content()
