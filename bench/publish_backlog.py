"""publish's fold and search filing of N new stories on nx-27017, one at a time and with a backlog
(``--width`` stories in flight through services/publish/batching.py's CoalescingStore): CPU of
this process and of nx-27017 per story, and MongoDB commands per story.

    python bench/publish_backlog.py [--stories 200] [--width 8]

The stories are bench/pipeline.py's corpus (title and lead; no key phrases or entities, so fewer
terms per item than after analyze). Prints JSON; numbers are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def stories(count: int) -> list[Any]:
    """The bench corpus's new stories (bench/pipeline.py) as publish gets them: translated (status
    only), analyzed (one tag) and scored."""
    from pipeline import ingested_events  # type: ignore[import-not-found]

    from shared.events import (
        Analysis,
        ScoreDetail,
        Scores,
        SectionStatus,
        StoryEvent,
        Tag,
        Translation,
        utcnow,
    )

    now = utcnow()
    translation = Translation(status=SectionStatus.UNAVAILABLE, source_language="en", reason="bench")
    analysis = Analysis(
        status=SectionStatus.OK, tags=[Tag(id="chips", en="Chips", zh="芯片", source="local")]
    )
    out = []
    for i, (_, data) in enumerate(ingested_events(count, prefix="backlog")):
        hot = ScoreDetail(value=float(i % 100), formula_version="bench")
        scores = Scores(status=SectionStatus.OK, hot=hot, computed_at=now)
        event = StoryEvent.model_validate_json(data)
        out.append(
            event.model_copy(update={"translation": translation, "analysis": analysis, "scores": scores})
        )
    return out


async def fold_and_file(store: Any, event: Any, index: Any = None) -> None:
    """``index``: the process's SearchIndex on ``store`` (publish keeps one; new one if None)."""
    from services.publish.app import fold
    from services.publish.search_index import TERM_SOURCES, SearchIndex

    folded = await fold(store, event)
    if folded.item is not None:
        item = folded.item
        await (index or SearchIndex(store)).index_item(
            item.id, item.model_dump(mode="json", include=TERM_SOURCES), created=folded.created
        )


async def measure(count: int, width: int) -> dict[str, Any]:
    from pipeline import proc_cpu_s  # type: ignore[import-not-found]

    from services.publish.batching import CoalescingStore
    from services.publish.search_index import SearchIndex
    from shared.runtime.embedded import mongo_url, mongo_wire_server
    from tests.support.mongo_commands import watched_store

    server = mongo_wire_server(Path(tempfile.mkdtemp(prefix="publish-backlog-"))).start()
    assert server.proc is not None
    out: dict[str, Any] = {}
    try:
        async with watched_store(mongo_url(server), "backlog-warm-up") as (store, _):
            for event in stories(20):  # first-use costs (glossary, models, converters) out of the figures
                await fold_and_file(store, event)
        for label, in_flight in (("one_at_a_time", 1), (f"{width}_in_flight", width)):
            async with watched_store(mongo_url(server), f"backlog{in_flight}") as (store, log):
                target = CoalescingStore(store) if in_flight > 1 else store
                index = SearchIndex(target)  # one per process, as publish's
                events = stories(count)
                await store.get("items", "warm-up")
                log.commands.clear()
                cpu, server_cpu = time.process_time(), proc_cpu_s(server.proc.pid)
                for start in range(0, count, in_flight):
                    await asyncio.gather(
                        *(fold_and_file(target, e, index) for e in events[start : start + in_flight])
                    )
                out[label] = {
                    "this_process_cpu_ms_per_story": round((time.process_time() - cpu) / count * 1000, 2),
                    "nx_27017_cpu_ms_per_story": round(
                        (proc_cpu_s(server.proc.pid) - server_cpu) / count * 1000, 2
                    ),
                    "mongo_commands_per_story": round(len(log.commands) / count, 2),
                }
    finally:
        server.stop()
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stories", type=int, default=200)
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.stories, args.width)), indent=2))


if __name__ == "__main__":
    main()
