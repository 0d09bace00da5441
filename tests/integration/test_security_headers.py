"""Issue 13.3: the read API and its pages answer with a Content-Security-Policy that allows no
script (inline or not) and the usual security headers, on pages, JSON, feeds, errors and 404s;
and the page itself needs no inline script or style (so the policy breaks nothing)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.publish.read_api import create_read_app
from services.publish.security_headers import SecurityHeaders
from shared.settings import Settings
from shared.storage import ITEMS, MongoStore
from tests.support.items import as_document, sample_items


@pytest.fixture()
async def api(mongo_server: str, mongo_db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    store = MongoStore(mongo_server, mongo_db_name)
    await store.collection(ITEMS).insert_many([as_document(i) for i in sample_items(datetime.now(UTC))])
    app = create_read_app(store, Settings(), rate_limit=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client
    await store.client.drop_database(mongo_db_name)
    await store.close()


def directives(policy: str) -> dict[str, list[str]]:
    parts = (p.strip().split() for p in policy.split(";") if p.strip())
    return {p[0]: p[1:] for p in parts}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?lang=zh",
        "/item/story-uber-nuro",
        "/api/v1/items",
        "/feeds/en.rss",
        "/no-such-page",
        "/api/v1/items?limit=-1",
        "/static/style.css",
        "/openapi.json",
    ],
)
async def test_every_answer_carries_the_security_headers(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    headers = response.headers
    policy = directives(headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert not any("'unsafe-inline'" in v or "'unsafe-eval'" in v for v in policy.values())
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]
    assert "strict-transport-security" not in headers  # plain HTTP: HSTS would be ignored


async def test_the_pages_need_no_inline_script_or_style(api: httpx.AsyncClient) -> None:
    for path in ("/", "/?lang=both", "/item/story-uber-nuro"):
        page = (await api.get(path)).text
        assert not re.search(r"<script\b", page, re.I), path
        assert not re.search(r"\son[a-z]+\s*=", page, re.I), path  # no event-handler attributes
        assert not re.search(r"<style\b|\sstyle\s*=", page, re.I), path  # style-src 'self' only
        assert not re.search(r"""(?:src|href)\s*=\s*["']\s*javascript:""", page, re.I), path


async def test_hsts_behind_a_tls_proxy() -> None:
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x-frame-options", b"SAMEORIGIN")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(app=SecurityHeaders(app))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.get("/")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"  # an answer's own value is kept
