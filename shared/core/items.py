"""Merging stage events into the published item (pure: the caller passes ``now`` and stores the
result). Order-independent and idempotent: sources are a union keyed by article id, scores keep
the newest computation, content comes from the story's full pipeline event.

Languages (issue 14): the primary language is the representative article's own text; every other
language comes from the best member written in it (shared.core.bilingual: ranking rule and
pairing guard), whichever event brings that member's text (its join, or members remembered while
the story's full event was pending), before any machine translation. ``Item.languages`` says,
per language, source / model / none; ``Item.change_reasons`` says why a version changed
(``language_added`` exactly when a language goes from absent to present)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.core.bilingual import (
    LANGUAGES,
    Candidate,
    candidate_from_article,
    candidate_from_member,
    candidate_from_provenance,
    choose,
    missing,
)
from shared.core.item_times import first_appearance
from shared.core.translation import Glossary
from shared.events import (
    Analysis,
    Bilingual,
    LanguageOrigins,
    LanguageText,
    PairingCheck,
    Provenance,
    SectionStatus,
    StoryEvent,
    StoryMember,
    Translation,
)
from shared.items import Item, ItemScores, SectionState, SourceRef


@dataclass(frozen=True)
class Merge:
    item: Item
    material: bool  # something a reader would notice changed (new source, scores, text)
    created: bool
    reasons: tuple[str, ...] = ()  # why a material update changed the item (CHANGE_REASONS)


def is_full(event: StoryEvent) -> bool:
    """A story's pipeline event (it went through translate and analyze), not a re-score."""
    return event.translation is not None and event.analysis is not None


def source_ref(member: StoryMember) -> SourceRef:
    """The item's source entry for a cluster member."""
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
        by_id.setdefault(member.article_id, source_ref(member))
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
        "languages": translation_languages(event.article.language, translation, analysis, article.summary),
    }


def _summary_origin(provenance: Provenance | None) -> str:
    if provenance is None:
        return "none"
    return {"llm": "model", "local": "local", "source": "source"}[provenance.tier]


def translation_languages(
    origin: str, translation: Translation, analysis: Analysis, source_summary: str | None
) -> LanguageOrigins:
    """Per-language provenance from the translate section (derived for events that predate it)
    with the summary's origin from the analyze section."""
    given = translation.languages
    out: dict[str, LanguageText | None] = {"en": given.en, "zh": given.zh}
    for language in LANGUAGES:
        text = out[language]
        if text is None:
            if language == origin:
                text = LanguageText(origin="source")
            elif translation.title.get(language):
                tier = translation.provenance.tier if translation.provenance else "llm"
                text = LanguageText(
                    origin="source" if tier == "source" else "model",
                    model=translation.provenance.model if translation.provenance else None,
                    prompt_version=translation.provenance.prompt_version if translation.provenance else None,
                )
            elif origin not in LANGUAGES:
                text = missing("language_not_handled", language)
            else:
                failed = translation.provenance is not None and translation.provenance.tier == "llm"
                text = missing("model_failed" if failed else "no_model", language)
        if analysis.summary.get(language):
            summary_origin = _summary_origin(analysis.summary_provenance)
            if language != origin and summary_origin == "local":
                summary_origin = "model"  # the local tier only extracts; the other side is translated
        elif language == origin and source_summary:
            summary_origin = "source"
        else:
            summary_origin = "none"
        out[language] = text.model_copy(update={"summary_origin": summary_origin})
    return LanguageOrigins(**out)


def candidates_of(event: StoryEvent) -> list[Candidate]:
    """What an event tells about members' own text: its article's text, and the titles of the
    members it lists."""
    found = [candidate_from_member(m) for m in event.cluster.members if m.language in LANGUAGES]
    if event.article.language in LANGUAGES:
        found.append(candidate_from_article(event.article))
    return found


def _merge_rejected(*groups: list[PairingCheck] | tuple[PairingCheck, ...]) -> list[PairingCheck]:
    by_article: dict[str, PairingCheck] = {}
    for group in groups:
        for check in group:
            by_article.setdefault(check.article_id, check)
    return sorted(by_article.values(), key=lambda c: c.article_id)


def with_source_text(item: Item, candidates: list[Candidate], glossary: Glossary) -> Item:
    """Each non-primary language from its best member (see shared.core.bilingual); a language no
    member covers keeps the model's translation or says it is missing."""
    primary = item.origin_language
    primary_title = item.title.get(primary) or ""
    if not primary_title:
        return item
    titles = {"en": item.title.en, "zh": item.title.zh}
    summaries = {"en": item.summary.en, "zh": item.summary.zh}
    texts: dict[str, LanguageText | None] = {"en": item.languages.en, "zh": item.languages.zh}
    for language in LANGUAGES:
        if language == primary:
            continue
        current = texts[language]
        pool = list(candidates)
        if current is not None and current.origin == "source" and current.article_id and titles[language]:
            pool.append(
                candidate_from_provenance(current, language, titles[language] or "", summaries[language])
            )
        choice = choose(primary_title, primary, pool, glossary, language)
        rejected = _merge_rejected(current.rejected if current else [], choice.rejected)
        chosen = choice.candidate
        if chosen is None:
            if current is None:
                current = (
                    missing("pending", language) if not titles[language] else LanguageText(origin="model")
                )
            texts[language] = current.model_copy(update={"rejected": rejected})
            continue
        text = chosen.provenance(choice.pairing)
        titles[language] = chosen.title
        if chosen.summary:
            summaries[language] = chosen.summary
        else:
            kept = current.summary_origin if current is not None and summaries[language] else "none"
            text = text.model_copy(update={"summary_origin": kept})
        texts[language] = text.model_copy(update={"rejected": rejected})
    update: dict[str, Any] = {
        "title": Bilingual(**titles),
        "summary": Bilingual(**summaries),
        "languages": LanguageOrigins(**texts),
    }
    others = [texts[language] for language in LANGUAGES if language != primary]
    if others and all(t is not None and t.origin == "source" for t in others):
        # No machine translation is shown: the translation section says so (a page shows it).
        names = ", ".join(
            f"{lang}: {t.source_name}" for lang in LANGUAGES if (t := texts[lang]) and lang != primary
        )
        update["translation"] = item.translation.model_copy(
            update={
                "status": SectionStatus.OK,
                "reason": f"no machine translation: the story's own sources wrote it ({names})",
                "provenance": Provenance(tier="source"),
            }
        )
    return item.model_copy(update=update)


def change_reasons(old: Item, new: Item) -> list[str]:
    """Why ``new`` differs from ``old`` (codes of shared.items.CHANGE_REASONS)."""
    reasons: list[str] = []
    for language in LANGUAGES:
        before, after = old.languages.get(language), new.languages.get(language)
        if not old.title.get(language) and new.title.get(language):
            reasons.append("language_added")
        elif (
            before is not None and before.origin == "model" and after is not None and after.origin == "source"
        ):
            reasons.append("source_text_replaced_translation")
    if {s.article_id for s in new.sources} - {s.article_id for s in old.sources}:
        reasons.append("source_added")
    old_c, new_c = material_view(old), material_view(new)
    if old_c["scores"] != new_c["scores"]:
        reasons.append("scores_changed")
    rest = {k for k in new_c if k not in ("scores", "sources") and old_c.get(k) != new_c.get(k)}
    if rest and not reasons:
        reasons.append("content_changed")
    return list(dict.fromkeys(reasons))


def _without_hot(comparable: dict[str, Any]) -> dict[str, Any]:
    return {**comparable, "scores": {k: v for k, v in comparable["scores"].items() if k != "hot"}}


def material_view(item: Item) -> dict[str, Any]:
    """What a reader would notice of ``item``: equal views mean no material change."""
    data = item.model_dump(
        mode="json", exclude={"version", "updated_at", "published_at", "views", "change_reasons"}
    )
    for key in ("hot", "quality", "impact"):
        score = data["scores"].get(key)
        if score:  # a re-score that moves nothing visible is not news
            data["scores"][key] = round(score["value"])
    data["scores"].pop("computed_at", None)
    return data


def merge_event(
    existing: Item | None,
    pending: dict[str, Any] | None,
    event: StoryEvent,
    now: datetime,
    glossary: Glossary | None = None,
) -> Merge | None:
    """Fold one event into the story's item. Returns None when the event cannot make an item yet
    (a re-score of a story whose full event has not arrived: the caller keeps it as pending).
    ``glossary`` feeds the pairing guard of source titles (an empty one: names and numbers only)."""
    if existing is None and not is_full(event):
        return None
    glossary = glossary or Glossary([])
    members = list(event.cluster.members)
    candidates = candidates_of(event)
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
            candidates += [Candidate(**_candidate_fields(c)) for c in pending.get("candidates", [])]
            candidates += [candidate_from_member(m) for m in members if m.language in LANGUAGES]
        item = item.model_copy(
            update={
                "sources": merge_sources([], members, item.representative_article_id),
                "scores": merge_scores(item.scores, event),
            }
        )
        # published_at is when the news first appeared, not when this stage processed it.
        item = item.model_copy(update={"published_at": first_appearance(item.sources, first_seen)})
        item = with_source_text(item, candidates, glossary)
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
    if "languages" in update:  # the full event's text replaced the item's: re-apply the sources
        candidates += _shown_sources(existing)
    candidate = with_source_text(candidate, candidates, glossary)
    material = material_view(candidate) != material_view(existing)
    if material and event.scores is not None and event.scores.trigger == "decay":
        # Hot sinking with age is not news: stored (lists sort by it), never announced as an
        # update, and "updated" keeps meaning the last material change.
        material = _without_hot(material_view(candidate)) != _without_hot(material_view(existing))
    if not material:
        if candidate.model_dump() == existing.model_dump():
            return Merge(item=existing, material=False, created=False)
        return Merge(item=candidate, material=False, created=False)
    reasons = tuple(change_reasons(existing, candidate))
    return Merge(
        item=candidate.model_copy(
            update={"version": existing.version + 1, "updated_at": now, "change_reasons": list(reasons)}
        ),
        material=True,
        created=False,
        reasons=reasons,
    )


def _shown_sources(item: Item) -> list[Candidate]:
    out = []
    for language in LANGUAGES:
        text = item.languages.get(language)
        title = item.title.get(language)
        if (
            text is not None
            and text.origin == "source"
            and text.article_id
            and title
            and language != item.origin_language
        ):
            out.append(candidate_from_provenance(text, language, title, item.summary.get(language)))
    return out


def _candidate_fields(raw: dict[str, Any]) -> dict[str, Any]:
    fields = dict(raw)
    when = fields.get("published_at")
    if isinstance(when, str):
        fields["published_at"] = datetime.fromisoformat(when)
    return fields


def pending_with(pending: dict[str, Any] | None, event: StoryEvent) -> dict[str, Any]:
    """Remember a re-score that arrived before its story: members union and the newest scores."""
    pending = dict(pending or {})
    known = {m["article_id"]: m for m in pending.get("members", [])}
    for member in event.cluster.members:
        known.setdefault(member.article_id, member.model_dump(mode="json"))
    pending["members"] = list(known.values())
    if event.article.language in LANGUAGES:  # its text, for the story's other languages
        candidate = candidate_from_article(event.article)
        kept = [c for c in pending.get("candidates", []) if c["article_id"] != candidate.article_id]
        fields = dataclasses.asdict(candidate)
        fields["published_at"] = candidate.published_at.isoformat() if candidate.published_at else None
        pending["candidates"] = [*kept, fields]
    scores = merge_scores(ItemScores.model_validate(pending.get("scores") or {}), event)
    pending["scores"] = scores.model_dump(mode="json")
    return pending
