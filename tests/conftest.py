"""Fixtures shared by the whole suite."""

from tests.support.servers import mongo_db_name, mongo_server, nats, nats_url_  # noqa: F401
