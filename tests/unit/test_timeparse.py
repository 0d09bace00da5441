from datetime import UTC, datetime, timedelta

import pytest

from shared.core.timeparse import BEIJING, parse_published

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # 14:00 in Beijing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("刚刚", NOW),
        ("3小时前", NOW - timedelta(hours=3)),
        ("十分钟前", NOW - timedelta(minutes=10)),
        ("半小时前", NOW - timedelta(minutes=30)),
        ("2天前", NOW - timedelta(days=2)),
        ("2 hours ago", NOW - timedelta(hours=2)),
        ("an hour ago", NOW - timedelta(hours=1)),
    ],
)
def test_relative_times(text: str, expected: datetime) -> None:
    assert parse_published(text, NOW, BEIJING) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Beijing wall-clock times: UTC is eight hours earlier.
        ("昨天 14:30", datetime(2026, 11, 27, 6, 30, tzinfo=UTC)),
        ("今天 09:00", datetime(2026, 11, 28, 1, 0, tzinfo=UTC)),
        ("前天 23:10", datetime(2026, 11, 26, 15, 10, tzinfo=UTC)),
        ("2026年11月28日", datetime(2026, 11, 27, 16, 0, tzinfo=UTC)),
        ("2026年11月27日 08:05", datetime(2026, 11, 27, 0, 5, tzinfo=UTC)),
        ("11月27日 下午3:05", datetime(2026, 11, 27, 7, 5, tzinfo=UTC)),
        ("11-25 18:30", datetime(2026, 11, 25, 10, 30, tzinfo=UTC)),
        ("2026-11-26 16:40", datetime(2026, 11, 26, 8, 40, tzinfo=UTC)),
    ],
)
def test_chinese_calendar_forms_are_beijing_time(text: str, expected: datetime) -> None:
    assert parse_published(text, NOW, BEIJING) == expected


def test_year_less_date_in_the_future_means_last_year() -> None:
    january = datetime(2027, 1, 3, 4, 0, tzinfo=UTC)
    assert parse_published("12月30日 10:00", january, BEIJING) == datetime(2026, 12, 30, 2, 0, tzinfo=UTC)


def test_absolute_formats_with_zones() -> None:
    assert parse_published("Fri, 27 Nov 2026 22:10:00 +0800", NOW) == datetime(
        2026, 11, 27, 14, 10, tzinfo=UTC
    )
    assert parse_published("2026-11-27T10:00:00Z", NOW) == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert parse_published("2026-11-27T21:40:00+08:00", NOW) == datetime(2026, 11, 27, 13, 40, tzinfo=UTC)


def test_unix_seconds_and_milliseconds() -> None:
    expected = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    assert parse_published(1795782600, NOW) == expected
    assert parse_published("1795782600000", NOW) == expected


@pytest.mark.parametrize("value", ["", None, "hello", "not a date 123", "2031-01-01T00:00:00Z", "1970-01-02"])
def test_unreadable_or_implausible_gives_none(value: str | None) -> None:
    assert parse_published(value, NOW) is None


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_published("3小时前", datetime(2026, 11, 28, 6, 0))
