"""The AsyncAPI document of the event contracts, generated from the five FastStream apps."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared import subjects
from shared.settings import STAGES, Settings


def asyncapi_document() -> dict[str, Any]:
    settings = Settings(nats_url="nats://127.0.0.1:4222")
    brokers = [importlib.import_module(f"services.{stage}.app").build(settings).broker for stage in STAGES]
    spec = AsyncAPI(
        *brokers,
        title="AI Newsroom events",
        version="1",
        description=(
            "Events between the ingest, translate, analyze, score and publish stages, and the "
            "news.published.<tag> / news.updated.<tag> events for downstream subscribers."
        ),
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return with_subscribed_payloads(with_wire_schemas(document))


def _contract_models() -> dict[str, type[BaseModel]]:
    from shared import events, items

    found: dict[str, type[BaseModel]] = {}
    for module in (events, items):
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
            ):
                found[name] = value
    return found


def with_wire_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """The payload schemas as the events are on the wire. FastStream describes a model as it is
    *validated* (field aliases such as ``Item._id``, defaults optional); the stages publish
    ``model_dump_json()``: field names, every field present. A subscriber validating a real
    ``news.published.*`` event against the validation-mode schema would reject it (``id`` is
    an unexpected field, ``_id`` missing), so each contract model is described in serialization
    mode, by field name."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    models = _contract_models()
    for name in list(schemas):
        model = models.get(name)
        if model is not None:
            _add_wire_schema(schemas, name, model)
    return document


def _add_wire_schema(schemas: dict[str, Any], name: str, model: type[BaseModel]) -> None:
    wire = model.model_json_schema(
        by_alias=False, mode="serialization", ref_template="#/components/schemas/{model}"
    )
    for def_name, definition in wire.pop("$defs", {}).items():
        schemas[def_name] = definition
    schemas[name] = wire


# Subjects a stage subscribes to that no stage publishes: their payload by contract model.
_EXTERNAL_PAYLOADS = {subjects.SUBMIT: "SubmitRequest"}


def with_subscribed_payloads(document: dict[str, Any]) -> dict[str, Any]:
    """A subscription described by the payload that arrives on its subject. The stages take the
    raw message and validate it themselves (shared/pipeline.py), so FastStream sees no payload
    type and writes a schema with no fields; the payload is the one the upstream stage publishes
    on the same subject (or, for a request subject, its contract model)."""
    components = document.get("components", {})
    messages: dict[str, Any] = components.get("messages", {})
    schemas: dict[str, Any] = components.get("schemas", {})
    published: dict[str, Any] = {}
    subscribed: list[tuple[str, str]] = []  # (address, message name)
    placeholders: set[str] = set()
    for channel in document.get("channels", {}).values():
        for ref in channel.get("messages", {}).values():
            name = unquote(ref["$ref"].rsplit("/", 1)[-1])
            if name.endswith(":SubscribeMessage"):
                subscribed.append((channel["address"], name))
            elif name in messages:
                published.setdefault(channel["address"], messages[name]["payload"])
    for address, name in subscribed:
        payload = published.get(address)
        if payload is None and address in _EXTERNAL_PAYLOADS:
            model_name = _EXTERNAL_PAYLOADS[address]
            _add_wire_schema(schemas, model_name, _contract_models()[model_name])
            payload = {"$ref": f"#/components/schemas/{model_name}"}
        if payload is None:
            continue
        placeholders.add(messages[name]["payload"].get("$ref", "").rsplit("/", 1)[-1])
        messages[name]["payload"] = dict(payload)
    still_used = {m["payload"].get("$ref", "").rsplit("/", 1)[-1] for m in messages.values()}
    for placeholder in placeholders - still_used:
        if not schemas.get(placeholder, {}).get("properties"):  # FastStream's, with no fields
            schemas.pop(placeholder, None)
    return document


def render() -> str:
    return json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_asyncapi(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
