"""The read API of two source trees over the same stored items, in turn: before/after figures
taken in the same period of a shared machine, on identical data.

    .venv/bin/python bench/read_api_ab.py [BASE_REV] [--items 100000] [--concurrency 1,4]
        [--rounds 2] [--seconds 4] [--scenarios list,search,search_tag]

BASE_REV (default ``main``) is checked out into a temporary git worktree. The items and the search
index are stored once (bench/read_api.py's data and bulk filing, of this working tree: the base
never reads what it does not know, e.g. the filter terms), in nx-27017 (or NEWSROOM_MONGO_URL).
Each round serves the API from the base tree, then from this one (a uvicorn process each, one
worker, rate limit off), sets ``search_state.layout`` to the serving tree's layout, asks every URL
once (warm: the tokenizer, the postings cache), then runs bench/read_api.py's load generator per
concurrency and scenario. Per run: p50/p95 ms over HTTP, and the CPU per request of the API process
and of the database server (``/proc``), which a loaded machine's queueing does not change.

Prints JSON: every run, and per (tree, concurrency, scenario) the median over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.read_api import bench_documents, build_search_index, process_cpu_s  # noqa: E402

SCENARIOS: dict[str, list[str]] = {
    "list": ["/api/v1/items?limit=20"],
    "search": [
        "/api/v1/search?q=TSMC&limit=20",
        "/api/v1/search?q=%E5%8F%B0%E7%A7%AF%E7%94%B5&limit=20",  # 台积电
        "/api/v1/search?q=%E8%87%BA%E7%A9%8D%E9%9B%BB&limit=20",  # 臺積電
        "/api/v1/search?q=OpenAI+device&limit=20",
    ],
    "search_tag": [
        "/api/v1/search?q=TSMC&tag=chips&limit=20",
        "/api/v1/search?q=%E5%8F%B0%E7%A7%AF%E7%94%B5&tag=chips&limit=20",
    ],
    "item": [],  # one item in full, by id: filled in with ids spread over the stored items
}

SERVE = """
import sys
import uvicorn
from services.publish.read_api import create_read_app
from shared.settings import Settings
from shared.storage import MongoStore
app = create_read_app(MongoStore(sys.argv[1], sys.argv[2]), Settings(), rate_limit=None)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning", access_log=False)
"""


def tree_layout(tree: Path) -> int:
    code = "from services.publish.search_index import LAYOUT_VERSION; print(LAYOUT_VERSION)"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True)
    return int(done.stdout.strip())


async def serve_and_load(
    side: str, tree: Path, url: str, database: str, args: argparse.Namespace, db_pid: int | None
) -> list[dict[str, Any]]:
    import httpx

    from shared.runtime.embedded import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    api = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVE, url, database, str(port), cwd=tree, env=env
    )
    base = f"http://127.0.0.1:{port}"
    runs: list[dict[str, Any]] = []
    try:
        async with httpx.AsyncClient(timeout=30.0) as client:
            for _ in range(600):
                try:
                    if (await client.get(base + "/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            names = args.scenarios.split(",")
            for name in names:
                for path in SCENARIOS[name]:
                    response = await client.get(base + path)
                    assert response.status_code == 200, (path, response.text)
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for name in names:
                urls = [base + path for path in SCENARIOS[name]]
                api_cpu, db_cpu, load = process_cpu_s(api.pid), process_cpu_s(db_pid), os.getloadavg()[0]
                load_generator = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(REPO / "bench" / "read_api.py"),
                    "--load",
                    json.dumps(urls),
                    "--seconds",
                    str(args.seconds),
                    "--concurrency",
                    str(concurrency),
                    "--warmup",
                    "0.5",
                    stdout=asyncio.subprocess.PIPE,
                )
                result = json.loads((await load_generator.communicate())[0])
                # The warm-up requests count in the CPU too: divide by all of them (~0.5 s more).
                requests = max(1, result["requests"])
                runs.append(
                    {
                        "concurrency": concurrency,
                        "scenario": name,
                        "p50_ms": result["p50_ms"],
                        "p95_ms": result["p95_ms"],
                        "requests": result["requests"],
                        "errors": result["errors"],
                        "api_cpu_ms_per_request": per_request(process_cpu_s(api.pid) - api_cpu, requests),
                        "db_cpu_ms_per_request": per_request(process_cpu_s(db_pid) - db_cpu, requests),
                        "load_avg_1m": round(load, 2),
                    }
                )
                print(json.dumps({"tree": side, **runs[-1]}), file=sys.stderr)
    finally:
        api.terminate()
        await api.wait()
    return runs


def per_request(cpu_s: float, requests: int) -> float:
    return round(cpu_s * 1000 / requests, 2)


async def run(args: argparse.Namespace, base_tree: Path) -> dict[str, Any]:
    from services.publish.search_index import STATE, STATE_ID
    from shared.runtime.embedded import mongo_url, mongo_wire_server
    from shared.storage import ITEMS, SEARCH_SORT, MongoStore

    tmp = tempfile.TemporaryDirectory(prefix="bench-read-ab-")
    server = None
    url = os.environ.get("NEWSROOM_MONGO_URL")
    if not url:
        server = mongo_wire_server(Path(tmp.name)).start()
        url = mongo_url(server)
    database = f"bench_read_ab_{uuid.uuid4().hex[:8]}"
    store = MongoStore(url, database)
    sides = {"base": base_tree, "head": REPO}
    layouts = {side: tree_layout(tree) for side, tree in sides.items()}
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        await store.ensure_indexes([ITEMS, SEARCH_SORT])
        started = time.perf_counter()
        docs = bench_documents(args.items, datetime.now(UTC))
        for start in range(0, len(docs), 1000):
            await store.collection(ITEMS).insert_many(docs[start : start + 1000])
        index_info = await build_search_index(store, docs, skip=False)
        index_info["store_s"] = round(time.perf_counter() - started, 1)
        SCENARIOS["item"] = [f"/api/v1/items/{doc['_id']}" for doc in docs[:: max(1, len(docs) // 50)]]
        del docs
        db_pid = server.proc.pid if server and server.proc else None
        for _ in range(args.rounds):
            for side, tree in sides.items():
                serving_layout = {"$set": {"layout": layouts[side]}}
                await store.collection(STATE).update_one({"_id": STATE_ID}, serving_layout)
                results[side] += await serve_and_load(side, tree, url, database, args, db_pid)
    finally:
        await store.client.drop_database(database)
        await store.close()
        if server is not None:
            server.stop()
        tmp.cleanup()

    def median(side: str, concurrency: int, scenario: str, key: str) -> float:
        runs = [r for r in results[side] if r["concurrency"] == concurrency]
        values = [r[key] for r in runs if r["scenario"] == scenario]
        return round(statistics.median(values), 2)

    summary: dict[str, Any] = {}
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        for scenario in args.scenarios.split(","):
            keys = ("p50_ms", "p95_ms", "api_cpu_ms_per_request", "db_cpu_ms_per_request")
            summary[f"c{concurrency} {scenario}"] = {
                side: {key: median(side, concurrency, scenario, key) for key in keys} for side in sides
            }
    return {
        "benchmark": "read_api_ab",
        "base": args.base,
        "items_stored": args.items,
        "mongo": "external" if os.environ.get("NEWSROOM_MONGO_URL") else "nx-27017",
        "layouts": layouts,
        "search_index": index_info,
        "median_over_rounds": summary,
        "runs": results,
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("base", nargs="?", default="main")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--scenarios", default="list,item,search,search_tag")
    args = parser.parse_args()
    base_commit = subprocess.run(
        ["git", "rev-parse", args.base], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    base_tree = Path(tempfile.mkdtemp(prefix="read-ab-base-")) / "base"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(base_tree), base_commit],
        cwd=REPO,
        check=True,
        stdout=sys.stderr,  # keep stdout for the JSON
    )
    try:
        print(json.dumps(asyncio.run(run(args, base_tree)), indent=2))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO, check=False)
        shutil.rmtree(base_tree.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
