"""Fixtures shared by the whole suite."""

import os

# Translate's wait for other-language members (issue 14) would only delay in-process tests of the
# model path; the tests of that wait set it themselves.
os.environ.setdefault("NEWSROOM_TRANSLATE__SOURCE_WAIT_S", "0")

from tests.support.servers import mongo_db_name, mongo_server, nats, nats_url_  # noqa: F401
