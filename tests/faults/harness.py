"""A fault rig: the five services as real processes on this test's own nats-server and nx-27017
(both restartable on the same port and data directory), a feed of distinct stories, and a ledger
that checks, at the end, that every article of the feed was published exactly once.

Sizes and outage lengths are environment variables so the default suite stays short while the
long variants of the issue can be run on demand:

    NEWSROOM_FAULT_STORIES      stories per run (default 60; the issue's run: 2000)
    NEWSROOM_FAULT_NATS_DOWN_S  nats-server downtime (default 3)
    NEWSROOM_FAULT_MONGO_DOWN_S Mongo-wire server downtime (default 8; the issue says 30)
    NEWSROOM_FAULT_LLM_SLOW_S   LLM answer latency in the slow phase (default 2; the issue: 10)
    NEWSROOM_FAULT_LLM_DOWN_S   LLM endpoint downtime (default 8; the issue: 60)

Each test prints one ``FAULT-RESULT {json}`` line with what it found (run ``pytest -s`` to see it;
it is also attached to the test report as a user property).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared import subjects
from shared.runtime.embedded import (
    EmbeddedServer,
    free_port_block,
    mongo_url,
    mongo_wire_server,
    nats_server,
    nats_url,
)
from shared.settings import STAGES
from tests.faults.stories import fault_stories
from tests.support.stack import Stack, subject_counts, write_feed

# Durable consumers of the pipeline stream and the stage that owns each.
CONSUMERS = {
    "translate": "translate",
    "analyze": "analyze",
    "score": "score",
    "score-joined": "score",
    "score-revised": "score",
    "publish": "publish",
    "publish-revised": "publish",
}
# What each stage emits (used to show that a kill landed mid-run: the stage emitted more after it).
STAGE_OUTPUT = {
    "ingest": (subjects.INGESTED, subjects.STORY_JOINED),
    "translate": (subjects.TRANSLATED,),
    "analyze": (subjects.ANALYZED,),
    "score": (subjects.SCORED,),
}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def fault_story_count() -> int:
    return env_int("NEWSROOM_FAULT_STORIES", 60)


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


# --- JetStream observations (a fresh connection each time: the server may have restarted) -------


async def _consumers_exist(url: str, durables: tuple[str, ...]) -> bool:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        for durable in durables:
            await js.consumer_info(subjects.PIPELINE_STREAM.name, durable)
        return True
    finally:
        await nc.close()


def consumers_exist(url: str, durables: tuple[str, ...] = tuple(CONSUMERS)) -> bool:
    """True once the streams and the stages' durable consumers are declared."""
    try:
        return bool(run_async(_consumers_exist(url, durables)))
    except Exception:
        return False


def count_prefix(counts: dict[str, int], *prefixes: str) -> int:
    return sum(n for s, n in counts.items() if any(s == p or s.startswith(p + ".") for p in prefixes))


async def _consumer_states(url: str) -> dict[str, dict[str, int]]:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        out = {}
        for durable in CONSUMERS:
            try:
                info = await js.consumer_info(subjects.PIPELINE_STREAM.name, durable)
            except Exception:
                continue
            out[durable] = {
                "pending": info.num_pending or 0,
                "ack_pending": info.num_ack_pending or 0,
                "redelivered": info.num_redelivered or 0,
                "delivered": info.delivered.consumer_seq if info.delivered else 0,
            }
        return out
    finally:
        await nc.close()


def consumer_states(url: str) -> dict[str, dict[str, int]]:
    try:
        result: dict[str, dict[str, int]] = run_async(_consumer_states(url))
        return result
    except Exception:
        return {}


async def _collect(url: str, stream: str, subject: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message of ``subject`` in ``stream`` (an ephemeral, ack-less pull consumer): as many
    as the consumer had pending when it was created, so the read ends at once instead of after a
    fetch that times out on an empty stream."""
    nc = await nats.connect(url, connect_timeout=5)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            subject,
            stream=stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0
            ),
        )
        remaining = (await sub.consumer_info()).num_pending or 0
        out: list[tuple[str, dict[str, Any]]] = []
        while remaining > 0:
            try:
                batch = await sub.fetch(min(500, remaining), timeout=30.0)
            except (nats.errors.TimeoutError, TimeoutError) as exc:
                raise AssertionError(f"{remaining} messages of {subject} in {stream} never came") from exc
            remaining -= len(batch)
            for msg in batch:
                try:
                    out.append((msg.subject, json.loads(msg.data)))
                except ValueError:
                    out.append((msg.subject, {"_raw": msg.data.decode("utf-8", "replace")}))
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def collect(url: str, stream: str, subject: str) -> list[tuple[str, dict[str, Any]]]:
    result: list[tuple[str, dict[str, Any]]] = run_async(_collect(url, stream, subject))
    return result


# --- a feed that is served when the test says so -------------------------------------------------


class HeldFeed:
    """A feed served over HTTP (127.0.0.1) only once ``release()`` was called: an ingest that polls
    it cannot finish its pass before then, however fast it is (the request waits; keep it shorter
    than the fetcher's 15 s read timeout)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.released = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                held.released.wait(timeout=120)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(held.body)))
                    self.end_headers()
                    self.wfile.write(held.body)
                except OSError:  # the asking process was killed meanwhile
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/held.xml"

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def sources_file(self, path: Path) -> Path:
        """A sources file with this feed as its one source (loopback allowed for it)."""
        path.write_text(
            "sources:\n  - id: held\n    name: Held wire\n"
            f"    url: {self.url}\n    kind: rss\n    language: en\n    full_text: never\n"
            "    allow_private: true\n",
            encoding="utf-8",
        )
        return path


# --- the rig -----------------------------------------------------------------------------------


def fast_delivery_env(ack_wait_s: float = 6.0) -> dict[str, str]:
    """Test delivery settings: a killed consumer's in-flight messages come back after ack_wait_s
    (defaults: 60-300 s), and outage retries every second (default 10 s)."""
    env = {f"NEWSROOM_DELIVERY__{stage.upper()}__ACK_WAIT_S": str(ack_wait_s) for stage in STAGES}
    env["NEWSROOM_DELIVERY__OUTAGE_RETRY_DELAY_S"] = "1"
    return env


@dataclass
class FaultRig:
    root: Path
    nats: EmbeddedServer
    mongo: EmbeddedServer
    stack: Stack
    feed_urls: list[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    # The feed's last stories, served only when released (start_rig(held_stories=...)).
    held: HeldFeed | None = None

    @property
    def nats_url(self) -> str:
        return nats_url(self.nats)

    def note(self, what: str, **data: Any) -> None:
        self.events.append({"t_s": round(time.monotonic() - self.started_at, 1), "event": what, **data})

    # servers ------------------------------------------------------------------------------------

    def restart_nats(self, down_s: float) -> None:
        self.note("nats-server killed")
        self.nats.kill()
        time.sleep(down_s)
        self.nats.start()
        self.note("nats-server restarted", down_s=down_s)

    @contextmanager
    def mongo_down(self) -> Iterator[None]:
        self.note("nx-27017 stopped")
        self.mongo.kill()
        try:
            yield
        finally:
            self.mongo.start()
            self.note("nx-27017 restarted")

    # progress -------------------------------------------------------------------------------

    def pipeline_counts(self) -> dict[str, int]:
        return subject_counts(self.nats_url, subjects.PIPELINE_STREAM.name)

    def emitted_by_ingest(self) -> int:
        return count_prefix(self.pipeline_counts(), subjects.INGESTED, subjects.STORY_JOINED)

    def items(self) -> list[dict[str, Any]]:
        db = self.stack.mongo()
        return list(
            db.items.find(
                {},
                {
                    "sources": 1,
                    "version": 1,
                    "announced_version": 1,
                    "translation": 1,
                    "title": 1,
                    "summary": 1,
                    "body": 1,
                },
            )
        )

    def item_count(self) -> int:
        try:
            return int(self.stack.mongo().items.count_documents({}))
        except Exception:
            return -1

    def check_alive(self) -> None:
        """Fail at once, with the logs, when a service exited by itself (kills are restarted
        immediately by the tests, so a dead process here is never one of ours)."""
        dead = {stage: proc.returncode for stage, proc in self.stack.procs.items() if proc.poll() is not None}
        if dead:
            raise AssertionError(f"service(s) exited by themselves: {dead}\n{self.stack.logs()}")

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.3) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            self.check_alive()
            time.sleep(every_s)
        raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}\n{self.stack.logs()}")

    def wait_settled(self, timeout_s: float, stable_s: float = 1.0, every_s: float = 0.3) -> None:
        """Until every article of the feed is in an item, every item is announced, ingest (when it
        runs) has finished its pass, and no pipeline consumer has work pending (stable for
        ``stable_s``)."""
        expected = set(self.feed_urls)
        deadline = time.monotonic() + timeout_s
        stable_since: float | None = None
        last = ""
        while time.monotonic() < deadline:
            try:
                docs = self.items()
            except Exception as exc:  # Mongo may be coming back
                last = f"mongo: {exc}"
                time.sleep(every_s)
                continue
            urls = {s["url"] for d in docs for s in d.get("sources", [])}
            announced = all(d.get("announced_version") == d.get("version") for d in docs)
            consumers = consumer_states(self.nats_url)
            idle = len(consumers) == len(CONSUMERS) and all(
                c["pending"] == 0 and c["ack_pending"] == 0 for c in consumers.values()
            )
            try:
                ingest_done = self.stack.ingest_pass_done()
            except Exception:
                ingest_done = False
            last = (
                f"{len(expected & urls)}/{len(expected)} articles in {len(docs)} items; "
                f"announced={announced}; ingest pass done={ingest_done}; consumers={consumers}"
            )
            if expected <= urls and announced and idle and ingest_done:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= stable_s:
                    self.note("settled", items=len(docs))
                    return
            else:
                stable_since = None
            self.check_alive()
            time.sleep(every_s)
        raise AssertionError(f"not settled after {timeout_s:.0f}s: {last}\n{self.stack.logs()}")

    def alive(self) -> dict[str, bool]:
        return {stage: proc.poll() is None for stage, proc in self.stack.procs.items()}


def start_rig(
    tmp_path: Path,
    stories: int,
    env_extra: dict[str, str] | None = None,
    stages: tuple[str, ...] = STAGES,
    prefix: str = "fault",
    held_stories: int = 0,
) -> FaultRig:
    """The rig with ``stages`` started. With ``held_stories``, the feed's last stories are a
    second source, a HeldFeed (``rig.held``) that answers only once released."""
    entries = fault_stories(stories, prefix=prefix)
    in_file = entries[: len(entries) - held_stories]
    feed = write_feed(tmp_path / "feed.xml", in_file, title="Fault wire")
    held = None
    if held_stories:
        body = write_feed(tmp_path / "held.xml", entries[len(in_file) :], title="Held wire").read_bytes()
        held = HeldFeed(body)
    nats_srv = nats_server(tmp_path / "n").start()
    try:
        mongo_srv = mongo_wire_server(tmp_path / "m").start()
    except Exception:
        nats_srv.stop()
        raise
    logs = tmp_path / "logs"
    logs.mkdir()
    stack = Stack(nats_url(nats_srv), mongo_url(mongo_srv), "faults", logs)
    stack.env_extra = {
        "NEWSROOM_INGEST__FEEDS": str(feed),
        "NEWSROOM_INGEST__POLL": "false",
        **fast_delivery_env(),
        **(env_extra or {}),
    }
    if held is not None:
        # Ingest polls the sources file's source and the feed file together.
        stack.env_extra["NEWSROOM_INGEST__SOURCES_FILE"] = str(held.sources_file(tmp_path / "held.yaml"))
    rig = FaultRig(tmp_path, nats_srv, mongo_srv, stack, [link for link, _, _ in entries], held=held)
    # The stages listen on base_port + 0..4: all five must be free (the machine is shared; a
    # collision made a stage exit at start-up, which then looked like a lost message).
    stack.base_port = free_port_block(len(STAGES))
    stack.start_all(stages)
    return rig


def stop_rig(rig: FaultRig) -> None:
    if rig.held is not None:
        rig.held.stop()
    rig.stack.stop_all()
    rig.nats.stop()
    rig.mongo.stop()


# --- the ledger ----------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the run produced, and every way it differs from "each article published exactly once"."""

    numbers: dict[str, Any]
    problems: list[str]


def audit(rig: FaultRig) -> Ledger:
    docs = rig.items()
    url_count = Counter(s["url"] for d in docs for s in d.get("sources", []))
    expected = set(rig.feed_urls)
    out = collect(rig.nats_url, subjects.OUTPUT_STREAM.name, "news.>")
    published = Counter(
        data.get("story_id") for subject, data in out if subject.startswith(subjects.PUBLISHED_PREFIX + ".")
    )
    updated = sum(1 for subject, _ in out if subject.startswith(subjects.UPDATED_PREFIX + "."))
    pipeline = collect(rig.nats_url, subjects.PIPELINE_STREAM.name, subjects.INGESTED)
    new_stories = Counter(data.get("story_id") for _, data in pipeline)
    dead = collect(rig.nats_url, subjects.DLQ_STREAM.name, "news.dlq.>")
    counts = rig.pipeline_counts()
    item_ids = {d["_id"] for d in docs}

    problems: list[str] = []
    lost = expected - set(url_count)
    if lost:
        problems.append(f"{len(lost)} articles lost, e.g. {sorted(lost)[:3]}")
    doubled = {u: n for u, n in url_count.items() if n > 1}
    if doubled:
        problems.append(
            f"{len(doubled)} articles in more than one item (or twice in one), "
            f"e.g. {list(doubled.items())[:3]}"
        )
    twice_new = {s: n for s, n in new_stories.items() if n > 1}
    if twice_new:
        problems.append(
            f"{len(twice_new)} stories emitted as new more than once: {list(twice_new.items())[:3]}"
        )
    if set(new_stories) != item_ids:
        problems.append(
            f"stories on news.ingested vs items differ: {len(set(new_stories) - item_ids)} without item, "
            f"{len(item_ids - set(new_stories))} items without a news.ingested event"
        )
    if set(published) != item_ids:
        problems.append(
            f"published story ids vs items differ: {len(item_ids - set(published))} never published, "
            f"{len(set(published) - item_ids)} published without item"
        )
    many = {s: n for s, n in published.items() if n != 1}
    if many:
        problems.append(f"{len(many)} stories published more than once: {list(many.items())[:3]}")
    unannounced = [d["_id"] for d in docs if d.get("announced_version") != d.get("version")]
    if unannounced:
        problems.append(f"{len(unannounced)} items whose last version was never announced")
    if dead:
        problems.append(
            f"{len(dead)} dead letters: "
            f"{[(d.get('stage'), d.get('error_type'), str(d.get('error'))[:200]) for _, d in dead[:3]]}"
        )
    numbers = {
        "articles": len(expected),
        "articles_published": len(expected & set(url_count)),
        "items": len(docs),
        "stories_new": len(new_stories),
        "joined_events": counts.get(subjects.STORY_JOINED, 0),
        "published_events": sum(published.values()),
        "updated_events": updated,
        "dead_letters": len(dead),
        "lost": len(lost),
        "duplicated": len(doubled) + len(many) + len(twice_new),
        "pipeline_subject_counts": counts,
    }
    return Ledger(numbers, problems)


def report(
    name: str,
    rig: FaultRig,
    ledger: Ledger,
    extra: dict[str, Any] | None = None,
    record: Callable[[str, object], None] | None = None,
) -> str:
    result = {
        "test": name,
        **ledger.numbers,
        "elapsed_s": round(time.monotonic() - rig.started_at, 1),
        "timeline": rig.events,
        **(extra or {}),
    }
    line = "FAULT-RESULT " + json.dumps(result, ensure_ascii=False, default=str)
    print(line, flush=True)
    if record is not None:
        record("fault_result", json.dumps(result, default=str))
    return line
