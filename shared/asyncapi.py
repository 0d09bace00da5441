"""The AsyncAPI document of the event contracts, generated from the five FastStream apps."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

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
    return document


def render() -> str:
    return json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_asyncapi(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
