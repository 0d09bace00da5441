"""docs/asyncapi.json documents the event contracts; it must match what the apps declare."""

from __future__ import annotations

import json
from pathlib import Path

from shared.asyncapi import asyncapi_document

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_checked_in_asyncapi_is_current() -> None:
    current = json.loads(json.dumps(asyncapi_document(), sort_keys=True))
    stored = json.loads(DOC.read_text(encoding="utf-8"))
    assert stored == current, "docs/asyncapi.json is stale: run `newsroom asyncapi`"


def test_asyncapi_documents_every_pipeline_and_downstream_subject() -> None:
    channels = asyncapi_document()["channels"]
    addresses = {channel.get("address") for channel in channels.values()}
    for subject in (
        "news.ingested",
        "news.translated",
        "news.analyzed",
        "news.scored",
        "news.story.joined",
        "news.published.{tag}",
        "news.updated.{tag}",
    ):
        assert subject in addresses, subject


def test_every_subscription_is_described_by_the_payload_that_arrives_on_its_subject() -> None:
    """The stages validate raw messages themselves, so FastStream alone would describe their
    subscriptions with an empty payload: a subscriber reading the document learns nothing."""
    document = asyncapi_document()
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]
    subscriptions = {name: m for name, m in messages.items() if name.endswith(":SubscribeMessage")}
    assert len(subscriptions) >= 7
    for name, message in subscriptions.items():
        schema = schemas[message["payload"]["$ref"].rsplit("/", 1)[-1]]
        assert schema.get("properties"), f"{name}: a payload without fields"
    assert messages["translate:news.ingested:SubscribeMessage"]["payload"] == {
        "$ref": "#/components/schemas/StoryEvent"
    }
    assert messages["publish:news.story.revised:SubscribeMessage"]["payload"] == {
        "$ref": "#/components/schemas/StoryRevised"
    }
    assert messages["news.submit:SubscribeMessage"]["payload"] == {
        "$ref": "#/components/schemas/SubmitRequest"
    }
