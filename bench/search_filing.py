"""publish's search filing alone (services/publish/search_index.py), with and without the known
buckets (one ``update_many`` per story for the postings documents the process saw exist), in
alternating blocks of stories on one nx-27017: CPU of this process and of nx-27017 per story, and
what share of the postings went through ``update_many``.

    python bench/search_filing.py [--blocks 6] [--block 40] [--width 8]

"without" is the same code using no known bucket: every posting an upsert, the statements
publish sent before (what it files is learnt for the other mode, as one process learns all its
writes). The items: bench/pipeline.py's corpus after the local tier (bench/search_terms_stats.py)
and the real texts (feed items, Qwen blog, WMT news, shuffled), each filed in arrival order into
its own database, the two modes taking turns block by block (the index grows under both alike).
Prints JSON; numbers are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


async def file_corpus(
    url: str, name: str, docs: list[dict[str, Any]], block: int, width: int
) -> dict[str, Any]:
    from pipeline import proc_cpu_s  # type: ignore[import-not-found]
    from pymongo import AsyncMongoClient
    from pymongo.monitoring import CommandListener, CommandStartedEvent

    from services.publish.batching import CoalescingStore
    from services.publish.search_index import POSTINGS, KnownBuckets, SearchIndex
    from shared.storage import MongoStore

    class Postings(CommandListener):
        multi = single = 0

        def started(self, event: CommandStartedEvent) -> None:
            if event.command_name == "update" and event.command.get("update") == POSTINGS:
                for statement in event.command.get("updates", []):
                    ids = statement["q"]["_id"]
                    if statement.get("multi"):
                        Postings.multi += len(ids["$in"])
                    else:
                        Postings.single += 1

        def succeeded(self, event: Any) -> None:
            pass

        def failed(self, event: Any) -> None:
            pass

    store = MongoStore(url, name)
    await store.close()
    store.client = AsyncMongoClient(url, tz_aware=True, event_listeners=[Postings()])
    store.db = store.client[name]
    publisher = CoalescingStore(store)
    with_known = SearchIndex(publisher)

    class Unused(KnownBuckets):
        """Learns for the other mode (one process's knowledge of the whole index), uses none."""

        def has(self, key: str) -> bool:
            return False

        def add(self, keys: Iterable[str]) -> None:
            with_known.known.add(keys)

    without = SearchIndex(publisher)
    without.known = Unused(0)
    totals = {
        mode: {"stories": 0, "cpu": 0.0, "nx": 0.0, "multi": 0, "single": 0} for mode in ("with", "without")
    }
    pid = int(os.environ["NX_PID"])
    for number, start in enumerate(range(0, len(docs), block)):
        mode = "with" if number % 2 else "without"
        index = with_known if mode == "with" else without
        part = docs[start : start + block]
        multi, single = Postings.multi, Postings.single
        cpu, nx = time.process_time(), proc_cpu_s(pid)
        for at in range(0, len(part), width):
            batch = part[at : at + width]
            await asyncio.gather(
                *(
                    index.index_item(f"{name}-{start + at + i}", doc, created=True)
                    for i, doc in enumerate(batch)
                )
            )
        entry = totals[mode]
        entry["stories"] += len(part)
        entry["cpu"] += time.process_time() - cpu
        entry["nx"] += proc_cpu_s(pid) - nx
        entry["multi"] += Postings.multi - multi
        entry["single"] += Postings.single - single
    await store.close()
    out = {}
    for mode, entry in totals.items():
        stories = max(1, int(entry["stories"]))
        filed = max(1, int(entry["multi"] + entry["single"]))
        out[f"{mode}_known_buckets"] = {
            "stories": stories,
            "this_process_cpu_ms_per_story": round(entry["cpu"] / stories * 1000, 2),
            "nx_27017_cpu_ms_per_story": round(entry["nx"] / stories * 1000, 2),
            "postings_per_story": round(filed / stories, 1),
            "share_by_update_many": round(entry["multi"] / filed, 3),
        }
    return out


async def measure(blocks: int, block: int, width: int) -> dict[str, Any]:
    from search_terms_stats import bench_items, real_items  # type: ignore[import-not-found]

    from shared.runtime.embedded import mongo_url, mongo_wire_server

    corpora = {"bench_corpus": bench_items(blocks * block)}
    real = [doc for docs in real_items().values() for doc in docs]
    random.Random(17).shuffle(real)
    corpora["real_texts"] = real
    server = mongo_wire_server(Path(tempfile.mkdtemp(prefix="search-filing-"))).start()
    assert server.proc is not None
    os.environ["NX_PID"] = str(server.proc.pid)
    out: dict[str, Any] = {}
    try:
        for name, docs in corpora.items():
            out[name] = await file_corpus(mongo_url(server), name, docs, block, width)
    finally:
        server.stop()
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=6, help="blocks of the bench corpus")
    parser.add_argument("--block", type=int, default=40)
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.blocks, args.block, args.width)), indent=2))


if __name__ == "__main__":
    main()
