"""Language detection and folding for matching."""

from __future__ import annotations

import pytest

from shared.core.language import (
    detect_article_language,
    detect_language,
    fold_for_matching,
    normalise_language_tag,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nvidia forecasts fourth-quarter revenue above estimates on Rubin demand", "en"),
        ("英伟达第三财季营收712亿美元创新高，四季度指引780亿美元超预期", "zh"),
        # Traditional Chinese is Chinese
        ("輝達上季營收712億美元創新高 本季財測780億美元優於預期", "zh"),
        ("台積電亞利桑那2奈米提前 傳2027年下半年量產", "zh"),
        # Chinese headlines full of Latin brand names are still Chinese
        ("OpenAI 发布 GPT-5.5", "zh"),
        ("OpenAI CFO：与Jony Ive合作的首款硬件将于2027年底前上市", "zh"),
        # an English sentence quoting a Chinese name stays English
        ("ByteDance's Doubao (豆包) assistant comes to a ZTE phone and can operate your apps for you", "en"),
        # languages we do not handle
        ("エヌビディアは第3四半期の売上高が過去最高になったと発表した", "other"),
        ("엔비디아는 3분기 매출이 사상 최대를 기록했다고 밝혔다", "other"),
        ("La Commission propose de reporter d'un an les règles sur l'IA à haut risque", "other"),
        ("", "other"),
        ("   ", "other"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_fold_maps_traditional_to_simplified() -> None:
    assert fold_for_matching("輝達與台積電發表聲明") == "辉达与台积电发表声明"
    assert fold_for_matching("字節跳動發布豆包大模型") == fold_for_matching("字节跳动发布豆包大模型")


def test_fold_normalises_width_case_and_whitespace() -> None:
    assert fold_for_matching("  ＧＰＴ－５．５\u3000Is   HERE\n") == "gpt-5.5 is here"
    assert fold_for_matching("Straße") == "strasse"


def test_fold_leaves_simplified_text_unchanged_apart_from_case() -> None:
    assert fold_for_matching("OpenAI发布GPT-5.5") == "openai发布gpt-5.5"


# --- whole articles: body, hints and script ------------------------------------------------------

# Real teaser from the Hacker News best-stories feed (tests/data/real_feeds): lingua alone called
# title + aggregator summary "other", so translation skipped it and the item had no title.
HN_SUMMARY = "Score: 176\nComments: 112\nBy: mmsc\nDiscussion: https://news.ycombinator.com/item?id=47936347"


@pytest.mark.parametrize(
    "title",
    [
        "AISLE Discovers 38 CVEs in OpenEMR Healthcare Software",
        "AISLE Discovers 38 CVEs in OpenEMR Healthcare…",
        "Cursor Camp",
        "Bugs Rust won't catch",
        "OpenTrafficMap",
    ],
)
def test_hacker_news_teasers_are_english(title: str) -> None:
    assert detect_article_language(title, HN_SUMMARY) == "en"


def test_chinese_post_with_the_english_title_is_chinese() -> None:
    # Real: the Qwen team's Chinese post reuses the English title verbatim.
    title = "Qwen2.5 Omni: See, Hear, Talk, Write, Do It All!"
    body = (
        "我们发布了 Qwen2.5-Omni，Qwen 模型家族中新一代端到端多模态旗舰模型。该模型专为全方位多模态"
        "感知设计，能够无缝处理文本、图像、音频和视频等多种输入形式。"
    )
    assert detect_language(title) == "en"
    assert detect_article_language(title, body) == "zh"
    assert detect_article_language(title, None) == "en"


def test_english_body_wins_over_a_chinese_looking_hint() -> None:
    body = "We release Qwen2.5-Omni, the new flagship end-to-end multimodal model in the Qwen series."
    assert detect_article_language("Qwen2.5 Omni", body, configured="zh") == "en"


def test_hints_decide_short_latin_text_configured_first() -> None:
    # Brand-only titles carry no language; the source's configured language, then the feed's.
    assert detect_article_language("Kimi K2", None, configured="zh", declared="en-US") == "zh"
    assert detect_article_language("Kimi K2", None, declared="zh-cn") == "zh"
    assert detect_article_language("Kimi K2", None) == "en"


def test_long_text_in_another_language_stays_other() -> None:
    french = (
        "La Commission européenne propose de reporter d'un an l'application des règles sur les "
        "systèmes d'intelligence artificielle à haut risque, afin de laisser aux entreprises le temps "
        "de se préparer aux nouvelles obligations."
    )
    assert detect_article_language("Report des règles sur l'IA", french, declared="en") == "other"
    assert detect_article_language("", "", configured=None) == "other"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("en-US", "en"), ("zh-cn", "zh"), ("zh_Hant", "zh"), ("EN", "en"), ("fr", None), (None, None)],
)
def test_normalise_language_tag(tag: str | None, expected: str | None) -> None:
    assert normalise_language_tag(tag) == expected
