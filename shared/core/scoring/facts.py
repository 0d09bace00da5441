"""Plain, frozen inputs of the scoring formulas, and builders from the event contracts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from shared.events import Analysis, Article, Engagement, StoryMember, Translation

RubricScale = Literal["1-5", "0-100"]
QUALITY_RUBRIC_KEYS = frozenset({"depth", "relevance", "writing", "practicality"})


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")
    return moment


@dataclass(frozen=True)
class EngagementFacts:
    """Source-side popularity of one member (rank on a list, 1 = top; counts)."""

    rank: int | None = None
    views: int | None = None
    comments: int | None = None
    likes: int | None = None

    def __post_init__(self) -> None:
        if self.rank is not None and self.rank < 1:
            raise ValueError(f"rank starts at 1, got {self.rank}")
        for name in ("views", "comments", "likes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    @classmethod
    def from_event(cls, engagement: Engagement | None) -> EngagementFacts | None:
        if engagement is None:
            return None
        return cls(
            rank=engagement.rank, views=engagement.views, comments=engagement.comments, likes=engagement.likes
        )


@dataclass(frozen=True)
class MemberFacts:
    """One article of a story, as Hot needs it."""

    article_id: str
    source_id: str
    joined_at: datetime
    source_weight: float = 1.0
    published_at: datetime | None = None
    near_duplicate_of: str | None = None
    language: str = "other"
    engagement: EngagementFacts | None = None

    def __post_init__(self) -> None:
        _aware(self.joined_at, f"{self.article_id}: joined_at")
        if self.published_at is not None:
            _aware(self.published_at, f"{self.article_id}: published_at")
        if not math.isfinite(self.source_weight) or self.source_weight < 0:
            raise ValueError(f"{self.article_id}: source_weight must be a finite number >= 0")

    @classmethod
    def from_member(cls, member: StoryMember) -> MemberFacts:
        return cls(
            article_id=member.article_id,
            source_id=member.source_id,
            joined_at=member.joined_at,
            source_weight=member.source_weight,
            published_at=member.published_at,
            near_duplicate_of=member.near_duplicate_of,
            language=member.language,
            engagement=EngagementFacts.from_event(member.engagement),
        )


@dataclass(frozen=True)
class StoryFacts:
    """The members of one story (order does not matter)."""

    members: tuple[MemberFacts, ...]

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a story has at least one member")
        ids = [m.article_id for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError("member article ids must be unique")

    @classmethod
    def from_members(cls, members: Iterable[StoryMember]) -> StoryFacts:
        return cls(members=tuple(MemberFacts.from_member(m) for m in members))

    def with_member(self, member: MemberFacts) -> StoryFacts:
        return StoryFacts(members=(*self.members, member))

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(m.language for m in self.members if m.language != "other")


def story_facts_from_members(members: Iterable[StoryMember]) -> StoryFacts:
    """StoryFacts from the members of a shared.events.Cluster."""
    return StoryFacts.from_members(members)


@dataclass(frozen=True)
class LLMRubric:
    """Scores an LLM judge gave, on a declared scale (1-5 or 0-100)."""

    scores: Mapping[str, float]
    scale: RubricScale = "1-5"

    def __post_init__(self) -> None:
        if not self.scores:
            raise ValueError("an LLM rubric needs at least one score")
        if self.scale not in ("1-5", "0-100"):
            raise ValueError(f"unknown rubric scale {self.scale!r}: use '1-5' or '0-100'")
        low, high = (1.0, 5.0) if self.scale == "1-5" else (0.0, 100.0)
        for key, value in self.scores.items():
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f"rubric {key}={value} is outside the {self.scale} scale")
        object.__setattr__(self, "scores", MappingProxyType(dict(self.scores)))

    def normalised(self) -> dict[str, float]:
        """Each score on 0..1 (1-5: (v - 1) / 4; 0-100: v / 100)."""
        if self.scale == "1-5":
            return {k: (v - 1.0) / 4.0 for k, v in self.scores.items()}
        return {k: v / 100.0 for k, v in self.scores.items()}

    def mean(self) -> float:
        values = self.normalised().values()
        return sum(values) / len(values)


@dataclass(frozen=True)
class ContentFacts:
    """What Quality and Impact read: the representative article's text and what analyze found."""

    title: str
    body: str
    language: str
    tags: tuple[str, ...] = ()
    entity_ids: tuple[str, ...] = ()
    amounts_usd: tuple[float, ...] = ()
    user_counts: tuple[int, ...] = ()
    # None: count quoted passages in the body (see text.count_quotes).
    quote_count: int | None = None
    translation_qa_flags: tuple[str, ...] = ()
    paywall_teaser: bool = False
    # The representative article's source weight (1.0 = a typical outlet).
    source_reputation: float = 1.0
    # 0..1: how much new text the story's best article adds over earlier members (caller computes).
    originality: float = 1.0
    # Languages the story is covered in (Impact scope); from StoryFacts.languages.
    coverage_languages: frozenset[str] = field(default_factory=frozenset)
    quality_rubric: LLMRubric | None = None
    impact_rubric: LLMRubric | None = None
    # Display names of the tag and entity ids above, id -> (English, Chinese or None), for the
    # readable reasons; an id without a label is shown as itself.
    labels: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.originality <= 1.0:
            raise ValueError(f"originality must be within 0..1, got {self.originality}")
        if not math.isfinite(self.source_reputation) or self.source_reputation < 0:
            raise ValueError("source_reputation must be a finite number >= 0")
        if any(not math.isfinite(a) or a < 0 for a in self.amounts_usd):
            raise ValueError("amounts_usd must be finite and >= 0")
        if any(u < 0 for u in self.user_counts):
            raise ValueError("user_counts must be >= 0")
        if self.quote_count is not None and self.quote_count < 0:
            raise ValueError("quote_count must be >= 0")
        if self.quality_rubric is not None:
            unknown = set(self.quality_rubric.scores) - QUALITY_RUBRIC_KEYS
            if unknown:
                raise ValueError(
                    f"unknown quality rubric keys {sorted(unknown)}; "
                    f"expected some of {sorted(QUALITY_RUBRIC_KEYS)}"
                )


def content_facts_from_sections(
    article: Article,
    analysis: Analysis | None,
    translation: Translation | None,
    members: Sequence[StoryMember],
    *,
    originality: float,
    user_counts: Sequence[int] = (),
    paywall_teaser: bool = False,
    quality_rubric: LLMRubric | None = None,
    impact_rubric: LLMRubric | None = None,
) -> ContentFacts:
    """ContentFacts from the event sections of a story's representative article.

    Amounts without a USD value are left out (they cannot be compared). The body falls back to the
    feed summary when the article has none.
    """
    return ContentFacts(
        title=article.title,
        body=article.body or article.summary or "",
        language=article.language,
        tags=tuple(t.id for t in analysis.tags) if analysis else (),
        entity_ids=tuple(dict.fromkeys(e.id for e in analysis.entities)) if analysis else (),
        amounts_usd=tuple(a.usd for a in analysis.amounts if a.usd is not None) if analysis else (),
        user_counts=tuple(user_counts),
        translation_qa_flags=tuple(translation.qa_flags) if translation else (),
        paywall_teaser=paywall_teaser,
        source_reputation=article.source_weight,
        originality=originality,
        coverage_languages=frozenset(m.language for m in members if m.language != "other"),
        quality_rubric=quality_rubric,
        impact_rubric=impact_rubric,
        labels=analysis_labels(analysis),
    )


def analysis_labels(analysis: Analysis | None) -> dict[str, tuple[str, str | None]]:
    """id -> (en, zh) for the analysis' tags and entities."""
    if analysis is None:
        return {}
    labels: dict[str, tuple[str, str | None]] = {t.id: (t.en, t.zh) for t in analysis.tags}
    for entity in analysis.entities:
        labels.setdefault(entity.id, (entity.en, entity.zh))
    return labels


def _rubric_doc(rubric: LLMRubric | None) -> dict[str, object] | None:
    return None if rubric is None else {"scores": dict(rubric.scores), "scale": rubric.scale}


def _rubric_from(doc: Mapping[str, object] | None) -> LLMRubric | None:
    if doc is None:
        return None
    scores = doc["scores"]
    assert isinstance(scores, Mapping)
    scale = doc.get("scale", "1-5")
    if scale not in ("1-5", "0-100"):
        raise ValueError(f"unknown rubric scale {scale!r}")
    return LLMRubric(scores={str(k): float(v) for k, v in scores.items()}, scale=scale)


def content_facts_to_doc(content: ContentFacts) -> dict[str, object]:
    """ContentFacts as plain JSON/BSON-safe data (lists, dicts, numbers, strings), for storage."""
    return {
        "title": content.title,
        "body": content.body,
        "language": content.language,
        "tags": list(content.tags),
        "entity_ids": list(content.entity_ids),
        "amounts_usd": list(content.amounts_usd),
        "user_counts": list(content.user_counts),
        "quote_count": content.quote_count,
        "translation_qa_flags": list(content.translation_qa_flags),
        "paywall_teaser": content.paywall_teaser,
        "source_reputation": content.source_reputation,
        "originality": content.originality,
        "coverage_languages": sorted(content.coverage_languages),
        "quality_rubric": _rubric_doc(content.quality_rubric),
        "impact_rubric": _rubric_doc(content.impact_rubric),
        "labels": {k: [en, zh] for k, (en, zh) in content.labels.items()},
    }


def content_facts_from_doc(doc: Mapping[str, object]) -> ContentFacts:
    """The inverse of content_facts_to_doc (raises ValueError / KeyError on a malformed doc)."""

    def seq(key: str) -> list[object]:
        value = doc.get(key) or []
        assert isinstance(value, list | tuple)
        return list(value)

    quote_count = doc.get("quote_count")
    reputation = doc.get("source_reputation", 1.0)
    originality = doc.get("originality", 1.0)
    assert isinstance(reputation, int | float) and isinstance(originality, int | float)
    quality_rubric = doc.get("quality_rubric")
    impact_rubric = doc.get("impact_rubric")
    assert quality_rubric is None or isinstance(quality_rubric, Mapping)
    assert impact_rubric is None or isinstance(impact_rubric, Mapping)
    return ContentFacts(
        title=str(doc["title"]),
        body=str(doc["body"]),
        language=str(doc["language"]),
        tags=tuple(str(t) for t in seq("tags")),
        entity_ids=tuple(str(e) for e in seq("entity_ids")),
        amounts_usd=tuple(float(a) for a in seq("amounts_usd")),  # type: ignore[arg-type]
        user_counts=tuple(int(u) for u in seq("user_counts")),  # type: ignore[call-overload]
        quote_count=None if quote_count is None else int(quote_count),  # type: ignore[call-overload]
        translation_qa_flags=tuple(str(f) for f in seq("translation_qa_flags")),
        paywall_teaser=bool(doc.get("paywall_teaser", False)),
        source_reputation=float(reputation),
        originality=float(originality),
        coverage_languages=frozenset(str(lang) for lang in seq("coverage_languages")),
        quality_rubric=_rubric_from(quality_rubric),
        impact_rubric=_rubric_from(impact_rubric),
        labels=_labels_from(doc.get("labels")),
    )


def _labels_from(raw: object) -> dict[str, tuple[str, str | None]]:
    if not isinstance(raw, Mapping):
        return {}
    labels: dict[str, tuple[str, str | None]] = {}
    for key, value in raw.items():
        if isinstance(value, list | tuple) and value and isinstance(value[0], str):
            zh = value[1] if len(value) > 1 and isinstance(value[1], str) else None
            labels[str(key)] = (value[0], zh)
    return labels
