"""RSS 2.0, Atom and JSON Feed output: well-formed and valid (feedparser bozo = 0, JSON Feed 1.1
schema), in the right language, in the given order, with untrusted text escaped."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser
import jsonschema
import pytest
from lxml import etree

from services.publish.feeds import FeedContext, json_feed, render_feed
from services.publish.queries import ItemSummary
from tests.support.items import as_document, make_item, sample_items

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SITE = "http://news.example.org"

# JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/) as a JSON Schema, written from the spec:
# required top-level version/title/items, item id required, content_html or content_text required,
# dates RFC 3339, URLs absolute, extensions only as "_name" objects.
AUTHOR = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "url": {"type": "string", "format": "uri"},
        "avatar": {"type": "string", "format": "uri"},
    },
    "minProperties": 1,
    "additionalProperties": False,
}
EXTENSION = {"type": "object"}
JSON_FEED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string", "minLength": 1},
        "home_page_url": {"type": "string", "format": "uri"},
        "feed_url": {"type": "string", "format": "uri"},
        "description": {"type": "string"},
        "user_comment": {"type": "string"},
        "next_url": {"type": "string", "format": "uri"},
        "icon": {"type": "string", "format": "uri"},
        "favicon": {"type": "string", "format": "uri"},
        "authors": {"type": "array", "items": AUTHOR},
        "language": {"type": "string"},
        "expired": {"type": "boolean"},
        "hubs": {"type": "array", "items": {"type": "object", "required": ["type", "url"]}},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "url": {"type": "string", "format": "uri"},
                    "external_url": {"type": "string", "format": "uri"},
                    "title": {"type": "string"},
                    "content_html": {"type": "string"},
                    "content_text": {"type": "string"},
                    "summary": {"type": "string"},
                    "image": {"type": "string", "format": "uri"},
                    "banner_image": {"type": "string", "format": "uri"},
                    "date_published": {"type": "string", "format": "date-time"},
                    "date_modified": {"type": "string", "format": "date-time"},
                    "authors": {"type": "array", "items": AUTHOR},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "language": {"type": "string"},
                    "attachments": {"type": "array"},
                },
                "patternProperties": {"^_[a-zA-Z][^.]*$": EXTENSION},
                "additionalProperties": False,
            },
        },
    },
    "patternProperties": {"^_[a-zA-Z][^.]*$": EXTENSION},
    "additionalProperties": False,
}

# jsonschema checks "uri" and "date-time" only with optional packages that are not installed:
# the two checks the feed needs are written here.
FORMATS = jsonschema.FormatChecker(formats=())
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@FORMATS.checks("date-time")
def is_rfc3339(value: object) -> bool:
    if not isinstance(value, str) or not RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uri")
def is_absolute_uri(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def summaries(items: list[Any]) -> list[ItemSummary]:
    return [ItemSummary.from_document(as_document(item)) for item in items]


def hostile_item() -> Any:
    return make_item(
        "story-hostile",
        now=NOW,
        title_en="<script>alert('x')</script> Chips & \"dips\"",
        title_zh="<script>alert('x')</script> 芯片",
        summary_en="A <b>bold</b> claim & more",
        summary_zh="<img src=x onerror=alert(1)>",
        tags=("chips",),
    )


def untranslated_item() -> Any:
    return make_item(
        "story-en-only",
        now=NOW,
        title_en="Only in English",
        title_zh=None,
        origin_language="en",
        summary_en="Not translated yet.",
        tags=("chips",),
    )


def context(language: str, fmt: str, tag: str | None = None) -> FeedContext:
    path = f"/feeds/tags/{tag}/{language}.{fmt}" if tag else f"/feeds/{language}.{fmt}"
    return FeedContext(
        language=language,  # type: ignore[arg-type]
        site_url=SITE,
        feed_url=SITE + path,
        updated_fallback=NOW,
        tag_id=tag,
        tag_label="Chips" if tag else None,
    )


@pytest.fixture(scope="module")
def wire() -> list[ItemSummary]:
    return summaries([*sample_items(NOW), hostile_item(), untranslated_item()])


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_xml_feeds_parse_cleanly_in_order_and_language(
    wire: list[ItemSummary], language: str, fmt: str
) -> None:
    body, media_type = render_feed(wire, context(language, fmt), fmt)  # type: ignore[arg-type]
    assert media_type.startswith("application/rss+xml" if fmt == "rss" else "application/atom+xml")
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == ("rss20" if fmt == "rss" else "atom10")
    assert parsed.feed.get("language", language).startswith(language)
    assert [e.id for e in parsed.entries] == [f"urn:ai-newsroom:story:{s.id}" for s in wire]
    first = parsed.entries[0]
    expected_title = wire[0].title.en if language == "en" else wire[0].title.zh
    assert first.title == expected_title
    assert first.link == f"{SITE}/items/story-openai-device"
    assert first.published_parsed is not None
    labels = {t.get("label") or t.term for t in first.tags}
    assert ("Product launch" if language == "en" else "产品发布") in labels


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_untrusted_text_is_escaped_in_xml(wire: list[ItemSummary], fmt: str) -> None:
    body, _ = render_feed(wire, context("en", fmt), fmt)  # type: ignore[arg-type]
    tree = etree.fromstring(body)
    # no element was injected: the script is text inside the title, escaped in the raw XML
    assert not tree.xpath("//*[local-name()='script' or local-name()='img' or local-name()='b']")
    assert b"<script>" not in body
    titles = tree.xpath("//*[local-name()='item' or local-name()='entry']/*[local-name()='title']/text()")
    assert "<script>alert('x')</script> Chips & \"dips\"" in titles


def test_item_missing_the_feed_language_says_so(wire: list[ItemSummary]) -> None:
    parsed = feedparser.parse(render_feed(wire, context("zh", "atom"), "atom")[0])
    entry = next(e for e in parsed.entries if e.id.endswith("story-en-only"))
    assert entry.title == "Only in English"
    assert "暂无中文版本" in entry.content[0].value


def test_tag_feed_title_and_self_link(wire: list[ItemSummary]) -> None:
    chips = [s for s in wire if any(t.id == "chips" for t in s.tags)]
    body, _ = render_feed(chips, context("en", "atom", tag="chips"), "atom")
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    assert parsed.feed.title.endswith("· Chips")
    self_url = f"{SITE}/feeds/tags/chips/en.atom"
    assert any(link.rel == "self" and link.href == self_url for link in parsed.feed.links)
    assert len(parsed.entries) == len(chips) == 4


def test_empty_feed_is_still_valid() -> None:
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(render_feed([], context("en", fmt), fmt)[0])  # type: ignore[arg-type]
        assert parsed.bozo == 0 and parsed.entries == []
    jsonschema.validate(json_feed([], context("en", "json")), JSON_FEED_SCHEMA, format_checker=FORMATS)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_json_feed_validates_against_the_1_1_schema(wire: list[ItemSummary], language: str) -> None:
    body, media_type = render_feed(wire, context(language, "json"), "json")
    assert media_type.startswith("application/feed+json")
    document = json.loads(body)
    jsonschema.validate(document, JSON_FEED_SCHEMA, format_checker=FORMATS)
    first = document["items"][0]
    assert first["title"] == (wire[0].title.en if language == "en" else wire[0].title.zh)
    assert first["language"] == language
    assert first["_newsroom"]["hot"] == 75
    hostile = next(i for i in document["items"] if i["id"].endswith("story-hostile"))
    html = hostile["content_html"]
    assert "<img" not in html and "<b>" not in html  # shown as text, never as markup
    if language == "zh":
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    else:
        assert "A &lt;b&gt;bold&lt;/b&gt; claim &amp; more" in html


def test_schema_catches_an_invalid_feed() -> None:
    """The schema used above is not vacuous: a missing id and a bad date are rejected."""
    document = json_feed(summaries(sample_items(NOW))[:1], context("en", "json"))
    broken = json.loads(json.dumps(document))
    broken["items"][0]["date_published"] = "20 Nov 2026"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, JSON_FEED_SCHEMA, format_checker=FORMATS)
    del document["items"][0]["id"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, JSON_FEED_SCHEMA, format_checker=FORMATS)
