"""The AsyncAPI document of the event contracts, generated from the five FastStream apps."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI
from pydantic import BaseModel

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
    return with_wire_schemas(document)


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
    ref = "#/components/schemas/{model}"
    for name in list(schemas):
        model = models.get(name)
        if model is None:
            continue
        wire = model.model_json_schema(by_alias=False, mode="serialization", ref_template=ref)
        for def_name, definition in wire.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = wire
    return document


def render() -> str:
    return json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_asyncapi(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
