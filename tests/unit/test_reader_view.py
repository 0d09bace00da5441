"""The reader's view, pure parts: true times (first appearance, last material change) through the
merge, which requests count as views, compact counts, readable score reasons, language notes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.publish.views import ViewGate, format_count, is_bot
from services.publish.web.render import language_provenance, missing_notes, texts, views_label
from services.publish.web.score_text import component_lines, reason_lines
from shared.core.item_times import first_appearance, last_news_update
from shared.core.items import merge_event
from shared.core.relative_time import published_updated_label
from shared.events import Bilingual, Cluster, ScoreDetail, StoryMember
from tests.unit.test_items_merge import T0, full_event, member, rescore

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def published(n: int, joined_h: float, published_h: float | None) -> StoryMember:
    """Member n, first seen joined_h hours after T0, published published_h hours after T0."""
    return member(n).model_copy(
        update={
            "joined_at": T0 + timedelta(hours=joined_h),
            "published_at": T0 + timedelta(hours=published_h) if published_h is not None else None,
        }
    )


# --- 1. true times ------------------------------------------------------------------------------


def test_an_item_appears_when_its_source_published_it_not_when_it_was_processed() -> None:
    old = published(1, 0, -72)  # published three days before the pipeline saw it
    event = full_event().next(cluster=Cluster(story_id="st", is_new=True, method="new", members=[old]))
    processed = T0 + timedelta(minutes=3)
    item = merge_event(None, None, event, processed).item  # type: ignore[union-attr]
    assert item.published_at == T0 - timedelta(hours=72)
    assert item.first_seen_at == T0
    # unchanged since it appeared: its last material change is its first appearance
    assert (
        last_news_update(item.version, item.published_at, item.updated_at, item.sources) == item.published_at
    )


def test_a_later_source_that_published_earlier_moves_the_first_appearance_back() -> None:
    item = merge_event(None, None, full_event(), T0).item  # type: ignore[union-attr]
    assert item.published_at == T0  # no publication time: first seen
    later = T0 + timedelta(hours=2)
    merge = merge_event(item, None, rescore([member(1), published(2, 2, -5)], 40.0, later), later)
    assert merge is not None and merge.item.published_at == T0 - timedelta(hours=5)
    assert merge.item.version == 2
    # The newest report is still member 1's (T0): the join at ``later`` brought an older report, so
    # the story was last updated as news at T0, not when it was processed (that was the old answer).
    assert (
        last_news_update(
            merge.item.version, merge.item.published_at, merge.item.updated_at, merge.item.sources
        )
        == T0
    )


def test_a_months_old_report_joining_today_does_not_make_an_old_story_fresh() -> None:
    # A first pass over old feeds: the April 17 report makes the item, the April 20 one joins 16
    # minutes later. The item changed 16 minutes ago; the news was last updated on April 20.
    april_17, april_20 = T0 - timedelta(days=225), T0 - timedelta(days=222)
    first = member(1).model_copy(update={"published_at": april_17})
    event = full_event().next(cluster=Cluster(story_id="st", is_new=True, method="new", members=[first]))
    item = merge_event(None, None, event, T0).item  # type: ignore[union-attr]
    second = member(2, minutes=16).model_copy(update={"published_at": april_20})
    joined = T0 + timedelta(minutes=16)
    merge = merge_event(item, None, rescore([first, second], 40.0, joined), joined)
    assert merge is not None and merge.item.version == 2 and merge.item.updated_at == joined
    updated = last_news_update(
        merge.item.version, merge.item.published_at, merge.item.updated_at, merge.item.sources
    )
    assert (merge.item.published_at, updated) == (april_17, april_20)
    now = joined + timedelta(minutes=1)
    assert (
        published_updated_label(merge.item.published_at, updated, now, "en")
        == "2026-04-17 · updated 2026-04-20"
    )


def test_a_change_no_report_brought_is_not_an_update() -> None:
    # A score that moved (or a translation that arrived) is a new version, not news.
    item = merge_event(None, None, full_event(), T0).item  # type: ignore[union-attr]
    later = T0 + timedelta(hours=3)
    merge = merge_event(item, None, rescore([member(1)], 80.0, later), later)
    assert merge is not None and merge.item.version == 2 and merge.item.change_reasons == ["scores_changed"]
    assert last_news_update(merge.item.version, T0, later, merge.item.sources) == T0
    # A new report does move it, to when it was published, never past the recorded change.
    fresh = published(2, 3, 2.5)
    assert last_news_update(2, T0, later, [member(1), fresh]) == T0 + timedelta(hours=2.5)
    assert last_news_update(2, T0, T0 + timedelta(hours=1), [member(1), fresh]) == T0 + timedelta(hours=1)
    assert last_news_update(1, T0, later, [member(1), fresh]) == T0  # first version: not changed


def test_a_publication_time_after_first_sighting_is_not_trusted() -> None:
    # a re-dated page, or a clock ahead: the story appeared when it was seen
    assert first_appearance([published(1, 0, 6)], T0) == T0
    assert first_appearance([published(1, 1, None), published(2, 3, 2)], T0) == T0 + timedelta(hours=1)
    assert first_appearance([], T0) == T0


# --- 2. views -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "agent",
    [
        None,
        "",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "curl/8.5.0",
        "python-httpx/0.28.1",
        "Feedly/1.0 (+http://www.feedly.com/fetcher.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0",
        "facebookexternalhit/1.1",
        "Slackbot-LinkExpanding 1.0",
        "WhatsApp/2.23.20.0",
    ],
)
def test_bots_feed_readers_and_tools_are_not_readers(agent: str | None) -> None:
    assert is_bot(agent)


@pytest.mark.parametrize("agent", [CHROME, IPHONE, "Mozilla/5.0 (Linux; Android 14; Cubot X30) Chrome/131.0"])
def test_browsers_are_readers(agent: str) -> None:
    assert not is_bot(agent)


def test_one_view_per_client_per_item_per_hour_and_nothing_personal_kept() -> None:
    clock = [1000.0]
    gate = ViewGate(monotonic=lambda: clock[0])
    assert gate.admit("203.0.113.7", CHROME, "story-a")
    assert not gate.admit("203.0.113.7", CHROME, "story-a")  # reload
    assert gate.admit("203.0.113.7", CHROME, "story-b")  # another item
    assert gate.admit("203.0.113.8", CHROME, "story-a")  # another client
    assert gate.admit("203.0.113.7", IPHONE, "story-a")  # another device behind the same address
    assert not gate.admit("203.0.113.9", "curl/8.5.0", "story-a")
    clock[0] += 3599
    assert not gate.admit("203.0.113.7", CHROME, "story-a")
    clock[0] += 2
    assert gate.admit("203.0.113.7", CHROME, "story-a")  # an hour later it counts again
    # what is remembered is keyed hashes, never the address or the User-Agent
    remembered = b"".join(gate._seen)
    assert b"203.0.113" not in remembered and b"Chrome" not in remembered
    assert len(gate) <= 4  # the expired entries were dropped


def test_the_gate_stays_bounded() -> None:
    gate = ViewGate(max_remembered=100)
    for n in range(1000):
        assert gate.admit(f"10.0.{n // 256}.{n % 256}", CHROME, "story-a")
    assert len(gate) == 100


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (7, "7"),
        (999, "999"),
        (1000, "1k"),
        (1234, "1.2k"),
        (9960, "10k"),
        (12_345, "12k"),
        (999_600, "1M"),
        (1_234_567, "1.2M"),
    ],
)
def test_counts_are_compact(count: int, text: str) -> None:
    assert format_count(count) == text


def test_views_label_in_both_languages() -> None:
    assert [t.text for t in views_label(1234, "both")] == ["1.2k views", "1.2k 次浏览"]
    assert [t.text for t in views_label(1, "en")] == ["1 view"]


# --- 3. readable reasons ------------------------------------------------------------------------

HOT_COMPONENTS = {
    "independent_sources": 4.0,
    "duplicates": 1.0,
    "coverage": 3.4,
    "coverage_points": 1.65,
    "engagement": 0.0,
    "engagement_points": 0.0,
    "age_h": 81.02,
    "decay": 0.42,
    "velocity": 0.8,
    "velocity_points": 0.3,
    "raw": 1.2,
}


def test_components_read_as_text_in_both_languages_not_as_key_value_pairs() -> None:
    lines = component_lines(HOT_COMPONENTS)
    english = [line.en for line in lines]
    chinese = [line.zh for line in lines]
    assert "4 independent sources" in english and "4 个独立来源" in chinese
    assert "1 copy of another report" in english and "1 篇转载" in chinese
    assert "3 days old when scored" in english and "评分时已发布 3 天" in chinese
    text = " ".join(english + chinese)
    assert "coverage_points" not in text and "age_h" not in text and "1.65" not in text


def test_stored_reason_sentences_are_shown_when_a_score_carries_them() -> None:
    class WithReasons:  # the shape the scoring stage stores (a list of bilingual sentences)
        components = HOT_COMPONENTS
        llm_rubric = None
        reasons = (Bilingual(en="4 independent sources in 6 hours", zh="6 小时内 4 个独立来源"),)

    lines, written = reason_lines(WithReasons())
    assert written and [(line.en, line.zh) for line in lines] == [
        ("4 independent sources in 6 hours", "6 小时内 4 个独立来源")
    ]
    lines, written = reason_lines(ScoreDetail(value=40, components=HOT_COMPONENTS, formula_version="h1"))
    assert not written and lines[0].en == "4 independent sources"


def test_unknown_components_are_humanised() -> None:
    lines = component_lines({"source_diversity": 0.5})
    assert [(line.en, line.zh) for line in lines] == [("source diversity: 0.50", "source diversity:0.50")]


# --- 7. language display ------------------------------------------------------------------------


def test_a_missing_language_gets_a_short_note_in_that_language() -> None:
    only_zh = Bilingual(zh="台积电CoWoS产能明年翻倍")
    assert [t.text for t in missing_notes(only_zh, "both")] == ["English version not available yet"]
    assert [t.text for t in missing_notes(only_zh, "en")] == ["English version not available yet"]
    assert missing_notes(only_zh, "zh") == []
    assert [t.text for t in missing_notes(Bilingual(en="TSMC"), "zh")] == ["暂无中文版本"]
    # the English view still shows the story, in Chinese, marked as such
    shown = texts(only_zh, "en")
    assert len(shown) == 1 and shown[0].lang == "zh" and shown[0].fallback


def test_provenance_says_who_wrote_each_language() -> None:
    item = merge_event(None, None, full_event(), T0).item  # type: ignore[union-attr]
    assert [t.text for t in language_provenance(item, "both")] == [
        "English: from Source 1",
        "中文:机器翻译",
    ]
    assert [t.text for t in language_provenance(item, "zh")] == ["中文:机器翻译"]


def test_per_language_provenance_is_used_when_the_item_carries_it() -> None:
    item = merge_event(None, None, full_event(), T0).item  # type: ignore[union-attr]

    class Origin:
        def __init__(self, origin: str, source_name: str | None = None) -> None:
            self.origin, self.source_name = origin, source_name

    class Origins:  # the shape of Item.languages (per-language provenance from the bilingual work)
        def get(self, language: str) -> Origin:
            return Origin("source", "36氪") if language == "zh" else Origin("model")

    class WithOrigins:
        def __init__(self) -> None:
            self.languages = Origins()

        def __getattr__(self, name: str) -> object:
            return getattr(item, name)

    assert [t.text for t in language_provenance(WithOrigins(), "both")] == [  # type: ignore[arg-type]
        "English: machine-translated",
        "中文:来自 36氪",
    ]
