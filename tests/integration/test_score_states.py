"""score's state on a real Mongo wire server (nx-27017): a story's first (analyzed) event is
stored with one insert and no read; a later analyzed event of the same story (a re-analysis)
still reads the stored state and keeps the members that joined meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.score.repository import MongoScoreStates
from services.score.usecase import ScoreUseCase
from shared.storage import MongoStore
from tests.support.mongo_commands import CommandLog, watched_store
from tests.unit.test_score_usecase import A1, A2, MIN_CHANGE, T0, analyzed_event, joined_event


@pytest.fixture()
async def watched(mongo_server: str, mongo_db_name: str) -> AsyncIterator[tuple[MongoStore, CommandLog]]:
    async with watched_store(mongo_server, mongo_db_name) as (store, commands):
        yield store, commands
        await store.client.drop_database(mongo_db_name)


async def test_a_first_analyzed_event_is_one_insert_and_a_re_analysis_keeps_the_state(
    watched: tuple[MongoStore, CommandLog],
) -> None:
    store, commands = watched
    clock = [T0]
    repository = MongoScoreStates(store)
    usecase = ScoreUseCase(
        repository=repository, min_change=MIN_CHANGE, rescore_window_h=48.0, now=lambda: clock[0]
    )

    assert len(await usecase.analyzed(analyzed_event(A1))) == 1
    assert commands.commands == [("insert", "score_state")]

    clock[0] = A2.joined_at
    await usecase.joined(joined_event(A2, [A1, A2], "ev-j2"))
    # A re-analysis of the story (a revision re-runs it) with the representative alone: the
    # insert fails, the stored state is read, and the member that joined is kept.
    out = await usecase.analyzed(analyzed_event(A1, event_id="ev-analyzed-2"))
    assert len(out) == 1
    state = await repository.get("s1")
    assert state is not None and state.version == 3
    assert {m.article_id for m in state.members} == {A1.article_id, A2.article_id}
    # A redelivery of the first event publishes under the same message id (the stream drops it).
    again = await usecase.analyzed(analyzed_event(A1))
    assert again[0].msg_id == out[0].msg_id.replace("ev-analyzed-2", "ev-analyzed")
