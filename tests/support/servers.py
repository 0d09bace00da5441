"""Real servers for integration and end-to-end tests: nats-server (JetStream) and nx-27017, on free
loopback ports, started by the tests themselves. NEWSROOM_TEST_MONGO_URL points the Mongo side at
another server (e.g. a real mongod) instead of starting nx-27017."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.runtime.embedded import EmbeddedServer, mongo_url, mongo_wire_server, nats_server, nats_url


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Mongo wire-protocol server shared by the session (tests use their own database)."""
    external = os.environ.get("NEWSROOM_TEST_MONGO_URL")
    if external:
        yield external
        return
    server = mongo_wire_server(tmp_path_factory.mktemp("mongo")).start()
    try:
        yield mongo_url(server)
    finally:
        server.stop()


@pytest.fixture()
def mongo_db_name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def nats(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A fresh nats-server with JetStream for one test (starts in ~0.2 s)."""
    server = nats_server(tmp_path / "nats-data").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def nats_url_(nats: EmbeddedServer) -> str:
    return nats_url(nats)
