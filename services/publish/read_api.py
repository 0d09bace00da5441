"""The read side over the stored items, as its own process (``python -m services.publish.read_api``):
a FastAPI app with the JSON API under /api/v1 (OpenAPI at /openapi.json), RSS/Atom/JSON feeds under
/feeds, the server-rendered web page at / and /items/{id}, and /healthz, /readyz.

Read-only apart from the view counter: opening an item page counts a view (see views.py: no bots,
one per client per item per hour, nothing personal stored); API listings and feeds never do.
Input is validated by FastAPI: the JSON API and the feeds answer 422 on bad input, the pages a page
(400 "bad link" with the page without the bad part, 404 for an id that cannot exist). Page sizes
are capped, and every client address gets a token bucket (429 with Retry-After when empty).
Pages, feeds and health checks answer HEAD (headers only) for monitors and link checkers.
Swagger UI and ReDoc are off: they load their scripts from a CDN, and nothing here may.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import AliasChoices, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.publish.feeds import FeedContext, FeedFormat, FeedLanguage, render_feed
from services.publish.queries import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    InvalidCursor,
    ItemFilter,
    ItemPage,
    ItemQueries,
    SortKey,
    StoredItemInvalid,
    TagCount,
)
from services.publish.revisions import merged_target
from services.publish.security_headers import SecurityHeaders
from services.publish.views import ViewGate
from services.publish.web.render import Display, ListView, WebRenderer
from shared.core.item_times import last_news_update
from shared.events import ID_PATTERN
from shared.items import Item
from shared.settings import Settings
from shared.storage import MongoStore

log = logging.getLogger("newsroom.read_api")

WEB_DIR = Path(__file__).parent / "web"
FEED_SIZE = 50
TAG_CACHE_SECONDS = 60.0

# Ids are opaque strings from the pipeline (ID_PATTERN, shared.events): short and printable.
TAG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ItemOut(Item):
    """An item as the API returns it: ``id`` (like the list) rather than MongoDB's ``_id``;
    ``published_at`` is when the news first appeared, ``updated_at`` when it was last updated as news
    (the latest source's report; shared/core/item_times.py)."""

    id: str = Field(validation_alias=AliasChoices("_id", "id"), serialization_alias="id")

    @classmethod
    def from_item(cls, item: Item) -> ItemOut:
        return cls.model_validate(dict(with_reader_times(item)))


def with_reader_times(item: Item) -> Item:
    """``updated_at`` as readers are told it: the last time the story moved on as news
    (shared/core/item_times.py), not when this pipeline last rewrote the record."""
    updated = last_news_update(item.version, item.published_at, item.updated_at, item.sources)
    return item.model_copy(update={"updated_at": updated})


def client_address(request: Request) -> str:
    # The socket peer, not X-Forwarded-For: that header is whatever the client says it is.
    return request.client.host if request.client else "unknown"


# --- rate limiting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """Per-client token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    per_second: float = 20.0
    burst: int = 60
    max_clients: int = 10_000  # least recently seen clients are forgotten beyond this


class TokenBuckets:
    def __init__(self, limit: RateLimit, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.monotonic = monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """0.0 if the request may go ahead, else the seconds until a token is available."""
        now = self.monotonic()
        tokens, stamp = self._buckets.pop(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - stamp) * self.limit.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.limit.per_second
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.limit.max_clients:
            self._buckets.popitem(last=False)
        return wait


class RateLimitMiddleware(BaseHTTPMiddleware):
    # Health checks and static files are not limited: probes and CSS must not be throttled.
    EXEMPT_PREFIXES = ("/healthz", "/readyz", "/static/")

    def __init__(
        self, app: Any, buckets: TokenBuckets, page_answer: Callable[[Request], Response] | None = None
    ) -> None:
        super().__init__(app)
        self.buckets = buckets
        self.page_answer = page_answer  # what a reader's page says instead of the JSON

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith(self.EXEMPT_PREFIXES):
            return await call_next(request)
        wait = self.buckets.take(client_address(request))
        if wait > 0:
            retry_after = {"Retry-After": str(max(1, math.ceil(wait)))}
            if self.page_answer is not None and is_page(request.url.path):
                page = self.page_answer(request)
                page.headers.update(retry_after)
                return page
            return JSONResponse(
                {"detail": "rate limit exceeded, retry later"}, status_code=429, headers=retry_after
            )
        return await call_next(request)


class HeadWithoutBody:
    """A HEAD answer is the GET answer's status and headers (Content-Length included) without the
    body, whichever ASGI server runs the app (uvicorn drops it as well)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_headers_only)


# --- reader-facing errors ---------------------------------------------------------------------

# Paths a program reads (JSON answers stay JSON there, 422 on bad input); every other path is a
# page a person opened, and answers a page.
MACHINE_PREFIXES = ("/api/", "/feeds/", "/static/", "/healthz", "/readyz", "/openapi.json")
# What each page parameter takes, for the "bad link" page.
PAGE_PARAMETERS = {
    "lang": "en, zh or both",
    "sort": "hot, quality, impact, time or updated",
    "view": "cards or list",
    "tag": "a tag id such as chips",
    "q": "at most 200 characters",
    "cursor": "a link from the “More” button of the same list",
}


def is_page(path: str) -> bool:
    return not path.startswith(MACHINE_PREFIXES)


def page_display(request: Request) -> Display:
    """The language the reader asked for, or both when the link did not say (or said nonsense)."""
    lang = request.query_params.get("lang")
    return "en" if lang == "en" else "zh" if lang == "zh" else "both"


def without_parameters(request: Request, bad: set[str]) -> str:
    """The same page without the parameters that were wrong (a tag in capitals is the same tag)."""
    kept: list[tuple[str, str]] = []
    for name, value in request.query_params.multi_items():
        if name == "tag" and name in bad and re.fullmatch(TAG_PATTERN, value.strip().lower()):
            kept.append((name, value.strip().lower()))
        elif name not in bad:
            kept.append((name, value))
    return request.url.path + ("?" + urlencode(kept) if kept else "")


def problem_lines(names: set[str]) -> list[str]:
    return [
        f"{name} ({PAGE_PARAMETERS[name]})" if name in PAGE_PARAMETERS else name for name in sorted(names)
    ]


# --- small caches -----------------------------------------------------------------------------


class TagCache:
    """Tag counts scan the collection: computed at most once a minute."""

    def __init__(self, queries: ItemQueries, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.queries = queries
        self.monotonic = monotonic
        self._value: list[TagCount] | None = None
        self._stamp = -math.inf
        self._lock = asyncio.Lock()

    async def get(self) -> list[TagCount]:
        async with self._lock:
            if self._value is None or self.monotonic() - self._stamp > TAG_CACHE_SECONDS:
                self._value = await self.queries.tag_counts()
                self._stamp = self.monotonic()
            return self._value

    async def label(self, tag_id: str, language: FeedLanguage) -> str | None:
        for tag in await self.get():
            if tag.id == tag_id:
                return tag.en if language == "en" else tag.zh
        return None


# --- the app ----------------------------------------------------------------------------------

Language = Literal["en", "zh", "other"]


def _filters(
    tag: str | None,
    entity: str | None,
    language: Language | None,
    since: datetime | None,
    until: datetime | None,
    min_hot: float | None,
    min_quality: float | None,
    min_impact: float | None,
) -> ItemFilter:
    def aware(value: datetime | None) -> datetime | None:
        # A time without an offset is taken as UTC (the API documents this).
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    return ItemFilter(
        tag=tag,
        entity=entity,
        language=language,
        since=aware(since),
        until=aware(until),
        min_hot=min_hot,
        min_quality=min_quality,
        min_impact=min_impact,
    )


TagQ = Annotated[str | None, Query(pattern=TAG_PATTERN, description="Tag id, e.g. `chips`")]
EntityQ = Annotated[str | None, Query(pattern=ID_PATTERN, description="Entity id, e.g. `openai`")]
LanguageQ = Annotated[Language | None, Query(description="Language of origin")]
SinceQ = Annotated[datetime | None, Query(description="Published at or after (ISO 8601; no offset = UTC)")]
UntilQ = Annotated[datetime | None, Query(description="Published before (ISO 8601; no offset = UTC)")]
ScoreQ = Annotated[float | None, Query(ge=0, le=100)]
SortQ = Annotated[
    SortKey, Query(description="Descending; `time` = first appearance, `updated` = last change")
]
LimitQ = Annotated[int, Query(ge=1, description=f"Page size; values above {MAX_PAGE_SIZE} are capped")]
CursorQ = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")]
ItemIdP = Annotated[str, PathParam(pattern=ID_PATTERN)]
DisplayQ = Annotated[Literal["en", "zh", "both"], Query(description="Language shown: en, zh or both")]
ViewQ = Annotated[ListView, Query(description="cards (default) or list (compact)")]
SearchQ = Annotated[str | None, Query(max_length=200, description="Search words")]


def create_read_app(
    store: MongoStore,
    settings: Settings,
    *,
    rate_limit: RateLimit | None = RateLimit(),
    clock: Clock = utc_now,
    view_gate: ViewGate | None = None,
) -> FastAPI:
    """The read-side app over ``store``. ``rate_limit=None`` turns limiting off (benchmarks);
    ``clock`` is what "now" is for relative times and empty feeds; ``view_gate`` decides which
    item-page requests count as views (a fresh one by default)."""
    queries = ItemQueries(store, list_projection=settings.publish.list_projection)
    views = view_gate or ViewGate()
    tags = TagCache(queries)
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    web = WebRenderer(templates, clock)

    app = FastAPI(
        title="AI Newsroom read API",
        version="1",
        summary="Bilingual AI-industry news items with Hot, Quality and Impact scores.",
        description=(
            "Read-only access to the published items. Lists are cursor-paginated: pass the "
            "`next_cursor` of a page as `cursor` to get the next one (with the same `sort`). "
            "Search matches every word of `q` (Chinese is segmented) in titles, summaries, tags, "
            "entities, key phrases and source titles. Requests are rate limited per client (429)."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.queries = queries
    busy_pages: dict[Display, bytes] = {}

    def busy_page(request: Request) -> Response:
        # Rendered once per language: a client over its limit must not cost a render per request.
        display = page_display(request)
        if display not in busy_pages:
            busy_pages[display] = bytes(web.bad_link(request, display, 429, [], "/").body)
        return HTMLResponse(busy_pages[display], status_code=429)

    if rate_limit is not None:
        app.add_middleware(RateLimitMiddleware, buckets=TokenBuckets(rate_limit), page_answer=busy_page)
    app.add_middleware(SecurityHeaders)  # services/publish/security_headers.py (issue 13)
    app.add_middleware(HeadWithoutBody)
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")

    def bad_link(request: Request, names: set[str]) -> Response:
        return web.bad_link(
            request, page_display(request), 400, problem_lines(names), without_parameters(request, names)
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError) -> Response:
        # A program gets FastAPI's 422 with the details; a reader who followed a stale or edited
        # link gets a page: 404 for an item id that cannot exist (as for one that does not), else
        # "bad link" with the same page without the values that were wrong.
        if not is_page(request.url.path):
            return await request_validation_exception_handler(request, exc)
        errors = exc.errors()
        if any(error["loc"][:1] == ("path",) for error in errors):
            return web.not_found(request, page_display(request))
        return bad_link(
            request, {str(error["loc"][-1]) for error in errors if error["loc"][:1] == ("query",)}
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_page(request.url.path) or exc.status_code not in (404, 500):
            return await http_exception_handler(request, exc)
        return web.bad_link(request, page_display(request), exc.status_code, [], "/")

    async def page_or_422(run: Callable[[], Awaitable[ItemPage]]) -> ItemPage:
        try:
            return await run()
        except InvalidCursor as exc:
            raise HTTPException(status_code=422, detail=f"invalid cursor: {exc}") from exc

    # --- health -----------------------------------------------------------------------------

    def head_too(path: str, endpoint: Callable[..., Any]) -> None:
        """HEAD beside a documented GET (uptime monitors and link checkers use it), not listed twice
        in the OpenAPI document."""
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up (does not touch MongoDB)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "MongoDB unreachable"}})
    async def readyz() -> JSONResponse:
        """Ready to serve: MongoDB answers."""
        if await store.ping():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "reason": "MongoDB does not answer"}, status_code=503)

    head_too("/healthz", healthz)
    head_too("/readyz", readyz)

    # --- JSON API ---------------------------------------------------------------------------

    @app.get("/api/v1/items", response_model=ItemPage, tags=["items"])
    async def list_items(
        tag: TagQ = None,
        entity: EntityQ = None,
        language: LanguageQ = None,
        since: SinceQ = None,
        until: UntilQ = None,
        min_hot: ScoreQ = None,
        min_quality: ScoreQ = None,
        min_impact: ScoreQ = None,
        sort: SortQ = "hot",
        limit: LimitQ = DEFAULT_PAGE_SIZE,
        cursor: CursorQ = None,
    ) -> ItemPage:
        """Items, newest Hot first by default, with filters."""
        filters = _filters(tag, entity, language, since, until, min_hot, min_quality, min_impact)
        return await page_or_422(lambda: queries.list_items(filters, sort, limit, cursor))

    @app.get("/api/v1/search", response_model=ItemPage, tags=["items"])
    async def search(
        q: Annotated[str, Query(min_length=1, max_length=200, description="Words, English or Chinese")],
        tag: TagQ = None,
        entity: EntityQ = None,
        language: LanguageQ = None,
        since: SinceQ = None,
        until: UntilQ = None,
        min_hot: ScoreQ = None,
        min_quality: ScoreQ = None,
        min_impact: ScoreQ = None,
        sort: SortQ = "hot",
        limit: LimitQ = DEFAULT_PAGE_SIZE,
        cursor: CursorQ = None,
    ) -> ItemPage:
        """Full-text search in both languages."""
        filters = _filters(tag, entity, language, since, until, min_hot, min_quality, min_impact)
        try:
            return await page_or_422(lambda: queries.search(q, filters, sort, limit, cursor))
        except ValueError as exc:  # a query of only stopwords or punctuation
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @app.get(
        "/api/v1/items/{item_id}",
        response_model=ItemOut,
        tags=["items"],
        responses={
            404: {"description": "No such item"},
            307: {"description": "The story was merged into another one: its item (Location)"},
        },
    )
    async def get_item(item_id: ItemIdP) -> Any:
        """One item in full: analysis, sources, provenance, QA flags, disclaimer. An item whose
        story was merged into another redirects (307) to that story's item."""
        item = await _load(queries, item_id)
        target = await _merged_into(queries, item_id, item)
        if target is not None:
            return _redirect(f"/api/v1/items/{target}", target)
        if item is None:
            raise HTTPException(status_code=404, detail="no such item")
        return ItemOut.from_item(item)

    @app.post(
        "/api/v1/items/{item_id}/view",
        status_code=204,
        tags=["items"],
        responses={404: {"description": "No such item"}},
    )
    async def count_view(request: Request, item_id: ItemIdP) -> Response:
        """Count a view of the item by an app that shows items itself (the web page counts its own).
        Same rules as the page: bots by User-Agent are ignored, one view per client per item per
        hour; 204 either way."""
        if await queries.get_item(item_id) is None:
            raise HTTPException(status_code=404, detail="no such item")
        if views.admit(client_address(request), request.headers.get("user-agent"), item_id):
            await queries.increment_views(item_id)
        return Response(status_code=204)

    @app.get("/api/v1/tags", response_model=list[TagCount], tags=["items"])
    async def list_tags() -> list[TagCount]:
        """Tags in use, most used first (refreshed every minute)."""
        return await tags.get()

    # --- feeds ------------------------------------------------------------------------------

    async def feed(request: Request, language: FeedLanguage, fmt: FeedFormat, tag: str | None) -> Response:
        page = await queries.list_items(ItemFilter(tag=tag), sort="time", limit=FEED_SIZE)
        configured = settings.publish.public_base_url.rstrip("/")
        # Without a configured base the links take the request's Host header, which the client
        # chooses: such an answer is for that client only (a shared cache keyed on the path would
        # hand one client's Host to everyone). With the base configured it is the same for all.
        site = configured or str(request.base_url).rstrip("/")
        cache = (
            {"Cache-Control": "public, max-age=60"}
            if configured
            else {"Cache-Control": "private, max-age=60", "Vary": "Host"}
        )
        label = await tags.label(tag, language) if tag else None
        ctx = FeedContext(
            language=language,
            site_url=site,
            feed_url=configured + request.url.path if configured else str(request.url.replace(query="")),
            updated_fallback=clock(),
            tag_id=tag,
            tag_label=label,
        )
        body, media_type = render_feed(page.items, ctx, fmt)
        return Response(body, media_type=media_type, headers=cache)

    feed_responses: dict[int | str, dict[str, Any]] = {
        200: {
            "content": {"application/rss+xml": {}, "application/atom+xml": {}, "application/feed+json": {}},
            "description": "RSS 2.0, Atom 1.0 or JSON Feed 1.1",
        }
    }

    @app.get("/feeds/{language}.{fmt}", tags=["feeds"], response_class=Response, responses=feed_responses)
    async def language_feed(request: Request, language: FeedLanguage, fmt: FeedFormat) -> Response:
        """The latest items in one language: `/feeds/en.rss`, `/feeds/zh.atom`, `/feeds/en.json`."""
        return await feed(request, language, fmt, None)

    @app.get(
        "/feeds/tags/{tag}/{language}.{fmt}",
        tags=["feeds"],
        response_class=Response,
        responses=feed_responses,
    )
    async def tag_feed(
        request: Request,
        tag: Annotated[str, PathParam(pattern=TAG_PATTERN)],
        language: FeedLanguage,
        fmt: FeedFormat,
    ) -> Response:
        """The latest items of one tag: `/feeds/tags/chips/zh.rss`."""
        return await feed(request, language, fmt, tag)

    head_too("/feeds/{language}.{fmt}", language_feed)
    head_too("/feeds/tags/{tag}/{language}.{fmt}", tag_feed)

    # --- web pages --------------------------------------------------------------------------

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    async def home(
        request: Request,
        lang: DisplayQ = "both",
        tag: TagQ = None,
        sort: SortQ = "hot",
        cursor: CursorQ = None,
        view: ViewQ = "cards",
        q: SearchQ = None,
    ) -> Response:
        filters = ItemFilter(tag=tag)
        query = (q or "").strip() or None
        query_error = False
        try:
            if query is None:
                page = await queries.list_items(filters, sort, DEFAULT_PAGE_SIZE, cursor)
            else:
                page = await queries.search(query, filters, sort, DEFAULT_PAGE_SIZE, cursor)
        except InvalidCursor:  # a stale "More" link (another sort, an older cursor format)
            return bad_link(request, {"cursor"})
        except ValueError:
            if query is None:
                raise
            page, query_error = ItemPage(items=[], next_cursor=None), True  # only stopwords: nothing to find
        next_url = None
        if page.next_cursor:
            params = {
                "lang": lang,
                "sort": sort,
                "cursor": page.next_cursor,
                "tag": tag,
                "q": query,
                "view": view if view != "cards" else None,
            }
            next_url = "/?" + urlencode({k: v for k, v in params.items() if v})
        return web.list_page(
            request,
            page.items,
            await tags.get(),
            lang,
            tag,
            sort,
            next_url,
            view=view,
            query=query,
            query_error=query_error,
        )

    @app.api_route(
        "/items/{item_id}", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    async def item_page(request: Request, item_id: ItemIdP, lang: DisplayQ = "both") -> Response:
        item = await _load(queries, item_id)
        target = await _merged_into(queries, item_id, item)
        if target is not None:  # the story was merged: its page is the other story's page
            return _redirect(f"/items/{target}" + (f"?lang={lang}" if lang != "both" else ""), target)
        if item is None:
            return web.not_found(request, lang)
        # A reader opened the page: count it (HEAD requests, bots and repeat visits within the hour
        # do not count). The page shows the count including this view.
        if (
            request.method == "GET"
            and views.admit(client_address(request), request.headers.get("user-agent"), item_id)
            and await queries.increment_views(item_id)
        ):
            item = item.model_copy(update={"views": item.views + 1})
        return web.item_page(request, with_reader_times(item), lang)

    return app


async def _merged_into(queries: ItemQueries, item_id: str, item: Item | None) -> str | None:
    """The story an ended story's members went to (services/publish/revisions.py), else None."""
    if item is not None:
        return item.merged_into if item.status == "merged" else None
    return await merged_target(queries.store, item_id)


def _redirect(url: str, target: str) -> Response:
    # 307, not 301: a merge is a clustering decision that a later revision may undo.
    return RedirectResponse(url, status_code=307, headers={"X-Merged-Into": target})


async def _load(queries: ItemQueries, item_id: str) -> Item | None:
    try:
        return await queries.get_item(item_id)
    except StoredItemInvalid as exc:
        log.error("%s", exc)
        raise HTTPException(status_code=500, detail="the stored item is not readable") from exc


def main() -> None:
    """Serve the read side on settings.publish.api_host:api_port."""
    import uvicorn

    from shared.adapters.zh_lexicon_cache import use_lexicon_cache
    from shared.logs import configure_logging
    from shared.settings import load_settings

    settings = load_settings()
    configure_logging("api", settings.log_level)
    use_lexicon_cache(settings.lexicon_cache_dir)  # search queries segment Chinese with it
    store = MongoStore(settings.require_mongo_url(), settings.mongo_db, settings.mongo_driver)
    limit = RateLimit(per_second=settings.publish.api_rate_per_s, burst=settings.publish.api_burst)
    app = create_read_app(store, settings, rate_limit=limit)
    uvicorn.run(
        app, host=settings.publish.api_host, port=settings.publish.api_port, log_config=None, access_log=False
    )


if __name__ == "__main__":
    main()
