"""Issue 13.6: real `news.published.*` and `news.updated.*` payloads, taken from a running stack
(the five services as processes, a real nats-server and nx-27017), validate against the AsyncAPI
document in docs/ with a JSON Schema validator (`jsonschema`), as a downstream service would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

from shared.runtime.embedded import EmbeddedServer, nats_url
from tests.support.stack import Stack, distinct_stories, messages, write_feed
from tests.support.waits import PIPELINE_TEST_TIMEOUT_S

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def stack(nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(nats_url(nats), mongo_server, mongo_db_name, tmp_path)
    yield running
    running.stop_all()


def payload_validator(document: dict[str, Any], channel: str) -> jsonschema.protocols.Validator:
    """The validator of the messages the document declares for ``channel``."""
    refs = [m["$ref"] for m in document["channels"][channel]["messages"].values()]
    schemas = []
    for ref in refs:
        message = document["components"]["messages"][unquote(ref.rsplit("/", 1)[-1])]
        schemas.append(message["payload"])
    root = {"anyOf": schemas, "components": document["components"]}
    jsonschema.Draft202012Validator.check_schema(root)
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def test_real_published_and_updated_events_validate_against_the_asyncapi_document(
    stack: Stack, tmp_path: Path
) -> None:
    document = json.loads((REPO / "docs/asyncapi.json").read_text())
    published_schema = payload_validator(document, "news.published.{tag}")
    updated_schema = payload_validator(document, "news.updated.{tag}")
    stories = distinct_stories(3)
    first = write_feed(tmp_path / "a.xml", stories, title="Wire A")
    stack.env_extra = {"NEWSROOM_INGEST__FEEDS": str(first), "NEWSROOM_INGEST__POLL": "false"}
    stack.start_all()
    stack.wait_items(3)
    # Later, the first story from a second source (a verbatim copy at another address): the
    # published item gains a source, and an update is announced.
    link, title, description = stories[0]
    second = write_feed(
        tmp_path / "b.xml", [(link.replace("://", "://copy.", 1), title, description)], title="Wire B"
    )
    stack.kill("ingest")
    stack.env_extra = {"NEWSROOM_INGEST__FEEDS": f"{first},{second}", "NEWSROOM_INGEST__POLL": "false"}
    stack.start("ingest")
    stack.wait_drained()  # the second pass and all it caused: the update is announced by now
    updated = [d for _, d, _ in messages(stack.nats_url, "NEWS_OUT", "news.updated.>")]
    published = [d for _, d, _ in messages(stack.nats_url, "NEWS_OUT", "news.published.>")]
    assert len(published) == 3 and updated, stack.logs()[-3000:]
    for event in published:
        errors = sorted(published_schema.iter_errors(event), key=str)
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
        assert event["item"]["id"] == event["story_id"]
    for event in updated:
        errors = sorted(updated_schema.iter_errors(event), key=str)
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
