"""Readable reasons for a score: short whole sentences in English and Chinese, built from the same
components the formulas store (the numbers stay in ``ScoreDetail.components`` for machines).

Pure functions. Each returns the sentences most telling first; a caller that needs fewer takes
the first ones, whole (a sentence is never cut).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.events import ScoreReason

# A label in both languages: (English, Chinese). The Chinese one may be missing (entities).
Label = tuple[str, str | None]

MAX_REASONS = 4
# Below this many English-word equivalents the text is a teaser or a feed summary, not an article.
# (Quality's own teaser threshold is quality.full_text_units; its `full_text` component is used
# when present.)
SHORT_TEXT_UNITS = 60
BRIEF_UNITS = 250
LONG_TEXT_UNITS = 600
# Originality below this: the article mostly repeats text published before it in the story.
LOW_ORIGINALITY = 0.5
# Hot decay below this: the story is old enough that its attention has mostly faded.
FADED_DECAY = 0.25
# Velocity points above this: sources are still joining (momentum).
MOMENTUM_POINTS = 0.3


def _reason(en: str, zh: str) -> ScoreReason:
    return ScoreReason(en=en, zh=zh)


def _count(n: float) -> int:
    return round(n)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def duration(hours: float) -> tuple[str, str]:
    """(en, zh) of a duration: "45 minutes" / "45 分钟", "6 hours" / "6 小时", "3 days" / "3 天"."""
    if hours < 1:
        minutes = max(1, _count(hours * 60))
        return _plural(minutes, "minute"), f"{minutes} 分钟"
    if hours < 48:
        h = _count(hours)
        return _plural(h, "hour"), f"{h} 小时"
    days = _count(hours / 24)
    return _plural(days, "day"), f"{days} 天"


def _trim(value: float) -> str:
    text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return text[:-2] if text.endswith(".0") else text


def money(usd: float) -> tuple[str, str]:
    """(en, zh): "$1.2 billion" / "12 亿美元", "$30 million" / "3000 万美元"."""
    if usd >= 1e12:
        en = f"${_trim(usd / 1e12)} trillion"
    elif usd >= 1e9:
        en = f"${_trim(usd / 1e9)} billion"
    elif usd >= 1e6:
        en = f"${_trim(usd / 1e6)} million"
    else:
        en = f"${usd:,.0f}"
    return en, f"{chinese_magnitude(usd)}美元"


def chinese_magnitude(n: float) -> str:
    """12 亿, 3000 万, 950 (Chinese groups numbers by 万 and 亿)."""
    if n >= 1e8:
        return f"{_trim(n / 1e8)} 亿"
    if n >= 1e4:
        return f"{_trim(n / 1e4)} 万"
    return f"{n:,.0f}"


def people(n: float) -> tuple[str, str]:
    if n >= 1e9:
        en = f"{_trim(n / 1e9)} billion"
    elif n >= 1e6:
        en = f"{_trim(n / 1e6)} million"
    else:
        en = f"{n:,.0f}"
    return en, chinese_magnitude(n)


def _lower_first(label: str) -> str:
    """ "Product launch" -> "product launch"; an acronym or name ("AI chips", "M&A") stays."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def _join_en(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --- Hot --------------------------------------------------------------------------------------


def hot_reasons(components: Mapping[str, float]) -> list[ScoreReason]:
    c = components
    sources = _count(c.get("independent_sources", 0))
    zh_sources = _count(c.get("sources_zh", 0))
    span_en, span_zh = duration(c.get("span_h", 0.0))
    reasons: list[ScoreReason] = []
    if sources <= 1:
        reasons.append(_reason("One source so far.", "目前只有 1 个来源。"))
    else:
        en = f"{sources} independent sources in {span_en}"
        zh = f"{span_zh}内 {sources} 个独立来源"
        if zh_sources and zh_sources < sources:
            en += f", {zh_sources} of them in Chinese"
            zh += f"，其中 {zh_sources} 个中文"
        elif zh_sources == sources:
            en += ", all in Chinese"
            zh += "，均为中文"
        reasons.append(_reason(en + ".", zh + "。"))
    duplicates = _count(c.get("duplicates", 0))
    if duplicates:
        reasons.append(
            _reason(
                f"Plus {_plural(duplicates, 'copy', 'copies')} of the same text, counted at a fraction.",
                f"另有 {duplicates} 篇转载或同源稿件，只按小比例计入。",
            )
        )
    age_en, age_zh = duration(c.get("age_h", 0.0))
    if c.get("decay", 1.0) < FADED_DECAY:
        reasons.append(
            _reason(
                f"First seen {age_en} ago, so attention has faded.", f"首次出现于 {age_zh}前，热度已经减退。"
            )
        )
    else:
        reasons.append(_reason(f"First seen {age_en} ago.", f"首次出现于 {age_zh}前。"))
    if c.get("velocity_points", 0.0) >= MOMENTUM_POINTS:
        reasons.append(_reason("New sources are still joining.", "仍有新的来源在跟进。"))
    if c.get("engagement", 0.0) > 0:
        reasons.append(_reason("Ranked or widely read on its sources.", "在来源的榜单或阅读量上表现突出。"))
    return reasons[:MAX_REASONS]


# --- Quality ----------------------------------------------------------------------------------


def _size(units: float, language: str, zh_chars_per_word: float) -> tuple[str, str]:
    """("About 850 words", "约 850 个英文词"); Chinese text is measured in characters."""
    if language == "zh":
        chars = units * zh_chars_per_word
        n = _count(chars / 10) * 10 or _count(chars)
        return f"About {n} Chinese characters", f"约 {n} 字"
    n = _count(units / 10) * 10 or _count(units)
    return f"About {n} words", f"约 {n} 个英文词"


def _text_reason(c: Mapping[str, float], language: str, zh_chars_per_word: float) -> ScoreReason:
    units = c.get("word_units", 0.0)
    if units <= 0:
        return _reason("No text beyond the title.", "除标题外没有正文。")
    size_en, size_zh = _size(units, language, zh_chars_per_word)
    if c.get("full_text", 1.0 if units >= SHORT_TEXT_UNITS else 0.0) < 1.0:
        return _reason(
            f"{size_en}: a teaser or a note, not a full article.",
            f"{size_zh}：只是导语或短讯，不是完整文章。",
        )
    figures, quotes = _count(c.get("data_points", 0)), _count(c.get("quotes", 0))
    detail_en = [_plural(figures, "figure")] if figures else []
    detail_zh = [f"{figures} 个数据"] if figures else []
    if quotes:
        detail_en.append(_plural(quotes, "quote"))
        detail_zh.append(f"{quotes} 处引语")
    kind_en, kind_zh = "a short brief", "简讯"
    if units >= LONG_TEXT_UNITS:
        kind_en, kind_zh = "a long article", "长文"
    elif units >= BRIEF_UNITS:
        kind_en, kind_zh = "an article", "文章"
    if detail_en:
        return _reason(
            f"{size_en}, {kind_en} with {' and '.join(detail_en)}.",
            f"{size_zh}的{kind_zh}，含 {'、'.join(detail_zh)}。",
        )
    return _reason(
        f"{size_en}, {kind_en} without figures or quotes.", f"{size_zh}的{kind_zh}，没有数据或引语。"
    )


def quality_reasons(
    components: Mapping[str, float], language: str, zh_chars_per_word: float = 1.7
) -> list[ScoreReason]:
    c = components
    reasons: list[ScoreReason] = []
    # What stops the text from counting comes first; then what the text is; then minor notes.
    if c.get("penalty_paywall", 0.0) > 0:
        reasons.append(_reason("Only a paywall teaser is readable.", "付费墙后，只能读到导语。"))
    flags = _count(c.get("translation_qa_flags", 0))
    if c.get("penalty_translation_qa", 0.0) > 0 and flags:
        reasons.append(
            _reason(
                f"The translation check found {_plural(flags, 'problem')} (a number, name or date).",
                f"翻译检查发现 {flags} 处问题（数字、名称或日期）。",
            )
        )
    if c.get("penalty_notice", 0.0) > 0:
        reasons.append(
            _reason("Reads as a notice or a call to action, not news.", "更像通知或广告，而不是新闻。")
        )
    reasons.append(_text_reason(c, language, zh_chars_per_word))
    hits = _count(c.get("marketing_hits", 0))
    if hits:
        reasons.append(
            _reason(f"Promotional wording ({_plural(hits, 'phrase')}).", f"含 {hits} 处营销或夸张用语。")
        )
    if c.get("originality", 1.0) < LOW_ORIGINALITY:
        reasons.append(_reason("Mostly repeats earlier coverage of the story.", "内容大多重复此前的报道。"))
    if c.get("llm_weight", 0.0) > 0:
        stars = 1 + 4 * c.get("llm", 0.0)
        reasons.append(
            _reason(
                f"A language model rated depth and writing {stars:.1f} of 5.",
                f"语言模型对深度和写作的评分为 {stars:.1f}/5。",
            )
        )
    return reasons[:MAX_REASONS]


# --- Impact -----------------------------------------------------------------------------------


def impact_reasons(
    components: Mapping[str, float], entities: Sequence[Label], event_types: Sequence[Label]
) -> list[ScoreReason]:
    """``entities``: the most weighty first (at most three are named); ``event_types``: the tags
    that set the event-type component, strongest first."""
    c = components
    reasons: list[ScoreReason] = []
    named = list(entities[:3])
    kind = event_types[0] if event_types else None
    if named:
        en = f"Names {_join_en([e[0] for e in named])}"
        zh = f"涉及 {'、'.join(e[1] or e[0] for e in named)}"
        if kind is not None:
            en += f"; {_lower_first(kind[0])}"
            zh += f"；{kind[1] or kind[0]}"
        reasons.append(_reason(en + ".", zh + "。"))
    elif kind is not None:
        reasons.append(
            _reason(
                f"{kind[0]}; no major company or institution named.",
                f"{kind[1] or kind[0]}；未涉及重要公司或机构。",
            )
        )
    else:
        reasons.append(
            _reason(
                "No major company or institution named, and no clear event type.",
                "未涉及重要公司或机构，事件类型不明确。",
            )
        )
    usd = c.get("max_usd", 0.0)
    if usd >= 1e6:
        en, zh = money(usd)
        reasons.append(_reason(f"Involves {en}.", f"涉及金额 {zh}。"))
    users = c.get("max_users", 0.0)
    if users >= 1e4:
        en, zh = people(users)
        reasons.append(_reason(f"Reaches {en} users.", f"涉及 {zh}用户。"))
    regions = _count(c.get("regions", 0))
    multilingual = c.get("multilingual", 0.0) > 0
    if multilingual and regions >= 2:
        reasons.append(
            _reason(
                f"Covered in English and Chinese; involves {regions} regions.",
                f"中英文均有报道，涉及 {regions} 个地区。",
            )
        )
    elif multilingual:
        reasons.append(_reason("Covered in English and Chinese.", "中英文均有报道。"))
    elif regions >= 2:
        reasons.append(_reason(f"Involves {regions} regions.", f"涉及 {regions} 个地区。"))
    if c.get("llm_weight", 0.0) > 0:
        stars = 1 + 4 * c.get("llm", 0.0)
        reasons.append(
            _reason(
                f"A language model rated its significance {stars:.1f} of 5.",
                f"语言模型对其重要性的评分为 {stars:.1f}/5。",
            )
        )
    return reasons[:MAX_REASONS]
