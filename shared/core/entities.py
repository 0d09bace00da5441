"""Entities by a bilingual gazetteer (shared/data/entities.yaml): companies, labs, products, people,
regulators, governments and universities.

Matching rules, chosen against real failure modes:
- Latin aliases match on word boundaries ("Arm" is not inside "Harm"), and case-sensitively when
  short (< 6 characters) or listed under ``case_sensitive`` ("Meta" the company, not "meta").
- Chinese (and mixed) aliases match as substrings; all aliases are tried longest first at each
  position, so 字节跳动 wins over 字节 and 美国商务部 over 商务部.
- ``blockers`` (e.g. "MIT License") are consumed first so they never count as a mention.
One ``EntityMatch`` per entity, however many of its aliases occur.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import yaml

from shared.core.taxonomy import read_data_text

ENTITIES_FILE = "entities.yaml"
KINDS = frozenset({"company", "lab", "person", "product", "regulator", "government", "university"})
# Latin aliases at least this long match case-insensitively unless listed under `case_sensitive`.
CASE_INSENSITIVE_MIN_LEN = 6

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_BOUNDARY_BEFORE = r"(?<![A-Za-z0-9])"
_LATIN_BOUNDARY_AFTER = r"(?![A-Za-z0-9])"


class GazetteerError(ValueError):
    """The gazetteer file is malformed (duplicate ids, an alias claimed by two entities...)."""


@dataclass(frozen=True, slots=True)
class EntityDef:
    id: str
    en: str
    zh: str
    kind: str
    impact_weight: float
    aliases: tuple[str, ...]  # every surface form, canonical names included
    org: str | None = None
    tags: tuple[str, ...] = ()  # taxonomy tags this entity is evidence for


@dataclass(frozen=True, slots=True)
class EntityMatch:
    id: str
    en: str
    zh: str
    kind: str
    org: str | None
    impact_weight: float
    tags: tuple[str, ...]
    surfaces: tuple[str, ...]  # distinct matched surface forms, in order of first appearance
    count: int  # number of mentions (all aliases together)
    first_offset: int  # character offset of the first mention


class Gazetteer:
    def __init__(self, entities: list[EntityDef], case_sensitive: set[str], blockers: list[str]) -> None:
        self.version = ""
        self.entities: dict[str, EntityDef] = {}
        # Lookup of a matched surface: exact for case-sensitive aliases, lower-cased otherwise.
        self._exact: dict[str, str | None] = {}
        self._folded: dict[str, str | None] = {}
        patterns: list[tuple[int, str, str, bool]] = []  # length, pattern, probe, case-insensitive

        def register(alias: str, entity_id: str | None) -> None:
            is_latin = not _CJK.search(alias)
            insensitive = is_latin and len(alias) >= CASE_INSENSITIVE_MIN_LEN and alias not in case_sensitive
            table, key = (self._folded, alias.lower()) if insensitive else (self._exact, alias)
            if key in table:
                if table[key] != entity_id:
                    raise GazetteerError(f"alias {alias!r} claimed by {table[key]} and {entity_id}")
                return
            table[key] = entity_id
            body = re.escape(alias)
            if insensitive:
                body = f"(?i:{body})"
            if is_latin:
                body = f"{_LATIN_BOUNDARY_BEFORE}{body}{_LATIN_BOUNDARY_AFTER}"
            patterns.append((len(alias), body, alias.casefold() if insensitive else alias, insensitive))

        for entity in entities:
            if entity.id in self.entities:
                raise GazetteerError(f"duplicate entity id {entity.id!r}")
            self.entities[entity.id] = entity
            for alias in entity.aliases:
                register(alias, entity.id)
        for blocker in blockers:
            register(blocker, None)
        patterns.sort(key=lambda p: -p[0])  # longest alias first at each position
        self._regex = re.compile("|".join(body for _, body, _, _ in patterns))
        # find() compiles the alternation of only the aliases that occur in the text as plain
        # substrings (one regex over ~all aliases at every position cost ~2.7 ms a story): an
        # alias that is no substring cannot match, and the order (longest first) is kept, so the
        # matches are the same. The case-insensitive probe is a casefold: a superset of the
        # regex's case matching for ASCII aliases once ı and İ count as i (checked over every
        # code point; ſ and the Kelvin sign fold to s and k); with a non-ASCII case-insensitive
        # alias every such alias is always tried.
        self._probes = [(body, probe, insensitive) for _, body, probe, insensitive in patterns]
        self._always_insensitive = any(not probe.isascii() for _, probe, i in self._probes if i)

    def resolve(self, surface: str) -> str | None:
        """The entity id a matched surface form names (None for a blocker or no match)."""
        if surface in self._exact:
            return self._exact[surface]
        return self._folded.get(surface.lower())

    def _regex_for(self, text: str) -> re.Pattern[str] | None:
        folded = text.translate(_DOTTED_I).casefold()
        bodies = tuple(
            body
            for body, probe, insensitive in self._probes
            if ((self._always_insensitive or probe in folded) if insensitive else probe in text)
        )
        return _alternation(bodies) if bodies else None

    def find(self, text: str) -> list[EntityMatch]:
        found: dict[str, tuple[list[str], int, int]] = {}  # id -> (surfaces, count, first offset)
        regex = self._regex_for(text)
        for m in regex.finditer(text) if regex is not None else ():
            entity_id = self.resolve(m.group(0))
            if entity_id is None:
                continue
            surfaces, count, first = found.get(entity_id, ([], 0, m.start()))
            if m.group(0) not in surfaces:
                surfaces.append(m.group(0))
            found[entity_id] = (surfaces, count + 1, first)
        out: list[EntityMatch] = []
        for entity_id, (surfaces, count, first) in sorted(found.items(), key=lambda kv: kv[1][2]):
            e = self.entities[entity_id]
            out.append(
                EntityMatch(
                    id=e.id,
                    en=e.en,
                    zh=e.zh,
                    kind=e.kind,
                    org=e.org,
                    impact_weight=e.impact_weight,
                    tags=e.tags,
                    surfaces=tuple(surfaces),
                    count=count,
                    first_offset=first,
                )
            )
        return out


# Case-insensitive regex matching pairs i with ı and İ too, casefold does not.
_DOTTED_I = str.maketrans({"\u0130": "i", "\u0131": "i"})


@lru_cache(maxsize=1024)
def _alternation(bodies: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(bodies))


def _entity(raw: dict[str, Any]) -> EntityDef:
    entity_id = str(raw.get("id", "")).strip()
    if not entity_id or entity_id != entity_id.lower():
        raise GazetteerError(f"entity id must be a lower-case slug: {entity_id!r}")
    kind = str(raw.get("kind", ""))
    if kind not in KINDS:
        raise GazetteerError(f"{entity_id}: unknown kind {kind!r}")
    weight = float(raw.get("impact_weight", -1))
    if not 0.0 <= weight <= 1.0:
        raise GazetteerError(f"{entity_id}: impact_weight must be within 0..1")
    en, zh = str(raw.get("en") or "").strip(), str(raw.get("zh") or "").strip()
    if not en or not zh:
        raise GazetteerError(f"{entity_id}: needs both en and zh names")
    aliases: list[str] = []
    for alias in [en, zh, *(raw.get("aliases") or [])]:
        alias = str(alias).strip()
        if alias and alias not in aliases:
            aliases.append(alias)
    org = raw.get("org")
    return EntityDef(
        id=entity_id,
        en=en,
        zh=zh,
        kind=kind,
        impact_weight=weight,
        aliases=tuple(aliases),
        org=str(org) if org else None,
        tags=tuple(str(tag) for tag in raw.get("tags") or ()),
    )


def parse_gazetteer(text: str) -> Gazetteer:
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("entities"), list):
        raise GazetteerError("gazetteer needs an `entities` list")
    gazetteer = Gazetteer(
        [_entity(raw) for raw in doc["entities"]],
        case_sensitive={str(s) for s in doc.get("case_sensitive") or []},
        blockers=[str(s) for s in doc.get("blockers") or []],
    )
    gazetteer.version = str(doc.get("version", ""))
    for e in gazetteer.entities.values():
        if e.org is not None and e.org not in gazetteer.entities:
            raise GazetteerError(f"{e.id}: org {e.org!r} is not in the gazetteer")
    return gazetteer


@cache
def load_gazetteer() -> Gazetteer:
    """The packaged gazetteer (read and compiled once per process)."""
    return parse_gazetteer(read_data_text(ENTITIES_FILE))


def find_entities(text: str, gazetteer: Gazetteer | None = None) -> list[EntityMatch]:
    """Entities named in ``text``, one match per entity, in order of first mention."""
    return (gazetteer or load_gazetteer()).find(text)
