import gzip
import ipaddress
import logging
import random
from pathlib import Path

import httpx
import pytest

from shared.adapters.fetch import (
    BlockedAddressError,
    Fetcher,
    FetchError,
    FetchPolicy,
    IPAddress,
    SourceGate,
    Validators,
    forbidden_reason,
)

PUBLIC = {"news.example.com": "93.184.216.34", "cdn.example.net": "151.101.1.1", "evil.example": "10.0.0.7"}


async def fake_resolver(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        return [ipaddress.ip_address(PUBLIC[host])]


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    # A streamed body, as a real server's: the fetcher reads raw bytes and decodes them itself.
    return httpx.Response(status, stream=httpx.ByteStream(body), headers=headers)


def fetcher(handler, **kwargs) -> Fetcher:  # type: ignore[no-untyped-def]
    return Fetcher(
        "NewsroomTest/1.0 (+https://example.org/bot)",
        resolver=fake_resolver,
        transport=httpx.MockTransport(handler),
        per_host_interval_s=0.0,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("address", "allow_private", "refused"),
    [
        ("93.184.216.34", False, False),
        ("127.0.0.1", False, True),
        ("127.0.0.1", True, False),
        ("10.1.2.3", False, True),
        ("192.168.1.5", False, True),
        ("100.64.0.1", False, True),  # carrier-grade NAT is not public
        ("::1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("169.254.169.254", True, True),  # metadata: refused even when private is allowed
        ("fd00:ec2::254", True, True),
        ("100.100.100.200", True, True),
        ("169.254.10.10", True, True),  # link-local
        ("0.0.0.0", True, True),
        ("224.0.0.1", True, True),
    ],
)
def test_forbidden_addresses(address: str, allow_private: bool, refused: bool) -> None:
    assert (forbidden_reason(ipaddress.ip_address(address), allow_private) is not None) == refused


async def test_redirect_to_loopback_is_refused_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:8080/admin"})

    caplog.set_level(logging.WARNING, logger="newsroom.fetch")
    async with fetcher(handler) as f:
        with pytest.raises(BlockedAddressError, match=r"127\.0\.0\.1"):
            await f.fetch("https://news.example.com/feed", FetchPolicy(source_id="wire"))
    assert seen == ["https://news.example.com/feed"]  # the second hop was never requested
    assert any("SSRF guard refused" in r.getMessage() and "wire" in r.getMessage() for r in caplog.records)


async def test_redirect_to_metadata_is_refused_even_for_a_private_source() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    policy = FetchPolicy(private_origins=frozenset({("news.example.com", 443)}), source_id="local")
    async with fetcher(handler) as f:
        with pytest.raises(BlockedAddressError, match="metadata"):
            await f.fetch("https://news.example.com/feed", policy)


async def test_host_resolving_to_private_address_is_refused() -> None:
    async with fetcher(lambda r: reply(200, b"x")) as f:
        with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.7"):
            await f.fetch("https://evil.example/feed")


async def test_non_http_schemes_are_refused() -> None:
    async with fetcher(lambda r: httpx.Response(200)) as f:
        with pytest.raises(FetchError) as info:
            await f.fetch("gopher://news.example.com/")
    assert info.value.kind == "bad_url"


async def test_redirects_are_capped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("n", "0"))
        return httpx.Response(302, headers={"Location": f"/loop?n={n + 1}"})

    async with fetcher(handler, max_redirects=3) as f:
        with pytest.raises(FetchError) as info:
            await f.fetch("https://news.example.com/loop")
    assert info.value.kind == "redirects"


async def test_conditional_get_sends_validators_and_honours_304() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return reply(200, b"<rss/>", {"ETag": '"v1"', "Last-Modified": "Fri, 27 Nov 2026 10:00:00 GMT"})

    async with fetcher(handler) as f:
        first = await f.fetch("https://news.example.com/feed")
        second = await f.fetch("https://news.example.com/feed", validators=first.validators)
    assert first.content == b"<rss/>" and not first.not_modified
    assert first.validators == Validators('"v1"', "Fri, 27 Nov 2026 10:00:00 GMT")
    assert second.not_modified and second.content == b""
    assert requests[1].headers["if-modified-since"] == "Fri, 27 Nov 2026 10:00:00 GMT"
    assert requests[0].headers["user-agent"].startswith("NewsroomTest/1.0")


async def test_http_errors_carry_status_and_retry_after() -> None:
    async with fetcher(lambda r: httpx.Response(429, headers={"Retry-After": "120"})) as f:
        with pytest.raises(FetchError) as info:
            await f.fetch("https://news.example.com/feed")
    error = info.value
    assert (error.kind, error.status, error.retry_after, error.transient) == ("http", 429, 120.0, True)
    async with fetcher(lambda r: httpx.Response(404)) as f:
        with pytest.raises(FetchError) as info:
            await f.fetch("https://news.example.com/feed")
    assert not info.value.transient


async def test_size_cap_by_header_and_by_stream() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/declared":
            return reply(200, b"x" * 5000, {"Content-Length": "5000"})
        return reply(200, b"x" * 5000)  # no Content-Length: counted while streaming

    async with fetcher(handler, max_bytes=1000) as f:
        for path in ("/declared", "/streamed"):
            with pytest.raises(FetchError) as info:
                await f.fetch("https://news.example.com" + path)
            assert info.value.kind == "too_large"


async def test_gzip_is_decoded_and_a_zip_bomb_is_stopped() -> None:
    page = b"<html>" + b"news " * 2000 + b"</html>"
    bomb = gzip.compress(b"\0" * 20_000_000)

    def handler(request: httpx.Request) -> httpx.Response:
        body = bomb if request.url.path == "/bomb" else gzip.compress(page)
        return reply(200, body, {"Content-Encoding": "gzip"})

    async with fetcher(handler, max_bytes=50_000_000, max_decompression_ratio=100) as f:
        ok = await f.fetch("https://news.example.com/page")
        assert ok.content == page and ok.transferred_bytes < len(page)
        with pytest.raises(FetchError) as info:
            await f.fetch("https://news.example.com/bomb")
    assert info.value.kind == "decompression"


async def test_mirrors_and_file_urls_with_mtime_validator(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.html").write_bytes(b"<p>hello</p>")
    async with fetcher(
        lambda r: httpx.Response(500), mirrors={"https://corpus.example/": site.as_uri() + "/"}
    ) as f:
        first = await f.fetch("https://corpus.example/a.html?utm_source=x")
        again = await f.fetch("https://corpus.example/a.html", validators=first.validators)
        with pytest.raises(FetchError) as info:
            await f.fetch("https://corpus.example/missing.html")
    assert first.content == b"<p>hello</p>" and again.not_modified
    assert info.value.kind == "file"


def test_gate_backs_off_exponentially_with_jitter_and_honours_retry_after() -> None:
    gate = SourceGate(
        poll_interval_s=300, backoff_base_s=10, backoff_max_s=1000, breaker_threshold=10, rng=random.Random(1)
    )
    delays = [gate.record_failure(now=0.0) for _ in range(5)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(1000, 10 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert gate.record_failure(now=0.0, retry_after=900) >= 900
    assert gate.record_success(now=10.0) == 300 and gate.failures == 0 and gate.next_attempt_at == 310


def test_circuit_opens_then_half_opens_for_one_trial() -> None:
    gate = SourceGate(
        poll_interval_s=60,
        backoff_base_s=1,
        backoff_max_s=10,
        breaker_threshold=3,
        breaker_cooldown_s=600,
        rng=random.Random(2),
    )
    for _ in range(3):
        gate.record_failure(now=0.0)
    assert gate.state == "open" and gate.next_attempt_at >= 600
    assert not gate.ready(now=300)
    assert gate.ready(now=601) and gate.state == "half_open"
    gate.record_failure(now=601)  # the trial failed: open again for a full cooldown
    assert gate.state == "open" and gate.next_attempt_at >= 1201
    assert gate.ready(now=1300)
    gate.record_success(now=1300)
    assert gate.state == "closed"


# --- issue 13.1: remote content never reaches the filesystem ---------------------------------


async def test_a_file_url_is_read_only_for_a_configured_local_source(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("NEWSROOM_LLM__API_KEY=sk-do-not-publish")
    async with fetcher(lambda r: reply(200, b"ok")) as f:
        for url in (secret.as_uri(), f"file://localhost{secret}", f"file:{secret}"):
            with pytest.raises(FetchError) as info:
                await f.fetch(url, FetchPolicy(source_id="feed-item"))
            assert info.value.kind == "bad_url", url
        configured = await f.fetch(secret.as_uri(), FetchPolicy(source_id="local", local_source=True))
    assert configured.content.startswith(b"NEWSROOM_LLM__API_KEY")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://news.example.com/a.xml",
        "gopher://news.example.com/1",
        "data:text/html,<p>hi</p>",
        "javascript:alert(1)",
        "jar:file:///etc/passwd!/",
        "/etc/passwd",
    ],
)
async def test_every_other_scheme_is_refused(url: str) -> None:
    async with fetcher(lambda r: reply(200, b"ok")) as f:
        with pytest.raises(FetchError) as info:
            await f.fetch(url, FetchPolicy(source_id="x", local_source=True))
    assert info.value.kind == "bad_url"


async def test_a_redirect_to_a_file_or_other_scheme_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    targets = {"/to-file": secret.as_uri(), "/to-ftp": "ftp://news.example.com/x"}

    def handler(request: httpx.Request) -> httpx.Response:
        return reply(302, headers={"Location": targets[request.url.path]})

    async with fetcher(handler) as f:
        for path in targets:
            with pytest.raises(FetchError) as info:
                await f.fetch("https://news.example.com" + path, FetchPolicy(local_source=True))
            assert info.value.kind == "bad_url"


async def test_a_mirrored_url_cannot_climb_out_of_the_mirror_folder(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.html").write_bytes(b"<p>inside</p>")
    (tmp_path / "secret.txt").write_text("outside")
    async with fetcher(
        lambda r: httpx.Response(500), mirrors={"https://corpus.example/": site.as_uri() + "/"}
    ) as f:
        assert (await f.fetch("https://corpus.example/a.html")).content == b"<p>inside</p>"
        for escape in ("%2e%2e/secret.txt", "..%2fsecret.txt", "a/../../secret.txt"):
            with pytest.raises(FetchError) as info:
                await f.fetch("https://corpus.example/" + escape)
            assert info.value.kind in ("bad_url", "file"), escape
