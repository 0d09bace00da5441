"""Pipeline throughput against the raw JetStream bound, measured in the same run.

Stages: N news.ingested events published straight onto the stream → translate → analyze → score →
publish → MongoDB: the four consuming stages as separate processes on an embedded nats-server and
nx-27017, no LLM configured (so the LLM stages cost nothing; analyze's local tier runs).
End to end: a feed of the same N articles through ingest as well (fetch, parse, cluster).
Raw bound: the same four consumer hops as bare nats-py relays (pull consumer, publish with ack,
then ack), one process per hop, no application work.

    python bench/pipeline.py [--articles 5000] [--skip-e2e]

Prints JSON. Numbers depend on the machine; they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.runtime.embedded import (  # noqa: E402
    EmbeddedServer,
    free_port_block,
    mongo_url,
    mongo_wire_server,
    nats_server,
    nats_url,
)
from shared.runtime.supervisor import Supervisor  # noqa: E402
from shared.settings import STAGES  # noqa: E402


def body(i: int) -> str:
    """A full article text (> 350 characters: a complete item, not a teaser whose page is fetched)."""
    return (
        f"Lab {i % 97} released model {i}, tuned for task {i % 13}, to customers on {i % 28 + 1} November. "
        f"The company said the model handles {1000 + i} requests per second on one accelerator and costs "
        f"{i % 9 + 1} dollars per million tokens. Analysts expect rivals to answer within weeks, while "
        f"regulators in {i % 5 + 2} markets review how such systems are evaluated before release."
    )


def write_feed(path: Path, count: int) -> None:
    """N really different stories (the test suite's generator: different words, not one template),
    so that clustering keeps them apart and every article becomes its own item."""
    from tests.support.stack import distinct_stories
    from tests.support.stack import write_feed as write_rss

    write_rss(path, distinct_stories(count, prefix="bench"), title="Bench")


def published_articles(db: Any) -> int:
    return sum(len(doc.get("sources", [])) for doc in db.items.find({}, {"sources": 1}))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ingested_events(count: int, prefix: str = "a") -> list[tuple[str, bytes]]:
    from shared.events import Article, Cluster, StoryEvent, StoryMember, stable_id, utcnow

    events = []
    now = utcnow()
    for i in range(count):
        title = f"Lab {i % 97} ships model {i} for task {i % 13}"
        url = f"https://bench.example.org/{prefix}/{i}"
        article_id = stable_id("bench", url)
        article = Article(
            article_id=article_id,
            source_id="bench",
            source_name="Bench",
            url=url,
            canonical_url=url,
            title=title,
            summary=body(i),
            language="en",
            fetched_at=now,
        )
        member = StoryMember(
            article_id=article_id,
            source_id="bench",
            source_name="Bench",
            url=url,
            title=title,
            language="en",
            joined_at=now,
        )
        story = stable_id("story", article_id)
        event = StoryEvent(
            story_id=story,
            article_id=article_id,
            article=article,
            cluster=Cluster(story_id=story, is_new=True, method="new", members=[member]),
        )
        events.append((f"ingest:{article_id}", event.model_dump_json().encode()))
    return events


def embedded_stack(
    workdir: Path, stages: Sequence[str], extra_env: dict[str, str]
) -> tuple[EmbeddedServer, EmbeddedServer, Supervisor, Any]:
    """Embedded nats-server and nx-27017 plus the given stages (not started yet) and the items' db."""
    from pymongo import MongoClient

    nats = nats_server(workdir).start()
    mongo = mongo_wire_server(workdir).start()
    env = dict(
        os.environ,
        NEWSROOM_NATS_URL=nats_url(nats),
        NEWSROOM_MONGO_URL=mongo_url(mongo),
        NEWSROOM_METRICS_BASE_PORT=str(free_port_block(len(STAGES))),
        NEWSROOM_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO),
        **extra_env,
    )
    supervisor = Supervisor()
    for stage in stages:
        supervisor.add(stage, f"services.{stage}", env, workdir)
    return nats, mongo, supervisor, MongoClient(mongo_url(mongo), tz_aware=True).newsroom


def run_stages(count: int, workdir: Path) -> dict[str, object]:
    """The four consuming stages only: events injected onto news.ingested as fast as the stream takes them."""
    nats, mongo, supervisor, db = embedded_stack(workdir / "s", STAGES[1:], {})
    events = ingested_events(count)
    try:
        supervisor.start_all()
        while db.items.count_documents({}) == 0:  # wait until the stages are up: one warm-up story
            try:
                asyncio.run(_inject(nats_url(nats), ingested_events(1, prefix=f"warmup-{time.time()}")))
            except Exception:  # the services have not created the streams yet
                pass
            time.sleep(2.0)
        warm = db.items.count_documents({})
        started = time.perf_counter()
        asyncio.run(_inject(nats_url(nats), events))
        inject_s = time.perf_counter() - started
        deadline = started + 900
        while db.items.count_documents({}) < count + warm and time.perf_counter() < deadline:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        done = db.items.count_documents({}) - warm
    finally:
        supervisor.stop_all()
        nats.stop()
        mongo.stop()
    return {
        "articles": count,
        "published": done,
        "elapsed_s": round(elapsed, 2),
        "inject_s": round(inject_s, 2),
        "articles_per_s": round(done / elapsed, 1),
    }


async def _inject(url: str, events: list[tuple[str, bytes]]) -> None:
    import nats as nats_client

    nc = await nats_client.connect(url)
    js = nc.jetstream()
    window: list[asyncio.Future[object]] = []
    for msg_id, data in events:  # keep 256 publishes in flight: the injector must not be the bottleneck
        window.append(
            asyncio.ensure_future(js.publish("news.ingested", data, headers={"Nats-Msg-Id": msg_id}))
        )
        if len(window) >= 256:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)
    await nc.close()


def run_pipeline(count: int, workdir: Path) -> dict[str, object]:
    feed = workdir / "feed.xml"
    write_feed(feed, count)
    extra = {"NEWSROOM_INGEST__FEEDS": str(feed), "NEWSROOM_INGEST__POLL": "false"}
    nats, mongo, supervisor, db = embedded_stack(workdir / "p", STAGES, extra)
    try:
        started = time.perf_counter()
        supervisor.start_all()
        deadline = started + 900
        # Count articles, not items: clustering may (rightly or not) merge a few of them.
        while published_articles(db) < count and time.perf_counter() < deadline:
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        done = published_articles(db)
        stories = db.items.count_documents({})
        latencies = [
            (doc["published_at"] - doc["first_seen_at"]).total_seconds()
            for doc in db.items.find({}, {"published_at": 1, "first_seen_at": 1})
        ]
        first = min(doc["first_seen_at"] for doc in db.items.find({}, {"first_seen_at": 1}))
        last = max(doc["published_at"] for doc in db.items.find({}, {"published_at": 1}))
        flow_s = (last - first).total_seconds()
    finally:
        supervisor.stop_all()
        nats.stop()
        mongo.stop()
    return {
        "articles": count,
        "published": done,
        "stories": stories,
        "wall_s_including_startup": round(elapsed, 2),
        "articles_per_s": round(done / flow_s, 1) if flow_s > 0 else None,
        "latency_p50_s": round(percentile(latencies, 0.5), 3),
        "latency_p95_s": round(percentile(latencies, 0.95), 3),
    }


def relay(url: str, source: str, target: str | None, durable: str, count: int, ready: object) -> None:
    import nats as nats_client

    async def main() -> None:
        nc = await nats_client.connect(url)
        js = nc.jetstream()
        sub = await js.pull_subscribe(source, durable=durable, stream="RAW")
        ready.set()  # type: ignore[attr-defined]
        seen = 0
        while seen < count:
            try:
                msgs = await sub.fetch(64, timeout=5)
            except Exception:
                continue
            for msg in msgs:
                if target:
                    await js.publish(
                        target, msg.data, headers={"Nats-Msg-Id": f"{durable}:{msg.metadata.sequence.stream}"}
                    )
                await msg.ack()
                seen += 1
        await nc.close()

    asyncio.run(main())


def run_raw(count: int, workdir: Path) -> dict[str, object]:
    import nats as nats_client

    server = nats_server(workdir / "raw").start()
    url = nats_url(server)
    hops = ["raw.0", "raw.1", "raw.2", "raw.3", "raw.4"]

    async def setup() -> None:
        nc = await nats_client.connect(url)
        await nc.jetstream().add_stream(name="RAW", subjects=hops, duplicate_window=3600)
        await nc.close()

    asyncio.run(setup())
    ctx = multiprocessing.get_context("spawn")
    procs, events = [], []
    for i in range(4):
        ready = ctx.Event()
        events.append(ready)
        target = hops[i + 1] if i < 3 else None  # the last hop only consumes, like publish into MongoDB
        procs.append(ctx.Process(target=relay, args=(url, hops[i], target, f"hop{i}", count, ready)))
    for proc in procs:
        proc.start()
    for ready in events:
        ready.wait(30)
    payload = json.dumps({"title": "x" * 200, "body": "y" * 600}).encode()

    async def feed() -> None:
        nc = await nats_client.connect(url)
        js = nc.jetstream()
        for i in range(count):
            await js.publish(hops[0], payload, headers={"Nats-Msg-Id": f"in:{i}"})
        await nc.close()

    started = time.perf_counter()
    asyncio.run(feed())
    for proc in procs:
        proc.join(600)
    elapsed = time.perf_counter() - started
    server.stop()
    return {
        "messages": count,
        "hops": 4,
        "elapsed_s": round(elapsed, 2),
        "messages_per_s": round(count / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--skip-e2e", action="store_true", help="only the four stages and the raw bound")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        raw = run_raw(args.articles, workdir)
        stages = run_stages(args.articles, workdir)
        pipeline = None if args.skip_e2e else run_pipeline(args.articles, workdir)
    rate, bound = stages["articles_per_s"], raw["messages_per_s"]
    ratio = rate / bound if isinstance(rate, float) and isinstance(bound, float) and bound else None
    e2e_rate = pipeline.get("articles_per_s") if pipeline else None
    if pipeline and isinstance(e2e_rate, float) and isinstance(bound, float) and bound:
        pipeline["ratio_to_raw"] = round(e2e_rate / bound, 3)
    print(
        json.dumps(
            {
                "benchmark": "pipeline",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "embeddings": os.environ.get("NEWSROOM_EMBEDDINGS", "true"),
                "stages": stages,
                "end_to_end_with_ingest": pipeline,
                "raw_jetstream_bound": raw,
                "ratio_to_raw": round(ratio, 3) if ratio else None,
                "goal_ratio": 0.5,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
