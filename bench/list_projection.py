"""A list page read whole against without body and analysis (``NEWSROOM_PUBLISH__LIST_PROJECTION``),
on nx-27017 started in a temporary directory (or ``NEWSROOM_MONGO_URL``, in a throw-away database):
the CPU per page of the database server (from /proc, nx-27017 only) and of this process (the query
layer), over blocks of ``--pages`` pages, the two modes alternated ``--rounds`` times. Blocks rather
than single calls: /proc counts CPU in 10 ms ticks.

    .venv/bin/python bench/list_projection.py [--items 10000] [--pages 200] [--rounds 3]

Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.read_api import bench_documents, process_cpu_s  # noqa: E402
from services.publish.queries import ItemQueries, ListProjection  # noqa: E402
from shared.runtime.embedded import mongo_url, mongo_wire_server  # noqa: E402
from shared.storage import ITEMS, MongoStore  # noqa: E402

MODES: tuple[ListProjection, ...] = ("whole", "short")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-list-projection-") as tmp:
        url = os.environ.get("NEWSROOM_MONGO_URL")
        server = None if url else mongo_wire_server(Path(tmp)).start()
        pid = server.proc.pid if server is not None and server.proc is not None else None
        if server is not None:
            url = mongo_url(server)
        assert url is not None
        store = MongoStore(url, f"bench_projection_{uuid.uuid4().hex[:8]}")
        try:
            await store.ensure_indexes([ITEMS])
            docs = bench_documents(args.items, datetime.now(UTC))
            for start in range(0, len(docs), 1000):
                await store.collection(ITEMS).insert_many(docs[start : start + 1000])
            layers = {mode: ItemQueries(store, list_projection=mode) for mode in MODES}
            for layer in layers.values():
                await layer.list_items(limit=20)  # warm
            blocks: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
            load_before = os.getloadavg()
            for _ in range(args.rounds):
                for mode, layer in layers.items():
                    server_cpu, own_cpu = process_cpu_s(pid), time.process_time()
                    for _ in range(args.pages):
                        await layer.list_items(limit=20)
                    blocks[mode].append(
                        {
                            "db_server_cpu_ms_per_page": round(
                                (process_cpu_s(pid) - server_cpu) / args.pages * 1000, 2
                            ),
                            "api_cpu_ms_per_page": round(
                                (time.process_time() - own_cpu) / args.pages * 1000, 2
                            ),
                        }
                    )
            return {
                "benchmark": "list_projection",
                "mongo": "nx-27017" if server is not None else "external",
                "items": args.items,
                "pages_per_block": args.pages,
                "blocks": blocks,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            }
        finally:
            await store.client.drop_database(store.db.name)
            await store.close()
            if server is not None:
                server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
