"""A rerun revision and the new representative's full event reach publish in either order
(separate consumers, redeliveries, scale-out): the item ends the same in every order, and a
redelivery changes nothing (shared/core/item_revisions.py: ``keeps_content``,
``apply_revision(held=...)``).

``Publish`` below is publish's per-story state (item, pending, revision state, kept member
content) folded in the order services/publish/app.fold and services/publish/revisions.apply
read and write it, with the same pure functions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.core.item_revisions import (
    RevisionState,
    apply_revision,
    hot_of,
    keeps_content,
    newer_content,
    representative_after,
    respect_pending,
    respect_revision,
    shows_revision,
    state_after,
)
from shared.core.items import merge_event, pending_with
from shared.core.translation import Glossary
from shared.events import (
    Analysis,
    Article,
    Bilingual,
    Cluster,
    Entity,
    ScoreDetail,
    Scores,
    SectionStatus,
    StoryEvent,
    StoryMember,
    StoryRevised,
    Tag,
    Translation,
)
from shared.items import Item

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=30)
GLOSSARY = Glossary([])


def member(article_id: str, language: str, minutes: int, title: str) -> StoryMember:
    return StoryMember(
        article_id=article_id,
        source_id=f"src-{article_id}",
        source_name=f"Source {article_id}",
        url=f"https://{article_id}.example.com/news",
        title=title,
        language=language,  # type: ignore[arg-type]
        published_at=T0 + timedelta(minutes=minutes - 1),
        joined_at=T0 + timedelta(minutes=minutes),
    )


# a1 was the story's first article (its representative); a2 and a3 joined; a1 then moved to
# another story, and the rerun made a2 the representative.
A1 = member("a1", "en", 0, "Nvidia and TSMC sign a long-term CoWoS packaging deal")
A2 = member("a2", "en", 1, "TSMC to double CoWoS advanced packaging output in 2027")
A3 = member("a3", "zh", 2, "台积电2027年将CoWoS先进封装产能翻倍")


def scored(
    row: StoryMember,
    members: list[StoryMember],
    minutes: int,
    *,
    full: bool,
    quality: float = 70.0,
    zh_title: str = "",
) -> StoryEvent:
    article = Article(
        article_id=row.article_id,
        source_id=row.source_id,
        source_name=row.source_name,
        url=row.url,
        canonical_url=row.url,
        title=row.title,
        summary=f"{row.title}.",
        body=f"{row.title}. " * 20,
        language=row.language,
        published_at=row.published_at,
        fetched_at=row.joined_at,
    )
    return StoryEvent(
        story_id="st",
        article_id=row.article_id,
        article=article,
        cluster=Cluster(story_id="st", is_new=full, method="new" if full else "embedding", members=members),
        translation=Translation(status=SectionStatus.OK, source_language="en", title=Bilingual(zh=zh_title))
        if full
        else None,
        analysis=Analysis(
            status=SectionStatus.OK,
            summary=Bilingual(en=f"About: {row.title}.", zh=zh_title),
            commentary=Bilingual(en=f"Why it matters: {row.title}."),
            tags=[Tag(id="chips", en="Chips", zh="芯片", source="local")],
            entities=[Entity(id="tsmc", en="TSMC", zh="台积电", kind="company", source="local")],
        )
        if full
        else None,
        scores=Scores(
            status=SectionStatus.OK,
            hot=hot_of(members, T0 + timedelta(minutes=minutes)),  # as the score stage computes it
            quality=ScoreDetail(value=quality, formula_version="q-test"),
            impact=ScoreDetail(value=quality - 10, formula_version="i-test"),
            trigger="analyzed" if full else "joined",
            computed_at=T0 + timedelta(minutes=minutes),
        ),
    )


CREATED = scored(A1, [A1], 5, full=True, zh_title="英伟达与台积电签署长期封装协议")
JOINED_A2 = scored(A2, [A1, A2], 6, full=False)
JOINED_A3 = scored(A3, [A1, A2, A3], 7, full=False)
RERUN_REVISION = StoryRevised(
    story_id="st",
    revision=1,
    as_of=T0 + timedelta(minutes=10),
    kind="moved",
    member_ids=["a2", "a3"],
    members=[A2, A3],
    removed=["a1"],
    representative="a2",
    rerun=True,
    caused_by="a1",
)
# The rerun: a2 through translate and analyze again, with ingest's member list after the revision.
RERUN_FULL = scored(A2, [A2, A3], 15, full=True, quality=55.0, zh_title="台积电明年CoWoS产能翻倍")
SEQUENCE: list[StoryEvent | StoryRevised] = [CREATED, JOINED_A2, JOINED_A3, RERUN_REVISION, RERUN_FULL]


@dataclass
class Publish:
    item: Item | None = None
    pending: dict[str, Any] | None = None
    state: RevisionState | None = None
    held: dict[str, StoryEvent] = field(default_factory=dict)

    def deliver(self, message: StoryEvent | StoryRevised) -> None:
        if isinstance(message, StoryRevised):
            self.revised(message)
        else:
            self.scored(message)

    def scored(self, received: StoryEvent) -> None:  # services/publish/app.fold
        event = respect_revision(received, self.state)
        if event is None:
            return
        if keeps_content(self.item, event):
            article_id = event.article.article_id
            if newer_content(self.held.get(article_id), received):
                self.held[article_id] = received
        pending = respect_pending(self.pending, self.state) if self.item is None else None
        merge = merge_event(self.item, pending, event, NOW, GLOSSARY)
        if merge is None:
            self.pending = pending_with(pending, event)
            return
        self.item = merge.item

    def revised(self, revision: StoryRevised) -> None:  # services/publish/revisions.apply
        if self.state is not None and revision.revision < self.state.revision:
            return
        repeat = self.state is not None and revision.revision == self.state.revision
        if not repeat:
            self.state = state_after(revision)
        if self.item is None or (repeat and shows_revision(self.item, revision)):
            return
        new_rep = representative_after(self.item, revision)
        held = None
        if new_rep is not None and new_rep != self.item.representative_article_id:
            held = self.held.get(new_rep)
        merge = apply_revision(self.item, revision, NOW, GLOSSARY, held=held)
        if merge.material:
            self.item = merge.item


def delivered(messages: list[StoryEvent | StoryRevised]) -> Publish:
    publish = Publish()
    for message in messages:
        publish.deliver(message)
    return publish


def reader_view(item: Item | None) -> dict[str, Any]:
    """What a reader sees of the story: its text, sources, representative, times and scores (not
    the version and time of the write, which count the writes)."""
    assert item is not None
    return item.model_dump(mode="json", exclude={"version", "updated_at", "change_reasons", "views"})


ORDERS = list(itertools.permutations(SEQUENCE))


def test_the_sequence_in_its_usual_order_ends_with_the_new_representatives_text() -> None:
    item = delivered(SEQUENCE).item
    assert item is not None
    assert item.representative_article_id == "a2"
    assert item.title.en == A2.title
    assert item.body.en is not None and item.body.en.startswith(A2.title)
    assert [s.article_id for s in item.sources] == ["a2", "a3"]
    assert item.scores.quality is not None and item.scores.quality.value == 55.0


def test_the_new_representatives_text_is_shown_when_it_came_before_its_revision() -> None:
    publish = delivered([CREATED, JOINED_A2, JOINED_A3, RERUN_FULL, RERUN_REVISION])
    assert publish.item is not None
    assert publish.item.body.en is not None and publish.item.body.en.startswith(A2.title)
    assert reader_view(publish.item) == reader_view(delivered(SEQUENCE).item)


@pytest.mark.parametrize("order", range(len(ORDERS)))
def test_every_arrival_order_ends_in_the_same_item(order: int) -> None:
    messages = list(ORDERS[order])
    expected = reader_view(delivered(SEQUENCE).item)
    publish = delivered(messages)
    assert reader_view(publish.item) == expected
    # Every message again (a redelivery of the lot, last first): nothing changes, no new version.
    assert publish.item is not None
    version = publish.item.version
    for message in reversed(messages):
        publish.deliver(message)
    assert reader_view(publish.item) == expected
    assert publish.item.version == version


def test_the_newest_full_event_of_a_member_is_kept_whatever_the_order() -> None:
    older = scored(A2, [A2, A3], 12, full=True, quality=40.0, zh_title="旧")
    assert newer_content(None, older)
    assert newer_content(older, RERUN_FULL) and not newer_content(RERUN_FULL, older)
    assert not newer_content(RERUN_FULL, RERUN_FULL)  # a redelivery changes nothing
    both = [RERUN_FULL, older]
    orders: list[list[StoryEvent | StoryRevised]] = [
        [CREATED, *both, RERUN_REVISION],
        [CREATED, *reversed(both), RERUN_REVISION],
    ]
    for messages in orders:
        item = delivered(messages).item
        assert item is not None and item.scores.quality is not None
        assert item.scores.quality.value == 55.0


def test_only_a_members_full_event_is_kept() -> None:
    item = delivered([CREATED]).item
    assert not keeps_content(None, RERUN_FULL)  # no item yet: it makes the item
    assert not keeps_content(item, CREATED)  # the representative's own
    assert not keeps_content(item, JOINED_A2)  # a re-score carries no content
    assert keeps_content(item, RERUN_FULL)


def test_a_repeated_revision_leaves_a_later_events_scores_alone() -> None:
    publish = delivered(SEQUENCE)
    assert publish.item is not None
    later = RERUN_FULL.model_copy(
        update={
            "event_id": "later-rescore",
            "scores": RERUN_FULL.scores.model_copy(  # type: ignore[union-attr]
                update={
                    "hot": ScoreDetail(value=12.0, formula_version="hot-test"),
                    "computed_at": T0 + timedelta(minutes=20),
                }
            ),
        }
    )
    publish.deliver(later)
    version = publish.item.version
    assert publish.item.scores.hot is not None and publish.item.scores.hot.value == 12.0
    publish.deliver(RERUN_REVISION)  # redelivered: already shown, so nothing is recomputed
    assert publish.item.version == version
    assert publish.item.scores.hot.value == 12.0
