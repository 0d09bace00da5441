"""What revisable stories cost on the hot paths, on nx-27017 (prints JSON).

Two Mongo calls are added per message, whether or not a revision ever happens:

- ingest keeps each article in full in its ``articles`` document (a later revision may make it a
  story's representative and re-run it through the pipeline): one more upsert per article;
- publish reads the story's revision state before folding a ``news.scored`` event: one more
  ``get`` by ``_id`` per event.

Both are measured here in the same run, interleaved with the write ingest makes anyway (the
article's story record), so the figures compare under the same load. Usage:
``.venv/bin/python bench/story_revisions.py [--articles 300]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.ingest.revisions import ARTICLE_FIELD
from services.publish.revisions import REVISION_STATE
from shared.events import Article
from shared.runtime.embedded import mongo_url, mongo_wire_server
from shared.storage import ARTICLES, MongoStore

BODY = ("TSMC expands advanced packaging capacity in Taiwan and Arizona as AI demand grows. " * 60)[:4000]


def article(i: int) -> Article:
    return Article(
        article_id=f"a{i}",
        source_id="bench",
        source_name="Bench",
        url=f"https://bench.example/{i}",
        canonical_url=f"https://bench.example/{i}",
        title=f"Title {i}",
        body=BODY,
        language="en",
        fetched_at=datetime.now(UTC),
    )


async def measure(url: str, count: int) -> dict[str, object]:
    store = MongoStore(url, "bench_story_revisions")
    spent = {"existing_article_upsert": 0.0, "keep_article_upsert": 0.0, "revision_state_get": 0.0}
    try:
        for i in range(count):
            started = time.perf_counter()
            await store.upsert(ARTICLES, f"a{i}", {"story_id": f"s{i}", "url": f"https://bench.example/{i}"})
            spent["existing_article_upsert"] += time.perf_counter() - started
            started = time.perf_counter()
            await store.upsert(ARTICLES, f"a{i}", {ARTICLE_FIELD: article(i).model_dump(mode="python")})
            spent["keep_article_upsert"] += time.perf_counter() - started
            started = time.perf_counter()
            await store.get(REVISION_STATE, f"s{i}")
            spent["revision_state_get"] += time.perf_counter() - started
        await store.client.drop_database("bench_story_revisions")
    finally:
        await store.close()
    return {
        "articles": count,
        "body_chars": len(BODY),
        **{f"{name}_ms": round(1000 * total / count, 2) for name, total in spent.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    args = parser.parse_args()
    server = mongo_wire_server(Path(tempfile.mkdtemp(prefix="bench-revisions-"))).start()
    try:
        figures = asyncio.run(measure(mongo_url(server), args.articles))
        figures["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
        print(json.dumps(figures))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
