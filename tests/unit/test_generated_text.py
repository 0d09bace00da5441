"""Issue 13.2: model-written text carries no link, e-mail address or markup of its own."""

from __future__ import annotations

import pytest

from shared.core.generated_text import sanitize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Read more at http://evil.test/phish today.", "Read more at today."),
        ("Visit https://evil.test/login?u=1#x now", "Visit now"),
        ("Go to www.evil-site.com/offer for details", "Go to for details"),
        ("See evil.test/phish.", "See."),
        ("Mail press@evil.test for the deal.", "Mail for the deal."),
        ("Click [here](http://evil.test) to claim", "Click here to claim"),
        ("![logo](https://evil.test/x.png)Logo", "logoLogo"),
        ('<a href="http://evil.test">Nuro</a> raised money', "Nuro raised money"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;Text", "alert(1) Text"),
        ("Try javascript:alert(1) or data:text/html,hi", "Try or"),
        ("更多信息请访问 http://evil.test/phish 。", "更多信息请访问。"),
        ("联系 bd@evil.cn 获取报价", "联系 获取报价"),
        ("the domain openai.com hosts it", "the domain hosts it"),
        ("see <http://evil.test/a>", "see"),
        ("ftp://files.evil.test/a.zip", ""),
    ],
)
def test_links_addresses_and_markup_are_removed(text: str, expected: str) -> None:
    assert sanitize(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Revenue rose 3.5% to $1.2 billion in 2026.",
        "GPT-4.5 and Node.js run on ASP.NET, said the U.S. firm.",
        "Uber对Nuro追加投资近5亿美元,累计承诺额惊人。",
        "First paragraph.\n\nSecond paragraph, e.g. a list: a < b and c > d.",
        "Version 2.0/3.1 compared; TCP/IP stacks.",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert sanitize(text) == text


def test_sanitize_is_idempotent_and_keeps_paragraphs() -> None:
    text = "Uber invests.\n\n\n\nVisit http://evil.test/phish or write to a@b.co.\n\nNuro grows."
    once = sanitize(text)
    assert once == "Uber invests.\n\nVisit or write to.\n\nNuro grows." and sanitize(once) == once
