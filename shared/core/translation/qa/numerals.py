"""Values written in Chinese numerals (二十三, 两百, 五点二亿, 十多): where a run of numeral characters
is a quantity, and what it is worth (``cn2an`` converts the numeral itself).

Chinese text is full of numeral characters that are no quantity: 一些 (some), 统一 (unify), 十分
(very), 千家万户 (every household), 三星 (Samsung). A run counts as a quantity of the *source*
(``strict``) only when a measure word or unit follows it (二十三岁, 两个, 十公里, 三十多间), or it
carries a magnitude (五点二亿), and it is worth more than one (一个 is mostly "a"). A translation is
read leniently: every run that converts is a candidate, so a correct rendering is never missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ZH_DIGIT_CHARS = "零〇一二两三四五六七八九"
_MAGNITUDES = {"万亿": 1e12, "亿": 1e8, "万": 1e4, "千": 1e3}
# Measure words and units after which a numeral run is a count, a duration, an age or a date.
# Not 分 (十分 = "very"), 元 (三元 = "ternary"), 星 (三星) or 大 (十九大).
_COUNTED = (
    "个|名|人|位|家|岁|周岁|年|月|日|号|天|次|项|只|条|件|间|种|所|座|台|部|辆|架|艘|场|届|倍|"
    "小时|分钟|秒|周|星期|季度|公里|千米|米|厘米|吨|公斤|千克|克|英寸|寸|层|轮|批|期|款|份|张|本|"
    "篇|枚|颗|座|股|户|亩|平方米|公顷|成|国|省|城|所|支|队|笔|单|起|例|具|头|匹|首|集|章|码|斤"
)
_RUN = re.compile(
    rf"(?P<ordinal>第)?(?P<num>[{ZH_DIGIT_CHARS}十百千万亿]+(?:点[{ZH_DIGIT_CHARS}]+)?)"
    r"(?P<approx>多|余|来)?(?P<ge>个)?(?P<mag>万亿|亿|万)?"
)
_COUNTED_AFTER = re.compile(rf"(?:{_COUNTED})")
# 数十家 (dozens), 几百 (hundreds), 上千 (a thousand or more), 十几 (a dozen or so): no value.
_VAGUE_BEFORE = frozenset("数几上成好")
# Two adjacent digits without a unit between them are a rough range (两三年, 五六个): no single value.
_ROUGH_RANGE = re.compile(rf"[{ZH_DIGIT_CHARS}]{{2}}")


@dataclass(frozen=True)
class ZhNumeral:
    value: float
    start: int
    end: int
    text: str
    approximate: bool  # 多 / 余 / 来: "more than"
    counted: bool  # a measure word or unit follows


_BARE = {"十": 10.0, "百": 100.0, "千": 1e3, "万": 1e4, "亿": 1e8, "万亿": 1e12}


def numeral_value(run: str) -> float | None:
    """The value of a numeral run (二十三 = 23, 两百 = 200, 五点二 = 5.2, 一万二 = 12000), or None."""
    if run in _BARE:
        return _BARE[run]  # 上万人 = some ten thousand people
    # Imported here, not at the top: every stage imports this package (the glossary), but only
    # translation QA of Chinese text reads numerals; cn2an's import costs ~0.25 s of CPU.
    import cn2an

    try:
        return float(cn2an.cn2an(run, "smart"))
    except (ValueError, KeyError, IndexError, TypeError):
        pass
    for suffix, scale in _MAGNITUDES.items():
        if run.endswith(suffix) and len(run) > len(suffix):
            head = numeral_value(run[: -len(suffix)])
            return None if head is None else head * scale
    return None


def zh_numerals(text: str, strict: bool) -> list[ZhNumeral]:
    """Quantities written in Chinese numerals. ``strict`` (a source): only runs that are clearly
    quantities; otherwise (a translation) every run that converts."""
    found: list[ZhNumeral] = []
    for match in _RUN.finditer(text):
        run, magnitude = match.group("num"), match.group("mag") or ""
        if match.group("ge") and not magnitude:
            # "两个" = two; the 个 belongs to the measure-word test below.
            end = match.start("ge")
        else:
            end = match.end()
        has_digit = any(c in ZH_DIGIT_CHARS for c in run)
        bare_multiplier = not has_digit and not run.startswith("十")
        integer = run.split("点")[0]
        if _ROUGH_RANGE.search(integer) and not re.search("[十百千万亿]", integer):
            # 两三年, 五六个: a rough range. (二〇一七年 is a year, read digit by digit.)
            if not ("〇" in integer or "零" in integer):
                continue
        value = numeral_value(run)
        if value is None:
            continue
        if magnitude:
            value *= _MAGNITUDES[magnitude]
        after = text[end : end + 4]
        counted = bool(_COUNTED_AFTER.match(after)) or bool(match.group("ge"))
        if strict:
            # 第二天 is "the next day" as often as "the second day": ordinals are not required.
            vague = text[match.start() - 1 : match.start()] in _VAGUE_BEFORE or text[end : end + 1] == "几"
            if bare_multiplier or value <= 1 or match.group("ordinal") or vague:
                continue
            if not (counted or magnitude):
                continue
        found.append(
            ZhNumeral(
                value=value,
                start=match.start(),
                end=end,
                text=text[match.start() : end],
                approximate=bool(match.group("approx")),
                counted=counted,
            )
        )
    return found


def zh_numeral_values(text: str) -> list[float]:
    """The values a source states in Chinese numerals (strict reading)."""
    return [numeral.value for numeral in zh_numerals(text, strict=True)]
