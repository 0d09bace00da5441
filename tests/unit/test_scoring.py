"""Example tests of the scoring core: Hot, Quality, Impact, re-score decisions, config, calibration."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from shared.core.scoring import (
    ContentFacts,
    EngagementFacts,
    LLMRubric,
    MemberFacts,
    ScoringConfigError,
    StoryFacts,
    content_facts_from_sections,
    count_quotes,
    hot_score,
    impact_score,
    looks_like_paywall_teaser,
    parse_config,
    parse_user_counts,
    quality_score,
    rescore_needed,
    score_all,
    score_values,
    story_facts_from_members,
)
from shared.core.scoring.config import default_config
from shared.core.scoring.text import data_points, sentence_stats, structure_units
from shared.events import Amount, Analysis, Article, Entity, SectionStatus, StoryMember, Tag, Translation

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "shared" / "data"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def member(i: int, source: str, hours_ago: float, weight: float = 1.0, **kw: Any) -> MemberFacts:
    return MemberFacts(
        article_id=f"a{i}",
        source_id=source,
        joined_at=NOW - timedelta(hours=hours_ago),
        source_weight=weight,
        **kw,
    )


def story(*members: MemberFacts) -> StoryFacts:
    return StoryFacts(members=members)


def wide_story(sources: int, hours_ago: float) -> StoryFacts:
    return story(*(member(i, f"s{i}", hours_ago - i * 0.1) for i in range(sources)))


# --- Hot -----------------------------------------------------------------------------------------


def test_hot_grows_with_independent_coverage() -> None:
    one, five, twelve = (hot_score(wide_story(n, 3.0), NOW).value for n in (1, 5, 12))
    assert one < five < twelve
    assert one < 30 and twelve > 60


def test_hot_decays_to_near_zero_after_days() -> None:
    fresh = hot_score(wide_story(10, 2.0), NOW)
    stale = hot_score(wide_story(10, 80.0), NOW)
    assert fresh.value > 60 and stale.value < 10
    assert stale.components["decay"] < 0.1 and stale.components["age_h"] == pytest.approx(80.0)


def test_wire_copies_count_once() -> None:
    copies = story(
        member(0, "reuters", 3, 1.5),
        *(member(i, f"site{i}", 2.5, 1.0, near_duplicate_of="a0") for i in range(1, 9)),
    )
    independent = story(member(0, "reuters", 3, 1.5), *(member(i, f"site{i}", 2.5) for i in range(1, 9)))
    detail = hot_score(copies, NOW)
    assert detail.components["independent_sources"] == 1 and detail.components["duplicates"] == 8
    assert detail.components["coverage"] == pytest.approx(1.5 + 0.5)  # duplicate credit capped
    assert detail.components["velocity"] == 0
    assert hot_score(independent, NOW).value > 2 * detail.value


def test_same_source_twice_is_not_two_sources() -> None:
    twice = hot_score(story(member(0, "36kr", 2), member(1, "36kr", 1)), NOW)
    assert twice.components["independent_sources"] == 1 and twice.components["duplicates"] == 1


def test_a_single_article_has_no_velocity_and_joins_bring_it() -> None:
    alone = hot_score(story(member(0, "a", 1)), NOW)
    assert alone.components["velocity"] == 0
    burst = hot_score(story(member(0, "a", 1), member(1, "b", 0.5), member(2, "c", 0.2)), NOW)
    assert burst.components["velocity"] > 1.5 and burst.value > alone.value


def test_late_coverage_revives_an_old_story() -> None:
    quiet = story(member(0, "a", 30), member(1, "b", 29))
    revived = quiet.with_member(member(2, "c", 0.5)).with_member(member(3, "d", 0.2))
    assert hot_score(revived, NOW).value > hot_score(quiet, NOW).value + 10


def test_engagement_raises_hot() -> None:
    plain = story(member(0, "blog", 2), member(1, "hn", 1.5))
    ranked = story(
        member(0, "blog", 2), member(1, "hn", 1.5, engagement=EngagementFacts(rank=1, comments=1500))
    )
    assert hot_score(ranked, NOW).value > hot_score(plain, NOW).value
    assert hot_score(ranked, NOW).components["engagement"] == pytest.approx(1.0)


def test_backfilled_article_is_old_on_arrival() -> None:
    backfilled = story(member(0, "a", 0.1, published_at=NOW - timedelta(days=3)))
    assert hot_score(backfilled, NOW).components["age_h"] == pytest.approx(72.0)
    # A later member's old publication date does not age the story.
    joined = story(member(0, "a", 2), member(1, "b", 1, published_at=NOW - timedelta(days=3)))
    assert hot_score(joined, NOW).components["age_h"] == pytest.approx(2.0)


def test_hot_ignores_members_that_join_after_now() -> None:
    s = story(member(0, "a", 5), member(1, "b", -2))  # b joins two hours after NOW
    assert hot_score(s, NOW).components["independent_sources"] == 1
    with pytest.raises(ValueError, match="no member"):
        hot_score(story(member(0, "a", -1)), NOW)
    with pytest.raises(ValueError, match="timezone"):
        hot_score(s, NOW.replace(tzinfo=None))


def test_story_facts_from_cluster_members() -> None:
    members = [
        StoryMember(
            article_id="x1",
            source_id="reuters",
            source_name="Reuters",
            source_weight=1.5,
            url="https://example.org/1",
            title="t",
            language="en",
            joined_at=NOW - timedelta(hours=1),
        ),
        StoryMember(
            article_id="x2",
            source_id="36kr",
            source_name="36Kr",
            url="https://example.org/2",
            title="t",
            language="zh",
            joined_at=NOW,
            near_duplicate_of=None,
        ),
    ]
    facts = story_facts_from_members(members)
    assert [m.source_weight for m in facts.members] == [1.5, 1.0]
    assert facts.languages == {"en", "zh"}
    with pytest.raises(ValueError):
        StoryFacts(members=())


# --- Quality -------------------------------------------------------------------------------------

REPORTED = (
    "Nvidia reported revenue of $68.1 billion for its fiscal third quarter, up 49% from a year earlier, "
    "with its data-center segment contributing $60.3 billion. Analysts had expected $66.4 billion.\n\n"
    'Gross margin was 73.6%. "Demand for compute keeps outrunning supply," chief executive Jensen '
    "Huang told analysts on a call. Shares rose 4% in extended trading."
)
HYPE = (
    "NexaFlow today announced a revolutionary, game-changing AI platform that empowers businesses to "
    "unlock unprecedented productivity with cutting-edge, best-in-class technology. Request a demo today."
)


def content(body: str = REPORTED, **kw: Any) -> ContentFacts:
    return ContentFacts(title=kw.pop("title", "Title"), body=body, language=kw.pop("language", "en"), **kw)


def test_reporting_beats_marketing() -> None:
    reported = quality_score(content(REPORTED, source_reputation=1.5, originality=0.8))
    hype = quality_score(content(HYPE, source_reputation=0.4, originality=0.1))
    # quality-2: a 58-word brief is a short brief (mid), no longer near the top as with quality-1,
    # which saturated on every real full-text article (the old bound was > 70).
    assert reported.value > 45 and hype.value < 20 and reported.value > hype.value + 30
    assert hype.components["marketing_hits"] >= 5 and reported.components["marketing_hits"] == 0
    assert reported.components["quotes"] == 1 and reported.components["data_points"] >= 5


def test_quality_penalties() -> None:
    base = quality_score(content()).value
    flagged = quality_score(content(translation_qa_flags=("number_mismatch", "name_mismatch")))
    assert flagged.components["penalty_translation_qa"] == pytest.approx(0.24)
    assert flagged.value < base - 10
    assert quality_score(content(paywall_teaser=True)).value < base - 10


def test_chinese_quality_uses_character_measures() -> None:
    body = (
        "工业和信息化部印发指南,提出到2027年制修订30项以上人形机器人国家标准和行业标准,覆盖基础共性、关键部件、整机安全和应用场景四个方面。\n\n"
        "有关负责人表示,“标准先行有助于避免行业各说各话,让企业少走弯路。”"
    )
    detail = quality_score(content(body, language="zh"))
    assert detail.components["readability"] > 0.5
    assert (
        detail.components["quotes"] == 1 and detail.components["data_points"] == 1
    )  # 30项; 2027年 is a date
    hype = quality_score(content("重磅!颠覆!性能炸裂,全面碾压,史诗级突破,赶紧收藏转发!", language="zh"))
    assert hype.value < detail.value and hype.components["marketing_hits"] >= 5


def test_llm_rubric_is_blended_with_its_weight() -> None:
    local = quality_score(content())
    best = quality_score(
        content(quality_rubric=LLMRubric({"depth": 5, "relevance": 5, "writing": 5, "practicality": 5}))
    )
    worst = quality_score(content(quality_rubric=LLMRubric({"depth": 0, "writing": 0}, scale="0-100")))
    weight = default_config().quality.llm_weight
    assert best.components["final"] == pytest.approx(
        (1 - weight) * local.components["local"] + weight, abs=1e-3
    )
    assert worst.value < local.value < best.value
    assert best.llm_rubric == {"depth": 5, "relevance": 5, "writing": 5, "practicality": 5}
    with pytest.raises(ValueError, match="unknown quality rubric"):
        content(quality_rubric=LLMRubric({"depth": 3, "vibes": 4}))
    with pytest.raises(ValueError, match="outside"):
        LLMRubric({"depth": 7})


def test_paywall_teaser_detection() -> None:
    assert looks_like_paywall_teaser("OpenAI is in talks. Subscribe to read the full story.")
    assert looks_like_paywall_teaser("全文内容为会员专享,开通会员即可阅读。")
    assert not looks_like_paywall_teaser(REPORTED)


# --- Impact --------------------------------------------------------------------------------------


def test_regulation_by_a_major_regulator_outweighs_a_minor_feature() -> None:
    rule = impact_score(
        content(
            tags=("regulation-policy", "chips"),
            entity_ids=("us-department-of-commerce", "nvidia", "huawei"),
            amounts_usd=(9e9,),
            coverage_languages=frozenset({"en", "zh"}),
        )
    )
    feature = impact_score(content(tags=("product-launch",), entity_ids=("some-startup",)))
    assert rule.value > 80 and feature.value < 20
    assert rule.components["regions"] == 2 and rule.components["scope"] == pytest.approx(0.75)


def test_impact_entities_come_from_the_gazetteer() -> None:
    gazetteer = yaml.safe_load((DATA / "entities.yaml").read_text(encoding="utf-8"))
    weights = {e["id"]: e["impact_weight"] for e in gazetteer["entities"] if "impact_weight" in e}
    cfg = default_config()
    for entity_id, weight in weights.items():
        assert cfg.entity_weight(entity_id) == weight
    assert cfg.entity_weight("never-heard-of-it") == cfg.impact.unknown_entity_weight
    big = impact_score(content(tags=("funding-ma",), entity_ids=("openai",)))
    small = impact_score(content(tags=("funding-ma",), entity_ids=("never-heard-of-it",)))
    assert big.value > small.value + 20


def test_user_numbers_and_money_add_magnitude() -> None:
    none = impact_score(content(tags=("product-launch",), entity_ids=("xiaomi",)))
    users = impact_score(
        content(tags=("product-launch",), entity_ids=("xiaomi",), user_counts=(300_000_000,))
    )
    money = impact_score(content(tags=("product-launch",), entity_ids=("xiaomi",), amounts_usd=(5e9,)))
    assert none.components["magnitude"] == 0
    assert users.value > none.value and money.value > none.value


def test_impact_rubric_blend() -> None:
    local = impact_score(content(tags=("research",)))
    judged = impact_score(content(tags=("research",), impact_rubric=LLMRubric({"significance": 5})))
    assert (
        judged.value > local.value and judged.components["llm_weight"] == default_config().impact.llm_weight
    )


# --- text signals --------------------------------------------------------------------------------


def test_text_signals() -> None:
    assert parse_user_counts("ChatGPT now has more than 900 million weekly users") == [900_000_000]
    assert parse_user_counts("上线三天注册用户突破500万,月活超过1亿") == [100_000_000, 5_000_000]
    assert parse_user_counts("约30万辆车") == []
    # Years, dates and model names are not data points; amounts and percentages are.
    assert data_points("GPT-6 and H20 in 2026: revenue $68.1 billion, up 49%; 2027年3月1日起, 降幅80%") == 3
    assert count_quotes('He said "this is the first model we trust" and “豆包”', "en") == 1
    assert structure_units("one\n\ntwo\n- a\n- b") == 3
    stats = sentence_stats("Short one. Another short sentence here.", "en")
    assert stats is not None and stats.sentences == 2 and stats.mean_sentence_len == 3.0


# --- re-scoring, score_all ------------------------------------------------------------------------


def test_rescore_needed() -> None:
    old = {"hot": 60.0, "quality": 50.0, "impact": 70.0}
    assert rescore_needed(None, old, 3.0)
    assert not rescore_needed(old, {"hot": 62.9, "quality": 50.0, "impact": 70.0}, 3.0)
    assert rescore_needed(old, {"hot": 63.0, "quality": 50.0, "impact": 70.0}, 3.0)
    assert rescore_needed(old, {"hot": 60.0, "quality": 50.0}, 3.0)  # a score disappeared
    with pytest.raises(ValueError):
        rescore_needed(old, old, -1)


def test_a_story_gaining_sources_then_decaying() -> None:
    """Re-scores publish on real moves only: up as three sources join, then down as it ages."""
    start = NOW - timedelta(hours=10)
    facts = StoryFacts(members=(MemberFacts("a0", "reuters", start, 1.5),))
    text = content()
    published: list[float] = []
    last: dict[str, float] | None = None
    timeline = [
        (start, None),
        (start + timedelta(hours=1), "ft"),
        (start + timedelta(hours=2), "36kr"),
        (start + timedelta(hours=3), "wsj"),
        *((start + timedelta(hours=h), None) for h in (6, 12, 24, 48)),
    ]
    for i, (moment, source) in enumerate(timeline):
        if source is not None:
            facts = facts.with_member(MemberFacts(f"a{i}", source, moment, 1.2))
        values = score_values(score_all(facts, text, moment))
        if rescore_needed(last, values, 3.0):
            published.append(values["hot"])
            last = values
    rises, falls = published[:4], published[4:]
    assert rises == sorted(rises) and len(set(rises)) == 4
    assert falls == sorted(falls, reverse=True) and falls[-1] < rises[0]


def test_content_facts_from_event_sections() -> None:
    article = Article(
        article_id="x",
        source_id="reuters",
        source_name="Reuters",
        source_weight=1.5,
        url="https://example.org/a",
        canonical_url="https://example.org/a",
        title="T",
        body=REPORTED,
        language="en",
        fetched_at=NOW,
    )
    analysis = Analysis(
        status=SectionStatus.OK,
        tags=[Tag(id="earnings-markets", en="Earnings", zh="财报", source="local")],
        entities=[
            Entity(id="nvidia", en="Nvidia", kind="company", source="local"),
            Entity(id="nvidia", en="Nvidia", kind="company", source="llm"),
        ],
        amounts=[
            Amount(text="$68.1 billion", value=68.1e9, currency="USD", usd=68.1e9),
            Amount(text="100亿卢比", value=1e10, currency="INR"),
        ],
    )
    translation = Translation(
        status=SectionStatus.PARTIAL, source_language="en", qa_flags=["number_mismatch"]
    )
    members = [
        StoryMember(
            article_id="x",
            source_id="reuters",
            source_name="Reuters",
            url="u",
            title="T",
            language="en",
            joined_at=NOW,
        )
    ]
    facts = content_facts_from_sections(article, analysis, translation, members, originality=0.7)
    assert facts.entity_ids == ("nvidia",) and facts.amounts_usd == (68.1e9,)
    assert facts.translation_qa_flags == ("number_mismatch",) and facts.source_reputation == 1.5
    assert facts.coverage_languages == {"en"}


# --- configuration -------------------------------------------------------------------------------


def test_config_covers_the_taxonomy_and_is_versioned() -> None:
    cfg = default_config()
    taxonomy = yaml.safe_load((DATA / "taxonomy.yaml").read_text(encoding="utf-8"))
    assert {t["id"] for t in taxonomy["tags"]} == set(cfg.event_type_weights)
    assert all(re.fullmatch(rf"{name}-\d+", v) for name, v in cfg.formula_versions.items())
    detail = score_all(wide_story(3, 1), content(), NOW)
    assert {d.formula_version for d in detail.values()} == set(cfg.formula_versions.values())


def test_config_errors_are_explicit() -> None:
    text = (DATA / "scoring.yaml").read_text(encoding="utf-8")
    with pytest.raises(ScoringConfigError, match="unknown"):
        parse_config(text.replace("  half_life_h:", "  half_life_hours:"))
    with pytest.raises(ScoringConfigError, match="sum to 1"):
        parse_config(text.replace("    substance: 0.55", "    substance: 0.6"))
    overridden = parse_config(
        text.replace("entity_overrides: {}", "entity_overrides: {openai: 0.2}"),
        (DATA / "entities.yaml").read_text(encoding="utf-8"),
    )
    assert overridden.entity_weight("openai") == 0.2


# --- calibration ---------------------------------------------------------------------------------


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scores", REPO / "bench" / "scores.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_set_is_well_formed_and_scores_agree_with_it() -> None:
    bench = _bench()
    records = bench.load_calibration()
    assert len(records) >= 40 and len({r["id"] for r in records}) == len(records)
    taxonomy = {t["id"] for t in yaml.safe_load((DATA / "taxonomy.yaml").read_text(encoding="utf-8"))["tags"]}
    for r in records:
        assert set(r["bands"]) == {"hot", "quality", "impact"}
        assert set(r["bands"].values()) <= {"low", "mid", "high"}
        assert set(r["tags"]) <= taxonomy, r["id"]
        assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", e) for e in r["entities"]), r["id"]
    result = bench.evaluate(records, bench.score_records(records))
    for name in ("hot", "quality", "impact"):
        assert result["spearman"][name]["all"] >= 0.6, name
        assert result["spearman"][name]["holdout"] >= 0.6, name
        assert result["distribution"][name]["share_60_80"] < 0.4, name
