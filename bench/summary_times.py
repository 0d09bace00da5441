"""CPU per list entry of the read API's summary building (``ItemSummary.from_document``), which now
reads every source's times to give a reader's "updated" as news time. Pure CPU, no server: process
CPU seconds over the seven sample stories, printed as JSON.

    .venv/bin/python -m bench.summary_times --rounds 3000
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from services.publish.queries import ItemSummary
from tests.support.items import as_document, sample_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    docs = [as_document(item) for item in sample_items(datetime.now(UTC))]
    started = time.process_time()
    for _ in range(args.rounds):
        for doc in docs:
            ItemSummary.from_document(doc)
    cpu = time.process_time() - started
    summaries = args.rounds * len(docs)
    print(json.dumps({"summaries": summaries, "cpu_us_per_summary": round(cpu / summaries * 1e6, 2)}))


if __name__ == "__main__":
    main()
