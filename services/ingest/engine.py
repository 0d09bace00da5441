"""The ingest engine: poll sources, parse, fetch full text for teasers, build articles, assign
stories and emit events. I/O happens through the injected fetcher, store and publish function, so
the engine runs the same under the service, the CLI (`newsroom sources test`, `submit`) and tests.

Robustness rules: a source is polled in its own task and every failure is contained there (one
failing source never blocks the others); fetch failures back a source off (SourceGate) and are
recorded as its health; a feed that cannot be parsed is dead-lettered on ``news.dlq.ingest`` with
the reason (once per distinct content), and the loop goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from services.ingest.articles import Identity, build_article, identify, lead_of, source_timezone
from services.ingest.index_store import IndexStore
from services.ingest.revisions import after_assignment
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
    StoryVector,
    SubmitReply,
    SubmitRequest,
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
        self._rng = random.Random()

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
        while not stop.is_set():
            now = self.clock()
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
            for entry in parsed.entries:
                try:
                    outcome = await self.ingest_entry(source, entry, now, feed_language=parsed.language)
                except FetchError as exc:  # only the publish path raises past here; keep going
                    log.warning(
                        "entry failed", extra={"source": source.id, "url": entry.url, "error": str(exc)}
                    )
                    outcome = "skipped"
                report.counts[outcome] += 1
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

    async def ingest_entry(
        self, source: Source, entry: FeedEntry, now: datetime, feed_language: str | None = None
    ) -> Outcome:
        identity = identify(entry.url)
        if self.index.story_of(identity.article_id) is not None:
            return "known"
        if await self.store.get(ARTICLES, identity.article_id) is not None:
            return "known"
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
        if not article.title:
            return "skipped"
        return await self.emit(article, now)

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
        """Assign the article to a story and publish news.ingested or news.story.joined.

        Publish first, then record: after a crash in between, the same article is assigned again
        and republished with the same Nats-Msg-Id, which the stream drops."""
        doc = ClusterDoc(
            article.article_id,
            article.canonical_url,
            article.title,
            lead_of(article),
            article.language,
            article.published_at,
        )
        async with self._assign_lock:
            # Assignment order as a clock: sources are polled concurrently, each with the time its
            # poll started, so a later assignment could carry an earlier time, and one poll's
            # articles share one. A member's joined_at and a revision's as_of must follow the order
            # of assignment (publish tells a member that joined after a revision from one the
            # revision removed by them), in whole milliseconds: MongoDB keeps no finer time.
            whole_ms = now.replace(microsecond=now.microsecond // 1000 * 1000)
            now = self._last_assigned_at = max(whole_ms, self._last_assigned_at + timedelta(milliseconds=1))
            assignment: Assignment = await asyncio.to_thread(self.index.assign, doc, now)
            member = StoryMember.of(article, now, assignment.near_duplicate_of)
            story_id = assignment.story_id
            members: list[StoryMember] = []
            if not assignment.is_new:
                stored = await self.store.get(STORIES, story_id)
                members = [StoryMember.model_validate(m) for m in (stored or {}).get("members", [])]
            if all(m.article_id != member.article_id for m in members):
                members.append(member)
            cluster = Cluster(
                story_id=story_id,
                is_new=assignment.is_new,
                method=assignment.method,
                similarity=assignment.similarity,
                members=members,
            )
            event = StoryEvent(
                story_id=story_id,
                article_id=article.article_id,
                article=article,
                cluster=cluster,
                vector=story_vector(self.index, doc) if assignment.is_new else None,
            )
            subject = subjects.INGESTED if assignment.is_new else subjects.STORY_JOINED
            await self.publish(Outgoing(subject, event, f"ingest:{article.article_id}"))
            fields: dict[str, Any] = {
                "members": [m.model_dump(mode="python") for m in members],
                "updated_at": now,
            }
            if assignment.is_new:
                fields["first_seen_at"] = now
            await self.store.upsert(STORIES, story_id, fields)
            await self.store.upsert(
                ARTICLES,
                article.article_id,
                {
                    "story_id": story_id,
                    "url": article.canonical_url,
                    "source_id": article.source_id,
                    "method": assignment.method,
                    "ingested_at": now,
                },
            )
            # Revised earlier decisions (news.story.revised) and the article kept for a re-run.
            await after_assignment(
                self.store, self.publish, self.index, self.index_store, assignment, article, member, now
            )
            if self.index_store is not None:
                await self.index_store.save_story(self.index, story_id, now)
        return "new" if assignment.is_new else "joined"

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
