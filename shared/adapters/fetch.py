"""Fetching like a good citizen, and safely.

- httpx (async) with connect/read timeouts and an overall deadline per fetch;
- conditional GET (ETag / Last-Modified): an unchanged feed costs a 304 and no body;
- per-host politeness: a concurrency cap and a minimum interval between requests to one host;
- an honest User-Agent; response size cap, and a decompression cap (gzip/deflate are decoded here,
  chunk by chunk with a bounded output, so a small "zip bomb" cannot expand in memory);
- redirects followed by hand (at most ``max_redirects``) so that every hop is checked;
- SSRF guard: private, loopback, link-local, multicast and reserved addresses are refused unless
  the source opted in for its own host; cloud metadata addresses are always refused. The check
  runs on the resolved addresses before every hop, and again inside the connection layer at
  connect time (the socket goes to the vetted address), so DNS rebinding cannot slip past it;
- local files only where the operator configured them: a source whose own URL is ``file:``
  (``sources.yaml``, ``newsroom up --once FILE``) is read when the fetch's policy says so
  (``FetchPolicy.local_source``), and mirrors (URL prefix → local folder, the offline corpus) read
  inside their folder only. A URL that remote content carries (an item link, a redirect, a
  submitted URL) is never read from disk, and every scheme but http(s) is refused.

Per-source retry policy (backoff with jitter, circuit breaker) is ``SourceGate``: the scheduler
asks it when a source may be polled again.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import logging
import random
import socket
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urljoin, urlsplit

import httpcore
import httpx

log = logging.getLogger("newsroom.fetch")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

# Cloud metadata services: never a news source, always refused (even with allow_private).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "168.63.129.16")
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)

FailureKind = Literal[
    "blocked",
    "timeout",
    "network",
    "http",
    "too_large",
    "decompression",
    "redirects",
    "bad_url",
    "file",
    "circuit_open",
]


class FetchError(Exception):
    """A fetch that did not produce a body. ``kind`` is a small fixed set (a metrics label);
    ``retry_after`` is the server's Retry-After in seconds when it sent one."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.url = url
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth retrying later (timeouts, network, 429 and 5xx); the rest needs a config change."""
        if self.kind in ("timeout", "network", "circuit_open"):
            return True
        return self.kind == "http" and self.status is not None and (self.status == 429 or self.status >= 500)


class BlockedAddressError(FetchError):
    """The SSRF guard refused the URL (private/loopback/link-local/metadata address)."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__("blocked", message, url=url)


@dataclass(frozen=True)
class FetchPolicy:
    """What one fetch may reach: (host, port) pairs allowed on private addresses (from a source
    that opted in with allow_private). Empty = public addresses only."""

    private_origins: frozenset[tuple[str, int]] = frozenset()
    source_id: str = "-"
    # True only for the fetch of a configured source's own URL: the one place a file: URL (the
    # operator's local feed) may be read. Item links, redirects and submitted URLs never set it.
    local_source: bool = False

    def allows_private(self, host: str, port: int) -> bool:
        return (host.lower(), port) in self.private_origins


@dataclass(frozen=True)
class Validators:
    """Conditional-GET state of one URL, kept between polls."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass
class FetchResult:
    url: str  # as requested (before mirrors and redirects)
    final_url: str
    status: int
    content: bytes
    content_type: str | None
    declared_encoding: str | None  # charset from Content-Type, if any
    validators: Validators
    not_modified: bool = False
    redirects: list[str] = field(default_factory=list)
    transferred_bytes: int = 0  # bytes on the wire (compressed)

    @property
    def base_url(self) -> str:
        """The URL relative links resolve against: the requested (public) URL, or where the
        redirects led; never the mirror's local address."""
        return self.redirects[-1] if self.redirects else self.url


def forbidden_reason(address: IPAddress, allow_private: bool) -> str | None:
    """Why an address may not be fetched, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_link_local:
        return f"{address} is link-local"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return f"{address} is not a unicast host address"
    if address.is_global:
        return None
    if allow_private:
        return None
    kind = "loopback" if address.is_loopback else "private or non-global"
    return f"{address} is a {kind} address and the source does not allow private addresses"


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


# The policy of the fetch running in this task, read by the connection layer at connect time.
_CURRENT_POLICY: contextvars.ContextVar[FetchPolicy | None] = contextvars.ContextVar(
    "newsroom_fetch_policy", default=None
)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses forbidden addresses, and connects to the vetted address
    (so the address checked is the address used: no DNS-rebinding window). TLS still verifies the
    certificate against the host name: httpcore passes the origin's name as SNI."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        policy = _CURRENT_POLICY.get()
        allow = policy is not None and policy.allows_private(host, port)
        try:
            addresses = await self._resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        last_error: Exception | None = None
        for address in addresses:
            reason = forbidden_reason(address, allow)
            if reason is not None:
                last_error = httpcore.ConnectError(f"SSRF guard: {host} resolved to {reason}")
                continue
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"no address for {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(resolver: Resolver, max_connections: int = 50) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx does not take a network backend; its pool does. Same options as httpx's own defaults.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=max_connections,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=GuardedNetworkBackend(resolver),
    )
    return transport


class HostLimiter:
    """Per-host politeness: at most ``concurrency`` requests in flight to one host and at least
    ``min_interval_s`` between the starts of two requests to it."""

    def __init__(
        self, concurrency: int = 2, min_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.concurrency = concurrency
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._next_start: dict[str, float] = {}

    def _for(self, host: str) -> tuple[asyncio.Semaphore, asyncio.Lock]:
        if host not in self._semaphores:
            self._semaphores[host] = asyncio.Semaphore(self.concurrency)
            self._locks[host] = asyncio.Lock()
        return self._semaphores[host], self._locks[host]

    async def acquire(self, host: str) -> asyncio.Semaphore:
        semaphore, lock = self._for(host)
        await semaphore.acquire()
        try:
            async with lock:
                wait = self._next_start.get(host, 0.0) - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_start[host] = self._clock() + self.min_interval_s
        except BaseException:
            semaphore.release()
            raise
        return semaphore


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip("'\"").lower()
    return None


class _Decoder:
    """Content-Encoding decoder with bounded output (size cap and expansion-ratio cap)."""

    def __init__(self, encoding: str, url: str, max_bytes: int, max_ratio: float) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self.max_ratio = max_ratio
        self.raw_total = 0
        self.out = bytearray()
        self.encoding = encoding
        self._zlib: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = None  # decided on the first bytes: zlib-wrapped or raw deflate
        elif encoding not in ("", "identity"):
            raise FetchError("decompression", f"unsupported Content-Encoding {encoding!r}", url=url)

    def _check(self) -> None:
        if len(self.out) > self.max_bytes:
            raise FetchError("too_large", f"body larger than {self.max_bytes} bytes", url=self.url)
        if (
            self.encoding not in ("", "identity")
            and len(self.out) > 64 * 1024
            and (len(self.out) > self.max_ratio * max(self.raw_total, 1))
        ):
            raise FetchError(
                "decompression", f"decompression ratio above {self.max_ratio:.0f}:1", url=self.url
            )

    def feed(self, chunk: bytes) -> None:
        self.raw_total += len(chunk)
        if self.encoding in ("", "identity"):
            self.out += chunk
            self._check()
            return
        if self._zlib is None:  # deflate: RFC says zlib format, some servers send raw deflate
            looks_zlib = len(chunk) >= 2 and (chunk[0] & 0x0F) == 8 and ((chunk[0] << 8) | chunk[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if looks_zlib else -zlib.MAX_WBITS)
        data = chunk
        try:
            while data:
                # Bound each step's output so one chunk cannot expand without limit.
                budget = max(1, self.max_bytes + 1 - len(self.out))
                self.out += self._zlib.decompress(data, budget)
                self._check()
                data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise FetchError("decompression", f"corrupt {self.encoding} body: {exc}", url=self.url) from exc

    def finish(self) -> bytes:
        if self._zlib is not None:
            try:
                self.out += self._zlib.flush()
            except zlib.error as exc:
                raise FetchError(
                    "decompression", f"corrupt {self.encoding} body: {exc}", url=self.url
                ) from exc
            self._check()
        return bytes(self.out)


class Fetcher:
    """One shared HTTP client for all sources. ``fetch`` returns the body or raises FetchError."""

    def __init__(
        self,
        user_agent: str,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 15.0,
        total_timeout_s: float = 30.0,
        max_bytes: int = 5 * 1024 * 1024,
        max_decompression_ratio: float = 100.0,
        max_redirects: int = 5,
        per_host_concurrency: int = 2,
        per_host_interval_s: float = 1.0,
        mirrors: Mapping[str, str] | None = None,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.total_timeout_s = total_timeout_s
        self.max_bytes = max_bytes
        self.max_ratio = max_decompression_ratio
        self.max_redirects = max_redirects
        self.mirrors = dict(sorted((mirrors or {}).items(), key=lambda kv: -len(kv[0])))
        self.resolver: Resolver = resolver or system_resolver
        self.limiter = HostLimiter(per_host_concurrency, per_host_interval_s)
        self._client = httpx.AsyncClient(
            transport=transport or guarded_transport(self.resolver),
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            follow_redirects=False,
            trust_env=False,  # no environment proxies: the guard must see the real destination
            headers={"User-Agent": user_agent},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def mirrored(self, url: str) -> str:
        return self._mirror(url)[0]

    def _mirror(self, url: str) -> tuple[str, Path | None]:
        """Where ``url`` is fetched from, and the folder a file: mirror must stay inside."""
        for prefix, target in self.mirrors.items():
            if url.startswith(prefix):
                folder = Path(unquote(urlsplit(target).path)) if target.startswith("file:") else None
                return target + url[len(prefix) :], folder
        return url, None

    async def check_url(self, url: str, policy: FetchPolicy) -> None:
        """Refuse a URL whose scheme or resolved addresses are not allowed (logged)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("bad_url", f"not an http(s) URL: {url!r}", url=url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self.resolver(parts.hostname, port)
        except OSError as exc:
            raise FetchError("network", f"cannot resolve {parts.hostname}: {exc}", url=url) from exc
        allow = policy.allows_private(parts.hostname, port)
        for address in addresses:
            reason = forbidden_reason(address, allow)
            if reason is not None:
                log.warning(
                    "SSRF guard refused %s for source %s: %s",
                    url,
                    policy.source_id,
                    reason,
                    extra={"source": policy.source_id, "url": url, "address": str(address)},
                )
                raise BlockedAddressError(f"refused {url}: {reason}", url=url)

    async def fetch(
        self,
        url: str,
        policy: FetchPolicy | None = None,
        validators: Validators | None = None,
        accept: str = DEFAULT_ACCEPT,
    ) -> FetchResult:
        policy = policy or FetchPolicy()
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file" and policy.local_source:
            return self._read_file(url, url, validators)
        if scheme not in ("http", "https"):
            log.warning(
                "refused a %s: URL for source %s: %.200s",
                scheme or "scheme-less",
                policy.source_id,
                url,
                extra={"source": policy.source_id, "url": url[:200]},
            )
            raise FetchError("bad_url", f"not an http(s) URL: {url[:200]!r}", url=url)
        target, folder = self._mirror(url)
        if folder is not None:
            return self._read_file(url, target, validators, inside=folder)
        token = _CURRENT_POLICY.set(policy)
        try:
            async with asyncio.timeout(self.total_timeout_s):
                return await self._fetch_http(url, target, policy, validators or Validators(), accept)
        except TimeoutError as exc:
            raise FetchError(
                "timeout", f"no complete answer within {self.total_timeout_s:.0f} s", url=url
            ) from exc
        finally:
            _CURRENT_POLICY.reset(token)

    async def _fetch_http(
        self, url: str, target: str, policy: FetchPolicy, validators: Validators, accept: str
    ) -> FetchResult:
        redirects: list[str] = []
        current = target
        for _hop in range(self.max_redirects + 1):
            await self.check_url(current, policy)
            headers = {"Accept": accept, "Accept-Encoding": "gzip, deflate"}
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
            host = (urlsplit(current).hostname or "").lower()
            semaphore = await self.limiter.acquire(host)
            try:
                request = self._client.build_request("GET", current, headers=headers)
                try:
                    response = await self._client.send(request, stream=True)
                except httpx.TimeoutException as exc:
                    raise FetchError(
                        "timeout", f"timeout talking to {host}: {type(exc).__name__}", url=url
                    ) from exc
                except httpx.HTTPError as exc:
                    if "SSRF guard" in str(exc):
                        log.warning(
                            "SSRF guard refused %s at connect for source %s: %s",
                            current,
                            policy.source_id,
                            exc,
                        )
                        raise BlockedAddressError(f"refused {current}: {exc}", url=url) from exc
                    raise FetchError("network", f"{type(exc).__name__}: {exc}", url=url) from exc
                try:
                    if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        redirects.append(current)
                        continue
                    new_validators = Validators(
                        etag=response.headers.get("etag") or validators.etag,
                        last_modified=response.headers.get("last-modified") or validators.last_modified,
                    )
                    if response.status_code == 304:
                        return FetchResult(
                            url,
                            current,
                            304,
                            b"",
                            None,
                            None,
                            new_validators,
                            not_modified=True,
                            redirects=redirects,
                            transferred_bytes=0,
                        )
                    if response.status_code >= 400:
                        raise FetchError(
                            "http",
                            f"HTTP {response.status_code} from {host}",
                            url=url,
                            status=response.status_code,
                            retry_after=_retry_after(response.headers.get("retry-after"), time.time()),
                        )
                    body, transferred = await self._read_body(response, url)
                    content_type = response.headers.get("content-type")
                    return FetchResult(
                        url,
                        current,
                        response.status_code,
                        body,
                        content_type,
                        _charset(content_type),
                        new_validators,
                        redirects=redirects,
                        transferred_bytes=transferred,
                    )
                finally:
                    await response.aclose()
            finally:
                semaphore.release()
        raise FetchError("redirects", f"more than {self.max_redirects} redirects", url=url)

    async def _read_body(self, response: httpx.Response, url: str) -> tuple[bytes, int]:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError("too_large", f"Content-Length {declared} above {self.max_bytes} bytes", url=url)
        encoding = response.headers.get("content-encoding", "").strip().lower()
        decoder = _Decoder(encoding, url, self.max_bytes, self.max_ratio)
        try:
            async for chunk in response.aiter_raw():
                decoder.feed(chunk)
        except httpx.TimeoutException as exc:
            raise FetchError("timeout", "timeout while reading the body", url=url) from exc
        except httpx.HTTPError as exc:
            raise FetchError(
                "network", f"{type(exc).__name__} while reading the body: {exc}", url=url
            ) from exc
        return decoder.finish(), decoder.raw_total

    def _read_file(
        self, url: str, target: str, validators: Validators | None, inside: Path | None = None
    ) -> FetchResult:
        parts = urlsplit(target)
        if parts.netloc not in ("", "localhost"):
            raise FetchError("bad_url", f"not a local file URL: {target!r}", url=url)
        path = Path(unquote(parts.path))
        if inside is not None:
            # A mirrored URL comes from remote content: "%2e%2e/" must not climb out of the folder.
            resolved = path.resolve()
            if not resolved.is_relative_to(inside.resolve()):
                raise FetchError("bad_url", f"{url!r} leaves the mirror folder", url=url)
        try:
            stat = path.stat()
            if stat.st_size > self.max_bytes:
                raise FetchError("too_large", f"{path} is larger than {self.max_bytes} bytes", url=url)
            # The file's mtime plays Last-Modified, so an unchanged corpus file is "not modified".
            stamp = f"mtime:{stat.st_mtime_ns}"
            if validators is not None and validators.last_modified == stamp:
                return FetchResult(url, target, 304, b"", None, None, validators, not_modified=True)
            content = path.read_bytes()
        except FetchError:
            raise
        except OSError as exc:
            raise FetchError("file", f"cannot read {path}: {exc.strerror or exc}", url=url) from exc
        content_type = {
            ".json": "application/json",
            ".html": "text/html",
            ".htm": "text/html",
            ".xml": "application/xml",
            ".rss": "application/rss+xml",
            ".atom": "application/atom+xml",
        }.get(path.suffix.lower())
        return FetchResult(
            url,
            target,
            200,
            content,
            content_type,
            None,
            Validators(last_modified=stamp),
            transferred_bytes=len(content),
        )


# --- per-source retry policy ------------------------------------------------------------------


@dataclass
class SourceGate:
    """When a source may be polled next: its poll interval after a success; exponential backoff
    with jitter after failures (at least the server's Retry-After); after ``breaker_threshold``
    consecutive failures the circuit opens and the source rests for ``breaker_cooldown_s`` before
    one trial poll (half-open). Time is passed in (monotonic or wall seconds, the caller's choice)."""

    poll_interval_s: float
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 1800.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0
    next_attempt_at: float = 0.0
    state: Literal["closed", "open", "half_open"] = "closed"

    def ready(self, now: float) -> bool:
        if now < self.next_attempt_at:
            return False
        if self.state == "open":
            self.state = "half_open"  # one trial request
        return True

    def record_success(self, now: float) -> float:
        self.failures = 0
        self.state = "closed"
        self.next_attempt_at = now + self.poll_interval_s
        return self.poll_interval_s

    def backoff_delay(self, failures: int) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** max(0, failures - 1)))
        # "Equal jitter": never less than half the ceiling, so a failing source does not hammer,
        # and spread over the other half so sources failing together do not retry together.
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def record_failure(self, now: float, retry_after: float | None = None) -> float:
        self.failures += 1
        delay = self.backoff_delay(self.failures)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        if self.state == "half_open" or self.failures >= self.breaker_threshold:
            self.state = "open"
            delay = max(delay, self.breaker_cooldown_s)
        self.next_attempt_at = now + delay
        return delay
