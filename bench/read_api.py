"""Read API benchmark: requests/s and latency percentiles of the list endpoint over 10,000 stored
items, and p50/p95 of the other scenarios (second page, tag filter, time order, one item, search in
both languages, and with a tag filter). Prints one JSON object. ``--items 100000`` stores 100k items in bulk.

The API runs in this process (uvicorn, one worker, rate limit off) over nx-27017 started in a
temporary directory (or NEWSROOM_MONGO_URL, in a throw-away database). The load comes from a second
process (this script with --load: an async httpx client keeping ``--concurrency`` requests in
flight) so client and server do not share an event loop. Target: p95 < 50 ms for the default list.

    .venv/bin/python bench/read_api.py [--items 10000] [--seconds 10] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_P95_MS = 50.0


# --- load generator (the second process) ------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def generate_load(urls: list[str], seconds: float, concurrency: int, warmup_s: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        warm_until = time.perf_counter() + warmup_s
        while time.perf_counter() < warm_until:
            await client.get(urls[0])
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < stop_at:
                url = urls[i % len(urls)]
                i += 1
                t0 = time.perf_counter()
                try:
                    response = await client.get(url)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += 0 if ok else 1

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else None,
    }


# --- data ---------------------------------------------------------------------------------------


def bench_documents(count: int, now: datetime) -> list[dict[str, Any]]:
    """``count`` valid items: the hand-written sample stories with their analysis, under distinct
    ids, spread over 30 days, with varied scores (seeded, so every run stores the same data)."""
    from tests.support.items import OPENAI_ANALYSIS_EN, OPENAI_ANALYSIS_ZH, as_document, sample_items

    rng = random.Random(20261120)
    stories = sample_items(now)
    docs = []
    for i in range(count):
        doc = as_document(stories[i % len(stories)])
        doc["_id"] = f"{doc['_id']}-{i:05d}"
        age = timedelta(minutes=rng.randint(0, 30 * 24 * 60))
        doc["published_at"] = doc["first_seen_at"] = now - age
        doc["updated_at"] = now - age * rng.random()
        doc["analysis"] = {"en": OPENAI_ANALYSIS_EN * 4, "zh": OPENAI_ANALYSIS_ZH * 4}  # ~3 KB, a real size
        for name in ("hot", "quality", "impact"):
            doc["scores"][name]["value"] = round(rng.uniform(0, 100), 2)
        docs.append(doc)
    return docs


# --- the search index ----------------------------------------------------------------------------


async def build_search_index(store: Any, docs: list[dict[str, Any]], skip: bool) -> dict[str, Any]:
    """File the bulk-inserted items in the term index the way publish files them (same terms, same
    collections), but in bulk: one postings document per term written once, the sort rows in
    batches (filing 100k items one by one through the write path would take longer than the bench)."""
    from services.publish.search_index import (
        ITEM_TERMS,
        LAYOUT_VERSION,
        POSTINGS,
        STATE,
        STATE_ID,
        posting_key,
        sort_row,
    )
    from shared.core.search_terms import TERMS_VERSION, filter_terms, item_terms
    from shared.llm.prompts import load_glossary
    from shared.storage import SEARCH_SORT

    if skip:
        return {"index": "off (scan)"}
    glossary = load_glossary()
    by_template: dict[str, frozenset[str]] = {}
    postings: dict[str, list[str]] = {}
    item_rows = []
    for doc in docs:
        template = doc["_id"].rsplit("-", 1)[0]  # the bench repeats the sample stories
        if template not in by_template:
            by_template[template] = frozenset(item_terms(doc, glossary) | filter_terms(doc))
        terms = by_template[template]
        for term in terms:
            postings.setdefault(posting_key(term, doc["_id"]), []).append(doc["_id"])
        item_rows.append({"_id": doc["_id"], "terms": sorted(terms), "v": TERMS_VERSION})
    rows = [{"_id": key, "ids": ids} for key, ids in postings.items()]
    for start in range(0, len(rows), 200):
        await store.collection(POSTINGS).insert_many(rows[start : start + 200])
    for start in range(0, len(item_rows), 1000):
        await store.collection(ITEM_TERMS).insert_many(item_rows[start : start + 1000])
        sort_rows = [sort_row(doc["_id"], doc) for doc in docs[start : start + 1000]]
        await store.collection(SEARCH_SORT).insert_many(sort_rows)
    state = {"complete": True, "v": TERMS_VERSION, "layout": LAYOUT_VERSION, "items": len(docs)}
    await store.upsert(STATE, STATE_ID, state)
    sizes = sorted(len(ids) for ids in postings.values())
    return {
        "index": "terms",
        "terms": len({key.rsplit("#", 1)[0] for key in postings}),
        "postings_documents": len(rows),
        "terms_per_item": round(statistics.fmean(len(t) for t in by_template.values()), 1),
        "largest_postings_document": sizes[-1],
        "median_postings_document": sizes[len(sizes) // 2],
    }


async def time_index_writes(store: Any, docs: list[dict[str, Any]], count: int = 10) -> dict[str, Any]:
    """The publish write path's cost of filing: new items (all terms added), then a redelivery."""
    from services.publish.search_index import SearchIndex
    from shared.llm.prompts import load_glossary

    index = SearchIndex(store, load_glossary())
    new, again = [], []
    for n, doc in enumerate(docs[:count]):
        fresh = {**doc, "_id": f"bench-new-{n}"}
        t0 = time.perf_counter()
        await index.index_item(fresh["_id"], fresh)
        new.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await index.index_item(fresh["_id"], fresh)
        again.append(time.perf_counter() - t0)
    return {
        "new_item_ms_median": round(statistics.median(new) * 1000, 1),
        "redelivery_ms_median": round(statistics.median(again) * 1000, 1),
    }


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by another process (Linux /proc)."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def time_in_process(store: Any, server_pid: int | None, rounds: int = 20) -> dict[str, Any]:
    """Wall and CPU time per call, sequential, no HTTP: the CPU of this process (the query layer)
    and of the database server (nx-27017), which separates the work per request from queueing on
    a loaded machine. Search in three variants, interleaved call by call in the same run:
    ``before`` (items walked, postings read every time: the design before the sort rows),
    ``uncached`` (sort rows, postings read every time: a reader's first search after publish
    changed the term) and the default (sort rows, postings from memory while their version holds)."""
    from services.publish.queries import ItemFilter, ItemQueries

    queries = ItemQueries(store)
    uncached = ItemQueries(store, postings_cache=False)
    before = ItemQueries(store, sort_rows=False, postings_cache=False)
    calls: dict[str, Any] = {"list_hot": lambda: queries.list_items(limit=20)}
    # A list page read whole and without body and analysis (ListProjection), interleaved.
    whole, short = ItemQueries(store, list_projection="whole"), ItemQueries(store, list_projection="short")
    calls["list_hot_whole"] = lambda: whole.list_items(limit=20)
    calls["list_hot_short"] = lambda: short.list_items(limit=20)
    for name, text in (("TSMC", "TSMC"), ("台积电", "台积电"), ("OpenAI_device", "OpenAI device")):
        for variant, layer in (("before", before), ("uncached", uncached), ("", queries)):
            label = f"search_{name}" + (f"_{variant}" if variant else "")
            calls[label] = lambda layer=layer, text=text: layer.search(text, limit=20)
    # A filter the sort rows answer (language), and one only the items can (tag).
    zh, chips = ItemFilter(language="zh"), ItemFilter(tag="chips")
    for variant, layer in (("before", before), ("", queries)):
        suffix = f"_{variant}" if variant else ""
        calls[f"search_TSMC_lang_zh{suffix}"] = lambda layer=layer: layer.search("TSMC", zh, limit=20)
        calls[f"search_TSMC_tag_chips{suffix}"] = lambda layer=layer: layer.search("TSMC", chips, limit=20)
    for call in calls.values():
        await call()  # warm (the tokenizer loads on the first Chinese query; the cache fills)
    walls: dict[str, list[float]] = {name: [] for name in calls}
    cpus: dict[str, list[float]] = {name: [] for name in calls}
    server: dict[str, float] = dict.fromkeys(calls, 0.0)
    for _ in range(rounds):
        for name, call in calls.items():
            server_before = process_cpu_s(server_pid)
            w0, c0 = time.perf_counter(), time.process_time()
            await call()
            walls[name].append(time.perf_counter() - w0)
            cpus[name].append(time.process_time() - c0)
            server[name] += process_cpu_s(server_pid) - server_before
    out: dict[str, Any] = {}
    for name in calls:
        ordered = sorted(walls[name])
        out[name] = {
            "wall_p50_ms": round(percentile(ordered, 0.5) * 1000, 1),
            "wall_p95_ms": round(percentile(ordered, 0.95) * 1000, 1),
            "cpu_mean_ms": round(statistics.fmean(cpus[name]) * 1000, 1),
            "db_server_cpu_mean_ms": round(server[name] / rounds * 1000, 1),
        }
    cache = queries.search_index.cache
    out["postings_cache"] = {"hits": cache.hits, "misses": cache.misses} if cache else None
    out["list_page_bson_bytes"] = await list_page_bytes(store)
    return out


async def list_page_bytes(store: Any) -> dict[str, int]:
    """BSON bytes of the first list page's 20 items as a server sends them, whole and short."""
    import bson

    from services.publish.queries import LIST_PROJECTION, SHORT_PROJECTION, SORT_FIELDS
    from shared.storage import ITEMS

    sizes: dict[str, int] = {}
    for name, projection in (("whole", LIST_PROJECTION), ("short", SHORT_PROJECTION)):
        found = store.collection(ITEMS).find({}, projection).sort([(SORT_FIELDS["hot"], -1), ("_id", -1)])
        docs = await found.limit(20).to_list()
        sizes[name] = sum(len(bson.encode(doc)) for doc in docs)
    return sizes


# --- the server side (this process) -----------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import uvicorn

    from services.publish.read_api import create_read_app
    from shared.runtime.embedded import free_port, mongo_url, mongo_wire_server
    from shared.settings import Settings
    from shared.storage import ITEMS, SEARCH_SORT, MongoStore

    tmp = tempfile.TemporaryDirectory(prefix="bench-read-api-")
    server = None
    url = os.environ.get("NEWSROOM_MONGO_URL")
    if not url:
        server = mongo_wire_server(Path(tmp.name)).start()
        url = mongo_url(server)
    database = f"bench_read_{uuid.uuid4().hex[:8]}"
    store = MongoStore(url, database)
    try:
        await store.ensure_indexes([ITEMS, SEARCH_SORT])
        started = time.perf_counter()
        docs = bench_documents(args.items, datetime.now(UTC))
        for start in range(0, len(docs), 1000):
            await store.collection(ITEMS).insert_many(docs[start : start + 1000])
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        index_info = await build_search_index(store, docs, args.no_index)
        index_info["build_s"] = round(time.perf_counter() - started, 2)
        if not args.no_index:
            index_info["write_path"] = await time_index_writes(store, docs)
        server_pid = server.proc.pid if server and server.proc else None
        in_process = await time_in_process(store, server_pid, rounds=3 if args.no_index else 20)

        port = free_port()
        app = create_read_app(store, Settings(), rate_limit=None)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        api = uvicorn.Server(config)
        serving = asyncio.create_task(api.serve())
        while not api.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            first = (await client.get(base + "/api/v1/items?limit=20")).json()
        page2 = f"{base}/api/v1/items?limit=20&cursor={first['next_cursor']}"
        scenarios = {
            "list_hot": [base + "/api/v1/items?limit=20"],
            "list_hot_page2": [page2],
            "list_tag_chips": [base + "/api/v1/items?limit=20&tag=chips"],
            "list_time": [base + "/api/v1/items?limit=20&sort=time"],
            # One item in full, by id (spread over the stored items).
            "item": [f"{base}/api/v1/items/{doc['_id']}" for doc in docs[:: max(1, len(docs) // 50)]],
            # Bilingual search: an English name that is also written in Chinese, a Chinese name
            # (Traditional spelling too), two words that must both occur.
            "search": [
                base + "/api/v1/search?q=TSMC&limit=20",
                base + "/api/v1/search?q=%E5%8F%B0%E7%A7%AF%E7%94%B5&limit=20",  # 台积电
                base + "/api/v1/search?q=%E8%87%BA%E7%A9%8D%E9%9B%BB&limit=20",  # 臺積電
                base + "/api/v1/search?q=OpenAI+device&limit=20",
            ],
            # Search with a tag filter (the tag's postings since layout 3, the items before).
            "search_tag": [
                base + "/api/v1/search?q=TSMC&tag=chips&limit=20",
                base + "/api/v1/search?q=%E5%8F%B0%E7%A7%AF%E7%94%B5&tag=chips&limit=20",  # 台积电
            ],
        }
        if args.only:
            scenarios = {k: v for k, v in scenarios.items() if k in args.only.split(",") or k == "list_hot"}
        results: dict[str, Any] = {}
        for name, urls in scenarios.items():
            seconds = args.seconds if name == "list_hot" else max(2.0, args.seconds / 4)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--load",
                json.dumps(urls),
                "--seconds",
                str(seconds),
                "--concurrency",
                str(args.concurrency),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            results[name] = json.loads(out)
        api.should_exit = True
        await serving
    finally:
        await store.client.drop_database(database)
        await store.close()
        if server is not None:
            server.stop()
        tmp.cleanup()
    main = results["list_hot"]
    return {
        "benchmark": "read_api",
        "endpoint": "GET /api/v1/items?limit=20 (sort=hot)",
        "items_stored": args.items,
        "mongo": "external" if os.environ.get("NEWSROOM_MONGO_URL") else "nx-27017",
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "requests_per_s": main["requests_per_s"],
        "p50_ms": main["p50_ms"],
        "p95_ms": main["p95_ms"],
        "p99_ms": main["p99_ms"],
        "errors": main["errors"],
        "target_p95_ms": TARGET_P95_MS,
        "target_met": main["p95_ms"] < TARGET_P95_MS and main["errors"] == 0,
        "scenarios": results,
        "summary_ms": {
            name: {"p50": r["p50_ms"], "p95": r["p95_ms"], "requests": r["requests"]}
            for name, r in results.items()
        },
        "insert_s": round(load_s, 2),
        "search_index": index_info,
        "in_process": in_process,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run as the load generator
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--no-index", action="store_true", help="search by the scan (no term index)")
    parser.add_argument("--only", help="comma-separated scenarios to run (default: all)")
    args = parser.parse_args()
    if args.load:
        print(
            json.dumps(
                asyncio.run(generate_load(json.loads(args.load), args.seconds, args.concurrency, args.warmup))
            )
        )
        return
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
