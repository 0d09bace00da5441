"""The constants of the scoring formulas, read from shared/data/scoring.yaml (versioned).

Reading the two data files is the only I/O of the scoring core; it happens once, on first use of
``default_config()``. Tests and tools can build a config from any text with ``parse_config``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

SCORING_FILE = "scoring.yaml"
ENTITIES_FILE = "entities.yaml"


class ScoringConfigError(ValueError):
    """The scoring data file is missing a key, has an unknown one, or a value out of range."""


@dataclass(frozen=True)
class EngagementConstants:
    rank_horizon: float
    views_floor: float
    views_full: float
    comments_floor: float
    comments_full: float
    likes_floor: float
    likes_full: float


@dataclass(frozen=True)
class HillMapping:
    """value = 100 * raw^p / (raw^p + k^p): 50 at raw = k, saturating towards 100."""

    k: float
    p: float


@dataclass(frozen=True)
class LogisticMapping:
    """Logistic stretch of a 0..1 score, rescaled so that 0 -> 0 and 1 -> 100."""

    mid: float
    scale: float


@dataclass(frozen=True)
class HotConstants:
    source_weight_min: float
    source_weight_max: float
    duplicate_fraction: float
    duplicate_cap: float
    half_life_h: float
    velocity_tau_h: float
    velocity_weight: float
    engagement_weight: float
    engagement: EngagementConstants
    mapping: HillMapping


@dataclass(frozen=True)
class Band:
    """A trapezoid: 0 at or beyond zero_min / zero_max, 1 inside [ideal_min, ideal_max]."""

    zero_min: float
    ideal_min: float
    ideal_max: float
    zero_max: float


@dataclass(frozen=True)
class ReadabilityConstants:
    en_sentence_words: Band
    en_word_chars: Band
    zh_sentence_chars: Band
    en_sentence_weight: float


@dataclass(frozen=True)
class QualityPenalties:
    translation_qa_flag: float
    translation_qa_cap: float
    paywall_teaser: float
    marketing_hit: float
    marketing_cap: float
    notice: float


@dataclass(frozen=True)
class QualityConstants:
    weights: Mapping[str, float]
    substance_weights: Mapping[str, float]
    length_scale: float
    full_text_units: float
    zh_chars_per_word: float
    data_points_scale: float
    quotes_scale: float
    structure_full: float
    reputation_full: float
    readability: ReadabilityConstants
    penalties: QualityPenalties
    llm_weight: float
    mapping: LogisticMapping


@dataclass(frozen=True)
class ImpactConstants:
    weights: Mapping[str, float]
    entity_decay: tuple[float, ...]
    entities_full: float
    unknown_entity_weight: float
    second_tag_bonus: float
    untagged_weight: float
    money_base_usd: float
    money_half: float
    users_base: float
    users_half: float
    scope_multilingual: float
    scope_per_extra_region: float
    llm_weight: float
    mapping: LogisticMapping


@dataclass(frozen=True)
class PhraseList:
    en: tuple[str, ...]
    zh: tuple[str, ...]


@dataclass(frozen=True)
class ScoringConfig:
    version: int
    formula_versions: Mapping[str, str]
    hot: HotConstants
    quality: QualityConstants
    impact: ImpactConstants
    marketing_phrases: PhraseList
    paywall_phrases: PhraseList
    notice_phrases: PhraseList
    event_type_weights: Mapping[str, float]
    entity_weights: Mapping[str, float]
    entity_regions: Mapping[str, str]

    def entity_weight(self, entity_id: str) -> float:
        return self.entity_weights.get(entity_id, self.impact.unknown_entity_weight)


QUALITY_COMPONENTS = ("substance", "originality", "source_reputation", "readability")
SUBSTANCE_COMPONENTS = ("length", "data_points", "quotes", "structure")
IMPACT_COMPONENTS = ("entities", "event_type", "magnitude", "scope")
SCORE_NAMES = ("hot", "quality", "impact")


def _section(raw: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ScoringConfigError(f"{where}: expected a mapping")
    missing, unknown = keys - raw.keys(), raw.keys() - keys
    if missing or unknown:
        raise ScoringConfigError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return raw


def _number(raw: Any, where: str, *, positive: bool = False) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ScoringConfigError(f"{where}: expected a number, got {raw!r}")
    if raw < 0 or (positive and raw == 0):
        raise ScoringConfigError(f"{where}: must be {'> 0' if positive else '>= 0'}, got {raw}")
    return float(raw)


def _numbers(raw: dict[str, Any], where: str, cls: type, positive: set[str] | None = None) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    _section(raw, where, fields)
    return cls(**{k: _number(raw[k], f"{where}.{k}", positive=k in (positive or set())) for k in fields})


def _weights(raw: Any, where: str, names: tuple[str, ...]) -> dict[str, float]:
    _section(raw, where, set(names))
    weights = {n: _number(raw[n], f"{where}.{n}") for n in names}
    if abs(sum(weights.values()) - 1.0) > 1e-6:
        raise ScoringConfigError(f"{where}: weights must sum to 1, got {sum(weights.values())}")
    return weights


def _band(raw: Any, where: str) -> Band:
    band: Band = _numbers(raw, where, Band)
    if not band.zero_min < band.ideal_min <= band.ideal_max < band.zero_max:
        raise ScoringConfigError(f"{where}: need zero_min < ideal_min <= ideal_max < zero_max")
    return band


def _phrases(raw: Any, where: str) -> PhraseList:
    _section(raw, where, {"en", "zh"})
    lists = {}
    for lang in ("en", "zh"):
        items = raw[lang]
        if not isinstance(items, list) or not all(isinstance(p, str) and p.strip() for p in items):
            raise ScoringConfigError(f"{where}.{lang}: expected a list of phrases")
        lists[lang] = tuple(p.strip() for p in items)
    return PhraseList(en=lists["en"], zh=lists["zh"])


def _unit_weights(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise ScoringConfigError(f"{where}: expected a mapping of id -> weight")
    weights = {str(k): _number(v, f"{where}.{k}") for k, v in raw.items()}
    if any(w > 1 for w in weights.values()):
        raise ScoringConfigError(f"{where}: weights must be within 0..1")
    return weights


def gazetteer_impact_weights(entities_text: str | None) -> dict[str, float]:
    """``impact_weight`` per entity id from the text of shared/data/entities.yaml (empty if absent)."""
    if entities_text is None:
        return {}
    raw = yaml.safe_load(entities_text) or {}
    entries = raw.get("entities", []) if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise ScoringConfigError(f"{ENTITIES_FILE}: expected a list under `entities`")
    weights: dict[str, float] = {}
    for entry in entries:
        if isinstance(entry, dict) and "id" in entry and entry.get("impact_weight") is not None:
            weights[str(entry["id"])] = _number(entry["impact_weight"], f"{ENTITIES_FILE}:{entry['id']}")
    return weights


def parse_config(scoring_text: str, entities_text: str | None = None) -> ScoringConfig:
    """Build the config from the texts of scoring.yaml and (optionally) entities.yaml."""
    raw = _section(
        yaml.safe_load(scoring_text),
        SCORING_FILE,
        {
            "version",
            "formula_versions",
            "hot",
            "quality",
            "impact",
            "marketing_phrases",
            "paywall_phrases",
            "notice_phrases",
            "event_type_weights",
            "entity_overrides",
            "entity_fallback",
            "entity_regions",
        },
    )
    versions = _section(raw["formula_versions"], "formula_versions", set(SCORE_NAMES))

    hot_raw = _section(raw["hot"], "hot", set(HotConstants.__dataclass_fields__))
    hot_fields = {k: _number(v, f"hot.{k}") for k, v in hot_raw.items() if k not in ("engagement", "mapping")}
    hot = HotConstants(
        **hot_fields,
        engagement=_numbers(
            hot_raw["engagement"],
            "hot.engagement",
            EngagementConstants,
            positive=set(EngagementConstants.__dataclass_fields__),
        ),
        mapping=_numbers(hot_raw["mapping"], "hot.mapping", HillMapping, positive={"k", "p"}),
    )
    if hot.half_life_h <= 0 or hot.velocity_tau_h <= 0 or hot.source_weight_min <= 0:
        raise ScoringConfigError("hot: half_life_h, velocity_tau_h and source_weight_min must be > 0")

    q_raw = _section(raw["quality"], "quality", set(QualityConstants.__dataclass_fields__))
    r_raw = _section(
        q_raw["readability"], "quality.readability", set(ReadabilityConstants.__dataclass_fields__)
    )
    quality = QualityConstants(
        weights=_weights(q_raw["weights"], "quality.weights", QUALITY_COMPONENTS),
        substance_weights=_weights(
            q_raw["substance_weights"], "quality.substance_weights", SUBSTANCE_COMPONENTS
        ),
        **{
            k: _number(q_raw[k], f"quality.{k}", positive=True)
            for k in (
                "length_scale",
                "full_text_units",
                "zh_chars_per_word",
                "data_points_scale",
                "quotes_scale",
                "structure_full",
                "reputation_full",
            )
        },
        readability=ReadabilityConstants(
            en_sentence_words=_band(r_raw["en_sentence_words"], "quality.readability.en_sentence_words"),
            en_word_chars=_band(r_raw["en_word_chars"], "quality.readability.en_word_chars"),
            zh_sentence_chars=_band(r_raw["zh_sentence_chars"], "quality.readability.zh_sentence_chars"),
            en_sentence_weight=_number(r_raw["en_sentence_weight"], "quality.readability.en_sentence_weight"),
        ),
        penalties=_numbers(q_raw["penalties"], "quality.penalties", QualityPenalties),
        llm_weight=_number(q_raw["llm_weight"], "quality.llm_weight"),
        mapping=_numbers(q_raw["mapping"], "quality.mapping", LogisticMapping, positive={"scale"}),
    )

    i_raw = _section(raw["impact"], "impact", set(ImpactConstants.__dataclass_fields__))
    decay = i_raw["entity_decay"]
    if not isinstance(decay, list) or not decay:
        raise ScoringConfigError("impact.entity_decay: expected a non-empty list")
    impact = ImpactConstants(
        weights=_weights(i_raw["weights"], "impact.weights", IMPACT_COMPONENTS),
        entity_decay=tuple(_number(d, "impact.entity_decay") for d in decay),
        **{
            k: _number(
                i_raw[k],
                f"impact.{k}",
                positive=k in {"entities_full", "money_base_usd", "money_half", "users_base", "users_half"},
            )
            for k in (
                "entities_full",
                "unknown_entity_weight",
                "second_tag_bonus",
                "untagged_weight",
                "money_base_usd",
                "money_half",
                "users_base",
                "users_half",
                "scope_multilingual",
                "scope_per_extra_region",
                "llm_weight",
            )
        },
        mapping=_numbers(i_raw["mapping"], "impact.mapping", LogisticMapping, positive={"scale"}),
    )
    for name, w in (("quality.llm_weight", quality.llm_weight), ("impact.llm_weight", impact.llm_weight)):
        if w > 1:
            raise ScoringConfigError(f"{name}: must be within 0..1")

    entity_weights = {
        **_unit_weights(raw["entity_fallback"], "entity_fallback"),
        **gazetteer_impact_weights(entities_text),
        **_unit_weights(raw["entity_overrides"], "entity_overrides"),
    }
    regions_raw = raw["entity_regions"]
    if not isinstance(regions_raw, dict):
        raise ScoringConfigError("entity_regions: expected a mapping of region -> ids")
    entity_regions: dict[str, str] = {}
    for region, ids in regions_raw.items():
        for entity_id in ids or []:
            if entity_id in entity_regions:
                raise ScoringConfigError(f"entity_regions: {entity_id} listed twice")
            entity_regions[str(entity_id)] = str(region)

    return ScoringConfig(
        version=int(raw["version"]),
        formula_versions={k: str(v) for k, v in versions.items()},
        hot=hot,
        quality=quality,
        impact=impact,
        marketing_phrases=_phrases(raw["marketing_phrases"], "marketing_phrases"),
        paywall_phrases=_phrases(raw["paywall_phrases"], "paywall_phrases"),
        notice_phrases=_phrases(raw["notice_phrases"], "notice_phrases"),
        event_type_weights=_unit_weights(raw["event_type_weights"], "event_type_weights"),
        entity_weights=entity_weights,
        entity_regions=entity_regions,
    )


def _data_text(name: str) -> str | None:
    resource = resources.files("shared").joinpath("data", name)
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


@lru_cache(maxsize=1)
def default_config() -> ScoringConfig:
    """The packaged configuration (shared/data/scoring.yaml + entities.yaml), loaded once."""
    scoring_text = _data_text(SCORING_FILE)
    if scoring_text is None:
        raise ScoringConfigError(f"shared/data/{SCORING_FILE} is missing")
    return parse_config(scoring_text, _data_text(ENTITIES_FILE))
