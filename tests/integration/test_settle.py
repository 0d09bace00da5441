"""The suite's end-of-run wait (tests/support/stack.py ``settle``) against the way it once failed.

test_bilingual_real once saw 0 of 22 stories bilingual under heavy load: the wait then ended after
6 s without a new item or version, while ingest was still reading and embedding the second feed,
so the items were the first feed's stories only. ``settle`` now also waits for Stack.drained:
ingest's single pass is finished (recorded after every article of every source was handed on)
and no pipeline consumer has a message pending or unacknowledged.

Here ingest is frozen (SIGSTOP) after it has handed on its first story: the stages handle what
they got and the pipeline is quiet, for longer than that old window, with the run unfinished.
settle() must still be waiting then, and return every story once ingest goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shared.runtime.embedded import EmbeddedServer, nats_url
from tests.support.stack import Stack, distinct_stories, pipeline_idle, settle, write_feed
from tests.support.waits import PIPELINE_RUN_S, PIPELINE_TEST_TIMEOUT_S

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]

STORIES = 40
# The quiet window the wait used when it failed (a wait that ends on quiet alone ends within it).
OLD_QUIET_WINDOW_S = 6.0


@pytest.fixture()
def stack(nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(nats_url(nats), mongo_server, mongo_db_name, tmp_path)
    yield running
    running.stop_all()


def test_settle_waits_for_the_end_of_ingest_s_pass_not_for_a_quiet_pipeline(
    stack: Stack, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "feed.xml", distinct_stories(STORIES, prefix="settle"))
    stack.env_extra = {"NEWSROOM_INGEST__FEEDS": str(feed), "NEWSROOM_INGEST__POLL": "false"}
    stack.start_all()
    # Polled often: ingest hands on a few stories between two looks, far fewer than the feed.
    stack.wait_until("ingest's first story", lambda: stack.handed_on_by_ingest() >= 1, every_s=0.01)
    stack.pause("ingest")
    assert not stack.ingest_pass_done(), "ingest must be frozen in the middle of its pass"
    handed_on = stack.handed_on_by_ingest()

    with ThreadPoolExecutor(1) as pool:
        settled = pool.submit(settle, stack)
        # Quiet: every story ingest handed on is an item and no stage has anything to do.
        stack.wait_until(
            "the stories handed on to be items",
            lambda: stack.mongo().items.count_documents({}) >= handed_on and pipeline_idle(stack.nats_url),
        )
        # A fixed wait, for something that must not happen: settle() returning now.
        try:
            settled.result(timeout=OLD_QUIET_WINDOW_S + 2.0)
        except TimeoutError:
            pass
        assert not settled.done(), "settle() returned while ingest's pass was unfinished"
        assert not stack.drained()
        stack.resume("ingest")
        items = settled.result(timeout=PIPELINE_RUN_S)
    assert handed_on < STORIES
    assert len(items) == STORIES
