"""Published times to timezone-aware UTC datetimes.

Feeds give RFC 822 and ISO 8601 dates; Chinese list pages give "刚刚", "3小时前", "昨天 14:30",
"11-28 09:15" or "2026年11月28日 08:00"; APIs give Unix timestamps in seconds or milliseconds.
Relative and year-less forms need the current time, so ``now`` is always passed in (this module
never reads a clock). Times written without a zone are taken in ``assume_tz``: Chinese sites
write Beijing time, so callers pass ``BEIJING`` for Chinese sources.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from dateutil import parser as dateutil_parser

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# A published time this far in the future is a site error (wrong zone, typo), not news from the future.
FUTURE_TOLERANCE = timedelta(hours=2)
EARLIEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "半": 0,
}
_UNIT_SECONDS = {
    "秒": 1,
    "秒钟": 1,
    "分": 60,
    "分钟": 60,
    "小时": 3600,
    "个小时": 3600,
    "钟头": 3600,
    "天": 86400,
    "日": 86400,
    "周": 7 * 86400,
    "星期": 7 * 86400,
    "个星期": 7 * 86400,
    "个月": 30 * 86400,
    "月": 30 * 86400,
    "年": 365 * 86400,
    "second": 1,
    "sec": 1,
    "minute": 60,
    "min": 60,
    "hour": 3600,
    "hr": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}
_RELATIVE_ZH = re.compile(
    r"^(\d+|[零〇一二两三四五六七八九十]+|半)\s*(秒钟|秒|分钟|分|个小时|小时|钟头|天|日|个星期|星期|周|个月|年)前$"
)
_RELATIVE_EN = re.compile(
    r"^(\d+|an?|one)\s*(second|sec|minute|min|hour|hr|day|week|month|year)s?\s+ago$", re.IGNORECASE
)
_DAY_WORDS = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "today": 0, "yesterday": 1}
_DAY_WORD_TIME = re.compile(
    r"^(今天|今日|昨天|昨日|前天|today|yesterday)\s*(?:(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?)?$",
    re.IGNORECASE,
)
_CN_DATE = re.compile(
    r"^(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"
    r"(?:\s*(上午|下午|晚上|凌晨|中午)?\s*(\d{1,2})\s*[:：时点]\s*(\d{1,2})?\s*分?(?:[:：](\d{2})\s*秒?)?)?$"
)
_MONTH_DAY_TIME = re.compile(r"^(\d{1,2})[-/.](\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_NUMERIC = re.compile(r"^\d{9,13}(?:\.\d+)?$")
_JUST_NOW = frozenset({"刚刚", "刚才", "just now", "now", "moments ago", "a moment ago"})


def _cn_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "半":
        return 0
    if text.startswith("十"):  # 十二 = 12
        return 10 + (_CN_DIGITS.get(text[1:], 0) if len(text) > 1 else 0)
    if "十" in text:  # 二十三 = 23
        tens, _, ones = text.partition("十")
        return _CN_DIGITS[tens] * 10 + (_CN_DIGITS[ones] if ones else 0)
    return _CN_DIGITS[text]


def _to_utc(value: datetime, assume_tz: tzinfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=assume_tz)
    return value.astimezone(UTC)


def _relative(text: str, now: datetime) -> datetime | None:
    lowered = text.lower()
    if lowered in _JUST_NOW:
        return now
    match = _RELATIVE_ZH.match(text)
    if match:
        amount_text, unit = match.groups()
        # "半小时前" = half an hour ago, "半天前" = half a day
        seconds = (
            _UNIT_SECONDS[unit] / 2 if amount_text == "半" else _cn_number(amount_text) * _UNIT_SECONDS[unit]
        )
        return now - timedelta(seconds=seconds)
    match = _RELATIVE_EN.match(lowered)
    if match:
        amount_text, unit = match.groups()
        amount = 1 if amount_text in ("a", "an", "one") else int(amount_text)
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    return None


def _hour_24(hour: int, period: str | None) -> int:
    if period in ("下午", "晚上") and hour < 12:
        return hour + 12
    if period == "中午" and hour < 11:
        return hour + 12
    if period == "凌晨" and hour == 12:
        return 0
    return hour


def _local_forms(text: str, now: datetime, assume_tz: tzinfo) -> datetime | None:
    """Forms read on the site's local calendar: 昨天 14:30, 11月28日, 11-28 09:15."""
    local_now = now.astimezone(assume_tz)
    match = _DAY_WORD_TIME.match(text)
    if match:
        word, hour, minute, second = match.groups()
        date = local_now.date() - timedelta(days=_DAY_WORDS[word.lower()])
        if hour is None:
            # A bare "昨天" carries only the day: noon of that day is the least wrong instant,
            # but never later than now.
            return min(datetime(date.year, date.month, date.day, 12, tzinfo=assume_tz), local_now)
        return datetime(
            date.year, date.month, date.day, int(hour), int(minute), int(second or 0), tzinfo=assume_tz
        )
    match = _CN_DATE.match(text)
    if match:
        year, month, day, period, hour, minute, second = match.groups()
        hour_value = _hour_24(int(hour), period) if hour else 0
        candidate = datetime(
            int(year) if year else local_now.year,
            int(month),
            int(day),
            hour_value,
            int(minute or 0),
            int(second or 0),
            tzinfo=assume_tz,
        )
        if not year and candidate - local_now > FUTURE_TOLERANCE:
            candidate = candidate.replace(year=candidate.year - 1)  # "12月30日" read in January
        return candidate
    match = _MONTH_DAY_TIME.match(text)
    if match:
        month, day, hour, minute, second = match.groups()
        candidate = datetime(
            local_now.year, int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=assume_tz
        )
        if candidate - local_now > FUTURE_TOLERANCE:
            candidate = candidate.replace(year=candidate.year - 1)
        return candidate
    return None


def from_timestamp(value: float) -> datetime | None:
    """Unix time in seconds or milliseconds (APIs use both)."""
    if value > 1e11:  # milliseconds: 1e11 s would be the year 5138
        value /= 1000.0
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_published(
    value: str | float | int | datetime | None, now: datetime, assume_tz: tzinfo = UTC
) -> datetime | None:
    """A published time in UTC, or None when the value is absent, unreadable or implausible.

    ``now`` must be timezone-aware. Implausible means before 1995 or more than two hours in the
    future: such a time is a site error and would distort freshness scores.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    parsed: datetime | None
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = _to_utc(value, assume_tz)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = from_timestamp(float(value))
    else:
        parsed = _parse_text(str(value), now, assume_tz)
    return plausible(parsed, now)


def plausible(value: datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    if value < EARLIEST_PLAUSIBLE or value - now > FUTURE_TOLERANCE:
        return None
    return value


def _parse_text(raw: str, now: datetime, assume_tz: tzinfo) -> datetime | None:
    text = " ".join(raw.replace("\u3000", " ").split())
    if not text:
        return None
    if _NUMERIC.match(text):
        return from_timestamp(float(text))
    for attempt in (_relative(text, now), _local_forms(text, now, assume_tz)):
        if attempt is not None:
            return attempt.astimezone(UTC)
    # RFC 822 (RSS pubDate) first: dateutil misreads some of its zone names.
    try:
        rfc = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        rfc = None
    if rfc is not None:
        return _to_utc(rfc, assume_tz)
    try:
        return _to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")), assume_tz)
    except ValueError:
        pass
    # "2026/11/28 08:00", "28 Nov 2026", "Nov 28, 2026 8:00 PM": dateutil, strict (no fuzzy
    # matching: fuzzy parsing turns any text containing a month name into a date).
    try:
        return _to_utc(dateutil_parser.parse(text, fuzzy=False), assume_tz)
    except (ValueError, OverflowError):
        return None
