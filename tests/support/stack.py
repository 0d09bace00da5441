"""The five services as real processes against the test's own nats-server and Mongo-wire server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from pymongo import MongoClient

from shared import subjects
from shared.ops import PIPELINE_CONSUMERS
from shared.runtime.embedded import free_port_block
from shared.settings import STAGES
from tests.support import example_cache
from tests.support.waits import PIPELINE_RUN_S

REPO = Path(__file__).resolve().parents[2]
# A wait on the services as processes (start-up included) ends when its condition holds; this is
# only when it gives up (see tests/support/waits.py).
STACK_WAIT_S = 300.0
INGEST_OUTPUT = (subjects.INGESTED, subjects.STORY_JOINED)


def write_feed(
    path: Path, entries: Iterable[tuple[str, str, str]], title: str = "Test wire", language: str = "en"
) -> Path:
    """An RSS 2.0 file from (link, title, description) tuples."""
    from xml.sax.saxutils import escape

    start = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    items = []
    for index, (link, item_title, description) in enumerate(entries):
        published = (start + timedelta(minutes=index)).strftime("%a, %d %b %Y %H:%M:%S GMT")
        items.append(
            f"<item><title>{escape(item_title)}</title><link>{escape(link)}</link>"
            f"<description>{escape(description)}</description><pubDate>{published}</pubDate></item>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link><description>t</description>"
        f"<language>{language}</language>{''.join(items)}</channel></rss>",
        encoding="utf-8",
    )
    return path


_VOCABULARY: list[str] = []


def _vocabulary() -> list[str]:
    """Real English words from the reference item, so synthetic stories read as text."""
    if not _VOCABULARY:
        import re

        text = (REPO / "tests" / "data" / "tagging" / "sample_item.txt").read_text(encoding="utf-8").lower()
        _VOCABULARY.extend(sorted(set(re.findall(r"[a-z]{4,}", text))))
    return _VOCABULARY


def distinct_stories(count: int, prefix: str = "story") -> list[tuple[str, str, str]]:
    """``count`` stories that are really different from each other (different words, not one
    template with other numbers), so clustering keeps them apart: (link, title, description)."""
    import random

    words = _vocabulary()
    out = []
    for i in range(count):
        rng = random.Random(f"{prefix}-{i}")
        title = " ".join(rng.sample(words, 9)).capitalize()
        # Long enough (> 350 characters) to be a full item, not a teaser whose page must be fetched.
        lead = ". ".join(" ".join(rng.sample(words, 12)).capitalize() for _ in range(6)) + "."
        out.append((f"https://news.example.org/{prefix}/{i}", f"{title} ({i})", lead))
    return out


@dataclass
class Stack:
    nats_url: str
    mongo_url: str
    db_name: str
    log_dir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    base_port: int = 0
    # Transport and fault tests do not need the embedding model (it costs ~0.1 s of CPU per story
    # in ingest and analyze); the end-to-end wire test turns it on.
    embeddings: bool = False
    # When each stage was last started (Unix seconds; see drained()).
    started_at: dict[str, float] = field(default_factory=dict)
    _client: MongoClient[Any] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
        env.update(
            {
                "NEWSROOM_NATS_URL": self.nats_url,
                "NEWSROOM_MONGO_URL": self.mongo_url,
                "NEWSROOM_MONGO_DB": self.db_name,
                "NEWSROOM_METRICS_BASE_PORT": str(self.base_port),
                "NEWSROOM_DATA_DIR": str(self.log_dir),
                "NEWSROOM_LOG_LEVEL": "INFO",
                "NEWSROOM_EMBEDDINGS": "true" if self.embeddings else "false",
                "PYTHONPATH": str(REPO),
                # Translate's wait for other-language members (issue 14) is off unless a test sets it.
                "NEWSROOM_TRANSLATE__SOURCE_WAIT_S": "0",
            }
        )
        env.update(self.env_extra)
        return env

    def start(self, stage: str) -> None:
        self.started_at[stage] = time.time()
        log = open(self.log_dir / f"{stage}.log", "ab")
        self.procs[stage] = subprocess.Popen(
            [sys.executable, "-m", f"services.{stage}"],
            env=self.env(),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def start_all(self, stages: Iterable[str] = STAGES) -> None:
        example_cache.seed(self.log_dir)
        if not self.base_port:
            self.base_port = free_port_block(len(STAGES))
        for stage in stages:
            self.start(stage)

    def kill(self, stage: str) -> None:
        proc = self.procs[stage]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def pause(self, stage: str) -> None:
        """Freeze the stage's process (SIGSTOP): it does nothing until resume() and keeps what it
        holds, so a test can make an ordering hold by construction instead of by speed."""
        self.procs[stage].send_signal(signal.SIGSTOP)

    def resume(self, stage: str) -> None:
        self.procs[stage].send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        example_cache.keep(self.log_dir)
        if self._client is not None:
            self._client.close()
            self._client = None

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.log_dir.glob("*.log")
        )

    # --- observations ------------------------------------------------------------------------

    def mongo(self) -> Any:
        # One client for the test's many polls (each client starts monitor threads and sockets).
        if self._client is None:
            self._client = MongoClient(self.mongo_url, serverSelectionTimeoutMS=5000, tz_aware=True)
        return self._client[self.db_name]

    def ingest_pass_done(self) -> bool:
        """True when the ingest process running now (single pass: NEWSROOM_INGEST__POLL=false) has
        finished its pass: every source polled and every article handed on."""
        from shared.storage import INGEST_STATE, SINGLE_PASS_ID

        if "ingest" not in self.started_at:
            return True
        state = self.mongo()[INGEST_STATE].find_one({"_id": SINGLE_PASS_ID}) or {}
        return float(state.get("finished_at") or 0.0) >= self.started_at["ingest"]

    def drained(self) -> bool:
        """Nothing left to do: ingest's pass is finished and no pipeline consumer has a message
        pending or unacknowledged (a handler acks only after its output is in the stream, so no
        stage can emit anything more)."""
        try:
            return self.ingest_pass_done() and pipeline_idle(self.nats_url)
        except Exception:  # a server coming back
            return False

    def wait_until(
        self, what: str, check: Callable[[], bool], timeout_s: float = STACK_WAIT_S, every_s: float = 0.2
    ) -> None:
        """Until ``check()`` holds; AssertionError with the services' logs after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}\n{self.logs()}")
            time.sleep(every_s)

    def handed_on_by_ingest(self) -> int:
        """Events ingest has put into the pipeline stream (news.ingested and news.story.joined)."""
        return sum(n for subject, n in subject_counts(self.nats_url).items() if subject in INGEST_OUTPUT)

    def wait_drained(self, timeout_s: float = STACK_WAIT_S) -> None:
        """Until drained() holds: after it, no stage can emit anything more (a duplicate included)."""
        deadline = time.monotonic() + timeout_s
        while not self.drained():
            if time.monotonic() > deadline:
                raise AssertionError(f"the pipeline was not drained after {timeout_s}s\n{self.logs()}")
            time.sleep(0.2)

    def wait_items(self, count: int, timeout_s: float = STACK_WAIT_S) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        db = self.mongo()
        docs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            docs = list(db.items.find({}))
            if len(docs) >= count:
                return docs
            time.sleep(0.2)
        raise AssertionError(f"only {len(docs)} of {count} items after {timeout_s}s\n{self.logs()}")


def settle(stack: Stack, quiet_s: float = 1.0, timeout_s: float = PIPELINE_RUN_S) -> list[dict[str, Any]]:
    """The items once the pipeline is drained (ingest's pass done, no consumer with work: see
    Stack.drained) and has been quiet (no new item or version) for quiet_s.

    Drained is what makes this the end of the run: a quiet pipeline alone is not (ingest may still
    be reading or embedding a feed; under heavy load that took longer than the quiet window this
    wait once used, and test_bilingual_real saw only the first feed's stories)."""
    db = stack.mongo()
    deadline = time.monotonic() + timeout_s
    last: tuple[int, int] | None = None
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        docs = list(db.items.find({}, {"version": 1}))
        state = (len(docs), sum(d["version"] for d in docs))
        if state != last or not stack.drained():
            last, quiet_since = state, time.monotonic()
        elif docs and time.monotonic() - quiet_since >= quiet_s:
            return list(db.items.find({}))
        time.sleep(0.25)
    raise AssertionError(f"pipeline did not settle\n{stack.logs()}")


async def _subject_counts(nats_url: str, stream: str) -> dict[str, int]:
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


def subject_counts(nats_url: str, stream: str = subjects.PIPELINE_STREAM.name) -> dict[str, int]:
    """Messages per subject in a stream ({} while the stream or the server is not there)."""
    try:
        return asyncio.run(_subject_counts(nats_url, stream))
    except Exception:
        return {}


async def pipeline_consumers(nats_url: str) -> dict[str, tuple[int, int]]:
    """(pending, unacknowledged) of every durable consumer of the pipeline stream."""
    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        infos = await nc.jetstream().consumers_info("NEWS_PIPELINE")
        return {
            info.name: (info.num_pending or 0, info.num_ack_pending or 0)
            for info in infos
            if info.config.durable_name
        }
    finally:
        await nc.close()


def pipeline_idle(nats_url: str) -> bool:
    """Every stage's consumer is declared and none has a message pending or unacknowledged."""
    try:
        consumers = asyncio.run(pipeline_consumers(nats_url))
    except Exception:
        return False
    return set(PIPELINE_CONSUMERS) <= set(consumers) and all(
        pending == 0 and unacked == 0 for pending, unacked in consumers.values()
    )


async def stream_messages(
    nats_url: str, stream: str, subject: str | None = None
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Every message currently in a stream (optionally one subject filter), oldest first."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except Exception:
                continue
            if subject and not _matches(subject, msg.subject or ""):
                continue
            out.append((msg.subject or "", json.loads(msg.data or b"{}"), dict(msg.headers or {})))
        return out
    finally:
        await nc.close()


def _matches(pattern: str, subject: str) -> bool:
    pat, sub = pattern.split("."), subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return len(sub) > i
        if i >= len(sub) or (token != "*" and token != sub[i]):
            return False
    return len(pat) == len(sub)


def messages(
    nats_url: str, stream: str, subject: str | None = None
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    return asyncio.run(stream_messages(nats_url, stream, subject))
