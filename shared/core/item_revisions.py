"""Revised stories in the published item (pure: the caller passes ``now`` and stores the result).

A ``news.story.revised`` event says which articles a story has after clustering revised an
earlier decision (shared.events.StoryRevised). Publish folds it into the item here, and keeps a
small ``RevisionState`` per story so that every later pipeline event of the story respects it.

The rules:

- **Newest wins, once.** A revision is applied only when its number is above the last one applied
  to the story; a repeat or an older revision changes nothing.
- **The member list is authoritative as of the revision** (``as_of``: ingest's clock at the
  arrival that caused it). After revision *n*, an article that joined the story at or before
  ``as_of`` is a member exactly when revision *n* lists it. A later event (a re-score, the join of
  an article that has since moved, a decay re-score from a score state that still holds it) that
  lists such an article does not bring it back: ``respect_revision`` drops it. An article that
  joined after ``as_of`` is judged by its own events (and by the next revision).
- **An ended story** (all its members moved to ``merged_into``) becomes ``status = merged``: hidden
  from lists, search and feeds, its address points to the story that took its members.
- **Text follows the members.** A language shown from a member that left is chosen again from the
  remaining members (the bilingual rule of shared.core.bilingual); when none covers it, the
  language is missing with reason ``source_left``. When the representative itself left (the
  article whose text was translated, analysed and scored), nothing derived from its text stays:
  the title becomes the new representative's own title, summary, body, commentary, entities,
  key phrases and amounts are cleared with a reason, Quality and Impact are dropped; ingest sent
  the new representative through the pipeline again (``rerun``), and its full event restores
  them. Tags are kept meanwhile (the topic of the story, which the members share, decides where
  the item is listed).
- **In any order.** That full event may reach publish before the revision (separate consumers,
  redeliveries): it is then a member's, not the representative's, and its content is not shown.
  Publish keeps it (``keeps_content``) and the revision that names the article representative
  folds it in at once (``apply_revision(held=...)``), exactly as if it had arrived after the
  revision: the same item in either order.
- **Hot follows the members**: recomputed from the revised member list (and from the filtered
  list when a later event still counted a member that left), as of the item's last score
  computation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.core.bilingual import LANGUAGES, candidate_from_member, missing
from shared.core.item_times import first_appearance
from shared.core.items import (
    Merge,
    change_reasons,
    is_full,
    material_view,
    merge_event,
    source_ref,
    with_source_text,
)
from shared.core.scoring import ScoringConfig, StoryFacts, default_config, hot_score
from shared.core.translation import Glossary
from shared.events import (
    Bilingual,
    LanguageOrigins,
    LanguageText,
    ScoreDetail,
    SectionStatus,
    StoryEvent,
    StoryMember,
    StoryRevised,
    Translation,
)
from shared.items import Item, SectionState, SourceRef

REP_LEFT_REASON = (
    "the story was revised: the article its text came from moved to another story; "
    "the text of its new representative article is being produced"
)


def stored_datetime(value: Any) -> datetime | None:
    """A datetime as read back from the store, with its zone: the store may return it naive (UTC)
    or, for a top-level ``$set`` on nx-27017, as an ISO string."""
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RevisionState:
    """The last revision applied to a story (stored by publish beside the item)."""

    story_id: str
    revision: int = 0
    as_of: datetime | None = None
    member_ids: tuple[str, ...] = ()
    merged_into: str | None = None
    representative: str | None = None
    # Member rows of the last revision (for the item created after it, when the story had none).
    members: tuple[StoryMember, ...] = field(default=())

    @property
    def ended(self) -> bool:
        return self.revision > 0 and not self.member_ids

    def is_member(self, article_id: str, joined_at: datetime) -> bool:
        """Membership after the revision: listed, or joined after it (its own events decide)."""
        if self.revision == 0 or self.as_of is None:
            return True
        return article_id in self.member_ids or joined_at > self.as_of

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.story_id,
            "revision": self.revision,
            "as_of": self.as_of,
            "member_ids": list(self.member_ids),
            "merged_into": self.merged_into,
            "representative": self.representative,
            "members": [m.model_dump(mode="json") for m in self.members],
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> RevisionState:
        return cls(
            story_id=str(doc["_id"]),
            revision=int(doc.get("revision", 0)),
            as_of=stored_datetime(doc.get("as_of")),
            member_ids=tuple(doc.get("member_ids") or ()),
            merged_into=doc.get("merged_into"),
            representative=doc.get("representative"),
            members=tuple(StoryMember.model_validate(m) for m in doc.get("members") or ()),
        )


def is_newer(state: RevisionState | None, revision: StoryRevised) -> bool:
    return state is None or revision.revision > state.revision


def state_after(revision: StoryRevised) -> RevisionState:
    return RevisionState(
        story_id=revision.story_id,
        revision=revision.revision,
        as_of=revision.as_of,
        member_ids=tuple(revision.member_ids),
        merged_into=revision.merged_into,
        representative=revision.representative,
        members=tuple(revision.members),
    )


def _member_of(ref: SourceRef) -> StoryMember:
    """A source known only from the item (no weight or engagement there: the defaults)."""
    return StoryMember(
        article_id=ref.article_id,
        source_id=ref.source_id,
        source_name=ref.source_name,
        url=ref.url,
        title=ref.title,
        language=ref.language,
        published_at=ref.published_at,
        joined_at=ref.joined_at,
        near_duplicate_of=ref.near_duplicate_of,
    )


def revised_members(item: Item, revision: StoryRevised) -> list[StoryMember]:
    """The story's members after the revision: the listed ones (their rows from the event, else
    from the item), then the item's sources that joined after the revision was decided."""
    rows = {m.article_id: m for m in revision.members}
    known = {ref.article_id: ref for ref in item.sources}
    out: list[StoryMember] = []
    for article_id in revision.member_ids:
        if article_id in rows:
            out.append(rows[article_id])
        elif article_id in known:
            out.append(_member_of(known[article_id]))
    listed = set(revision.member_ids)
    out += [
        _member_of(ref)
        for ref in item.sources
        if ref.article_id not in listed and ref.joined_at > revision.as_of
    ]
    return out


def hot_of(
    members: Iterable[StoryMember], at: datetime, config: ScoringConfig | None = None
) -> ScoreDetail | None:
    """Hot of these members at ``at`` (never before the newest join, as the score stage does)."""
    listed = list(members)
    if not listed:
        return None
    when = max(at, max(m.joined_at for m in listed))
    return hot_score(StoryFacts.from_members(listed), when, config or default_config())


def _ordered(sources: list[SourceRef], representative: str) -> list[SourceRef]:
    return sorted(sources, key=lambda ref: (ref.article_id != representative, ref.joined_at, ref.article_id))


def _without_departed_text(item: Item, representative: SourceRef, member_ids: set[str]) -> Item:
    """The item once its representative left: only the new representative's own title remains
    of the primary text; everything derived from the old one's text is cleared, with a reason.
    Another language shown from a member that stays keeps that member's own title and summary
    (its join brought them; the revision's member rows carry no summary to choose them again)."""
    language = representative.language
    titles: dict[str, str | None] = {"en": None, "zh": None}
    summaries: dict[str, str | None] = {"en": None, "zh": None}
    texts: dict[str, LanguageText | None] = {"en": None, "zh": None}
    for other in LANGUAGES:
        shown = item.languages.get(other)
        if other == language or other == item.origin_language or shown is None:
            continue
        if shown.origin == "source" and shown.article_id in member_ids and item.title.get(other):
            titles[other], texts[other] = item.title.get(other), shown
            summaries[other] = item.summary.get(other) if shown.summary_origin == "source" else None
    if language in LANGUAGES:
        titles[language] = representative.title
        texts[language] = LanguageText(
            origin="source",
            article_id=representative.article_id,
            source_id=representative.source_id,
            source_name=representative.source_name,
            url=representative.url,
            published_at=representative.published_at,
        )
    for other in LANGUAGES:
        if texts[other] is None:
            texts[other] = missing("pending", other)
    pending = SectionState(status=SectionStatus.UNAVAILABLE, reason=REP_LEFT_REASON)
    return item.model_copy(
        update={
            "origin_language": language,
            "representative_article_id": representative.article_id,
            "title": Bilingual(**titles),
            "summary": Bilingual(**summaries),
            "summary_provenance": None,
            "body": Bilingual(),
            "analysis": Bilingual(),
            "analysis_provenance": None,
            "analysis_reason": REP_LEFT_REASON,
            "entities": [],
            "keyphrases": [],
            "amounts": [],
            "translation": pending,
            "analysis_state": pending,
            "languages": LanguageOrigins(**texts),
            "scores": item.scores.model_copy(update={"quality": None, "impact": None}),
        }
    )


def _without_departed_languages(item: Item, member_ids: set[str]) -> Item:
    """A non-primary language shown from a member that left is chosen again (see module doc)."""
    titles = {"en": item.title.en, "zh": item.title.zh}
    summaries = {"en": item.summary.en, "zh": item.summary.zh}
    texts = {"en": item.languages.en, "zh": item.languages.zh}
    changed = False
    for language in LANGUAGES:
        text = texts[language]
        if language == item.origin_language or text is None or text.origin != "source":
            continue
        if text.article_id is None or text.article_id in member_ids:
            continue
        titles[language], summaries[language] = None, None
        texts[language] = missing("source_left", language).model_copy(
            update={"rejected": [r for r in text.rejected if r.article_id in member_ids]}
        )
        changed = True
    if not changed:
        return item
    return item.model_copy(
        update={
            "title": Bilingual(**titles),
            "summary": Bilingual(**summaries),
            "languages": LanguageOrigins(**texts),
        }
    )


def keeps_content(item: Item | None, event: StoryEvent) -> bool:
    """A full event (as its story's revision allows) of a member that is not the representative of
    the story's item: publish keeps it for a revision that makes that member the representative."""
    return item is not None and is_full(event) and event.article.article_id != item.representative_article_id


def newer_content(kept: StoryEvent | None, event: StoryEvent) -> bool:
    """Whether ``event`` replaces the member's kept full event (the newest computation wins; a
    redelivery of the kept one changes nothing)."""
    return kept is None or _content_order(event) > _content_order(kept)


def _content_order(event: StoryEvent) -> tuple[datetime, str]:
    computed = event.scores.computed_at if event.scores is not None else datetime.min.replace(tzinfo=UTC)
    return computed, event.event_id  # the id only breaks a tie, the same way in every order


def _representative_after(item: Item, members: list[StoryMember], revision: StoryRevised) -> str:
    member_ids = {m.article_id for m in members}
    representative = item.representative_article_id
    if representative not in member_ids or (revision.rerun and revision.representative):
        new_rep = revision.representative if revision.representative in member_ids else None
        return new_rep or (members[0].article_id if members else representative)
    return representative


def representative_after(item: Item, revision: StoryRevised) -> str | None:
    """The item's representative once ``revision`` is applied (None: the story ended)."""
    if revision.ended:
        return None
    return _representative_after(item, revised_members(item, revision), revision)


def shows_revision(item: Item, revision: StoryRevised) -> bool:
    """Whether ``item`` already has what ``revision`` decides (members, representative, status):
    a repeat of the revision applied last then changes nothing, not even Hot, which later events
    of the story may have moved since."""
    if revision.ended:
        return item.status == "merged" and item.merged_into == revision.merged_into
    members = revised_members(item, revision)
    return (
        item.status == "published"
        and {s.article_id for s in item.sources} == {m.article_id for m in members}
        and item.representative_article_id == _representative_after(item, members, revision)
    )


def apply_revision(
    item: Item,
    revision: StoryRevised,
    now: datetime,
    glossary: Glossary | None = None,
    held: StoryEvent | None = None,
) -> Merge:
    """The item after ``revision`` (the caller checked it is newer than the last one applied).
    ``held``: the kept full event of the article the revision makes representative (it arrived
    before the revision), folded in as if it had arrived after it."""
    if revision.ended:
        if item.status == "merged" and item.merged_into == revision.merged_into:
            return Merge(item=item, material=False, created=False)
        merged = item.model_copy(
            update={
                "status": "merged",
                "merged_into": revision.merged_into,
                "sources": [],
                "version": item.version + 1,
                "updated_at": now,
                "change_reasons": ["merged"],
            }
        )
        return Merge(item=merged, material=True, created=False, reasons=("merged",))
    members = revised_members(item, revision)
    member_ids = {m.article_id for m in members}
    sources = [source_ref(m) for m in members]
    candidate = item
    representative = item.representative_article_id
    new_rep = _representative_after(item, members, revision)
    if new_rep != representative:
        rep_ref = next(s for s in sources if s.article_id == new_rep)
        candidate = _without_departed_text(candidate, rep_ref, member_ids)
        representative = new_rep
    candidate = _without_departed_languages(candidate, member_ids)
    # As of the item's last score computation, not the clock: the same Hot in every arrival order
    # (a later event of these members brings the same value; the score stage's re-scores age it).
    hot = hot_of(members, item.scores.computed_at or revision.as_of)
    # The story's times follow its members too (as for an item first made after the revision).
    first_seen = min((m.joined_at for m in members), default=item.first_seen_at)
    candidate = candidate.model_copy(
        update={
            "first_seen_at": first_seen,
            "published_at": first_appearance(sources, first_seen),
            "sources": _ordered(sources, representative),
            "scores": candidate.scores.model_copy(update={"hot": hot or candidate.scores.hot}),
            "status": "published",
            "merged_into": None,
        }
    )
    candidate = with_source_text(
        candidate,
        [candidate_from_member(m) for m in members if m.language in LANGUAGES],
        glossary or Glossary([]),
    )
    if held is not None and representative != item.representative_article_id:
        candidate = _with_held_content(candidate, held, state_after(revision), now, glossary)
    if material_view(candidate) == material_view(item):
        return Merge(item=candidate, material=False, created=False)
    reasons = tuple(dict.fromkeys(["story_revised", *change_reasons(item, candidate)]))
    reasons = tuple(r for r in reasons if r != "content_changed")
    return Merge(
        item=candidate.model_copy(
            update={"version": item.version + 1, "updated_at": now, "change_reasons": list(reasons)}
        ),
        material=True,
        created=False,
        reasons=reasons,
    )


def _with_held_content(
    item: Item, held: StoryEvent, state: RevisionState, now: datetime, glossary: Glossary | None
) -> Item:
    """The revised item with the new representative's kept full event folded in (the same fold
    as that event's own arrival after the revision: services/publish/app.fold)."""
    event = respect_revision(held, state)
    if event is None or not is_full(event) or event.article.article_id != item.representative_article_id:
        return item
    merge = merge_event(item, None, event, now, glossary)
    return merge.item if merge is not None else item


def respect_revision(
    event: StoryEvent, state: RevisionState | None, config: ScoringConfig | None = None
) -> StoryEvent | None:
    """A pipeline event of a revised story, as the last revision allows: None for a story that
    ended (nothing to fold); members that left are dropped, the revision's members are listed
    (and Hot recomputed for that member list); a full event of an article that left the story
    loses its content (it must not become the story's text)."""
    if state is None or state.revision == 0:
        return event
    if state.ended:
        return None
    kept = [m for m in event.cluster.members if state.is_member(m.article_id, m.joined_at)]
    # The revision's own rows too: a story's first full event may list fewer members than the
    # revision that reached publish before it (a new story that took members from others).
    listed = {m.article_id for m in kept}
    kept += [m for m in state.members if m.article_id not in listed]
    update: dict[str, Any] = {}
    if [m.article_id for m in kept] != [m.article_id for m in event.cluster.members]:
        update["cluster"] = event.cluster.model_copy(update={"members": kept})
        scores = event.scores
        if scores is not None and scores.hot is not None and kept:
            update["scores"] = scores.model_copy(update={"hot": hot_of(kept, scores.computed_at, config)})
    article_id = event.article.article_id
    row = next((m for m in event.cluster.members if m.article_id == article_id), None)
    joined = row.joined_at if row is not None else event.article.fetched_at
    if is_full(event) and not state.is_member(article_id, joined):
        update["translation"] = None
        update["analysis"] = None
    elif event.translation is not None:
        # The translate stage may have taken a language from a member that has left since (it
        # reads ingest's member list, which a revision rewrites a moment later): not this
        # story's text; the item picks that language again from the members.
        translation = _without_departed_sources(event.translation, {m.article_id for m in kept})
        if translation is not event.translation:
            update["translation"] = translation
    return event.model_copy(update=update) if update else event


def respect_pending(pending: Mapping[str, Any] | None, state: RevisionState | None) -> dict[str, Any] | None:
    """What publish remembered of a story before its item existed (shared.core.items.pending_with),
    as the last revision allows: members that left, and their text, are dropped (they were
    remembered from events that arrived before the revision)."""
    if pending is None or state is None or state.revision == 0:
        return dict(pending) if pending is not None else None
    rows = [StoryMember.model_validate(m) for m in pending.get("members", [])]
    left = {m.article_id for m in rows if not state.is_member(m.article_id, m.joined_at)}
    if not left:
        return dict(pending)
    return {
        **pending,
        "members": [m for m in pending.get("members", []) if m["article_id"] not in left],
        "candidates": [c for c in pending.get("candidates", []) if c["article_id"] not in left],
    }


def _without_departed_sources(translation: Translation, member_ids: set[str]) -> Translation:
    titles = {"en": translation.title.en, "zh": translation.title.zh}
    summaries = {"en": translation.summary.en, "zh": translation.summary.zh}
    texts = {"en": translation.languages.en, "zh": translation.languages.zh}
    changed = False
    for language in LANGUAGES:
        text = texts[language]
        if text is None or text.origin != "source" or text.article_id in (None, *member_ids):
            continue
        if language == translation.source_language:
            continue
        titles[language], summaries[language], texts[language] = None, None, None
        changed = True
    if not changed:
        return translation
    return translation.model_copy(
        update={
            "title": Bilingual(**titles),
            "summary": Bilingual(**summaries),
            "languages": LanguageOrigins(**texts),
        }
    )
