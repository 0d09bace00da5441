"""The ingest service in-process against real nats-server (JetStream) and nx-27017, reading the
sample corpus from a local HTTP server: events on the stream, stories clustered, dead letters,
manual submission over news.submit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats as nats_client
import pytest
import yaml

import services.ingest.app as ingest_app
from services.ingest.index_store import STORY_INDEX
from shared.core.clustering import StoryIndex
from shared.events import SubmitReply, SubmitRequest
from shared.sample_corpus import corpus_sources
from shared.settings import IngestSettings, Settings
from shared.storage import ARTICLES, INGEST_STATE, SINGLE_PASS_ID, MongoStore
from tests.integration.corpus_server import CorpusServer
from tests.support.inproc import running, wait_until
from tests.support.stack import stream_messages

pytestmark = pytest.mark.slow


@pytest.fixture()
def server() -> Iterator[CorpusServer]:
    running_server = CorpusServer().start()
    yield running_server
    running_server.stop()


def write_sources(path: Path, server: CorpusServer, only: set[str] | None = None) -> Path:
    sources = corpus_sources(server.base)
    data = {
        "mirrors": sources.mirrors,
        "sources": [s.model_dump(exclude_none=True) for s in sources.sources if only is None or s.id in only],
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def settings_for(nats_url: str, mongo_url: str, db: str, sources_file: Path, tmp_path: Path) -> Settings:
    return Settings(
        nats_url=nats_url,
        mongo_url=mongo_url,
        mongo_db=db,
        data_dir=tmp_path,
        # Every corpus host is 127.0.0.1: one politeness interval (1 s by default) per request.
        ingest=IngestSettings(sources_file=sources_file, poll=False, per_host_interval_s=0.0),
    )


async def wait_for_events(url: str, count: int, timeout_s: float = 60.0) -> list[tuple[str, dict[str, Any]]]:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = [(s, d) for s, d, _ in await stream_messages(url, "NEWS_PIPELINE")]
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


@pytest.fixture()
async def mongo(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_server, mongo_db_name)
    yield store
    await store.close()


async def test_corpus_becomes_clustered_stories_with_dead_letter(
    nats_url_: str,
    mongo_server: str,
    mongo_db_name: str,
    mongo: MongoStore,
    server: CorpusServer,
    tmp_path: Path,
) -> None:
    sources_file = write_sources(tmp_path / "sources.yaml", server)
    service = ingest_app.build(settings_for(nats_url_, mongo_server, mongo_db_name, sources_file, tmp_path))
    async with running(service):
        events = await wait_for_events(nats_url_, 24)

        async def pass_done() -> bool:
            return await mongo.get(INGEST_STATE, SINGLE_PASS_ID) is not None

        # The whole pass, not only its 24 events: the truncated feed's dead letter, the story
        # index and the sources' health are written by then (the service stops after this).
        await wait_until(pass_done)
    subjects_seen = [s for s, _ in events]
    articles = {d["article_id"]: d for _, d in events}
    assert len(articles) == len(events) == 24  # one event per distinct article, none twice
    assert subjects_seen.count("news.ingested") + subjects_seen.count("news.story.joined") == 24
    stories: dict[str, list[dict[str, Any]]] = {}
    for _, data in events:
        stories.setdefault(data["story_id"], []).append(data["article"])
    # The Roundup's verbatim wire copy and AI Wire's TSMC story are one story: whichever of the
    # two arrived second (the sources are polled concurrently, so either can) joined the first's
    # story as a near duplicate.
    pair = [
        d
        for _, d in events
        if d["article"]["url"].endswith(
            ("/wire/2026/11/26/tsmc-copos", "/2026/11/26/tsmc-copos-two-to-three-years")
        )
    ]
    assert len(pair) == 2 and pair[0]["story_id"] == pair[1]["story_id"]
    second = pair[1]  # events are in the order ingest assigned the articles
    assert second["cluster"]["method"] == "near_duplicate" and not second["cluster"]["is_new"]
    tsmc = stories[second["story_id"]]
    assert {a["source_id"] for a in tsmc} >= {"aiwire", "roundup"}
    members = second["cluster"]["members"]
    assert members[-1]["near_duplicate_of"] is not None

    # Different stories about the same company stay apart.
    def story_of(url_part: str) -> str:
        return next(d["story_id"] for _, d in events if url_part in d["article"]["url"])

    assert story_of("openai-device-year-end") != story_of("openai-data-residency")
    assert story_of("meta-muse-spark-api-delay") != story_of("meta-nuclear-ohio")
    # The dead letter of the truncated feed, with its reason.
    letters = [d for _, d, _ in await stream_messages(nats_url_, "NEWS_DLQ", "news.dlq.ingest")]
    assert len(letters) == 1 and "unclosed token" in letters[0]["error"]
    # State survives: the story index and the source health are in MongoDB.
    assert await mongo.collection(STORY_INDEX).count_documents({}) >= 2
    health = await mongo.get("source_state", "aiwire")
    assert health is not None and health["consecutive_failures"] == 0 and health["etag"]


async def test_submit_over_nats(
    nats_url_: str,
    mongo_server: str,
    mongo_db_name: str,
    mongo: MongoStore,
    server: CorpusServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest_app, "make_index", lambda settings: StoryIndex(None))  # no model needed here
    sources_file = write_sources(tmp_path / "sources.yaml", server, only={"aiwire"})
    service = ingest_app.build(settings_for(nats_url_, mongo_server, mongo_db_name, sources_file, tmp_path))
    async with running(service):
        await wait_for_events(nats_url_, 5)
        nc = await nats_client.connect(nats_url_)
        try:

            async def submit(url: str) -> SubmitReply:
                answer = await nc.request(
                    "news.submit", SubmitRequest(url=url).model_dump_json().encode(), timeout=30
                )
                return SubmitReply.model_validate_json(answer.data)

            page = "https://techdaily.example/2026/11/meta-nuclear-ohio.html?utm_source=share"
            first = await submit(page)
            again = await submit("https://techdaily.example/2026/11/meta-nuclear-ohio.html")
            # Only the configured mirror (this test's server) may be reached on a private address.
            blocked = await submit(f"http://127.0.0.1:{server.port + 1}/admin")
            invalid = await nc.request("news.submit", b'{"link": "x"}', timeout=30)
        finally:
            await nc.close()
        events = await wait_for_events(nats_url_, 6)
    assert first.ok and first.outcome == "new" and first.story_id
    assert again.ok and again.outcome == "known" and again.article_id == first.article_id
    assert not blocked.ok and blocked.outcome == "fetch_blocked" and "loopback" in (blocked.error or "")
    assert json.loads(invalid.data)["outcome"] == "invalid_request"
    submitted = [d for s, d in events if d["article_id"] == first.article_id]
    assert len(submitted) == 1 and submitted[0]["article"]["source_id"] == "manual"
    assert "nuclear" in (submitted[0]["article"]["body"] or "")
    assert first.article_id is not None and await mongo.get(ARTICLES, first.article_id) is not None
