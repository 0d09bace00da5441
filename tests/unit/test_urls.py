"""Canonical URLs and article ids."""

from __future__ import annotations

import pytest

from shared.core.urls import InvalidURLError, article_id, canonical_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # scheme/host case, default port, fragment, trailing slash, tracking params, sorted query
        (
            "HTTPS://WWW.Reuters.com:443/technology/openai-gpt/?utm_source=x&utm_medium=y&b=2&a=1#top",
            "https://reuters.com/technology/openai-gpt?a=1&b=2",
        ),
        ("http://example.com:80/a/b/", "https://example.com/a/b"),
        ("https://example.com/a?fbclid=abc&gclid=def&ref=hn", "https://example.com/a"),
        # Chinese sites' share markers
        (
            "https://36kr.com/p/3551208841122311?spm=a2c6h.1.0&from=timeline&isappinstalled=0",
            "https://36kr.com/p/3551208841122311",
        ),
        # AMP renditions and mobile hosts
        (
            "https://amp.theverge.com/2026/11/10/openai-gpt-5-5/amp/",
            "https://theverge.com/2026/11/10/openai-gpt-5-5",
        ),
        ("https://m.cnbc.com/2026/11/11/story.html?amp", "https://cnbc.com/2026/11/11/story.html"),
        ("https://mobile.example.com/news/1.amp.html", "https://example.com/news/1.html"),
        ("https://www.example.com/news/1?outputType=amp", "https://example.com/news/1"),
        # content parameters are kept (they identify the article)
        (
            "https://example.com/article.php?id=42&cid=7&p=3",
            "https://example.com/article.php?cid=7&id=42&p=3",
        ),
        ("https://example.com/news?output=json", "https://example.com/news?output=json"),
        # a non-default port is part of the address
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        # WeChat article: identity in __biz/mid/idx/sn, the rest is share tracking
        (
            "https://mp.weixin.qq.com/s?__biz=MzA&mid=22&idx=1&sn=abc&chksm=zz&scene=21#wechat_redirect",
            "https://mp.weixin.qq.com/s?__biz=MzA&idx=1&mid=22&sn=abc",
        ),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("https://m.example.com/a/b/?utm_campaign=z&x=1#f")
    assert canonical_url(once) == once


def test_idna_and_percent_encoding_spellings_agree() -> None:
    assert canonical_url("https://bücher.example/a") == canonical_url("https://xn--bcher-kva.example/a")
    assert canonical_url("https://bücher.example/a").startswith("https://xn--bcher-kva.example")
    assert canonical_url("https://example.com/新闻/1") == canonical_url(
        "https://example.com/%E6%96%B0%E9%97%BB/1"
    )


@pytest.mark.parametrize("raw", ["ftp://example.com/a", "/relative/path", "not a url", "https:///nohost"])
def test_non_http_urls_are_refused(raw: str) -> None:
    with pytest.raises(InvalidURLError):
        canonical_url(raw)


def test_article_id_is_stable_across_spellings_and_distinct_across_articles() -> None:
    first = article_id("https://www.reuters.com/technology/a/?utm_source=twitter")
    assert first == article_id("http://reuters.com/technology/a#comments")
    assert first == article_id("https://amp.reuters.com/technology/a/amp")
    assert first != article_id("https://www.reuters.com/technology/b/")
    assert len(first) == 24 and all(c in "0123456789abcdef" for c in first)
