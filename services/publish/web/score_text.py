"""Why a score is what it is, as short readable lines in both languages.

When the scoring stage stores reason sentences on a score (``ScoreDetail.reasons``: bilingual
sentences written from the same components), the page shows those. Until then, and for items scored
before, the stored components are written out here as labelled values ("4 independent sources /
4 个独立来源", "originality 80% / 原创度 80%") instead of raw ``key value`` pairs. Formula
internals (intermediate points, raw and final sums) are left to the API, which keeps every number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReasonLine:
    en: str
    zh: str


Formatter = Callable[[float], ReasonLine | None]


def _count(en_one: str, en_many: str, zh: str) -> Formatter:
    def fmt(value: float) -> ReasonLine | None:
        n = round(value)
        if n <= 0:
            return None
        return ReasonLine((en_one if n == 1 else en_many).format(n=n), zh.format(n=n))

    return fmt


def _share(en: str, zh: str, *, hide_zero: bool = False) -> Formatter:
    """A 0..1 signal shown as a percentage."""

    def fmt(value: float) -> ReasonLine | None:
        if hide_zero and value <= 0:
            return None
        pct = f"{round(max(0.0, min(1.0, value)) * 100)}%"
        return ReasonLine(f"{en} {pct}", f"{zh} {pct}")

    return fmt


def _penalty(en: str, zh: str) -> Formatter:
    def fmt(value: float) -> ReasonLine | None:
        if value <= 0:
            return None
        points = f"{round(value * 100)}"
        return ReasonLine(f"{en}: −{points}", f"{zh}:扣 {points}")

    return fmt


def _age(value: float) -> ReasonLine | None:
    hours = max(0.0, value)
    if hours < 1:
        return ReasonLine("less than an hour old when scored", "评分时发布不到 1 小时")
    if hours < 48:
        n = round(hours)
        return ReasonLine(f"{n} hour{'s' if n != 1 else ''} old when scored", f"评分时已发布 {n} 小时")
    days = int(hours // 24)  # whole days, as the relative times on the page count them
    return ReasonLine(f"{days} days old when scored", f"评分时已发布 {days} 天")


def _decay(value: float) -> ReasonLine | None:
    return ReasonLine(f"time decay ×{value:.2f}", f"时间衰减 ×{value:.2f}")


def _velocity(value: float) -> ReasonLine | None:
    if value <= 0:
        return None
    return ReasonLine(f"still gaining sources (momentum {value:.2f})", f"来源仍在增加(势头 {value:.2f})")


FORMATTERS: dict[str, Formatter] = {
    # Hot
    "independent_sources": _count("1 independent source", "{n} independent sources", "{n} 个独立来源"),
    "duplicates": _count("1 copy of another report", "{n} copies of other reports", "{n} 篇转载"),
    "velocity": _velocity,
    "engagement": _share("engagement at the sources", "来源端互动", hide_zero=True),
    "age_h": _age,
    "decay": _decay,
    # Quality
    "word_units": _count("about 1 word", "about {n} words", "约 {n} 词"),
    "data_points": _count("1 figure", "{n} figures", "{n} 个数据"),
    "quotes": _count("1 quote", "{n} quotes", "{n} 处引语"),
    "substance": _share("substance", "内容充实度"),
    "originality": _share("originality", "原创度"),
    "source_reputation": _share("source reputation", "来源信誉"),
    "readability": _share("readability", "可读性"),
    "marketing_hits": _count("1 marketing phrase", "{n} marketing phrases", "{n} 处营销用语"),
    "penalty_translation_qa": _penalty("translation check flags", "翻译质检"),
    "penalty_paywall": _penalty("paywalled teaser", "付费墙摘要"),
    "penalty_marketing": _penalty("marketing language", "营销用语"),
    # Impact
    "entities": _share("who is involved", "涉及主体", hide_zero=True),
    "event_type": _share("kind of event", "事件类型", hide_zero=True),
    "magnitude": _share("size (money, users)", "规模(金额、用户)", hide_zero=True),
    "scope": _share("reach", "影响范围", hide_zero=True),
    "regions": _count("1 region", "{n} regions", "{n} 个地区"),
}

# Intermediate values of the formulas: in the API, not in the reader's explanation.
INTERNAL = frozenset(
    {
        "coverage",
        "coverage_points",
        "engagement_points",
        "velocity_points",
        "raw",
        "local",
        "final",
        "llm_weight",
        "money",
        "users",
        "structure_units",
    }
)


def _humanised(name: str, value: float) -> ReasonLine:
    label = name.replace("_", " ").strip()
    number = f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
    return ReasonLine(f"{label}: {number}", f"{label}:{number}")


def component_lines(
    components: Mapping[str, float], llm_rubric: Mapping[str, float] | None = None
) -> list[ReasonLine]:
    """Readable lines for a score's stored components, in a stable order (known ones first)."""
    lines: list[ReasonLine] = []
    known = [k for k in FORMATTERS if k in components]
    unknown = sorted(
        k
        for k in components
        if k not in FORMATTERS and k not in INTERNAL and not k.endswith("_part") and k != "llm"
    )
    for key in known:
        line = FORMATTERS[key](float(components[key]))
        if line is not None:
            lines.append(line)
    if llm_rubric and components.get("llm_weight", 0) > 0:
        mean = float(components.get("llm", 0.0))
        lines.append(
            ReasonLine(f"language-model review {round(mean * 100)}%", f"语言模型评审 {round(mean * 100)}%")
        )
    lines += [_humanised(k, float(components[k])) for k in unknown]
    return lines


def _as_line(value: Any) -> ReasonLine | None:
    en = value.get("en") if isinstance(value, Mapping) else getattr(value, "en", None)
    zh = value.get("zh") if isinstance(value, Mapping) else getattr(value, "zh", None)
    if not en and not zh:
        return None
    return ReasonLine(str(en or zh), str(zh or en))


def reason_lines(detail: Any) -> tuple[list[ReasonLine], bool]:
    """(lines, written): the score's stored reason sentences when it carries them (written=True),
    else its components made readable (written=False)."""
    stored = getattr(detail, "reasons", None)
    if stored:
        lines = [line for line in (_as_line(v) for v in stored) if line is not None]
        if lines:
            return lines, True
    return component_lines(detail.components, detail.llm_rubric), False
