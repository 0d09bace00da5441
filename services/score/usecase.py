"""The score stage's decisions: what to compute for an event, what to remember, what to publish.

Four triggers, one state document per story (collection SCORE_STATE, see ``ScoreState``):

- ``analyzed`` (the story's representative article came through translate and analyze): compute
  Hot, Quality and Impact; always publish (it is the story's first full scoring, or a reprocess).
- ``joined`` (another article joined the story): add it to the members and recompute (all three
  when the story's content is known, else Hot only). Publish when the member list grew or a score
  moved by ``min_change_points``. A new member must be published even when no score moves: the
  score stage is the only way a joined article reaches the item (publish reads news.scored only),
  and a new source is news for the item (publish announces it as news.updated). A join that adds
  nothing new (a redelivery, or an older join arriving after a newer one whose member list already
  held it) publishes only if the scores moved.
- ``decay`` (periodic, stories younger than ``rescore_window_h``): recompute with the members
  known and publish only when a score moved by ``min_change_points`` since the last publication.
  An ended story (merged into another one by a revision) is not re-scored.
- ``revised`` (news.story.revised: clustering revised the story's members, see
  shared.core.item_revisions): the members become the revision's, newest revision once (a repeat
  or an older one changes nothing). Nothing is published: publish applies the same revision to
  the item itself (its Hot recomputed from the revised members), so a scored event here would
  only announce the item a second time. The state's last published Hot becomes that recomputed
  one, so decay's "moved enough" compares with what the item shows. A later ``joined`` or
  ``analyzed`` event does not bring back a member the revision removed (the membership rule of
  ``RevisionState.is_member``, as publish's ``respect_revision`` applies it). A revision that
  arrives before any event of its story is stored as the story's state (rule and member rows),
  so the story's events are judged by it whatever order they arrive in.

Arrival order does not matter: any order of a story's analyzed / joined / revised events (and
redeliveries) ends in the same state (tests/unit/test_score_arrival_order.py), and the decay loop
records a decision before publishing it, so a revision stored first stops it (``decay_pass``).

The functions ``on_analyzed``, ``on_joined``, ``on_decay`` and ``on_revised`` are pure (state and ``now`` in,
new state and the event to publish out); ``ScoreUseCase`` adds the state repository, the clock
and optimistic concurrency around them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from shared import subjects
from shared.core.item_revisions import RevisionState, state_after, stored_datetime
from shared.core.scoring import (
    ContentFacts,
    LLMRubric,
    ScoringConfig,
    StoryFacts,
    content_facts_from_sections,
    default_config,
    hot_score,
    impact_score,
    looks_like_paywall_teaser,
    parse_user_counts,
    quality_score,
    rescore_needed,
    score_values,
)
from shared.core.scoring.facts import content_facts_from_doc, content_facts_to_doc
from shared.core.scoring.originality import TextView, lead_of, originality
from shared.events import (
    Article,
    Cluster,
    ScoreDetail,
    Scores,
    SectionStatus,
    StoryEvent,
    StoryMember,
    StoryRevised,
    new_id,
)
from shared.pipeline import Outgoing, msg_id

log = logging.getLogger("newsroom.score")

Clock = Callable[[], datetime]
Trigger = Literal["analyzed", "joined", "decay"]

# Event ids remembered per story, so a redelivered event repeats its decision (bounded).
RECENT_EVENTS = 64
# A phrase like "for subscribers" in a long article is a footer or a feature, not a teaser.
PAYWALL_TEASER_MAX_CHARS = 1500

NO_LLM_REASON = "no LLM rubric: Quality and Impact from measurable signals only"
HOT_ONLY_REASON = "Hot only: the story's analysis has not reached the score stage yet"


# --- state ------------------------------------------------------------------------------------


def _view_doc(view: TextView) -> dict[str, Any]:
    return {"language": view.language, "title": view.title, "lead": view.lead}


def _view_from(doc: Mapping[str, Any]) -> TextView:
    return TextView(language=doc["language"], title=doc["title"], lead=doc.get("lead"))


@dataclass(frozen=True)
class Representative:
    """The article whose text Quality and Impact read, in every language we have it in."""

    article_id: str
    published_or_seen_at: datetime
    views: Mapping[str, TextView]


@dataclass(frozen=True)
class ScoreState:
    """What a later re-score needs, stored per story (plain data in MongoDB).

    A state may exist before any event of its story: a revision that arrives first is kept (its
    rule and member rows) so that the story's first events are judged by it (``on_revised``)."""

    story_id: str
    members: tuple[StoryMember, ...]
    # The article and cluster of the story's newest member seen in an event (a decay event is
    # rebuilt from them); None while only a revision is known.
    last_article_json: str | None
    cluster_json: str | None  # the cluster's own fields; members come from ``members``
    content: ContentFacts | None = None  # None until the story's analyzed event arrived
    representative: Representative | None = None
    texts: Mapping[str, TextView] = field(default_factory=dict)  # article id -> text seen in an event
    last_values: Mapping[str, float] | None = None  # the scores last published
    recent_events: Mapping[str, str] = field(default_factory=dict)  # event id -> msg id ("" = none)
    # Why Quality and Impact have no LLM rubric (None when they have one), repeated on re-scores.
    llm_reason: str | None = NO_LLM_REASON
    # The last revision applied (publish's rule; its member rows are in ``members``), None = none.
    revised: RevisionState | None = None
    # A decay event recorded but maybe not yet published (msg id, event JSON): see decay_pass.
    unpublished_decay: tuple[str, str] | None = None
    version: int = 0  # 0 = not stored yet (optimistic concurrency)

    @property
    def revision(self) -> int:
        return self.revised.revision if self.revised is not None else 0

    @property
    def ended(self) -> bool:
        return self.revised is not None and self.revised.ended

    def is_member(self, member: StoryMember) -> bool:
        """Membership after the last revision (publish's rule: listed, or joined after it)."""
        return self.revised is None or self.revised.is_member(member.article_id, member.joined_at)

    @property
    def first_seen_at(self) -> datetime | None:
        return min((m.joined_at for m in self.members), default=None)

    def to_doc(self) -> dict[str, Any]:
        rep = self.representative
        rule = self.revised
        return {
            "_id": self.story_id,
            "version": self.version,
            "first_seen_at": self.first_seen_at,
            "members": [m.model_dump(mode="json") for m in self.members],
            "last_article": self.last_article_json,
            "cluster": self.cluster_json,
            "content": content_facts_to_doc(self.content) if self.content is not None else None,
            "representative": None
            if rep is None
            else {
                "article_id": rep.article_id,
                "published_or_seen_at": rep.published_or_seen_at,
                "views": [_view_doc(v) for v in rep.views.values()],
            },
            "texts": [{"article_id": k, **_view_doc(v)} for k, v in sorted(self.texts.items())],
            "last_values": dict(self.last_values) if self.last_values is not None else None,
            "recent_events": [[k, v] for k, v in self.recent_events.items()],
            "llm_reason": self.llm_reason,
            # The revision's fields flat, as earlier versions stored them.
            "revision": rule.revision if rule else 0,
            "revised_as_of": rule.as_of if rule else None,
            "revised_member_ids": list(rule.member_ids) if rule else [],
            "merged_into": rule.merged_into if rule else None,
            "revised_representative": rule.representative if rule else None,
            "unpublished_decay": list(self.unpublished_decay) if self.unpublished_decay else None,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ScoreState:
        rep = doc.get("representative")
        number = int(doc.get("revision") or 0)
        unpublished = doc.get("unpublished_decay")
        return cls(
            story_id=doc["_id"],
            version=int(doc.get("version", 0)),
            members=tuple(StoryMember.model_validate(m) for m in doc["members"]),
            last_article_json=doc["last_article"],
            cluster_json=doc["cluster"],
            content=content_facts_from_doc(doc["content"]) if doc.get("content") else None,
            representative=None
            if not rep
            else Representative(
                article_id=rep["article_id"],
                published_or_seen_at=rep["published_or_seen_at"],
                views={v["language"]: _view_from(v) for v in rep["views"]},
            ),
            texts={t["article_id"]: _view_from(t) for t in doc.get("texts", [])},
            last_values=doc.get("last_values"),
            recent_events={k: v for k, v in doc.get("recent_events", [])},
            llm_reason=doc.get("llm_reason", NO_LLM_REASON),
            revised=None
            if not number
            else RevisionState(
                story_id=doc["_id"],
                revision=number,
                as_of=stored_datetime(doc.get("revised_as_of")),
                member_ids=tuple(doc.get("revised_member_ids") or ()),
                merged_into=doc.get("merged_into"),
                representative=doc.get("revised_representative"),
            ),
            unpublished_decay=(unpublished[0], unpublished[1]) if unpublished else None,
        )


class StateRepository(Protocol):
    async def get(self, story_id: str) -> ScoreState | None: ...

    async def save(self, state: ScoreState, expected_version: int) -> bool:
        """Store ``state`` (its version already bumped) only if the stored version is still
        ``expected_version`` (0 = not stored yet). False: someone else wrote first."""
        ...

    async def young(self, since: datetime, limit: int) -> list[ScoreState]:
        """Stories first seen at or after ``since``, newest first, at most ``limit``."""
        ...


# --- pure helpers -----------------------------------------------------------------------------


def union_members(known: Sequence[StoryMember], new: Sequence[StoryMember]) -> tuple[StoryMember, ...]:
    by_id = {m.article_id: m for m in known}
    for member in new:
        by_id.setdefault(member.article_id, member)
    return tuple(sorted(by_id.values(), key=lambda m: (m.joined_at, m.article_id)))


def article_view(article: Article) -> TextView:
    lead = lead_of(article.summary, article.body)
    return TextView(language=article.language, title=article.title, lead=lead or None)


def representative_of(event: StoryEvent, members: Sequence[StoryMember]) -> Representative:
    """The analyzed article in its own language and in each language it was translated into."""
    article, translation = event.article, event.translation
    views: dict[str, TextView] = {article.language: article_view(article)}
    if translation is not None:
        for language in ("en", "zh"):
            title = translation.title.get(language)
            if language == article.language or not title:
                continue
            lead = lead_of(translation.summary.get(language), translation.body.get(language))
            views[language] = TextView(language=language, title=title, lead=lead or None)
    member = next((m for m in members if m.article_id == article.article_id), None)
    seen = article.published_at or (member.joined_at if member else article.fetched_at)
    return Representative(article.article_id, seen, views)


def story_originality(
    rep: Representative, members: Sequence[StoryMember], texts: Mapping[str, TextView]
) -> float:
    """Originality of the representative over the members published (or seen) before it."""
    earlier = [
        texts.get(m.article_id) or TextView(language=m.language, title=m.title, lead=None)
        for m in members
        if m.article_id != rep.article_id and (m.published_at or m.joined_at) < rep.published_or_seen_at
    ]
    return originality(rep.views, earlier)


def paywall_teaser(article: Article) -> bool:
    text = article.body or article.summary or ""
    return article.paywalled or (len(text) <= PAYWALL_TEASER_MAX_CHARS and looks_like_paywall_teaser(text))


def content_facts(
    event: StoryEvent,
    members: Sequence[StoryMember],
    originality_value: float,
    quality_rubric: LLMRubric | None = None,
    impact_rubric: LLMRubric | None = None,
) -> ContentFacts:
    article, analysis = event.article, event.analysis
    text = f"{article.title}\n{article.body or article.summary or ''}"
    stated = analysis.user_counts if analysis else []
    user_counts = sorted({*stated, *parse_user_counts(text)}, reverse=True)
    return content_facts_from_sections(
        article,
        analysis,
        event.translation,
        members,
        originality=originality_value,
        user_counts=user_counts,
        paywall_teaser=paywall_teaser(article),
        quality_rubric=quality_rubric,
        impact_rubric=impact_rubric,
    )


def current(state: ScoreState) -> ScoreState:
    """The state with the member-dependent facts of its content (originality, coverage languages)
    for its current members and texts: stored that way, so a state does not depend on the order
    in which its members arrived."""
    if state.content is None or state.representative is None:
        return state
    content = dataclasses.replace(
        state.content,
        originality=story_originality(state.representative, state.members, state.texts),
        coverage_languages=frozenset(m.language for m in state.members if m.language != "other"),
    )
    return dataclasses.replace(state, content=content)


def compute(state: ScoreState, now: datetime, config: ScoringConfig) -> dict[str, ScoreDetail | None]:
    """Hot always; Quality and Impact when the story's content is known. ``state`` is ``current``
    (its content follows its members)."""
    # Never score before the newest member's join time: a few ms of clock skew between the ingest
    # and score processes must not drop the member that caused this event.
    at = max(now, max(m.joined_at for m in state.members))
    hot = hot_score(StoryFacts.from_members(state.members), at, config)
    if state.content is None:
        return {"hot": hot, "quality": None, "impact": None}
    return {
        "hot": hot,
        "quality": quality_score(state.content, config),
        "impact": impact_score(state.content, config),
    }


def scores_section(
    details: Mapping[str, ScoreDetail | None], trigger: Trigger, now: datetime, llm_reason: str | None
) -> Scores:
    full = details.get("quality") is not None and details.get("impact") is not None
    return Scores(
        status=SectionStatus.OK if full else SectionStatus.PARTIAL,
        reason=(llm_reason if full else HOT_ONLY_REASON),
        hot=details.get("hot"),
        quality=details.get("quality"),
        impact=details.get("impact"),
        trigger=trigger,
        computed_at=now,
    )


def remember(recent: Mapping[str, str], event_id: str, out_id: str) -> dict[str, str]:
    kept = {k: v for k, v in recent.items() if k != event_id}
    kept[event_id] = out_id
    return dict(list(kept.items())[-RECENT_EVENTS:])


def decay_msg_id(state: ScoreState, values: Mapping[str, float]) -> str:
    """Deterministic per (story, member count, rounded values): with the same members Hot only
    falls with time, so the same rounded values never legitimately recur, and two loops (or two
    score processes) that reach the same values publish one event."""
    rounded = [f"{name}={round(values[name])}" for name in ("hot", "quality", "impact") if name in values]
    # After a revision the same count of other members may reach the same values again.
    revised = [f"r={state.revision}"] if state.revision else []
    return msg_id("score", "decay", state.story_id, f"n={len(state.members)}", *revised, *rounded)


# --- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    state: ScoreState  # the state to store (version bumped)
    outgoing: Outgoing | None  # the event to publish, if any
    why: str  # for logs and tests


def _emit(
    state: ScoreState,
    article: Article,
    cluster: Cluster,
    details: Mapping[str, ScoreDetail | None],
    trigger: Trigger,
    now: datetime,
    out_id: str,
    llm_reason: str | None,
    source: StoryEvent | None,
) -> Outgoing:
    scores = scores_section(details, trigger, now, llm_reason)
    cluster = cluster.model_copy(update={"members": list(state.members)})
    if source is not None:
        out = source.next(scores=scores, cluster=cluster)
    else:
        out = StoryEvent(
            story_id=state.story_id,
            article_id=article.article_id,
            article=article,
            cluster=cluster,
            scores=scores,
            event_id=new_id(),
            trace_id=new_id(),
        )
    return Outgoing(subjects.SCORED, out, out_id)


def _empty_state(story_id: str) -> ScoreState:
    return ScoreState(story_id=story_id, members=(), last_article_json=None, cluster_json=None)


def _carrier_id(state: ScoreState) -> str | None:
    """The article a decay event of the story is rebuilt from (see ``ScoreState``)."""
    if state.last_article_json is None:
        return None
    return str(json.loads(state.last_article_json)["article_id"])


def _takes_over_carrier(state: ScoreState, row: StoryMember) -> bool:
    """The newest member seen in an event carries decay events (by join time, then id), whatever
    the order its events arrive in; one that left the story gives way to any member."""
    carrier_id = _carrier_id(state)
    carrier = next((m for m in state.members if m.article_id == carrier_id), None)
    return carrier is None or (row.joined_at, row.article_id) >= (carrier.joined_at, carrier.article_id)


def _base_state(state: ScoreState | None, event: StoryEvent) -> ScoreState:
    base = state if state is not None else _empty_state(event.story_id)
    # An event decided before the last revision may still list a member that left since.
    listed = [m for m in event.cluster.members if base.is_member(m)]
    members = union_members(base.members, listed)
    if not members:  # a cluster always lists its article; be safe with hand-made events
        raise ValueError(f"story {event.story_id}: the event lists no member")
    row = next((m for m in members if m.article_id == event.article.article_id), None)
    if row is None:  # the event does not list its own article (callers drop one that left)
        return dataclasses.replace(base, members=members)
    texts = {**base.texts, row.article_id: article_view(event.article)}
    new = dataclasses.replace(base, members=members, texts=texts)
    if not _takes_over_carrier(new, row):  # a newer member carries decay events
        return new
    cluster_meta = event.cluster.model_copy(update={"members": []})
    return dataclasses.replace(
        new, last_article_json=event.article.model_dump_json(), cluster_json=cluster_meta.model_dump_json()
    )


def on_analyzed(
    state: ScoreState | None,
    event: StoryEvent,
    now: datetime,
    config: ScoringConfig,
    rubrics: tuple[LLMRubric | None, LLMRubric | None] = (None, None),
    llm_reason: str | None = NO_LLM_REASON,
) -> Decision:
    """The story's full event: all three scores, always published (unless a revision ended the
    story or moved the article out of it: then it is not the story's text)."""
    if state is not None and (state.ended or not _still_member(state, event)):
        return _noted(state, event, "analyzed: the story ended or its article left it: not scored")
    new = _base_state(state, event)
    rep = representative_of(event, new.members)
    content = content_facts(event, new.members, story_originality(rep, new.members, new.texts), *rubrics)
    new = dataclasses.replace(new, content=content, representative=rep, llm_reason=llm_reason)
    details = compute(new, now, config)
    out_id = msg_id("score", event.event_id)
    new = dataclasses.replace(
        new,
        last_values=score_values(details),
        version=new.version + 1,
        recent_events=remember(new.recent_events, event.event_id, out_id),
    )
    out = _emit(new, event.article, event.cluster, details, "analyzed", now, out_id, llm_reason, event)
    return Decision(new, out, "analyzed: always published")


def on_joined(
    state: ScoreState | None, event: StoryEvent, now: datetime, config: ScoringConfig, min_change: float
) -> Decision:
    """An article joined: publish when the member list grew or a score moved enough."""
    if state is not None and (state.ended or not _still_member(state, event)):
        # An article that left is judged in the story it went to; its event here (decided before
        # the revision) is neither scored nor published, nor its text kept.
        return _noted(state, event, "joined: the story ended or the article left it")
    repeated = state.recent_events.get(event.event_id) if state is not None else None
    known = {m.article_id for m in state.members} if state is not None else set()
    new = current(_base_state(state, event))
    details = compute(new, now, config)
    values = score_values(details)
    grew = any(m.article_id not in known for m in new.members)
    old = state.last_values if state is not None else None
    if old is not None and set(values) < set(old):  # Hot only: compare what was recomputed
        old = {k: v for k, v in old.items() if k in values}
    moved = rescore_needed(old, values, min_change)
    if repeated is not None:
        # A redelivery: repeat the first decision (its publication may have been lost in a crash;
        # the same msg id lets the stream drop it if it was not).
        publish, why = bool(repeated), "redelivered: repeating the earlier decision"
    else:
        publish = grew or moved
        why = (
            "joined: new member"
            if grew
            else "joined: scores moved"
            if moved
            else "joined: nothing new and no score moved enough"
        )
    if not publish:
        new = dataclasses.replace(
            new, version=new.version + 1, recent_events=remember(new.recent_events, event.event_id, "")
        )
        return Decision(new, None, why)
    out_id = repeated or msg_id("score", event.event_id)
    last = {**(state.last_values or {}), **values} if state is not None else values
    new = dataclasses.replace(
        new,
        last_values=last,
        version=new.version + 1,
        recent_events=remember(new.recent_events, event.event_id, out_id),
    )
    out = _emit(new, event.article, event.cluster, details, "joined", now, out_id, new.llm_reason, event)
    return Decision(new, out, why)


def on_decay(state: ScoreState, now: datetime, config: ScoringConfig, min_change: float) -> Decision:
    """Periodic re-score of a young story: publish only when a score moved by ``min_change``."""
    if state.ended:
        return Decision(state, None, "decay: the story ended")
    article_json, cluster_json = state.last_article_json, state.cluster_json
    if article_json is None or cluster_json is None or not state.members:
        return Decision(state, None, "decay: only a revision of the story is known yet")
    state = current(state)
    details = compute(state, now, config)
    values = score_values(details)
    old = state.last_values
    if old is not None and set(values) < set(old):
        old = {k: v for k, v in old.items() if k in values}
    if not rescore_needed(old, values, min_change):
        return Decision(state, None, "decay: no score moved enough")
    new = dataclasses.replace(
        state, last_values={**(state.last_values or {}), **values}, version=state.version + 1
    )
    article = Article.model_validate_json(article_json)
    cluster = Cluster.model_validate_json(cluster_json)
    out = _emit(new, article, cluster, details, "decay", now, decay_msg_id(new, values), new.llm_reason, None)
    return Decision(new, out, "decay: a score moved")


def _still_member(state: ScoreState, event: StoryEvent) -> bool:
    article_id = event.article.article_id
    row = next((m for m in event.cluster.members if m.article_id == article_id), None)
    return row is None or state.is_member(row)


def _noted(state: ScoreState, event: StoryEvent, why: str) -> Decision:
    """Nothing to score or publish; the event is remembered (a redelivery decides the same)."""
    new = dataclasses.replace(
        state, version=state.version + 1, recent_events=remember(state.recent_events, event.event_id, "")
    )
    return Decision(new, None, why)


def revised_members(state: ScoreState, revision: StoryRevised) -> tuple[StoryMember, ...]:
    """The revision's members (their rows from the event, else from the state), then the known
    members that joined after the revision was decided (their own events judge them)."""
    rows = {m.article_id: m for m in state.members}
    rows.update({m.article_id: m for m in revision.members})
    listed = [rows[a] for a in revision.member_ids if a in rows]
    named = set(revision.member_ids)
    later = [m for m in state.members if m.article_id not in named and m.joined_at > revision.as_of]
    return union_members(listed, later)


def _member_article(member: StoryMember, text: TextView | None) -> Article:
    """A member's article as far as the state knows it (its row, and the lead of its text)."""
    common = member.model_dump(include=set(Article.model_fields) & set(StoryMember.model_fields))
    summary = text.lead if text is not None else None
    return Article(**common, canonical_url=member.url, fetched_at=member.joined_at, summary=summary)


def on_revised(
    state: ScoreState | None, revision: StoryRevised, now: datetime, config: ScoringConfig
) -> Decision:
    """Clustering revised the story's members: follow the newest revision once; never publish.

    Why no scored event: publish folds the same revision into the item and recomputes its Hot
    from the revised members (shared.core.item_revisions.apply_revision); an event here would
    announce the item a second time for one change. The decision returns ``state`` itself (no
    write) for a revision that is not newer than the last one applied.

    A revision that arrives before any event of the story (a story created by a split is new to
    this stage) makes a state of its own: the rule and the revision's member rows, no scores; the
    story's events then find it. A decay event recorded before the revision and maybe not yet
    published is dropped from the state (the use case publishes it before storing this one)."""
    if state is not None and revision.revision <= state.revision:
        return Decision(state, None, "revised: not newer than the last revision applied")
    base = state if state is not None else _empty_state(revision.story_id)
    rule = dataclasses.replace(state_after(revision), members=())  # the rows live in ``members``
    new = dataclasses.replace(base, revised=rule, unpublished_decay=None, version=base.version + 1)
    if revision.ended:  # nothing left to score: out of the decay scan too (no first_seen_at)
        ended = dataclasses.replace(new, members=())
        return Decision(ended, None, f"revised: the story ended into {revision.merged_into}")
    members = revised_members(base, revision)
    kept = {m.article_id for m in members}
    texts = {article_id: text for article_id, text in base.texts.items() if article_id in kept}
    new = dataclasses.replace(new, members=members, texts=texts)
    carrier = _carrier_id(new)
    if members and carrier is not None and carrier not in {m.article_id for m in members}:
        # Decay events were rebuilt from an article that left: from the newest member now (the
        # member's own event, if it comes later, brings its whole article).
        newest = members[-1]
        article = _member_article(newest, new.texts.get(newest.article_id))
        new = dataclasses.replace(new, last_article_json=article.model_dump_json())
    last = dict(base.last_values or {})
    rep = base.representative
    if rep is not None and rep.article_id not in {m.article_id for m in members}:
        # The text Quality and Impact read left with its article (publish clears them on the item);
        # ingest reruns the new representative, whose analyzed event restores them.
        new = dataclasses.replace(new, content=None, representative=None)
        last = {k: v for k, v in last.items() if k not in ("quality", "impact")}
    new = current(new)
    if base.last_values is None or not members:
        # Nothing published by this stage yet (or no member row known): no item Hot to follow.
        return Decision(new, None, "revised: members follow (nothing published yet)")
    # The item's Hot after publish applied this revision (its Quality and Impact stay as they were).
    hot = compute(new, now, config)["hot"]
    if hot is not None:
        last["hot"] = hot.value
    return Decision(dataclasses.replace(new, last_values=last or None), None, "revised: members follow")


# --- the use case with storage and clock ------------------------------------------------------


class StateConflict(Exception):
    """The story's state kept changing under us (another event or process): retry the message."""


class RubricJudge(Protocol):
    """An optional LLM judge: the quality and impact rubrics of a story (one call per story)."""

    async def judge(self, event: StoryEvent) -> tuple[LLMRubric | None, LLMRubric | None, str | None]:
        """(quality rubric, impact rubric, reason when a rubric is missing)."""
        ...


Publish = Callable[[Outgoing], Awaitable[bool]]


@dataclass
class DecayReport:
    scanned: int = 0
    published: int = 0
    skipped_conflict: int = 0


@dataclass
class ScoreUseCase:
    repository: StateRepository
    min_change: float
    rescore_window_h: float
    now: Clock
    config: ScoringConfig = field(default_factory=default_config)
    judge: RubricJudge | None = None
    decay_limit: int = 5000
    attempts: int = 8

    async def analyzed(self, event: StoryEvent) -> list[Outgoing]:
        # The rubric call happens once, outside the retry loop: a state conflict must not repeat it.
        rubrics: tuple[LLMRubric | None, LLMRubric | None] = (None, None)
        reason: str | None = NO_LLM_REASON
        if self.judge is not None:
            quality, impact, reason = await self.judge.judge(event)
            rubrics = (quality, impact)
        # The analyzed event is almost always a story's first: try it as new without reading (an
        # insert that fails when a state exists: one round trip fewer per story), then read and
        # write with the version check as for any event.
        decision = on_analyzed(None, event, self.now(), self.config, rubrics, reason)
        if await self.repository.save(decision.state, 0):
            return [decision.outgoing] if decision.outgoing else []
        for _ in range(self.attempts):
            state = await self.repository.get(event.story_id)
            decision = on_analyzed(state, event, self.now(), self.config, rubrics, reason)
            if await self.repository.save(decision.state, state.version if state else 0):
                return [decision.outgoing] if decision.outgoing else []
        raise StateConflict(f"score state of {event.story_id} kept changing")

    async def joined(self, event: StoryEvent) -> list[Outgoing]:
        for _ in range(self.attempts):
            state = await self.repository.get(event.story_id)
            decision = on_joined(state, event, self.now(), self.config, self.min_change)
            if await self.repository.save(decision.state, state.version if state else 0):
                log.debug("joined", extra={"story_id": event.story_id, "why": decision.why})
                return [decision.outgoing] if decision.outgoing else []
        raise StateConflict(f"score state of {event.story_id} kept changing")

    async def revised(self, revision: StoryRevised, publish: Publish) -> list[Outgoing]:
        """Store the story's state after the revision (a new state when the stage has none for the
        story yet); nothing to publish for the revision itself (see ``on_revised``).

        A decay event recorded before the revision and maybe not yet out (``decay_pass`` records,
        then publishes) is published here first, under its msg id, before the revision is stored:
        once a revision is stored, no score from the members it removed goes out (the decay
        loop's own publish of it, if it comes later, is a duplicate the stream drops)."""
        for _ in range(self.attempts):
            state = await self.repository.get(revision.story_id)
            decision = on_revised(state, revision, self.now(), self.config)
            if decision.state is state:
                return []  # not newer than the last revision applied: no write
            if state is not None and state.unpublished_decay is not None:
                await publish(unpublished_decay(state.unpublished_decay))
            if await self.repository.save(decision.state, state.version if state else 0):
                log.debug("revised", extra={"story_id": revision.story_id, "why": decision.why})
                return []
        raise StateConflict(f"score state of {revision.story_id} kept changing")

    async def decay_pass(self, publish: Publish) -> DecayReport:
        """One pass over the young stories. Record, then publish, then clear the record: a decay
        decision is stored (with the event, ``unpublished_decay``) before it goes out, so a
        revision stored first makes the record fail (nothing published from the old members), and
        one stored after it finds the event and publishes it first (``revised``). A crash after
        the record leaves the event for the next pass, which publishes it under the same msg id."""
        now = self.now()
        report = DecayReport()
        since = now - timedelta(hours=self.rescore_window_h)
        for state in await self.repository.young(since, self.decay_limit):
            report.scanned += 1
            if state.unpublished_decay is not None:  # an earlier pass stopped after its record
                await publish(unpublished_decay(state.unpublished_decay))
                report.published += 1
                await self._forget_published(state)
                continue
            decision = on_decay(state, now, self.config, self.min_change)
            out = decision.outgoing
            if out is None:
                continue
            recorded = dataclasses.replace(
                decision.state, unpublished_decay=(out.msg_id, out.payload.model_dump_json())
            )
            if not await self.repository.save(recorded, state.version):
                # An event or a revision changed the story meanwhile: decided again next pass.
                report.skipped_conflict += 1
                continue
            await publish(out)
            report.published += 1
            await self._forget_published(recorded)
        return report

    async def _forget_published(self, recorded: ScoreState) -> None:
        """Clear the decay record once its event is out, on ``recorded`` or, when the story's state
        changed since, on the fresh state if that still holds the same record (a revision
        published and dropped it already)."""
        assert recorded.unpublished_decay is not None
        sent = recorded.unpublished_decay[0]
        state: ScoreState | None = recorded
        for _ in range(self.attempts):
            if state is None or state.unpublished_decay is None or state.unpublished_decay[0] != sent:
                return
            if await self.repository.save(_decay_sent(state), state.version):
                return
            state = await self.repository.get(recorded.story_id)
        # Left for the next pass, which publishes it again under the same msg id (a duplicate).
        log.warning("decay record not cleared", extra={"story_id": recorded.story_id})


def unpublished_decay(record: tuple[str, str]) -> Outgoing:
    msg, payload = record
    return Outgoing(subjects.SCORED, StoryEvent.model_validate_json(payload), msg)


def _decay_sent(state: ScoreState) -> ScoreState:
    return dataclasses.replace(state, unpublished_decay=None, version=state.version + 1)
