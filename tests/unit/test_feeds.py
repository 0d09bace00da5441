import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.core.feeds import (
    FeedEntry,
    FeedParseError,
    ParsedFeed,
    decode_bytes,
    is_teaser,
    json_path,
    parse_feed,
)
from shared.core.timeparse import BEIJING
from shared.sample_corpus import CORPUS_DIR, corpus_sources
from shared.sources import HtmlListSelectors, JsonApiMapping

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
FEEDS = CORPUS_DIR / "feeds"


def _parse(name: str, kind: str, **kwargs: object) -> ParsedFeed:
    raw = (FEEDS / name).read_bytes()
    return parse_feed(raw, kind, base_url=f"https://corpus.example/{name}", now=NOW, **kwargs)  # type: ignore[arg-type]


def test_rss_with_full_content_and_engagement() -> None:
    feed = _parse("aiwire.rss", "rss")
    assert feed.title == "AI Wire"
    assert len(feed.entries) == 5
    first = feed.entries[0]
    assert first.title == "OpenAI CFO says first AI device will launch before year-end"
    assert first.published == datetime(2026, 11, 27, 9, 12, tzinfo=UTC)
    assert first.author == "Maya Lindqvist"
    assert first.engagement is not None and first.engagement.comments == 41
    assert first.content_html is not None and "Jony Ive" in first.content_html
    assert not is_teaser(first)


def test_atom_teasers_are_detected() -> None:
    feed = _parse("techdaily.atom", "atom")
    assert feed.entries[0].url == "https://techdaily.example/2026/11/openai-hardware-bet.html"
    assert all(is_teaser(e) for e in feed.entries)


def test_gbk_bytes_declared_utf8_are_decoded_not_mangled() -> None:
    raw = (FEEDS / "bandaoti-gbk.rss").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the declaration lies
    feed = _parse("bandaoti-gbk.rss", "rss", assume_tz=BEIJING)
    assert feed.encoding == "gb18030"
    assert feed.entries[0].title == "台积电：CoPoS面板级封装量产还要两三年"
    # "2026-11-26 16:40" without a zone is Beijing time.
    assert feed.entries[0].published == datetime(2026, 11, 26, 8, 40, tzinfo=UTC)


def test_gb2312_declared_but_gbk_only_characters() -> None:
    text = (
        '<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>镕铖：喆</title><link>https://a.example/1</link></item></channel></rss>"
    )
    raw = text.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gb2312")
    feed = parse_feed(raw, "rss", base_url="https://a.example/", now=NOW)
    assert feed.entries[0].title == "镕铖：喆"


def test_utf8_declared_latin1_is_read_as_utf8() -> None:
    text, encoding = decode_bytes("人工智能".encode(), declared="iso-8859-1")
    assert (text, encoding) == ("人工智能", "utf-8")


def test_malformed_feed_is_recovered_with_a_warning() -> None:
    feed = _parse("regional-roundup.rss", "rss")
    assert len(feed.entries) == 2
    assert feed.warnings and "malformed" in feed.warnings[0]
    assert "Prices for smaller Qwen models are unchanged." in (feed.entries[1].summary_html or "")


def test_truncated_feed_raises_with_reason() -> None:
    with pytest.raises(FeedParseError, match="malformed feed with no usable entries"):
        _parse("truncated.xml", "rss")


def test_html_error_page_is_not_a_feed() -> None:
    with pytest.raises(FeedParseError, match="not an RSS/Atom feed"):
        parse_feed(
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            "rss",
            base_url="https://a.example/",
            now=NOW,
        )


def test_json_feed_chinese_items() -> None:
    feed = _parse("kejikuaixun.json", "jsonfeed", assume_tz=BEIJING)
    assert len(feed.entries) == 5
    assert feed.entries[0].published == datetime(2026, 11, 27, 13, 40, tzinfo=UTC)
    assert feed.entries[0].author == "科技快讯编辑部"
    assert not is_teaser(feed.entries[0])


def test_invalid_json_feed_names_the_position() -> None:
    with pytest.raises(FeedParseError, match="invalid JSON"):
        parse_feed(
            b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
            "jsonfeed",
            base_url="https://a.example/",
            now=NOW,
        )


def test_html_list_page_with_selectors_and_relative_times() -> None:
    source = corpus_sources().get("rebang")
    assert source is not None and source.html_list is not None
    raw = (CORPUS_DIR / "sites/rebang/index.html").read_bytes()
    feed = parse_feed(
        raw,
        "html_list",
        base_url="https://rebang.example/index.html",
        now=NOW,
        assume_tz=BEIJING,
        html_list=source.html_list,
    )
    assert len(feed.entries) == 4  # the advert row has no link
    assert feed.warnings == ["1 list items without a link or title were skipped"]
    first = feed.entries[0]
    assert first.url.startswith("https://zhineng.example/news/20261127-openai-device.html?")
    assert first.published == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # "3小时前"
    assert first.engagement is not None and first.engagement.rank == 1
    assert feed.entries[1].published == datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # "昨天 10:15"


def test_html_list_selector_matching_nothing_is_an_error() -> None:
    with pytest.raises(FeedParseError, match="matched nothing"):
        parse_feed(
            b"<html><body><ul><li>x</li></ul></body></html>",
            "html_list",
            base_url="https://a.example/",
            now=NOW,
            html_list=HtmlListSelectors(item="div.story"),
        )


def test_relative_links_resolve_and_script_links_are_dropped() -> None:
    page = (
        b'<html><body><div class="s"><a href="/a/1">One</a></div>'
        b'<div class="s"><a href="javascript:x()">Two</a></div></body></html>'
    )
    feed = parse_feed(
        page,
        "html_list",
        base_url="https://news.example/list",
        now=NOW,
        html_list=HtmlListSelectors(item="div.s"),
    )
    assert [e.url for e in feed.entries] == ["https://news.example/a/1"]


def test_json_api_field_mapping() -> None:
    source = corpus_sources().get("devsignals")
    assert source is not None and source.json_api is not None
    raw = (CORPUS_DIR / "sites/devsignals/api/top.json").read_bytes()
    feed = parse_feed(
        raw, "json_api", base_url="https://devsignals.example/api/top.json", now=NOW, json_api=source.json_api
    )
    assert len(feed.entries) == 3
    top = feed.entries[0]
    assert top.engagement is not None
    assert (top.engagement.likes, top.engagement.comments, top.engagement.rank) == (412, 236, 1)
    assert top.published == datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    assert top.author == "hwwatcher"


def test_json_api_items_path_must_be_a_list() -> None:
    with pytest.raises(FeedParseError, match="is not a list"):
        parse_feed(
            b'{"data": {}}',
            "json_api",
            base_url="https://a.example/",
            now=NOW,
            json_api=JsonApiMapping(items="data.stories", url="u", title="t"),
        )


def test_json_path() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert json_path(doc, "a.b.1.c") == 2
    assert json_path(doc, "a.x.c") is None
    assert json_path(doc, "a.b.9") is None


def test_teaser_markers() -> None:
    long_text = "<p>" + "word " * 200 + "</p>"
    assert not is_teaser(FeedEntry(url="u", title="t", content_html=long_text))
    assert is_teaser(FeedEntry(url="u", title="t", content_html=long_text[:-4] + " Read more</p>"))
    assert is_teaser(FeedEntry(url="u", title="t", summary_html="<p>阿里云28日宣布下调价格……</p>"))


def test_every_corpus_feed_parses_or_fails_with_a_reason(tmp_path: Path) -> None:
    outcomes: dict[str, int | str] = {}
    for source in corpus_sources().sources:
        if not source.url.startswith("file://"):
            continue
        raw = Path(source.url.removeprefix("file://")).read_bytes()
        try:
            outcomes[source.id] = len(parse_feed(raw, source.kind, base_url=source.url, now=NOW).entries)
        except FeedParseError as exc:
            outcomes[source.id] = str(exc)
    assert outcomes["aiwire"] == 5 and outcomes["zhineng"] == 5 and outcomes["bandaoti"] == 2
    assert isinstance(outcomes["cutoff"], str) and "unclosed token" in outcomes["cutoff"]


def test_item_links_to_local_files_or_other_schemes_are_not_articles() -> None:
    """Issue 13.1: a remote feed cannot name a file (or any non-http(s) URL) as an article."""
    links = [
        "file:///proc/self/environ",
        "file://localhost/etc/passwd",
        "file:/etc/passwd",
        "ftp://x.example/a",
        "data:text/html,hi",
        "https://news.example.com/real",
    ]
    rss = "".join(f"<item><title>Item {n}</title><link>{link}</link></item>" for n, link in enumerate(links))
    feed = parse_feed(
        f"<rss version='2.0'><channel><title>t</title>{rss}</channel></rss>".encode(),
        "rss",
        base_url="https://news.example.com/feed.xml",
        now=NOW,
    )
    assert [e.url for e in feed.entries] == ["https://news.example.com/real"]
    # The same link relative to a local feed resolves to file: and is dropped too.
    local = parse_feed(
        b"<rss version='2.0'><channel><item><title>x</title><link>secret.txt</link></item>"
        b"<item><title>y</title><link>https://ok.example/y</link></item></channel></rss>",
        "rss",
        base_url="file:///srv/feeds/local.rss",
        now=NOW,
    )
    assert [e.url for e in local.entries] == ["https://ok.example/y"]
    items = [{"id": str(n), "url": link, "title": f"T{n}"} for n, link in enumerate(links)]
    json_feed = parse_feed(
        json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode(),
        "jsonfeed",
        base_url="https://news.example.com/feed.json",
        now=NOW,
    )
    assert [e.url for e in json_feed.entries] == ["https://news.example.com/real"]
