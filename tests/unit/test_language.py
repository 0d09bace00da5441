"""Language detection and folding for matching."""

from __future__ import annotations

import pytest

from shared.core.language import detect_language, fold_for_matching


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
