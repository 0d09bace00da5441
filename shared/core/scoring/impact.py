"""Impact: who is involved, what kind of event, how big, how wide."""

from __future__ import annotations

from shared.core.scoring.config import ScoringConfig, default_config
from shared.core.scoring.facts import ContentFacts
from shared.core.scoring.mapping import clamp, log_hill, logistic_stretch, rounded
from shared.core.scoring.reasons import Label, impact_reasons
from shared.events import ScoreDetail


def entity_component(entity_ids: tuple[str, ...], cfg: ScoringConfig) -> float:
    """Weights sorted high to low, combined with decaying factors (w1 + 0.35 w2 + ...), over full."""
    weights = sorted((cfg.entity_weight(e) for e in dict.fromkeys(entity_ids)), reverse=True)
    combined = sum(f * w for f, w in zip(cfg.impact.entity_decay, weights, strict=False))
    return clamp(combined / cfg.impact.entities_full)


def weighty_entities(content: ContentFacts, cfg: ScoringConfig) -> list[Label]:
    """Named entities, heaviest first (ties keep the analysis order), as (en, zh) labels."""
    ids = sorted(dict.fromkeys(content.entity_ids), key=lambda e: -cfg.entity_weight(e))
    return [content.labels.get(e, (e, None)) for e in ids]


def leading_event_types(content: ContentFacts, cfg: ScoringConfig) -> list[Label]:
    """The tags that count as event types, strongest first, as (en, zh) labels."""
    ids = sorted(
        (t for t in dict.fromkeys(content.tags) if t in cfg.event_type_weights),
        key=lambda t: -cfg.event_type_weights[t],
    )
    return [content.labels.get(t, (t.replace("-", " ").capitalize(), None)) for t in ids]


def event_type_component(tags: tuple[str, ...], cfg: ScoringConfig) -> float:
    weights = sorted(
        (cfg.event_type_weights[t] for t in dict.fromkeys(tags) if t in cfg.event_type_weights), reverse=True
    )
    if not weights:
        return cfg.impact.untagged_weight
    bonus = cfg.impact.second_tag_bonus * weights[1] if len(weights) > 1 else 0.0
    return clamp(weights[0] + bonus)


def magnitude_components(content: ContentFacts, cfg: ScoringConfig) -> tuple[float, float]:
    """(money, users), each 0..1 from the largest number stated, log-scaled."""
    c = cfg.impact
    money = log_hill(max(content.amounts_usd, default=0.0), c.money_base_usd, c.money_half)
    users = log_hill(float(max(content.user_counts, default=0)), c.users_base, c.users_half)
    return money, users


def scope_component(content: ContentFacts, cfg: ScoringConfig) -> tuple[float, int]:
    """(scope 0..1, number of home regions among the entities)."""
    c = cfg.impact
    regions = {cfg.entity_regions[e] for e in content.entity_ids if e in cfg.entity_regions}
    multilingual = c.scope_multilingual if len(content.coverage_languages) >= 2 else 0.0
    return clamp(multilingual + c.scope_per_extra_region * max(0, len(regions) - 1)), len(regions)


def impact_score(content: ContentFacts, config: ScoringConfig | None = None) -> ScoreDetail:
    """Impact 0..100 from entities, event type, magnitude and scope; LLM rubric blended when given."""
    cfg = config or default_config()
    c = cfg.impact
    money, users = magnitude_components(content, cfg)
    magnitude = 1.0 - (1.0 - money) * (1.0 - users)
    scope, regions = scope_component(content, cfg)
    signals = {
        "entities": entity_component(content.entity_ids, cfg),
        "event_type": event_type_component(content.tags, cfg),
        "magnitude": magnitude,
        "scope": scope,
    }
    local = sum(c.weights[k] * v for k, v in signals.items())
    rubric = content.impact_rubric
    final = local if rubric is None else (1.0 - c.llm_weight) * local + c.llm_weight * rubric.mean()
    components = {
        **signals,
        "money": money,
        "users": users,
        "regions": float(regions),
        "max_usd": max(content.amounts_usd, default=0.0),
        "max_users": float(max(content.user_counts, default=0)),
        "multilingual": 1.0 if len(content.coverage_languages) >= 2 else 0.0,
        "local": local,
        "llm": rubric.mean() if rubric is not None else 0.0,
        "llm_weight": c.llm_weight if rubric is not None else 0.0,
        "final": final,
    }
    return ScoreDetail(
        value=logistic_stretch(final, c.mapping),
        components=rounded(components),
        formula_version=cfg.formula_versions["impact"],
        llm_rubric=dict(rubric.scores) if rubric is not None else None,
        reasons=impact_reasons(components, weighty_entities(content, cfg), leading_event_types(content, cfg)),
    )
