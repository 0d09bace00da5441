"""CPU of the score stage's own decisions per story, in process (no broker, no store): the analyzed
event of a new story, then two joins, each through the stored form as the service does it
(``ScoreState.to_doc`` / ``from_doc``). bench/stage_costs.py measures the service with its I/O but
feeds it only analyzed events; this adds the joins, where the revision rule and the state's
order-independent form run.

    python bench/score_decisions.py [--stories 300] [--rounds 5]

Prints JSON: process CPU ms per story, the best and the median of ``--rounds`` rounds. Numbers
depend on the machine; they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.score.usecase import ScoreState, on_analyzed, on_joined  # noqa: E402
from tests.unit.test_score_usecase import (  # noqa: E402
    A1,
    A2,
    A3,
    CFG,
    MIN_CHANGE,
    analyzed_event,
    joined_event,
)

EVENTS = (analyzed_event(A1), joined_event(A2, [A1, A2], "ev-j2"), joined_event(A3, [A1, A2, A3], "ev-j3"))


def one_story() -> None:
    state = on_analyzed(None, EVENTS[0], A1.joined_at, CFG).state
    doc = state.to_doc()
    for event in EVENTS[1:]:
        state = on_joined(ScoreState.from_doc(doc), event, event.article.fetched_at, CFG, MIN_CHANGE).state
        doc = state.to_doc()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for _ in range(50):  # warm-up
        one_story()
    rounds = []
    for _ in range(args.rounds):
        started = time.process_time()
        for _ in range(args.stories):
            one_story()
        rounds.append((time.process_time() - started) / args.stories * 1000)
    print(
        json.dumps(
            {
                "stories": args.stories,
                "rounds": args.rounds,
                "cpu_ms_per_story_best": round(min(rounds), 3),
                "cpu_ms_per_story_median": round(statistics.median(rounds), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
