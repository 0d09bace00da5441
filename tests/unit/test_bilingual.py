"""Source text as the first translation tier: the item's other language comes from the best member
written in it, in any arrival order; a wrong pairing is guarded; a late member adds the language
with the update reason ``language_added`` exactly once; a missing language says so to the reader
in one line with a machine-readable reason and never carries configuration advice."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.translate.usecase import TranslateUseCase
from shared.core.bilingual import NOTICES, candidate_from_article, check_pairing, product_names
from shared.core.items import merge_event, pending_with
from shared.events import (
    Analysis,
    Article,
    Bilingual,
    Cluster,
    LanguageOrigins,
    Provenance,
    ScoreDetail,
    Scores,
    SectionStatus,
    StoryEvent,
    StoryMember,
    Tag,
    Translation,
)
from shared.items import Item
from shared.llm import load_glossary, load_prompt

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
GLOSSARY = load_glossary()

EN_TITLE = "OpenAI CFO says first AI device will ship by the end of 2026"
EN_BODY = (
    "OpenAI's chief financial officer Sarah Friar said the company's first AI device will ship "
    "by the end of 2026. She spoke at a conference in San Francisco on Tuesday. The device is "
    "designed with former Apple design chief Jony Ive. Friar did not give a price. Analysts "
    "expect the device to compete with smartphones."
)
ZH_TITLE = "OpenAI首席财务官：公司首款AI设备将于2026年底前发布"
ZH_BODY = (
    "OpenAI首席财务官莎拉·弗莱尔周二在旧金山的一场会议上表示，公司首款AI设备将于2026年底前发布。"
    "该设备由苹果前设计总监乔纳森·艾维参与设计。弗莱尔没有透露价格。"
    "分析人士预计，这款设备将与智能手机展开竞争。业内人士认为，这是OpenAI进军硬件市场的重要一步。"
)


def article(
    aid: str,
    language: str,
    title: str,
    body: str | None,
    *,
    weight: float = 1.0,
    minutes: int = 0,
    source: str | None = None,
) -> Article:
    return Article(
        article_id=aid,
        source_id=source or f"src-{aid}",
        source_name=f"Source {aid}",
        source_weight=weight,
        url=f"https://{aid}.example/x",
        canonical_url=f"https://{aid}.example/x",
        title=title,
        summary=None,
        body=body,
        language=language,  # type: ignore[arg-type]
        published_at=T0 + timedelta(minutes=minutes),
        fetched_at=T0 + timedelta(minutes=minutes),
    )


def member_of(a: Article, minutes: int = 0) -> StoryMember:
    return StoryMember.of(a, T0 + timedelta(minutes=minutes))


def scores(at: datetime, hot: float = 40.0) -> Scores:
    detail = ScoreDetail(value=hot, formula_version="t")
    return Scores(status=SectionStatus.OK, hot=detail, quality=detail, impact=detail, computed_at=at)


def full_event(
    rep: Article, members: list[StoryMember], translation: Translation | None = None
) -> StoryEvent:
    translation = translation or asyncio.run(
        TranslateUseCase(None, GLOSSARY, load_prompt("translate")).translate(rep)
    )
    return StoryEvent(
        story_id="st",
        article_id=rep.article_id,
        article=rep,
        cluster=Cluster(story_id="st", is_new=True, method="new", members=members),
        translation=translation,
        analysis=Analysis(
            status=SectionStatus.PARTIAL,
            summary=Bilingual(**{rep.language: "Extract."}),
            summary_provenance=Provenance(tier="local"),
            tags=[Tag(id="hardware", en="Hardware", zh="硬件", source="local")],
            commentary_reason="no language model configured",
        ),
        scores=scores(T0),
    )


def joined(a: Article, members: list[StoryMember], minutes: int) -> StoryEvent:
    return StoryEvent(
        story_id="st",
        article_id=a.article_id,
        article=a,
        cluster=Cluster(story_id="st", is_new=False, method="embedding", members=members),
        scores=scores(T0 + timedelta(minutes=minutes)),
    )


def fold(events: list[StoryEvent]) -> tuple[Item, list[list[str]]]:
    """Fold events like publish does; the reasons of each material update, in order."""
    item: Item | None = None
    pending: dict[str, Any] | None = None
    updates: list[list[str]] = []
    for n, event in enumerate(events):
        merge = merge_event(item, pending, event, T0 + timedelta(minutes=10 + n), GLOSSARY)
        if merge is None:
            pending = pending_with(pending, event)
            continue
        if merge.material and not merge.created:
            updates.append(list(merge.reasons))
        item = merge.item
    assert item is not None
    return item, updates


EN = article("en1", "en", EN_TITLE, EN_BODY, weight=1.2)
ZH = article("zh1", "zh", ZH_TITLE, ZH_BODY, weight=1.1, minutes=3)


def test_a_late_member_adds_its_language_once_with_its_own_text() -> None:
    zh_copy = article(
        "zh2", "zh", "OpenAI首席财务官称首款AI设备2026年底前发布", ZH_BODY, weight=0.9, minutes=9
    )
    m_en, m_zh, m_copy = member_of(EN), member_of(ZH, 3), member_of(zh_copy, 9)
    item, updates = fold(
        [
            full_event(EN, [m_en]),
            joined(ZH, [m_en, m_zh], 3),
            joined(zh_copy, [m_en, m_zh, m_copy], 9),
        ]
    )
    assert item.title.en == EN_TITLE and item.title.zh == ZH_TITLE
    zh = item.languages.zh
    assert zh is not None and zh.origin == "source" and zh.article_id == "zh1"
    assert zh.source_name == "Source zh1" and zh.summary_origin == "source"
    assert item.summary.zh and "2026" in item.summary.zh
    assert item.languages.en is not None and item.languages.en.origin == "source"
    assert zh.pairing is not None and zh.pairing.verdict in ("agrees", "disagrees")
    # language_added exactly once, and every join one update at most.
    assert sum(r.count("language_added") for r in updates) == 1
    assert "language_added" in updates[0] and len(updates) <= 2


def test_the_member_arriving_before_the_story_is_used_too() -> None:
    m_en, m_zh = member_of(EN), member_of(ZH, 3)
    early, _ = fold([joined(ZH, [m_en, m_zh], 3), full_event(EN, [m_en, m_zh])])
    late, _ = fold([full_event(EN, [m_en]), joined(ZH, [m_en, m_zh], 3)])
    for item in (early, late):
        assert item.title.zh == ZH_TITLE and item.summary.zh == late.summary.zh
        assert item.languages.zh is not None and item.languages.zh.origin == "source"


def test_ranking_prefers_full_text_then_reputation_then_earliest() -> None:
    teaser = article("zh0", "zh", "OpenAI首款AI设备2026年底前发布", "详见原文。", weight=2.0, minutes=1)
    low = article("zh3", "zh", "OpenAI：首款AI设备2026年发布", ZH_BODY, weight=0.8, minutes=2)
    members = [member_of(EN), member_of(teaser, 1), member_of(low, 2), member_of(ZH, 3)]
    item, _ = fold(
        [
            full_event(EN, members[:1]),
            joined(teaser, members[:2], 1),
            joined(low, members[:3], 2),
            joined(ZH, members, 3),
        ]
    )
    assert item.languages.zh is not None and item.languages.zh.article_id == "zh1"  # weight 1.1 > 0.8
    reversed_item, _ = fold(
        [
            joined(ZH, members, 3),
            joined(low, members[:3], 2),
            full_event(EN, members[:1]),
            joined(teaser, members[:2], 1),
        ]
    )
    assert reversed_item.title.zh == item.title.zh  # the rule, not the arrival order, decides


def test_a_number_disagreement_is_shown_and_recorded() -> None:
    other = article("zh9", "zh", "OpenAI首席财务官：首款AI设备将于2027年底前发布", ZH_BODY, minutes=3)
    item, _ = fold([full_event(EN, [member_of(EN)]), joined(other, [member_of(EN), member_of(other, 3)], 3)])
    assert item.title.zh == other.title
    pairing = item.languages.zh.pairing  # type: ignore[union-attr]
    assert pairing is not None and pairing.verdict == "disagrees"
    assert any("2026" in flag or "2027" in flag for flag in pairing.flags)


def test_different_products_are_not_paired() -> None:
    en = article("q1", "en", "Qwen2.5-Coder: Code More, Learn More!", EN_BODY)
    wrong = article("q2", "zh", "Qwen2.5: 基础模型大派对！", ZH_BODY, minutes=1)
    right = article("q3", "zh", "Qwen2.5-Coder: 码无止境，学无止境!", ZH_BODY, weight=0.5, minutes=2)
    assert product_names(en.title) == {"qwen2.5-coder"}
    assert check_pairing(en.title, "en", candidate_from_article(wrong), GLOSSARY).verdict == "rejected"
    m = [member_of(en), member_of(wrong, 1), member_of(right, 2)]
    item, _ = fold([full_event(en, m[:1]), joined(wrong, m[:2], 1)])
    zh = item.languages.zh
    assert item.title.zh is None and zh is not None and zh.origin == "none"
    assert [r.article_id for r in zh.rejected] == ["q2"] and zh.rejected[0].verdict == "rejected"
    item, updates = fold([full_event(en, m[:1]), joined(wrong, m[:2], 1), joined(right, m, 2)])
    assert item.title.zh == right.title  # lower reputation, but the same product
    assert sum(r.count("language_added") for r in updates) == 1


def test_one_language_without_a_model_says_so_in_one_reader_line() -> None:
    item, _ = fold([full_event(EN, [member_of(EN)])])
    zh = item.languages.zh
    assert item.title.zh is None and zh is not None
    assert zh.origin == "none" and zh.reason == "no_model"
    assert zh.notice == NOTICES["zh"] == "Chinese version not available yet / 暂无中文版本"
    dumped = json.dumps(item.model_dump(mode="json", by_alias=True), ensure_ascii=False)
    assert "NEWSROOM_" not in dumped and "BASE_URL" not in dumped


def test_a_source_replaces_a_machine_translation() -> None:
    translated = Translation(
        status=SectionStatus.OK,
        source_language="en",
        title=Bilingual(en=EN_TITLE, zh="机器翻译的标题 2026"),
        provenance=Provenance(tier="llm", model="m", prompt_version="translate.v1"),
    )
    item, updates = fold(
        [full_event(EN, [member_of(EN)], translated), joined(ZH, [member_of(EN), member_of(ZH, 3)], 3)]
    )
    assert item.title.zh == ZH_TITLE and item.languages.zh.origin == "source"  # type: ignore[union-attr]
    [reasons] = updates
    assert reasons[:2] == ["source_text_replaced_translation", "source_added"]
    assert "language_added" not in reasons  # the language was there (translated)


def test_sources_in_every_language_make_the_translation_section_say_so() -> None:
    item, _ = fold([full_event(EN, [member_of(EN)]), joined(ZH, [member_of(EN), member_of(ZH, 3)], 3)])
    assert item.translation.status == SectionStatus.OK
    assert item.translation.provenance is not None and item.translation.provenance.tier == "source"
    assert item.translation.reason and "Source zh1" in item.translation.reason


class _NoCalls:
    model = "forbidden"

    async def structured(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("the model must not be called for a language a member covers")


def test_translate_takes_a_covered_language_from_the_member_without_a_model_call() -> None:
    usecase = TranslateUseCase(_NoCalls(), GLOSSARY, load_prompt("translate"))  # type: ignore[arg-type]
    translation = asyncio.run(usecase.translate(EN, [member_of(EN), member_of(ZH, 3)]))
    assert translation.title.zh == ZH_TITLE and translation.status == SectionStatus.OK
    zh = translation.languages.zh
    assert zh is not None and zh.origin == "source" and zh.article_id == "zh1"


def test_translate_without_a_model_gives_a_reader_safe_reason() -> None:
    translation = asyncio.run(TranslateUseCase(None, GLOSSARY, load_prompt("translate")).translate(EN))
    assert translation.reason == "no language model configured"
    assert (
        translation.languages == LanguageOrigins(en=translation.languages.en, zh=translation.languages.zh)
        and translation.languages.zh is not None
        and translation.languages.zh.reason == "no_model"
    )


@pytest.mark.parametrize(
    ("title", "names"),
    [
        ("QwQ-32B: Embracing the Power", {"qwq-32b"}),
        ("Introducing Qwen1.5", {"qwen1.5"}),
        ("与 CodeQwen1.5 结对编程", {"codeqwen1.5"}),
        ("OpenAI首席财务官", set()),
    ],
)
def test_product_names(title: str, names: set[str]) -> None:
    assert product_names(title) == names


@pytest.mark.parametrize("seed", range(6))
def test_many_joins_in_any_order_give_one_update_each_and_language_added_once(seed: int) -> None:
    import random

    rng = random.Random(seed)
    copies = [
        article(f"en{n}", "en", f"{EN_TITLE} ({n})", EN_BODY, weight=0.9, minutes=n) for n in range(2, 5)
    ]
    others = [article(f"zh{n}", "zh", ZH_TITLE, ZH_BODY, weight=0.8 + n / 10, minutes=n) for n in range(1, 5)]
    joiners = copies + others
    rng.shuffle(joiners)
    members = [member_of(EN)]
    joins = []
    for n, a in enumerate(joiners, start=1):
        members.append(member_of(a, n))
        joins.append(joined(a, list(members), n))
    early = rng.randint(0, 2)
    item, updates = fold([*joins[:early], full_event(EN, [member_of(EN)]), *joins[early:]])
    assert item.title.zh == ZH_TITLE and item.languages.zh is not None
    assert item.languages.zh.article_id == "zh4"  # the most reputable Chinese member, whatever the order
    assert len(updates) <= len(joins) - early  # no more than one update per join after publication
    gained = not any(a.language == "zh" for a in joiners[:early])
    assert sum(r.count("language_added") for r in updates) == (1 if gained else 0)


def test_translate_waits_only_for_young_stories_no_member_covers() -> None:
    from services.translate.usecase import source_wait

    alone, both = [member_of(EN)], [member_of(EN), member_of(ZH, 3)]
    assert source_wait(EN, alone, GLOSSARY, age_s=2.0, grace_s=20.0) == 18.0
    assert source_wait(EN, alone, GLOSSARY, age_s=25.0, grace_s=20.0) == 0.0  # a backlog is not delayed
    assert source_wait(EN, both, GLOSSARY, age_s=2.0, grace_s=20.0) == 0.0  # covered: no wait, no call
    assert source_wait(EN, alone, GLOSSARY, age_s=2.0, grace_s=0.0) == 0.0


@pytest.mark.parametrize(
    ("en", "zh", "rejected"),
    [
        # Real titles (Qwen blog, tests/data/bilingual): another post's Chinese title.
        ("Introducing Qwen1.5", "QVQ-Max：有依据地思考", True),
        (
            "QwQ-32B: Embracing the Power of Reinforcement Learning",
            "GSPO：迈向持续拓展的语言模型强化学习",
            True,
        ),
        ("Qwen2-VL: To See the World More Clearly", "QVQ: 更睿智地看世界", True),
        ("Qwen1.5-110B: The First 100B+ Model of the Qwen1.5 Series", "Qwen1.5 介绍", True),
        (
            "Qwen1.5-110B: The First 100B+ Model of the Qwen1.5 Series",
            "Qwen1.5-110B：Qwen1.5系列的首个千亿参数开源模型",
            False,
        ),
        # The same posts' own pairs, and independent coverage that names fewer things.
        ("QVQ-Max: Think with Evidence", "QVQ-Max：有依据地思考", False),
        (
            "Generalizing an LLM from 8k to 1M Context using Qwen-Agent",
            "使用Qwen-Agent将上下文记忆扩展到百万量级",
            False,
        ),
        (
            "ByteDance sets four AI goals for 2026, from world models to Doubao at work",
            "字节跳动Seed定下2026年四大AI目标",
            False,
        ),
        (
            "Hong Kong launches what it calls its first productivity-grade AI agent",
            "香港推出首个“生产力级”超级智能体",
            False,
        ),
    ],
)
def test_names_in_a_chinese_title_must_appear_in_the_english_one(en: str, zh: str, rejected: bool) -> None:
    verdict = check_pairing(en, "en", candidate_from_article(article("x", "zh", zh, None)), GLOSSARY).verdict
    assert (verdict == "rejected") == rejected
