"""Revised clustering decisions reach the reader, end to end: the five services as real
processes on a real nats-server and nx-27017, with the multilingual embedder.

Real reports from the labelled clustering set (tests/data/story_revisions/) arrive in an order
that makes the story index change its mind after a restart of ingest (the index comes back from
MongoDB):

- **merge**: TSMC's October revenue, reported in Traditional and Simplified Chinese and English.
  The Simplified copy first, then two English reports: two stories, each published as its own
  item. The original Traditional report arrives late with its wire copy, bridges the two, and the
  stories become one.
- **move**: two ByteDance stories of neighbouring days. A rewrite of the Seedance story arrives
  before its original and joins the Doubao story (whose item then lists it); the original arrives
  and takes it back.

What a reader and a subscriber must see: one TSMC item with all its sources, the absorbed story's
item gone from the list and search, its page and API address redirecting to the survivor; the
Doubao item without the Seedance report and without its title; the Seedance story with both
reports; ``news.updated`` with ``story_revised`` / ``merged``; one ``news.story.revised`` per changed
story."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest

from services.ingest.articles import identify
from services.publish.read_api import create_read_app
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import Settings
from shared.storage import MongoStore
from tests.support.stack import REPO, Stack, messages
from tests.support.waits import PIPELINE_TEST_TIMEOUT_S

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]

DATA = REPO / "tests/data/story_revisions"
ROWS = {
    r["id"]: r
    for name in ("tsmc_october_revenue.jsonl", "bytedance_doubao_seedance.jsonl")
    for r in (json.loads(line) for line in (DATA / name).read_text("utf-8").splitlines())
}
TSMC = ["l01", "l02", "l03", "l04", "l05"]
# TSMC: the Simplified-Chinese copy, then the English reports. ByteDance: the Doubao reports, then
# the Seedance rewrite.
FIRST_PASS = ["l03", "l04", "l05", "h04", "h05", "j02"]
# The original TSMC report and its wire copy (published first, arriving last); the Seedance original.
LATE = ["l01", "l02", "j01"]


def article_id(row_id: str) -> str:
    return identify(ROWS[row_id]["url"]).article_id


def write_feed(path: Path, row_ids: list[str], title: str) -> None:
    items = []
    for row_id in row_ids:
        row = ROWS[row_id]
        published = datetime.fromisoformat(row["published_at"].replace("Z", "+00:00"))
        items.append(
            f"<item><title>{escape(row['title'])}</title><link>{escape(row['url'])}</link>"
            f"<description>{escape(row['lead'])}</description>"
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate></item>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link><description>t</description>"
        f"{''.join(items)}</channel></rss>",
        encoding="utf-8",
    )


def write_sources(folder: Path, feeds: list[tuple[str, Path]]) -> Path:
    path = folder / "sources.yaml"
    path.write_text(
        "sources:\n"
        + "".join(
            f"  - id: {source_id}\n    name: Wire {source_id}\n    url: {feed}\n    kind: rss\n"
            "    weight: 1.0\n    full_text: never\n"
            for source_id, feed in feeds
        ),
        encoding="utf-8",
    )
    return path


def wait_for(what: str, stack: Stack, check: Any, timeout_s: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not reached in {timeout_s}s\n{stack.logs()}")


@pytest.fixture()
def stack(nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(nats_url(nats), mongo_server, mongo_db_name, tmp_path, embeddings=True)
    try:
        yield running
    finally:
        running.stop_all()


def test_late_reports_merge_two_stories_and_take_a_member_back(stack: Stack, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    write_feed(feeds / "first.rss", FIRST_PASS, "First wire")
    stack.env_extra = {
        "NEWSROOM_INGEST__SOURCES_FILE": str(write_sources(feeds, [("first", feeds / "first.rss")])),
        "NEWSROOM_INGEST__POLL": "false",
    }
    stack.start_all()
    db = stack.mongo()
    simplified, english = article_id("l03"), {article_id("l04"), article_id("l05")}
    doubao, rewrite, original = {article_id("h04"), article_id("h05")}, article_id("j02"), article_id("j01")

    def first_pass() -> list[dict[str, Any]] | None:
        # Drained first: ingest's pass is recorded (its index comes back from it after the
        # restart) and nothing of the first pass is still on its way when the items are read.
        if not stack.drained():
            return None
        items = list(db.items.find({}))
        announced = all(d.get("announced_version", 0) == d["version"] for d in items)
        sources = sorted(s["article_id"] for d in items for s in d["sources"])
        return items if announced and sources == sorted(article_id(r) for r in FIRST_PASS) else None

    items = wait_for("the first reports published", stack, first_pass)
    # The precondition the scenarios need: how the first arrivals were grouped.
    groups = {d["_id"]: {s["article_id"] for s in d["sources"]} for d in items}
    assert sorted(groups.values(), key=len) == [{simplified}, english, {*doubao, rewrite}], groups
    absorbed = next(k for k, v in groups.items() if v == {simplified})
    survivor = next(k for k, v in groups.items() if v == english)
    doubao_id = next(k for k, v in groups.items() if rewrite in v)
    doubao_before = next(d for d in items if d["_id"] == doubao_id)

    # Ingest restarts (its story index comes back from MongoDB); the late reports arrive.
    ingest = stack.procs["ingest"]
    ingest.send_signal(signal.SIGTERM)
    ingest.wait(timeout=60)
    write_feed(feeds / "late.rss", LATE, "Late wire")
    write_sources(feeds, [("first", feeds / "first.rss"), ("late", feeds / "late.rss")])
    stack.start("ingest")
    tsmc = {article_id(r) for r in TSMC}
    expected = [tsmc, {original, rewrite}, doubao]

    def revised() -> list[dict[str, Any]] | None:
        # Drained first: every event the revisions caused is in the streams read below.
        if not stack.drained():
            return None
        items = list(db.items.find({}))
        if db.merged_items.find_one({"_id": absorbed}) is None:
            return None
        found = sorted(({s["article_id"] for s in d["sources"]} for d in items), key=len, reverse=True)
        announced = all(d.get("announced_version") == d["version"] for d in items)
        return items if announced and sorted(found, key=sorted) == sorted(expected, key=sorted) else None

    items = wait_for("the stories revised", stack, revised)
    pipeline = messages(stack.nats_url, "NEWS_PIPELINE", "news.story.revised")
    out = messages(stack.nats_url, "NEWS_OUT")
    by_id = {d["_id"]: d for d in items}
    seedance_id = next(k for k, d in by_id.items() if original in {s["article_id"] for s in d["sources"]})

    # Merge. The reader: one TSMC item with every source; the absorbed story's address points to it.
    assert {s["article_id"] for s in by_id[survivor]["sources"]} == tsmc
    assert all(d["status"] == "published" for d in items)
    store = MongoStore(stack.mongo_url, stack.db_name)
    app = create_read_app(store, Settings(mongo_url=stack.mongo_url, mongo_db=stack.db_name))

    async def read() -> tuple[Any, ...]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
            listed = (await api.get("/api/v1/items")).json()["items"]
            found = (await api.get("/api/v1/search", params={"q": "台积电"})).json()["items"]
            moved = await api.get(f"/api/v1/items/{absorbed}")
            page = await api.get(f"/items/{absorbed}")
            followed = await api.get(f"/api/v1/items/{absorbed}", follow_redirects=True)
        await store.close()
        return listed, found, moved, page, followed

    listed, found, moved, page, followed = asyncio.run(read())
    assert sorted(i["id"] for i in listed) == sorted([survivor, doubao_id, seedance_id])
    assert [i["id"] for i in found] == [survivor]
    assert moved.status_code == 307 and moved.headers["location"] == f"/api/v1/items/{survivor}"
    assert page.status_code == 307 and page.headers["location"] == f"/items/{survivor}"
    assert followed.status_code == 200 and len(followed.json()["sources"]) == len(TSMC)
    # The item's Chinese text comes from a Chinese member, its English from an English one.
    languages = by_id[survivor]["languages"]
    assert languages["zh"]["origin"] == "source" and languages["en"]["origin"] == "source"

    # Move. The Doubao item lost the Seedance rewrite and, with it, any text of that rewrite.
    doubao_now = by_id[doubao_id]
    assert {s["article_id"] for s in doubao_now["sources"]} == doubao
    for language in ("en", "zh"):
        assert doubao_now["title"][language] != ROWS["j02"]["title"]
        assert (doubao_now["languages"][language] or {}).get("article_id") != rewrite
    if (doubao_before["languages"]["zh"] or {}).get("article_id") == rewrite:  # it showed the rewrite
        assert doubao_now["languages"]["zh"]["reason"] == "source_left"
    print("DOUBAO-ZH before:", doubao_before["title"]["zh"], "| after:", doubao_now["title"]["zh"])
    assert {s["article_id"] for s in by_id[seedance_id]["sources"]} == {original, rewrite}

    # The subscriber: why each story changed, each version once.
    updated = [d for s, d, _ in out if s.startswith("news.updated.")]
    absorbed_updates = [d for d in updated if d["story_id"] == absorbed]
    assert [d["reasons"] for d in absorbed_updates] == [["merged"]]
    assert absorbed_updates[0]["item"]["merged_into"] == survivor
    for story in (survivor, doubao_id):
        assert "story_revised" in [r for d in updated if d["story_id"] == story for r in d["reasons"]]
    for story in (absorbed, survivor, doubao_id, seedance_id):
        versions = [d["version"] for d in updated if d["story_id"] == story]
        assert versions == sorted(set(versions)), versions
    published = [d["story_id"] for s, d, _ in out if s.startswith("news.published.")]
    assert sorted(published) == sorted([absorbed, survivor, doubao_id, seedance_id])
    # One revision event per changed story, in the pipeline stream.
    revisions = {(d["story_id"], d["revision"]) for _, d, _ in pipeline}
    assert revisions == {(absorbed, 1), (survivor, 1), (doubao_id, 1), (seedance_id, 1)}
    ended = next(d for _, d, _ in pipeline if d["story_id"] == absorbed)
    assert ended["member_ids"] == [] and ended["merged_into"] == survivor
