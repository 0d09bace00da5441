"""Merging stage events into the published item (pure: the caller passes ``now`` and stores the
result). Order-independent and idempotent: sources are a union keyed by article id, scores keep
the newest computation, content comes from the story's full pipeline event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.core.item_times import first_appearance
from shared.events import Bilingual, Provenance, StoryEvent, StoryMember
from shared.items import Item, ItemScores, SectionState, SourceRef


@dataclass(frozen=True)
class Merge:
    item: Item
    material: bool  # something a reader would notice changed (new source, scores, text)
    created: bool


def is_full(event: StoryEvent) -> bool:
    """A story's pipeline event (it went through translate and analyze), not a re-score."""
    return event.translation is not None and event.analysis is not None


def _source(member: StoryMember) -> SourceRef:
    return SourceRef(
        article_id=member.article_id,
        source_id=member.source_id,
        source_name=member.source_name,
        url=member.url,
        title=member.title,
        language=member.language,
        published_at=member.published_at,
        joined_at=member.joined_at,
        near_duplicate_of=member.near_duplicate_of,
    )


def merge_sources(
    existing: list[SourceRef], members: list[StoryMember], representative: str
) -> list[SourceRef]:
    by_id = {ref.article_id: ref for ref in existing}
    for member in members:
        by_id.setdefault(member.article_id, _source(member))
    ordered = sorted(
        by_id.values(), key=lambda ref: (ref.article_id != representative, ref.joined_at, ref.article_id)
    )
    return ordered


def _bilingual(source_language: str, original: str | None, translated: Bilingual) -> Bilingual:
    values = {"en": translated.en, "zh": translated.zh}
    if source_language in values and original:
        values[source_language] = original
    return Bilingual(**values)


def merge_scores(existing: ItemScores, event: StoryEvent) -> ItemScores:
    scores = event.scores
    if scores is None:
        return existing
    if existing.computed_at is not None and scores.computed_at < existing.computed_at:
        return existing  # an older computation arriving late
    return ItemScores(
        hot=scores.hot or existing.hot,
        quality=scores.quality or existing.quality,
        impact=scores.impact or existing.impact,
        computed_at=scores.computed_at,
        status=scores.status,
        reason=scores.reason,
    )


def content_fields(event: StoryEvent) -> dict[str, Any]:
    """The item's text, tags and provenance from a story's full pipeline event."""
    article, translation, analysis = event.article, event.translation, event.analysis
    assert translation is not None and analysis is not None
    tags = list(analysis.tags)
    return {
        "origin_language": article.language,
        "title": _bilingual(article.language, article.title, translation.title),
        "summary": analysis.summary
        if (analysis.summary.en or analysis.summary.zh)
        else _bilingual(article.language, article.summary, translation.summary),
        "summary_provenance": analysis.summary_provenance
        or (Provenance(tier="source") if article.summary else None),
        "body": _bilingual(article.language, article.body, translation.body),
        "analysis": analysis.commentary,
        "analysis_provenance": analysis.commentary_provenance,
        "analysis_reason": analysis.commentary_reason,
        "tags": tags,
        "primary_tag": tags[0].id if tags else "untagged",
        "entities": list(analysis.entities),
        "keyphrases": list(analysis.keyphrases),
        "amounts": list(analysis.amounts),
        "representative_article_id": article.article_id,
        "translation": SectionState(
            status=translation.status,
            reason=translation.reason,
            provenance=translation.provenance,
            qa_flags=list(translation.qa_flags),
        ),
        "analysis_state": SectionState(
            status=analysis.status,
            reason=analysis.reason,
            provenance=analysis.commentary_provenance or analysis.summary_provenance,
        ),
    }


def _comparable(item: Item) -> dict[str, Any]:
    data = item.model_dump(mode="json", exclude={"version", "updated_at", "published_at", "views"})
    for key in ("hot", "quality", "impact"):
        score = data["scores"].get(key)
        if score:  # a re-score that moves nothing visible is not news
            data["scores"][key] = round(score["value"])
    data["scores"].pop("computed_at", None)
    return data


def merge_event(
    existing: Item | None, pending: dict[str, Any] | None, event: StoryEvent, now: datetime
) -> Merge | None:
    """Fold one event into the story's item. Returns None when the event cannot make an item yet
    (a re-score of a story whose full event has not arrived: the caller keeps it as pending)."""
    if existing is None and not is_full(event):
        return None
    members = list(event.cluster.members)
    if existing is None:
        fields = content_fields(event)
        first_seen = min((m.joined_at for m in members), default=event.article.fetched_at)
        item = Item(
            _id=event.story_id,
            sources=[],
            first_seen_at=first_seen,
            published_at=now,
            updated_at=now,
            **fields,
        )
        if pending:  # re-scores and members that arrived before the story itself
            item = item.model_copy(update={"scores": ItemScores.model_validate(pending.get("scores") or {})})
            members += [StoryMember.model_validate(m) for m in pending.get("members", [])]
        item = item.model_copy(
            update={
                "sources": merge_sources([], members, item.representative_article_id),
                "scores": merge_scores(item.scores, event),
            }
        )
        # published_at is when the news first appeared, not when this stage processed it.
        item = item.model_copy(update={"published_at": first_appearance(item.sources, first_seen)})
        return Merge(item=item, material=True, created=True)

    update: dict[str, Any] = {}
    if is_full(event) and event.article.article_id == existing.representative_article_id:
        update.update(content_fields(event))  # e.g. a reprocessed story with a new prompt version
    update["sources"] = merge_sources(existing.sources, members, existing.representative_article_id)
    update["scores"] = merge_scores(existing.scores, event)
    first_seen = min([existing.first_seen_at, *(m.joined_at for m in members)])
    update["first_seen_at"] = first_seen
    update["published_at"] = first_appearance(update["sources"], existing.published_at)
    candidate = existing.model_copy(update=update)
    material = _comparable(candidate) != _comparable(existing)
    if not material:
        if candidate.model_dump() == existing.model_dump():
            return Merge(item=existing, material=False, created=False)
        return Merge(item=candidate, material=False, created=False)
    return Merge(
        item=candidate.model_copy(update={"version": existing.version + 1, "updated_at": now}),
        material=True,
        created=False,
    )


def pending_with(pending: dict[str, Any] | None, event: StoryEvent) -> dict[str, Any]:
    """Remember a re-score that arrived before its story: members union and the newest scores."""
    pending = dict(pending or {})
    known = {m["article_id"]: m for m in pending.get("members", [])}
    for member in event.cluster.members:
        known.setdefault(member.article_id, member.model_dump(mode="json"))
    pending["members"] = list(known.values())
    scores = merge_scores(ItemScores.model_validate(pending.get("scores") or {}), event)
    pending["scores"] = scores.model_dump(mode="json")
    return pending
