"""No unescaped HTML reaches a reader: items whose every text field carries markup (as a hostile
source or a misbehaving model could put there) are rendered by the read side, and neither the web
pages nor the HTML inside the feeds (RSS description, Atom content, JSON Feed content_html) may
contain live markup from the item."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from pydantic import ValidationError

from services.publish.read_api import create_read_app
from shared.items import Item
from shared.settings import Settings
from shared.storage import ITEMS, MongoStore
from tests.support.items import as_document, sample_items

# Catches an input that never ends (the suite's default is 300 s). Not a speed limit: a loaded
# 2-core machine took 87 s for the slowest test here (120 s was the limit then).
pytestmark = pytest.mark.timeout(600)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)><a href="javascript:alert(2)">'


KEEP = ("_id", "id", "article_id", "representative_article_id", "primary_tag", "announced_version")


def poison(value: Any, path: str = "") -> Any:
    """Every string of a document with the payload prepended (ids and datetimes are left alone)."""
    if isinstance(value, dict):
        return {k: (v if k in KEEP else poison(v, f"{path}.{k}")) for k, v in value.items()}
    if isinstance(value, list):
        return [poison(v, path) for v in value]
    if isinstance(value, str):
        return PAYLOAD + value
    return value


def hostile_item(item: Item) -> dict[str, Any]:
    """The item with markup in every text field that still validates (enums, languages and
    URL-shaped fields that would no longer validate keep their value)."""
    doc = as_document(item)
    for key in [k for k in doc if k not in KEEP]:
        candidate = {**doc, key: poison(doc[key])}
        try:
            Item.model_validate({k: v for k, v in candidate.items() if k != "announced_version"})
        except ValidationError:
            # Field by field inside lists of objects (tags, entities, sources, ...).
            if isinstance(doc[key], list | dict):
                candidate = {**doc, key: _poison_leaves(doc, key)}
            else:
                continue
        doc = candidate
    Item.model_validate(doc)
    return doc


def _poison_leaves(doc: dict[str, Any], key: str) -> Any:
    value = doc[key]
    items = value if isinstance(value, list) else [value]
    out = []
    for element in items:
        if not isinstance(element, dict):
            out.append(element)
            continue
        element = dict(element)
        for field, inner in list(element.items()):
            if isinstance(inner, str) and field not in ("id", "article_id", "language", "source", "kind"):
                trial = {**element, field: PAYLOAD + inner}
                probe = {
                    **doc,
                    key: [*out, trial, *items[len(out) + 1 :]] if isinstance(value, list) else trial,
                }
                try:
                    Item.model_validate(probe)
                    element = trial
                except ValidationError:
                    pass
        out.append(element)
    return out if isinstance(value, list) else out[0]


@pytest.fixture()
async def client(mongo_server: str, mongo_db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    store = MongoStore(mongo_server, mongo_db_name)
    await store.collection(ITEMS).insert_many([hostile_item(i) for i in sample_items(NOW)])
    app = create_read_app(store, Settings(), rate_limit=None, clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http
    await store.client.drop_database(mongo_db_name)
    await store.close()


def assert_no_live_markup(html: str, where: str) -> None:
    """Parse as a browser would: no script element, no event-handler attribute, no javascript:
    link, and no element from the payload (an <img src=x>) anywhere."""
    import lxml.html

    if not html.strip():
        return
    root = (
        lxml.html.fromstring(f"<div>{html}</div>")
        if not html.lstrip().lower().startswith(("<!doctype", "<html"))
        else lxml.html.document_fromstring(html)
    )
    live = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "script" or (element.tag == "img" and element.get("src") == "x"):
            live.append(element.tag)
        live += [f"{element.tag}@{name}" for name in element.attrib if name.lower().startswith("on")]
        live += [
            f"{element.tag}@href"
            for name, value in element.attrib.items()
            if name in ("href", "src") and value.strip().lower().startswith("javascript:")
        ]
    assert not live, f"live markup {live} in {where}"


async def test_every_text_field_is_poisoned(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/items?limit=50")).json()
    text = json.dumps(body)
    # The API returns the stored text as data (JSON): the payload is there, proving the fixture bites.
    assert text.count("<script>") >= 10


@pytest.mark.parametrize("lang", ["en", "zh", "both"])
async def test_web_pages_escape_every_field(client: httpx.AsyncClient, lang: str) -> None:
    listing = await client.get(f"/?lang={lang}")
    assert listing.status_code == 200
    assert "&lt;script&gt;" in listing.text  # shown, as text
    assert_no_live_markup(listing.text, f"/?lang={lang}")
    ids = [i["id"] for i in (await client.get("/api/v1/items?limit=50")).json()["items"]]
    for item_id in ids:
        page = await client.get(f"/items/{item_id}?lang={lang}")
        assert page.status_code == 200, (item_id, page.text[:500])
        assert_no_live_markup(page.text, f"/items/{item_id}?lang={lang}")


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_feeds_carry_no_live_markup(client: httpx.AsyncClient, lang: str) -> None:
    rss = await client.get(f"/feeds/{lang}.rss")
    assert rss.status_code == 200
    html_parts = 0
    for element in ElementTree.fromstring(rss.content).iter():
        # Feed readers render these as HTML: after XML unescaping they must hold no live markup.
        # (Titles are plain text there: escaped once, which the XML parser undoes, is right.)
        if element.tag in ("description", "{http://purl.org/rss/1.0/modules/content/}encoded"):
            html_parts += 1
            assert_no_live_markup(element.text or "", f"{lang}.rss <{element.tag}>")
    atom = await client.get(f"/feeds/{lang}.atom")
    for element in ElementTree.fromstring(atom.content).iter():
        if element.attrib.get("type") in ("html", "xhtml"):
            html_parts += 1
            assert_no_live_markup(element.text or "", f"{lang}.atom <{element.tag}>")
    assert html_parts, "the feeds carry no HTML parts: nothing was checked"
    feed = (await client.get(f"/feeds/{lang}.json")).json()
    for entry in feed["items"]:
        for key in ("content_html", "summary", "title", "url", "external_url"):
            if isinstance(entry.get(key), str) and key == "content_html":
                assert_no_live_markup(entry[key], f"{lang}.json content_html")
            if key in ("url", "external_url") and entry.get(key):
                assert entry[key].startswith(("http://", "https://")), entry[key]
