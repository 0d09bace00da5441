"""Relative times as a reader sees them on the wire: "17h ago · updated 1h ago" / "17小时前 · 更新于1小时前".

Pure: the current time is always passed in. Times in the future (clock skew between hosts) read as
"just now" rather than as a negative age.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

DisplayLanguage = Literal["en", "zh"]

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# Past this age a relative time stops being useful: show the calendar date instead.
ABSOLUTE_AFTER = timedelta(days=30)

# An item counts as updated only when it changed at least this long after it was published;
# the publish stage writes both timestamps in the same upsert for a new item.
UPDATED_AFTER = timedelta(minutes=1)

_SEPARATOR = " · "


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")


def relative_time(then: datetime, now: datetime, language: DisplayLanguage) -> str:
    """``then`` relative to ``now``: "just now", "5m ago", "17h ago", "3d ago", or the date.

    Both datetimes must be timezone-aware: a naive one is ambiguous and raises ValueError.
    """
    _require_aware(then, "then")
    _require_aware(now, "now")
    age = now - then
    seconds = int(age.total_seconds())
    if seconds < MINUTE:
        return "just now" if language == "en" else "刚刚"
    if age >= ABSOLUTE_AFTER:
        day = then.astimezone(now.tzinfo).date()
        return day.isoformat() if language == "en" else f"{day.year}年{day.month}月{day.day}日"
    if seconds < HOUR:
        count, en_unit, zh_unit = seconds // MINUTE, "m", "分钟"
    elif seconds < DAY:
        count, en_unit, zh_unit = seconds // HOUR, "h", "小时"
    else:
        count, en_unit, zh_unit = seconds // DAY, "d", "天"
    return f"{count}{en_unit} ago" if language == "en" else f"{count}{zh_unit}前"


def published_updated_label(
    published_at: datetime, updated_at: datetime | None, now: datetime, language: DisplayLanguage
) -> str:
    """ "17h ago · updated 1h ago" (en) or "17小时前 · 更新于1小时前" (zh); the "updated" part only
    when the item changed after it was published."""
    published = relative_time(published_at, now, language)
    if updated_at is None or updated_at - published_at < UPDATED_AFTER:
        return published
    updated = relative_time(updated_at, now, language)
    prefix = "updated " if language == "en" else "更新于"
    return f"{published}{_SEPARATOR}{prefix}{updated}"
