from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.core.relative_time import published_updated_label, relative_time

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "en", "zh"),
    [
        (timedelta(seconds=0), "just now", "刚刚"),
        (timedelta(seconds=59), "just now", "刚刚"),
        (timedelta(minutes=1), "1m ago", "1分钟前"),
        (timedelta(minutes=59, seconds=59), "59m ago", "59分钟前"),
        (timedelta(hours=1), "1h ago", "1小时前"),
        (timedelta(hours=17, minutes=40), "17h ago", "17小时前"),
        (timedelta(hours=23, minutes=59), "23h ago", "23小时前"),
        (timedelta(days=1), "1d ago", "1天前"),
        (timedelta(days=29, hours=23), "29d ago", "29天前"),
    ],
)
def test_relative_time_units(age: timedelta, en: str, zh: str) -> None:
    assert relative_time(NOW - age, NOW, "en") == en
    assert relative_time(NOW - age, NOW, "zh") == zh


def test_old_items_show_the_date() -> None:
    then = datetime(2026, 9, 3, 8, 0, tzinfo=UTC)
    assert relative_time(then, NOW, "en") == "2026-09-03"
    assert relative_time(then, NOW, "zh") == "2026年9月3日"


def test_future_time_from_clock_skew_reads_just_now() -> None:
    assert relative_time(NOW + timedelta(minutes=5), NOW, "en") == "just now"


def test_other_timezones_compare_by_instant() -> None:
    beijing = timezone(timedelta(hours=8))
    then = datetime(2026, 11, 20, 18, 0, tzinfo=beijing)  # 10:00 UTC
    assert relative_time(then, NOW, "en") == "2h ago"


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        relative_time(datetime(2026, 11, 20, 11, 0), NOW, "en")


def test_sample_item_label_in_both_languages() -> None:
    published = NOW - timedelta(hours=17)
    updated = NOW - timedelta(hours=1, minutes=10)
    assert published_updated_label(published, updated, NOW, "en") == "17h ago · updated 1h ago"
    assert published_updated_label(published, updated, NOW, "zh") == "17小时前 · 更新于1小时前"


def test_label_without_a_real_update_has_no_updated_part() -> None:
    published = NOW - timedelta(hours=3)
    assert published_updated_label(published, published + timedelta(seconds=20), NOW, "en") == "3h ago"
    assert published_updated_label(published, None, NOW, "zh") == "3小时前"
