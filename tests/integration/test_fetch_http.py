"""Fetching and ingesting the sample corpus over a real local HTTP server: conditional GET,
backoff and recovery, malformed feeds, a mis-declared GBK page, and the SSRF guard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.ingest.engine import Ingestor
from shared import subjects
from shared.adapters.fetch import BlockedAddressError, Fetcher, FetchPolicy, SourceGate
from shared.core.clustering import StoryIndex
from shared.events import DeadLetter, StoryEvent
from shared.pipeline import Outgoing
from shared.sample_corpus import corpus_sources
from shared.sources import Source, SourceList, private_origins
from shared.storage import MongoStore
from tests.integration.corpus_server import CorpusServer


@pytest.fixture()
def server() -> Iterator[CorpusServer]:
    running = CorpusServer().start()
    yield running
    running.stop()


@pytest.fixture()
async def store(mongo_server: str, mongo_db_name: str) -> AsyncIterator[MongoStore]:
    mongo = MongoStore(mongo_server, mongo_db_name)
    yield mongo
    await mongo.close()


class Captured:
    def __init__(self) -> None:
        self.out: list[Outgoing] = []

    async def __call__(self, out: Outgoing) -> bool:
        self.out.append(out)
        return True

    def events(self) -> list[StoryEvent]:
        return [o.payload for o in self.out if isinstance(o.payload, StoryEvent)]

    def letters(self) -> list[DeadLetter]:
        return [o.payload for o in self.out if isinstance(o.payload, DeadLetter)]


def fast_fetcher(sources: SourceList, **kwargs: Any) -> Fetcher:
    options: dict[str, Any] = {"per_host_interval_s": 0.0, "read_timeout_s": 1.0, "total_timeout_s": 2.0}
    return Fetcher("NewsroomTest/1.0", mirrors=sources.mirrors, **{**options, **kwargs})


async def test_conditional_get_second_poll_transfers_nothing(server: CorpusServer) -> None:
    sources = corpus_sources(server.base)
    aiwire = sources.get("aiwire")
    assert aiwire is not None
    policy = FetchPolicy(private_origins(aiwire, sources.mirrors), aiwire.id)
    async with fast_fetcher(sources) as fetcher:
        first = await fetcher.fetch(aiwire.url, policy)
        second = await fetcher.fetch(aiwire.url, policy, first.validators)
    assert first.status == 200 and first.content.startswith(b"<?xml")
    assert first.validators.etag and first.validators.last_modified
    assert second.not_modified and second.content == b""
    assert server.statuses["/feeds/aiwire.rss"] == [200, 304]
    assert server.body_bytes["/feeds/aiwire.rss"] == len(first.content)  # nothing more was sent


async def test_second_poll_of_the_corpus_publishes_nothing_new(
    server: CorpusServer, store: MongoStore
) -> None:
    sources = corpus_sources(server.base)
    captured = Captured()
    async with fast_fetcher(sources) as fetcher:
        engine = Ingestor(sources, fetcher, store, StoryIndex(None), captured)
        await engine.run(poll=False)
        events_after_first = len(captured.events())
        pages_after_first = sum(n for p, n in server.hits.items() if p.startswith("/sites/"))
        await engine.run(poll=False)
    assert events_after_first >= 20
    assert len(captured.events()) == events_after_first  # no duplicate events
    for feed in (
        "/feeds/aiwire.rss",
        "/feeds/techdaily.atom",
        "/feeds/zhineng.rss",
        "/feeds/kejikuaixun.json",
    ):
        assert server.statuses[feed] == [200, 304], feed
    # Unchanged feeds are not re-parsed, so no article page is fetched again.
    assert sum(n for p, n in server.hits.items() if p.startswith("/sites/")) == pages_after_first + 2
    health = await engine.health_store.get("aiwire")
    assert health.last_success_at is not None and health.consecutive_failures == 0 and health.etag


async def test_malformed_feed_and_misdeclared_gbk_page(server: CorpusServer, store: MongoStore) -> None:
    sources = corpus_sources(server.base)
    captured = Captured()
    async with fast_fetcher(sources) as fetcher:
        engine = Ingestor(sources, fetcher, store, StoryIndex(None), captured)
        await engine.run(poll=False)
    by_url = {e.article.url: e.article for e in captured.events()}
    # The malformed feed is recovered: both items are ingested, with their text.
    alibaba = by_url["https://roundup.example/wire/2026/11/28/alibaba-qwen-price-cut"]
    assert alibaba.body and "Qwen3-Max" in alibaba.body
    # The GBK page declared as UTF-8 (header and <meta>) is read as Chinese, not mojibake.
    foxconn = by_url["https://zhineng.example/news/20261125-foxconn-sk.html"]
    assert foxconn.body_origin == "page" and foxconn.body and "鸿海精密" in foxconn.body
    assert "\ufffd" not in foxconn.body and foxconn.language == "zh"
    # The GBK feed declared as UTF-8 too.
    assert any("台积电" in e.article.title for e in captured.events() if e.article.source_id == "bandaoti")
    # The feed cut off mid-element is dead-lettered with the reason, and nothing else is.
    letters = captured.letters()
    assert [letter.headers["source_id"] for letter in letters] == ["cutoff"]
    assert "unclosed token" in letters[0].error and letters[0].stage == "ingest"
    assert captured.out[[o.payload for o in captured.out].index(letters[0])].subject == subjects.dlq("ingest")
    health = await engine.health_store.get("cutoff")
    assert health.last_error_kind == "parse_error"


async def test_failing_source_backs_off_and_recovers_while_others_flow(
    server: CorpusServer, store: MongoStore
) -> None:
    server.scripts["flaky.rss"] = ["500", "429", "timeout", "500", "ok:feeds/aiwire.rss"]
    corpus = corpus_sources(server.base)
    flaky = Source(id="flaky", name="Flaky", url=server.base + "faults/flaky.rss", allow_private=True)
    steady = [s for s in corpus.sources if s.id in ("techdaily", "kejikuaixun")]
    sources = SourceList(sources=[flaky, *steady], mirrors=corpus.mirrors)
    captured = Captured()
    async with fast_fetcher(sources) as fetcher:
        engine = Ingestor(sources, fetcher, store, StoryIndex(None), captured)
        for source in sources.sources:  # test-sized intervals and backoff
            engine.gates[source.id] = SourceGate(
                poll_interval_s=0.3, backoff_base_s=0.2, backoff_max_s=1.5, breaker_threshold=10
            )
        stop = asyncio.Event()
        failures_seen: list[int] = []

        async def watch() -> None:
            while True:
                failures_seen.append(engine.gates["flaky"].failures)
                if any(e.article.source_id == "flaky" for e in captured.events()):
                    stop.set()
                    return
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        await asyncio.wait_for(engine.run(poll=True, stop=stop), timeout=60)
        await watcher
    assert server.statuses["/faults/flaky.rss"][:2] == [500, 429] and server.hits["/faults/flaky.rss"] >= 5
    assert max(failures_seen) >= 3 and engine.gates["flaky"].failures == 0
    # While the flaky source was failing, the others were polled again and again.
    assert server.hits["/feeds/techdaily.atom"] >= 3 and server.hits["/feeds/kejikuaixun.json"] >= 3
    assert {e.article.source_id for e in captured.events()} >= {"flaky", "techdaily", "kejikuaixun"}
    health = await engine.health_store.get("flaky")
    assert health.consecutive_failures == 0 and health.last_error_kind in ("http", "timeout")


async def test_ssrf_refusals_are_logged_and_never_reach_the_target(
    server: CorpusServer, caplog: pytest.LogCaptureFixture
) -> None:
    internal = CorpusServer(scripts={"secret": ["200"]}).start()  # stands for an internal service
    try:
        server.scripts["to-loopback"] = [f"redirect:http://127.0.0.1:{internal.port}/faults/secret"]
        server.scripts["to-metadata"] = ["redirect:http://169.254.169.254/latest/meta-data/"]
        caplog.set_level(logging.WARNING, logger="newsroom.fetch")
        own = Source(id="local", name="Local", url=server.base + "faults/x", allow_private=True)
        public_only = Source(id="public", name="Public", url=server.base + "feeds/aiwire.rss")
        sources = SourceList(sources=[own, public_only])
        async with fast_fetcher(sources) as fetcher:
            with pytest.raises(BlockedAddressError, match="loopback"):
                await fetcher.fetch(public_only.url, FetchPolicy(private_origins(public_only, {}), "public"))
            for path in ("to-loopback", "to-metadata"):
                with pytest.raises(BlockedAddressError):
                    await fetcher.fetch(
                        server.base + "faults/" + path, FetchPolicy(private_origins(own, {}), "local")
                    )
        assert internal.hits["/faults/secret"] == 0
        assert server.hits["/feeds/aiwire.rss"] == 0
        refusals = [r.getMessage() for r in caplog.records if "SSRF guard refused" in r.getMessage()]
        assert len(refusals) == 3
        assert any(f"127.0.0.1:{internal.port}" in m for m in refusals)
        assert any("169.254.169.254" in m and "metadata" in m for m in refusals)
    finally:
        internal.stop()


async def test_a_remote_feed_cannot_publish_a_local_file(tmp_path: Path, store: MongoStore) -> None:
    """Issue 13.1: item links (direct or through a redirect) to file: URLs never reach the disk."""
    secret = tmp_path / "environ"
    secret.write_text("NEWSROOM_MONGO_URL=mongodb://admin:hunter2@db/ " * 20)
    root = tmp_path / "site"
    root.mkdir()
    server = CorpusServer(root=root).start()
    try:
        server.scripts["to-file"] = [f"redirect:{secret.as_uri()}"]
        links = [
            secret.as_uri(),
            f"file://localhost{secret}",
            f"file:{secret}",
            f"{server.base}faults/to-file",
        ]
        items = "".join(
            f"<item><title>Teaser number {n} about chips</title><link>{link}</link>"
            f"<description>Short.</description></item>"
            for n, link in enumerate(links)
        )
        (root / "evil.rss").write_text(
            f"<rss version='2.0'><channel><title>Evil</title>{items}</channel></rss>"
        )
        source = Source(id="evil", name="Evil", url=server.base + "evil.rss", allow_private=True)
        sources = SourceList(sources=[source])
        captured = Captured()
        async with fast_fetcher(sources) as fetcher:
            engine = Ingestor(sources, fetcher, store, StoryIndex(None), captured)
            await engine.run(poll=False)
        assert server.hits["/faults/to-file"] >= 1  # the redirect was followed up to the refusal
        published = " ".join(o.payload.model_dump_json() for o in captured.out)
        assert "hunter2" not in published
        assert all(e.article.url.startswith("http") for e in captured.events())
    finally:
        server.stop()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE://localhost/etc/passwd",
        " file:/proc/self/environ",
        "ftp://news.example.com/a",
        "javascript:alert(1)",
        "data:text/html,<p>x</p>",
        "/etc/passwd",
    ],
)
async def test_a_submitted_url_must_be_http(url: str, store: MongoStore) -> None:
    """Issue 13.1: `newsroom submit` (news.submit) takes http(s) URLs only."""
    from shared.events import SubmitRequest

    sources = SourceList(sources=[])
    captured = Captured()
    async with fast_fetcher(sources) as fetcher:
        engine = Ingestor(sources, fetcher, store, StoryIndex(None), captured)
        reply = await engine.submit(SubmitRequest(url=url))
    assert not reply.ok and reply.outcome == "rejected" and captured.out == []


async def test_a_dead_lettered_feed_counts_in_the_dead_letter_metric(
    server: CorpusServer, store: MongoStore
) -> None:
    """Issue 13.10: the NewsroomDeadLetters alert reads newsroom_dead_letters_total; an ingest dead
    letter must count there like every other stage's (once per letter, not per poll)."""
    from shared.metrics import REGISTRY

    def counted() -> float:
        return (
            REGISTRY.get_sample_value(
                "newsroom_dead_letters_total", {"stage": "ingest", "reason": "unparseable_feed"}
            )
            or 0.0
        )

    sources = corpus_sources(server.base)
    cutoff = sources.get("cutoff")
    assert cutoff is not None
    only = SourceList(sources=[cutoff], mirrors=sources.mirrors)
    before = counted()
    captured = Captured()
    async with fast_fetcher(only) as fetcher:
        engine = Ingestor(only, fetcher, store, StoryIndex(None), captured)
        await engine.run(poll=False)
        await engine.run(poll=False)  # the same broken feed again: no second letter
    assert len(captured.letters()) == 1
    assert counted() - before == 1
