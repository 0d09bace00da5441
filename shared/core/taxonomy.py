"""The bilingual tag taxonomy (shared/data/taxonomy.yaml), loaded once and validated.

Tags are data, not code: the local tier's trigger terms and labelled examples and the LLM tier's
allowed tag list all come from the same versioned file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

DATA_PACKAGE = "shared"
DATA_DIR = "data"
TAXONOMY_FILE = "taxonomy.yaml"


class TaxonomyError(ValueError):
    """The taxonomy file is malformed (missing labels, duplicate ids, no examples...)."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """A trigger term; ``parts`` has more than one element for an ``a & b`` co-occurrence trigger."""

    text: str
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TagDef:
    id: str
    en: str
    zh: str
    description: str
    triggers_en: tuple[Trigger, ...]
    triggers_zh: tuple[Trigger, ...]
    examples_en: tuple[str, ...]
    examples_zh: tuple[str, ...]

    def label(self, language: str) -> str:
        return self.zh if language == "zh" else self.en

    def examples(self, language: str) -> tuple[str, ...]:
        return self.examples_zh if language == "zh" else self.examples_en


@dataclass(frozen=True, slots=True)
class Taxonomy:
    version: str
    tags: tuple[TagDef, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tags)

    def get(self, tag_id: str) -> TagDef | None:
        for t in self.tags:
            if t.id == tag_id:
                return t
        return None

    def __contains__(self, tag_id: object) -> bool:
        return any(t.id == tag_id for t in self.tags)


def read_data_text(name: str) -> str:
    """Text of a file in the shared/data package directory."""
    return resources.files(DATA_PACKAGE).joinpath(DATA_DIR, name).read_text(encoding="utf-8")


def _triggers(raw: Any, where: str) -> tuple[Trigger, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TaxonomyError(f"{where}: triggers must be a list")
    out: list[Trigger] = []
    for item in raw:
        text = str(item).strip()
        parts = tuple(p.strip().lower() for p in text.split("&") if p.strip())
        if not parts:
            raise TaxonomyError(f"{where}: empty trigger")
        out.append(Trigger(text=text, parts=parts))
    return tuple(out)


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(s, str) and s.strip() for s in raw):
        raise TaxonomyError(f"{where}: expected a non-empty list of strings")
    return tuple(s.strip() for s in raw)


def parse_taxonomy(text: str) -> Taxonomy:
    """Parse and validate taxonomy YAML text."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or "version" not in doc or not isinstance(doc.get("tags"), list):
        raise TaxonomyError("taxonomy needs a `version` and a `tags` list")
    tags: list[TagDef] = []
    seen: set[str] = set()
    for raw in doc["tags"]:
        tag_id = str(raw.get("id", "")).strip()
        if not tag_id or tag_id in seen:
            raise TaxonomyError(f"missing or duplicate tag id: {tag_id!r}")
        seen.add(tag_id)
        for field in ("en", "zh", "description"):
            if not str(raw.get(field) or "").strip():
                raise TaxonomyError(f"tag {tag_id}: missing {field}")
        triggers = raw.get("triggers") or {}
        examples = raw.get("examples") or {}
        tags.append(
            TagDef(
                id=tag_id,
                en=str(raw["en"]).strip(),
                zh=str(raw["zh"]).strip(),
                description=str(raw["description"]).strip(),
                triggers_en=_triggers(triggers.get("en"), f"{tag_id}.triggers.en"),
                triggers_zh=_triggers(triggers.get("zh"), f"{tag_id}.triggers.zh"),
                examples_en=_strings(examples.get("en"), f"{tag_id}.examples.en"),
                examples_zh=_strings(examples.get("zh"), f"{tag_id}.examples.zh"),
            )
        )
    return Taxonomy(version=str(doc["version"]), tags=tuple(tags))


@cache
def load_taxonomy() -> Taxonomy:
    """The packaged taxonomy (read once per process)."""
    return parse_taxonomy(read_data_text(TAXONOMY_FILE))
