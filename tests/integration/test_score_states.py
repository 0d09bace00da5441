"""score's state on a real Mongo wire server (nx-27017): a story's first (analyzed) event is
stored with one insert and no read; a later analyzed event of the same story (a re-analysis)
still reads the stored state and keeps the members that joined meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from services.score.repository import MongoScoreStates
from services.score.usecase import ScoreUseCase
from shared.storage import MongoStore
from tests.unit.test_score_usecase import A1, A2, MIN_CHANGE, T0, analyzed_event, joined_event


class CommandLog(CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    def started(self, event: CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.commands.append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@pytest.fixture()
async def watched(mongo_server: str, mongo_db_name: str) -> AsyncIterator[tuple[MongoStore, CommandLog]]:
    commands = CommandLog()
    store = MongoStore(mongo_server, mongo_db_name)
    await store.close()
    store.client = AsyncMongoClient(mongo_server, tz_aware=True, event_listeners=[commands])
    store.db = store.client[mongo_db_name]
    yield store, commands
    await store.client.drop_database(mongo_db_name)
    await store.close()


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
