"""Money, numbers, percentages and dates in English and Chinese."""

from __future__ import annotations

import pytest

from shared.core.money import (
    USD_PER_UNIT,
    chinese_numeral,
    find_dates,
    find_years,
    parse_amounts,
    parse_numbers,
    parse_percentages,
)


def only_amount(text: str) -> tuple[float, str, float | None]:
    (amount,) = parse_amounts(text)
    return amount.value, amount.currency, amount.usd


@pytest.mark.parametrize(
    "text",
    ["$500 million", "US$0.5 billion", "5亿美元", "近5亿美元", "Uber invested nearly $500 million in Nuro",
     "追加投资近5亿美元", "500 million dollars", "五亿美元", "$0.5bn"],
)  # fmt: skip
def test_the_same_amount_however_it_is_written(text: str) -> None:
    assert only_amount(text) == (500_000_000.0, "USD", 500_000_000.0)


def test_approximation_is_recorded_not_lost() -> None:
    (near,) = parse_amounts("近5亿美元")
    (nearly,) = parse_amounts("nearly $500 million")
    (over,) = parse_amounts("超过3亿元")
    assert near.approx == nearly.approx == "near"
    assert over.approx == "over"
    assert parse_amounts("$500 million")[0].approx is None


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("500万美元", 5_000_000, "USD"),
        ("人民币3亿元", 300_000_000, "CNY"),
        ("3亿元人民币", 300_000_000, "CNY"),
        ("¥3亿", 300_000_000, "CNY"),
        ("1.2万亿元", 1.2e12, "CNY"),
        ("售价9.9万元起", 99_000, "CNY"),
        ("15 million euros", 15_000_000, "EUR"),
        ("€2bn", 2e9, "EUR"),
        ("HK$3 billion", 3e9, "HKD"),
        ("priced at $799.", 799, "USD"),
        ("$1,250,000", 1_250_000, "USD"),
    ],
)
def test_amounts_and_currencies(text: str, value: float, currency: str) -> None:
    got_value, got_currency, usd = only_amount(text)
    assert got_value == pytest.approx(value)
    assert got_currency == currency
    assert usd == pytest.approx(value * USD_PER_UNIT[currency], rel=1e-6)


@pytest.mark.parametrize(
    "text", ["1.2万亿", "数亿美元", "多元化经营", "一周处置1500多个账号", "2026年", "GPT-5"]
)
def test_numbers_without_a_currency_are_not_money(text: str) -> None:
    assert parse_amounts(text) == []


def test_bare_scaled_numbers_are_quantities_with_the_same_value_in_both_languages() -> None:
    zh = [n.value for n in parse_numbers("参数规模达1.2万亿,处置1500多个账号")]
    en = [n.value for n in parse_numbers("1.2 trillion parameters, 1,500 accounts")]
    assert zh == en == [1.2e12, 1500.0]


def test_several_amounts_in_text_order() -> None:
    text = "完成20亿美元种子轮融资,估值达100亿美元;另获人民币5000万元"
    assert [(a.value, a.currency) for a in parse_amounts(text)] == [
        (2e9, "USD"),
        (1e10, "USD"),
        (5e7, "CNY"),
    ]


def test_chinese_numerals() -> None:
    assert chinese_numeral("三千五百") == 3500
    assert chinese_numeral("十二") == 12
    assert chinese_numeral("两") == 2
    assert chinese_numeral("abc") is None


def test_percentages_and_percentage_points() -> None:
    found = parse_percentages(
        "销量暴涨34%,毛利率下降1.7个百分点; sales rose 34 percent, up 3 percentage points"
    )
    assert [(p.value, p.points) for p in found] == [(34.0, False), (1.7, True), (34.0, False), (3.0, True)]
    assert parse_percentages("百分之四十")[0].value == 40


def test_dates_in_both_languages_compare_by_value() -> None:
    zh = find_dates("最早2027年2月发货,预计5月14日发布")
    en = find_dates("shipping no earlier than February 2027, expected on May 14")
    assert [(d.year, d.month, d.day) for d in zh] == [(2027, 2, None), (None, 5, 14)]
    assert [(d.year, d.month, d.day) for d in en] == [(2027, 2, None), (None, 5, 14)]
    assert [(d.year, d.month, d.day) for d in find_dates("on 2026-05-14 and May 14, 2026")] == [
        (2026, 5, 14),
        (2026, 5, 14),
    ]


def test_the_verb_may_is_not_a_month() -> None:
    assert find_dates("the company may 3D print parts") == []


def test_years() -> None:
    assert find_years("In 2026 it said 2027年 and 2026 again; $2026 and 20260 are not years") == [2026, 2027]
