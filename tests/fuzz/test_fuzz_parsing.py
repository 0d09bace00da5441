"""Bad input into the parsing and extraction core and the fetch decoder: random and mutated feeds
and pages, huge and deeply nested documents, entity-expansion (billion laughs) and external-entity
XML, invalid UTF-8 and mixed encodings, compression bombs. Each input gives a clean result or the
module's own clear error; nothing else escapes, and what comes out stays bounded in size.
(Time is bounded by pytest-timeout on each test, not asserted.)"""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.fetch import Fetcher, FetchError
from shared.core.extraction import decode_html, extract_article, html_to_text
from shared.core.feeds import FeedParseError, ParsedFeed, parse_feed

# Catches an input that never ends (the suite's default is 300 s). Not a speed limit: a loaded
# 2-core machine took 87 s for the slowest test here (120 s was the limit then).
pytestmark = pytest.mark.timeout(600)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "sample_corpus"
SEEDS = sorted(
    p.read_bytes()
    for p in CORPUS.rglob("*")
    if p.is_file() and p.suffix in (".xml", ".rss", ".atom", ".json", ".html")
)[:12]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_OUT_CHARS = 20_000_000


def parse_or_reason(raw: bytes, kind: str = "rss") -> ParsedFeed | FeedParseError:
    try:
        return parse_feed(raw, kind, base_url="https://feed.example.org/", now=NOW)
    except FeedParseError as exc:
        assert str(exc), "a parse error must say why"
        return exc


def check_feed_result(result: ParsedFeed | FeedParseError) -> None:
    if isinstance(result, ParsedFeed):
        for entry in result.entries:
            assert isinstance(entry.title, str) and isinstance(entry.url, str)
            assert entry.url.startswith(("http://", "https://")), entry.url  # no javascript: links
            size = len(entry.title) + len(entry.summary_html or "") + len(entry.content_html or "")
            assert size < MAX_OUT_CHARS


def mutate(seed: bytes, positions: list[int], values: list[int], cut: int) -> bytes:
    data = bytearray(seed[: max(1, len(seed) * cut // 100)])
    for pos, value in zip(positions, values, strict=False):
        if data:
            data[pos % len(data)] = value
    return bytes(data)


@FUZZ
@given(raw=st.binary(max_size=4096), kind=st.sampled_from(["rss", "atom", "jsonfeed"]))
def test_random_bytes_into_parse_feed(raw: bytes, kind: str) -> None:
    check_feed_result(parse_or_reason(raw, kind))


@pytest.mark.skipif(not SEEDS, reason="no sample corpus")
@FUZZ
@given(
    which=st.integers(0, 100),
    positions=st.lists(st.integers(0, 10**6), max_size=40),
    values=st.lists(st.integers(0, 255), max_size=40),
    cut=st.integers(1, 100),
)
def test_mutated_corpus_feeds(which: int, positions: list[int], values: list[int], cut: int) -> None:
    seed = SEEDS[which % len(SEEDS)]
    check_feed_result(parse_or_reason(mutate(seed, positions, values, cut)))


def rss(items: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<rss version="2.0"><channel><title>t</title>'
        f"<link>https://feed.example.org/</link>{items}</channel></rss>"
    ).encode()


def test_billion_laughs_is_not_expanded() -> None:
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    prolog = f'<!DOCTYPE rss [<!ENTITY lol0 "lol">{lol}]>'
    raw = rss("<item><title>&lol9;</title><link>https://feed.example.org/a</link></item>", prolog)
    result = parse_or_reason(raw)
    check_feed_result(result)
    if isinstance(result, ParsedFeed):  # a title of 10^9 "lol"s would be 3 GB
        assert all(len(e.title) < 100_000 for e in result.entries)


def test_external_entities_are_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    prolog = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    raw = rss("<item><title>a &xxe; b</title><link>https://feed.example.org/a</link></item>", prolog)
    result = parse_or_reason(raw)
    if isinstance(result, ParsedFeed):
        assert all("TOP-SECRET" not in (e.title + (e.summary_html or "")) for e in result.entries)


def test_huge_and_deeply_nested_feeds() -> None:
    # Sizes far beyond any real feed (the real ones have at most 100 entries) and beyond any parser
    # depth limit (libxml2: 256; Python recursion: 1000); the cost grows linearly with them, so
    # larger ones only took longer (20k entries and 100k levels: ~50 s of the suite).
    many = "".join(
        f"<item><title>Story {i}</title><link>https://feed.example.org/{i}</link></item>"
        for i in range(5_000)
    )
    result = parse_or_reason(rss(many))
    assert isinstance(result, ParsedFeed) and len(result.entries) == 5_000
    nested = "<div>" * 25_000 + "deep" + "</div>" * 25_000
    deep = rss(
        f"<item><title>Deep</title><link>https://feed.example.org/d</link>"
        f"<description><![CDATA[{nested}]]></description></item>"
    )
    check_feed_result(parse_or_reason(deep))
    check_feed_result(parse_or_reason(rss("<x>" * 25_000)))


def test_invalid_utf8_and_mixed_encodings() -> None:
    gbk_title = "英伟达发布新芯片".encode("gbk")
    mixed = rss("<item><title>UTF-8 标题 " + "</title><link>https://feed.example.org/m</link></item>")
    mixed = mixed.replace(b"</title>", b" " + gbk_title + b" \xff\xfe\xc3</title>")
    result = parse_or_reason(mixed)
    check_feed_result(result)
    if isinstance(result, ParsedFeed):
        assert result.encoding  # says what it decoded with (replacement characters if any)


@FUZZ
@given(
    raw=st.binary(max_size=8192), declared=st.sampled_from([None, "utf-8", "gbk", "big5", "latin-1", "bogus"])
)
def test_random_pages_into_decode_and_extract(raw: bytes, declared: str | None) -> None:
    html = decode_html(raw, declared)
    assert isinstance(html, str)
    result = extract_article(html, "https://page.example.org/a", now=NOW)
    assert result is None or isinstance(result.text, str)
    assert isinstance(html_to_text(html), str)


@FUZZ
@given(text=st.text(max_size=2000), depth=st.integers(0, 3000))
def test_generated_html_into_extract(text: str, depth: int) -> None:
    html = f"<html><body>{'<div><p>' * depth}{text}{'</p></div>' * depth}</body></html>"
    result = extract_article(html.encode("utf-8", "surrogatepass"), "https://page.example.org/a", now=NOW)
    assert result is None or len(result.text) <= len(html)


def test_huge_page_is_extracted_or_refused() -> None:
    paragraph = "<p>" + "The board approved the budget after a long debate about the harbour. " * 20 + "</p>"
    html = "<html><body><article>" + paragraph * 3000 + "</article></body></html>"  # ~4 MB
    result = extract_article(html, "https://page.example.org/huge", now=NOW)
    assert result is None or 0 < len(result.text) <= len(html)
    deep = "<html><body>" + "<div>" * 100_000 + "<p>deep text</p>" + "</div>" * 100_000 + "</body></html>"
    deep_result = extract_article(deep, "https://page.example.org/deep", now=NOW)
    assert deep_result is None or "deep text" in deep_result.text


# --- compression bombs through the fetch adapter ---------------------------------------------------


def bombs() -> dict[str, tuple[bytes, str]]:
    zeros = b"\0" * 50_000_000
    return {
        "gzip": (gzip.compress(zeros), "gzip"),
        "deflate-zlib": (zlib.compress(zeros, 9), "deflate"),
        "deflate-raw": (zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).compress(zeros) + b"", "deflate"),
        "gzip-of-gzip": (gzip.compress(gzip.compress(zeros)), "gzip"),
        "corrupt-gzip": (gzip.compress(b"<rss>" * 1000)[:-30] + b"\x00garbage", "gzip"),
        "unknown-encoding": (b"<rss></rss>", "br"),
    }


@pytest.mark.parametrize("name", list(bombs()))
async def test_compression_bombs_are_stopped_with_a_reason(name: str) -> None:
    body, encoding = bombs()[name]

    def handler(request: httpx.Request) -> httpx.Response:
        # A streamed body, as a real server's: the fetcher decodes the bytes itself.
        return httpx.Response(
            200,
            stream=httpx.ByteStream(body),
            headers={"Content-Encoding": encoding, "Content-Type": "application/rss+xml"},
        )

    async def public(host: str, port: int) -> list[object]:
        import ipaddress

        return [ipaddress.ip_address("93.184.216.34")]

    fetcher = Fetcher(
        "test",
        transport=httpx.MockTransport(handler),
        resolver=public,  # type: ignore[arg-type]
        max_bytes=5 * 1024 * 1024,
        per_host_interval_s=0.0,
    )
    try:
        result = await fetcher.fetch("https://bomb.example.org/feed")
    except FetchError as exc:
        assert exc.kind in ("too_large", "decompression"), exc.kind
        assert str(exc)
        return
    finally:
        await fetcher.aclose()
    # Only a body that fits the caps may come back (gzip-of-gzip: the outer layer is small).
    assert len(result.content) <= 5 * 1024 * 1024
