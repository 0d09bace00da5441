"""Valid ``shared.items.Item`` documents for read-side tests.

``make_item`` builds one item with the fields a test cares about; ``sample_items`` is a small wire of
hand-written bilingual stories taken from the stories summarised in shared/reference/sample-item.txt
(so the text is real news text, not filler). Provenance says "fixture": nothing here came from a
model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.events import Bilingual, Entity, Language, Provenance, ScoreDetail, SectionStatus, Tag
from shared.items import Item, ItemScores, SectionState, SourceRef

FIXTURE_PROVENANCE = Provenance(tier="llm", model="fixture", prompt_version="fixture-1")

# Ids and labels as in shared/data/taxonomy.yaml.
TAGS: dict[str, tuple[str, str]] = {
    "product-launch": ("Product launch", "产品发布"),
    "model-release": ("Model release", "模型发布"),
    "agent": ("Agent", "Agent"),
    "chips": ("Chips", "芯片"),
    "compute-infra": ("Compute & infrastructure", "算力基建"),
    "funding-ma": ("Funding & M&A", "投融资"),
    "autonomous-driving": ("Autonomous driving", "自动驾驶"),
    "devices-hardware": ("Devices & hardware", "智能硬件"),
    "enterprise-office": ("Enterprise & office", "企业应用"),
}


def tag(tag_id: str) -> Tag:
    en, zh = TAGS[tag_id]
    return Tag(id=tag_id, en=en, zh=zh, source="local", confidence=0.9)


def score(value: float, **components: float) -> ScoreDetail:
    return ScoreDetail(value=value, components=components or {"base": value}, formula_version="fixture-1")


@dataclass(frozen=True)
class Src:
    name: str
    url: str
    title: str
    language: Language
    hours_ago: float


def make_item(
    story_id: str,
    *,
    now: datetime,
    title_en: str | None,
    title_zh: str | None,
    origin_language: Language = "zh",
    summary_en: str | None = None,
    summary_zh: str | None = None,
    analysis_en: str | None = None,
    analysis_zh: str | None = None,
    tags: Sequence[str] = ("product-launch",),
    entities: Sequence[Entity] = (),
    keyphrases: Sequence[str] = (),
    hot: float | None = 50.0,
    quality: float | None = 50.0,
    impact: float | None = 50.0,
    published_hours_ago: float = 1.0,
    updated_hours_ago: float | None = None,
    sources: Sequence[Src] = (),
    views: int = 0,
    version: int | None = None,
) -> Item:
    """One published item; times are relative to ``now`` so relative-time labels are predictable.
    An item updated after it was published is at version 2 unless told otherwise (only a change
    raises the version, and only a changed item shows an "updated" time)."""
    if version is None:
        version = 2 if updated_hours_ago is not None else 1
    published_at = now - timedelta(hours=published_hours_ago)
    updated_at = now - timedelta(hours=updated_hours_ago) if updated_hours_ago is not None else published_at
    refs = [
        SourceRef(
            article_id=f"{story_id}-a{i}",
            source_id=src.name.lower().replace(" ", "-"),
            source_name=src.name,
            url=src.url,
            title=src.title,
            language=src.language,
            published_at=now - timedelta(hours=src.hours_ago),
            joined_at=now - timedelta(hours=src.hours_ago),
        )
        for i, src in enumerate(sources)
    ]
    if not refs:
        refs = [
            SourceRef(
                article_id=f"{story_id}-a0",
                source_id="36kr",
                source_name="36Kr",
                url=f"https://36kr.com/p/{story_id}",
                title=(title_zh if origin_language == "zh" else title_en) or "",
                language=origin_language,
                published_at=published_at,
                joined_at=published_at,
            )
        ]
    has_analysis = bool(analysis_en or analysis_zh)
    return Item(
        _id=story_id,
        version=version,
        origin_language=origin_language,
        title=Bilingual(en=title_en, zh=title_zh),
        summary=Bilingual(en=summary_en, zh=summary_zh),
        summary_provenance=FIXTURE_PROVENANCE if (summary_en or summary_zh) else None,
        analysis=Bilingual(en=analysis_en, zh=analysis_zh),
        analysis_provenance=FIXTURE_PROVENANCE if has_analysis else None,
        analysis_reason=None if has_analysis else "no LLM configured",
        tags=[tag(t) for t in tags],
        primary_tag=tags[0] if tags else "untagged",
        entities=list(entities),
        keyphrases=list(keyphrases),
        scores=ItemScores(
            hot=score(hot) if hot is not None else None,
            quality=score(quality) if quality is not None else None,
            impact=score(impact) if impact is not None else None,
            computed_at=updated_at,
            status=SectionStatus.OK if hot is not None else SectionStatus.UNAVAILABLE,
            reason=None if hot is not None else "score stage has not run",
        ),
        sources=refs,
        representative_article_id=refs[0].article_id,
        translation=SectionState(status=SectionStatus.OK, provenance=FIXTURE_PROVENANCE),
        analysis_state=SectionState(
            status=SectionStatus.OK if has_analysis else SectionStatus.UNAVAILABLE,
            reason=None if has_analysis else "no LLM configured",
            provenance=FIXTURE_PROVENANCE if has_analysis else None,
        ),
        first_seen_at=published_at,
        published_at=published_at,
        updated_at=updated_at,
        views=views,
    )


def entity(entity_id: str, en: str, zh: str | None, kind: str) -> Entity:
    return Entity(id=entity_id, en=en, zh=zh, kind=kind, source="local")


OPENAI_ANALYSIS_EN = (
    "The CFO personally testing and announcing the device clearly aims to generate buzz before the "
    "holiday shopping season. But the company's own earlier documents said shipping would start no "
    "earlier than February 2027.\n\nWhat exactly is this AI device? Wearable? Home hardware? Officials "
    "remain tight-lipped, leaving only vague executive reports."
)
OPENAI_ANALYSIS_ZH = (
    "CFO亲自试用并官宣,摆明了要抢在年底购物季前制造话题。但别忘了他们自己早前文件里白纸黑字写着"
    "“最早2027年2月发货”。\n\nAI设备到底是什么?可穿戴?家居硬件?官方闭口不谈,只剩高管的模糊体验报告。"
)


def sample_items(now: datetime) -> list[Item]:
    """Seven stories of one evening's wire, with distinct Hot scores (Hot order = list order)."""
    return [
        make_item(
            "story-openai-device",
            now=now,
            title_en=(
                "OpenAI CFO Sarah Friar says the company's AI device will be released by the end of the year"
            ),
            title_zh="OpenAI首席财务官谈公司AI设备:今年年底前将正式发布",
            summary_en=(
                "OpenAI's CFO Sarah Friar personally announced the release of an AI device by year-end."
            ),
            summary_zh="OpenAI首席财务官Sarah Friar亲口说年底发布AI设备。",
            analysis_en=OPENAI_ANALYSIS_EN,
            analysis_zh=OPENAI_ANALYSIS_ZH,
            tags=("product-launch", "devices-hardware"),
            entities=(
                entity("openai", "OpenAI", "OpenAI", "lab"),
                entity("sarah-friar", "Sarah Friar", None, "person"),
            ),
            keyphrases=("AI device", "AI设备"),
            hot=75,
            quality=65,
            impact=70,
            published_hours_ago=17,
            updated_hours_ago=1.2,
            sources=(
                Src(
                    "36Kr",
                    "https://36kr.com/newsflashes/openai-device",
                    "OpenAI首席财务官谈公司AI设备",
                    "zh",
                    17,
                ),
                Src(
                    "The Verge",
                    "https://www.theverge.com/openai-device-friar",
                    "OpenAI's CFO says its device ships this year",
                    "en",
                    1.2,  # the report that updated the story 1.2 h ago ("updated 1h ago")
                ),
            ),
        ),
        make_item(
            "story-tsmc-copos",
            now=now,
            title_en="TSMC's C.C. Wei: CoPoS production lines need two to three years to scale",
            title_zh="台积电魏哲家:CoPoS试产线需两三年才能放量",
            summary_en=(
                "TSMC's chairman said its panel-level advanced packaging will take two to three years "
                "to reach volume."
            ),
            summary_zh="台积电董事长魏哲家坦言,CoPoS先进封装试产线需两到三年才能放量。",
            tags=("chips",),
            entities=(entity("tsmc", "TSMC", "台积电", "company"),),
            keyphrases=("advanced packaging", "先进封装", "CoPoS"),
            hot=68,
            quality=60,
            impact=66,
            published_hours_ago=9,
        ),
        make_item(
            "story-uber-nuro",
            now=now,
            title_en="Uber invests nearly $500 million more in autonomous delivery company Nuro",
            title_zh="Uber对Nuro追加投资近5亿美元",
            origin_language="en",
            summary_en=(
                "Uber has committed close to another $500 million to Nuro, adding to its earlier investment."
            ),
            summary_zh="Uber向自动驾驶配送公司Nuro追加近5亿美元投资。",
            tags=("autonomous-driving", "funding-ma"),
            entities=(entity("uber", "Uber", "优步", "company"), entity("nuro", "Nuro", None, "company")),
            hot=61,
            quality=55,
            impact=58,
            published_hours_ago=6,
        ),
        make_item(
            "story-meta-muse-spark",
            now=now,
            title_en="Meta again delays the API launch of its Muse Spark model",
            title_zh="Meta再度推迟Muse Spark模型API发布",
            origin_language="en",
            summary_en=(
                "A spokesperson said the API is expected this month, but as of Tuesday nothing was final."
            ),
            summary_zh="发言人称期待本月发布,但截至周二仍无定论。",
            tags=("model-release", "product-launch"),
            entities=(entity("meta", "Meta", "Meta", "company"),),
            hot=52,
            quality=48,
            impact=50,
            published_hours_ago=20,
            updated_hours_ago=4,
        ),
        make_item(
            "story-bytedance-goals",
            now=now,
            title_en="ByteDance sets four goals for 2026, including taking Doubao into office work",
            title_zh="字节跳动2026年四个命题:世界模型、视频模型、Coding与豆包办公商业化",
            summary_en="World models, video generation, a coding foundation and Doubao in the office.",
            summary_zh="世界模型追SOTA、视频模型求新、Coding打地基、豆包商业化攻办公。",
            tags=("model-release", "enterprise-office"),
            entities=(
                entity("bytedance", "ByteDance", "字节跳动", "company"),
                entity("doubao", "Doubao", "豆包", "product"),
            ),
            hot=47,
            quality=62,
            impact=55,
            published_hours_ago=12,
        ),
        make_item(
            "story-foxconn-sk",
            now=now,
            title_en="Foxconn and SK Group discuss cooperation on servers, data centers and energy",
            title_zh="鸿海与SK集团洽谈服务器、数据中心与能源合作",
            summary_en="The two groups discussed AI servers, data centers and energy supply.",
            summary_zh="鸿海与SK集团就AI服务器、数据中心和能源展开合作洽谈。",
            tags=("compute-infra",),
            entities=(
                entity("foxconn", "Foxconn", "鸿海", "company"),
                entity("sk-group", "SK Group", "SK集团", "company"),
            ),
            hot=39,
            quality=45,
            impact=52,
            published_hours_ago=8,
        ),
        make_item(
            "story-xiaomi-hengmai",
            now=now,
            title_en="Xiaomi's fund invests in chip designer Hengmai Micro",
            title_zh="小米旗下基金入股芯片公司恒脉微",
            summary_en=(
                "A Xiaomi investment fund became a shareholder of Hengmai Micro, which increased its "
                "registered capital."
            ),
            summary_zh="小米旗下基金入股恒脉微,后者注册资本增加。",
            tags=("chips", "funding-ma"),
            entities=(entity("xiaomi", "Xiaomi", "小米", "company"),),
            hot=33,
            quality=40,
            impact=35,
            published_hours_ago=3,
        ),
    ]


def as_document(item: Item) -> dict[str, Any]:
    """The item as the publish stage stores it: ``_id`` key, datetimes kept as BSON dates."""
    return item.model_dump(by_alias=True)
