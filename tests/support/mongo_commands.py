"""A MongoStore whose client records every command it sends (pymongo command monitoring): tests
that a path makes no read, or one write, assert on ``CommandLog.commands``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from shared.storage import MongoStore


class CommandLog(CommandListener):
    """(command, collection) of every command the client sends."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    def started(self, event: CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.commands.append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@asynccontextmanager
async def watched_store(url: str, database: str) -> AsyncIterator[tuple[MongoStore, CommandLog]]:
    """A store on ``database`` with a command log; closed (not dropped) on exit."""
    commands = CommandLog()
    store = MongoStore(url, database)
    await store.close()
    store.client = AsyncMongoClient(url, tz_aware=True, event_listeners=[commands])
    store.db = store.client[database]
    try:
        yield store, commands
    finally:
        await store.close()
