"""The read-side query layer over the ``items`` collection: list with filters, sort and cursor
pagination; one item; full-text search in English and Chinese; tag counts; the view counter.

Search: the query is segmented (Chinese with jieba's domain dictionary, Traditional folded to
Simplified) and looked up in the term index that publish keeps (services/publish/search_index.py:
postings by term, read by ``_id``, the one lookup nx-27017 answers without a scan; terms from
shared/core/search_terms.py; decoded postings kept in memory while their term's version holds,
``PostingsCache``). The matching ids give the page either by ``_id $in`` or, for a term found in
many items, by walking the list in sort order (``_walk``): whichever costs less at that share
(``ID_LIST_VS_WALK``, measured). Both read the index's sort rows (``search_sort``: an item's sort
values and language, ~150 bytes instead of ~7 KB) and then only the page's items; with a tag or
entity filter, which needs the item's arrays, they read ``items``. While the index is not complete (a
data dir from before it, being filed at publish start-up) search falls back to the scan it
replaced: every term must occur as a substring, case-insensitively, in one of the short fields
(titles, summaries, tag and entity labels, key phrases, source titles), as escaped string
``$regex`` (never a BSON regex: nx-27017 mis-evaluates those), a collection scan per search (1-2 s
at 10,000 items on nx-27017).

nx-27017 quirks this module stays clear of (all *measured*, silently empty results): equality on an
array-of-documents path (``tags.id``) once that path has an index (the items collection has one),
``$in`` and ``$regex`` on such a path, ``distinct`` on it, and excluding a nested field in a
projection. ``$elemMatch`` and top-level exclusions work on both servers. nx-27017 also evaluates
``$and``, ``$or`` and comparisons on ``_id`` or on dates in Python (a scan, ~0.3 s over 10,000
items) but flat filters of equality, numeric ranges and ``$elemMatch`` in SQL: filters are kept
flat, and cursors resume without comparing ids in the query.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from bson.codec_options import CodecOptions
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.publish.search_index import ROW_FIELDS, PostingsCache, SearchIndex
from shared.core.item_times import SourceTimes, last_news_update
from shared.core.search_terms import filter_term, query_terms
from shared.events import Bilingual, Entity, Language, Tag
from shared.items import Item
from shared.storage import ITEMS, SEARCH_SORT, MongoStore

log = logging.getLogger(__name__)

SortKey = Literal["hot", "quality", "impact", "time", "updated"]

SORT_FIELDS: dict[str, str] = {
    "hot": "scores.hot.value",
    "quality": "scores.quality.value",
    "impact": "scores.impact.value",
    "time": "published_at",
    "updated": "updated_at",
}
TIME_SORTS = frozenset({"time", "updated"})

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_QUERY_TERMS = 8
# Search through the term index reads a page of k matching ids out of n items in one of two ways
# (nx-27017, 10,000 items, measured): ``_id $in`` of all k sorted there, ~0.027 ms per id; or the
# list walked in sort order until the page fills, ~0.35 ms per item read, ~21 * n / k items. The id
# list is cheaper while k * k <= ID_LIST_VS_WALK * n (k ~1,650 at 10k items, ~5,200 at 100k).
ID_LIST_VS_WALK = 270
WALK_BATCH = 200
# The same choice over the sort rows (no filters; nx-27017, 100,000 items, load ~8, measured):
# ``_id $in`` of k rows sorted there 24-37 ms at k = 2,000, 88-130 ms at 4,000; the walk of
# 1.5 * 21 * n / k rows 101-119 ms at k = 2,000, 66-81 ms at 4,000. At 10,000 items the cross
# is near k = 700. k * k <= 80 * n: k ~2,800 at 100k items, ~900 at 10k.
ROWS_ID_LIST_VS_WALK = 80
ROWS_WALK_BATCH = 2000  # at most, per round trip
WALK_MARGIN = 1.5
# Searches whose walk length is remembered (a page fills after ~150 rows at a share of 1/7: the
# share-based batch of 1.5 times that costs nx-27017 ~1.3 ms more per search, measured).
WALK_HINTS = 2048
ITEM_COUNT_TTL_S = 60.0
ROW_TIMES = frozenset({ROW_FIELDS["time"], ROW_FIELDS["updated"]})
NAIVE_TIMES: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=False)

# A page of items (a list, or a search's page read by ``_id``) never shows the long texts (body,
# analysis). Whether to leave them out of the read depends on the server (``ListProjection``,
# setting ``NEWSROOM_PUBLISH__LIST_PROJECTION``): nx-27017 applies a projection after decoding each
# stored document, by copying it, so leaving them out costs more of its CPU than sending them (20
# items: ~5 ms with ``SHORT_PROJECTION``, ~3.5 ms without, at 10k and 100k items; the API decodes
# the longer texts in ~0.1 ms; measured, bench/README.md "h19ops"); MongoDB projects as it
# serialises the reply, and leaving them out saves about half a page's bytes (bench/read_api.py's
# items: 97 KB -> 47 KB per 20 items; more for items with long bodies).
# "auto": whole on nx-27017, short on MongoDB.
ListProjection = Literal["auto", "whole", "short"]
LIST_PROJECTION: dict[str, int] | None = None  # whole
SHORT_PROJECTION: dict[str, int] = {"body": 0, "analysis": 0}

# Fields a search term is looked for in. Arrays of documents go through $elemMatch.
SEARCH_SCALAR_FIELDS = ("title.en", "title.zh", "summary.en", "summary.zh", "keyphrases")
SEARCH_ELEMENT_FIELDS: dict[str, tuple[str, ...]] = {
    "tags": ("en", "zh"),
    "entities": ("en", "zh"),
    "sources": ("title",),
}

# Words that carry no meaning on their own; requiring them would only lose matches.
_STOPWORDS = frozenset(
    "a an and are as at by for from in is of on or the to with "
    "的 了 和 与 及 在 是 也 就 都 而 或 对 把 被 之".split()
)
_PUNCTUATION = " \t\"'“”‘’()[]{}<>,.;:!?,。;:!?、()《》【】"  # stripped as a set of characters
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORDISH = re.compile(r"\w", re.UNICODE)


class InvalidCursor(ValueError):
    """A pagination cursor that was not issued by this service for this sort order."""


class StoredItemInvalid(RuntimeError):
    """A stored document does not validate as an Item: the writer and the contract disagree."""

    def __init__(self, item_id: str, error: ValidationError) -> None:
        super().__init__(f"stored item {item_id!r} is not a valid Item: {error.error_count()} error(s)")
        self.item_id = item_id
        self.error = error


# --- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemFilter:
    tag: str | None = None
    entity: str | None = None
    language: Language | None = None  # the item's language of origin
    since: datetime | None = None  # published at or after
    until: datetime | None = None  # published before
    min_hot: float | None = None
    min_quality: float | None = None
    min_impact: float | None = None

    def clauses(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.tag:
            # $elemMatch, not {"tags.id": ...}: with the multikey index on tags.id, nx-27017 answers
            # the dotted form with nothing. MongoDB uses that index for both forms.
            out.append({"tags": {"$elemMatch": {"id": self.tag}}})
        if self.entity:
            out.append({"entities": {"$elemMatch": {"id": self.entity}}})
        if self.language:
            out.append({"origin_language": self.language})
        if self.since is not None:
            out.append({"published_at": {"$gte": self.since}})
        if self.until is not None:
            out.append({"published_at": {"$lt": self.until}})
        minimums = (("hot", self.min_hot), ("quality", self.min_quality), ("impact", self.min_impact))
        for name, minimum in minimums:
            if minimum is not None:
                out.append({SORT_FIELDS[name]: {"$gte": minimum}})
        return out

    def filter_terms(self) -> set[str]:
        """The search index's terms for the tag and entity filters (search_terms.filter_terms)."""
        wanted = (("tag", self.tag), ("entity", self.entity))
        return {filter_term(kind, value) for kind, value in wanted if value}

    def row_clauses(self, in_postings: bool = False) -> list[dict[str, Any]] | None:
        """The same filter over the search index's sort rows (search_index.sort_row), without the
        tag and entity filters when ``in_postings`` (their ``filter_terms`` are looked up with the
        query's terms); else None for those, which only the items' arrays can answer."""
        if in_postings:
            return ItemFilter(**{**self.__dict__, "tag": None, "entity": None}).row_clauses()
        if self.tag or self.entity:
            return None
        fields = {
            "scores.hot.value": "hot",
            "scores.quality.value": "quality",
            "scores.impact.value": "impact",
        }
        return [
            {fields.get(path, path): condition for path, condition in clause.items()}
            for clause in self.clauses()
        ]


# --- cursors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Position after the last item of a page: its sort value, its id (the tie-breaker) and how
    many items with that same value were already shown (so ties are resumed without comparing
    ids in the query, which nx-27017 can only do by scanning)."""

    sort: SortKey
    value: float | datetime | None
    last_id: str
    ties_shown: int = 1

    def encode(self) -> str:
        value: Any = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps(
            {"s": self.sort, "v": value, "i": self.last_id, "n": self.ties_shown}, separators=(",", ":")
        )
        return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: SortKey) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, binascii.Error, UnicodeError) as exc:
            raise InvalidCursor("cursor is not one this service issued") from exc
        if not isinstance(data, dict) or set(data) != {"s", "v", "i", "n"}:
            raise InvalidCursor("cursor is not one this service issued")
        if data["s"] != sort:
            raise InvalidCursor(f"cursor belongs to sort={data['s']!r}, not sort={sort!r}")
        last_id, raw_value, ties = data["i"], data["v"], data["n"]
        if not isinstance(last_id, str) or not last_id:
            raise InvalidCursor("cursor has no item id")
        if not isinstance(ties, int) or isinstance(ties, bool) or not 1 <= ties <= 1_000_000:
            raise InvalidCursor("cursor tie count is out of range")
        value: float | datetime | None
        if sort in TIME_SORTS:
            if not isinstance(raw_value, str):
                raise InvalidCursor("cursor has no time value")
            try:
                value = datetime.fromisoformat(raw_value)
            except ValueError as exc:
                raise InvalidCursor("cursor time is not ISO 8601") from exc
            if value.tzinfo is None:
                raise InvalidCursor("cursor time has no timezone")
        elif raw_value is None or (isinstance(raw_value, int | float) and not isinstance(raw_value, bool)):
            value = float(raw_value) if raw_value is not None else None
        else:
            raise InvalidCursor("cursor score is not a number")
        return cls(sort=sort, value=value, last_id=last_id, ties_shown=ties)


def _get_path(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# --- search terms -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _converters() -> tuple[Any, Any]:
    import opencc

    return opencc.OpenCC("t2s"), opencc.OpenCC("s2t")


def _segment(text: str) -> list[str]:
    # The compact shared tokenizer with the domain words (台积电 stays one word), not stock jieba.
    from shared.core.keyphrases import zh_tokenizer

    return [token for token in zh_tokenizer().lcut(text) if token.strip()]


def search_terms(query: str) -> list[str]:
    """The terms of a query: whitespace-separated words, Chinese runs segmented with jieba;
    NFKC-normalised, stopwords and punctuation dropped, at most MAX_QUERY_TERMS."""
    text = unicodedata.normalize("NFKC", query).strip()
    terms: list[str] = []
    for chunk in text.split():
        # Segment the Simplified form: jieba's dictionary is Simplified (臺積電 would fall apart);
        # term_variants() adds the Traditional spelling back for matching.
        tokens = _segment(_converters()[0].convert(chunk)) if _CJK.search(chunk) else [chunk]
        for token in tokens:
            token = token.strip(_PUNCTUATION)
            if not token or not _WORDISH.search(token) or token.lower() in _STOPWORDS:
                continue
            if token.lower() not in (t.lower() for t in terms):
                terms.append(token)
    return terms[:MAX_QUERY_TERMS]


def term_variants(term: str) -> list[str]:
    """The term plus its Simplified and Traditional spellings (stored text may be either)."""
    if not _CJK.search(term):
        return [term]
    to_simplified, to_traditional = _converters()
    variants = [term, to_simplified.convert(term), to_traditional.convert(term)]
    return list(dict.fromkeys(variants))


def term_pattern(term: str) -> str:
    """A literal, escaped pattern; Latin words match at a word start ("chip" finds "chips")."""
    escaped = re.escape(term)
    return rf"\b{escaped}" if re.match(r"\w", term, re.ASCII) else escaped


def search_clauses(query: str | list[str]) -> list[dict[str, Any]]:
    """One clause per term (of a query, or its ``search_terms``); each term must occur in at least
    one searched field."""
    clauses: list[dict[str, Any]] = []
    for term in search_terms(query) if isinstance(query, str) else query:
        alternatives: list[dict[str, Any]] = []
        for variant in term_variants(term):
            regex = {"$regex": term_pattern(variant), "$options": "i"}
            alternatives += [{path: regex} for path in SEARCH_SCALAR_FIELDS]
            for array, keys in SEARCH_ELEMENT_FIELDS.items():
                alternatives += [{array: {"$elemMatch": {key: regex}}} for key in keys]
        clauses.append({"$or": alternatives})
    return clauses


# --- results ----------------------------------------------------------------------------------


class ScoreValues(BaseModel):
    hot: float | None = None
    quality: float | None = None
    impact: float | None = None


class SourceLink(BaseModel):
    name: str
    url: str
    language: Language
    published_at: datetime | None = None


class ItemSummary(BaseModel):
    """What a list shows of an item: no body, no analysis. Built from a stored document."""

    model_config = ConfigDict(extra="ignore")

    id: str
    version: int
    origin_language: Language
    title: Bilingual
    summary: Bilingual
    tags: list[Tag]
    primary_tag: str
    entities: list[Entity]
    scores: ScoreValues
    sources: list[SourceLink] = Field(description="Representative source first")
    source_count: int
    published_at: datetime = Field(
        description="When the news first appeared: the earliest source "
        "publication, or first seen when a source gives no time"
    )
    updated_at: datetime = Field(
        description="Last update: when the latest source reported the story (its publication time, "
        "never after it was first seen); = published_at while no later report exists"
    )
    views: int = Field(description="Item-page views by readers (bots and repeat visits excluded)")
    ai_generated: bool

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ItemSummary:
        scores = doc.get("scores") or {}
        sources = doc.get("sources") or []
        representative = doc.get("representative_article_id")
        # Representative source first, the rest in their stored order.
        ordered = sorted(sources, key=lambda s: s.get("article_id") != representative)
        return cls(
            id=doc["_id"],
            version=doc.get("version", 1),
            origin_language=doc["origin_language"],
            title=Bilingual.model_validate(doc["title"]),
            summary=Bilingual.model_validate(doc.get("summary") or {}),
            tags=doc.get("tags") or [],
            primary_tag=doc.get("primary_tag", "untagged"),
            entities=doc.get("entities") or [],
            scores=ScoreValues(
                hot=_get_path(scores, "hot.value"),
                quality=_get_path(scores, "quality.value"),
                impact=_get_path(scores, "impact.value"),
            ),
            sources=[
                SourceLink(
                    name=s["source_name"],
                    url=s["url"],
                    language=s["language"],
                    published_at=s.get("published_at"),
                )
                for s in ordered
            ],
            source_count=len(sources),
            published_at=doc["published_at"],
            updated_at=last_news_update(
                doc.get("version", 1),
                doc["published_at"],
                doc["updated_at"],
                [SourceTimes(s.get("published_at"), s["joined_at"]) for s in sources],
            ),
            views=doc.get("views", 0),
            ai_generated=doc.get("ai_generated", True),
        )


class ItemPage(BaseModel):
    items: list[ItemSummary]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page")


class TagCount(BaseModel):
    id: str
    en: str
    zh: str
    count: int


_ITEM_KEYS = frozenset(f.alias or name for name, f in Item.model_fields.items())


def item_from_document(doc: dict[str, Any]) -> Item:
    """Validate a stored document as an Item. Storage-only keys a writer may add are dropped;
    anything else wrong raises StoredItemInvalid."""
    extra = set(doc) - _ITEM_KEYS
    if extra:
        log.debug("item %s: ignoring storage-only keys %s", doc.get("_id"), sorted(extra))
        doc = {k: v for k, v in doc.items() if k in _ITEM_KEYS}
    try:
        return Item.model_validate(doc)
    except ValidationError as exc:
        raise StoredItemInvalid(str(doc.get("_id")), exc) from exc


def clamp_page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(int(limit), MAX_PAGE_SIZE))


# --- the query layer --------------------------------------------------------------------------


@dataclass
class ItemQueries:
    store: MongoStore
    max_page_size: int = MAX_PAGE_SIZE
    # The search index's sort rows and the in-memory postings (off: the items and the postings are
    # read on every search, as before issue 17; bench/read_api.py compares the two in one run).
    sort_rows: bool = True
    postings_cache: bool = True
    list_projection: ListProjection = "auto"
    skipped_invalid: int = field(default=0, init=False)
    search_index: SearchIndex = field(init=False)
    _count: tuple[float, int] = field(default=(0.0, 0), init=False)
    # Rows a search's walk read to fill its page, by search (the first batch of the next one).
    _walk_hints: OrderedDict[Hashable, int] = field(default_factory=OrderedDict, init=False)

    def __post_init__(self) -> None:
        cache = PostingsCache() if self.postings_cache else None
        self.search_index = SearchIndex(self.store, cache=cache)

    async def _item_count(self) -> int:
        """The number of items, re-read at most once a minute (it only picks a query plan)."""
        if time.monotonic() - self._count[0] > ITEM_COUNT_TTL_S:
            self._count = (time.monotonic(), await self._items.estimated_document_count())
        return self._count[1]

    @property
    def _items(self) -> Any:
        return self.store.collection(ITEMS)

    @property
    def _rows(self) -> Any:
        """The sort rows, their times decoded naive (UTC): a walk decodes ~150-2,000 rows of two
        times each, and pymongo's time-zone-aware decoding took 1.4 ms of the API's CPU for 220
        rows, naive 0.3 ms (measured); ``_find`` gives the sort field its zone back."""
        return self.store.collection(SEARCH_SORT).with_options(codec_options=NAIVE_TIMES)

    async def list_items(
        self,
        filters: ItemFilter | None = None,
        sort: SortKey = "hot",
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ItemPage:
        """A page in ``sort`` order (descending, ties by id). Raises InvalidCursor."""
        return await self._page((filters or ItemFilter()).clauses(), sort, limit, cursor)

    async def search(
        self,
        query: str,
        filters: ItemFilter | None = None,
        sort: SortKey = "hot",
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ItemPage:
        """Items where every term of ``query`` occurs (see the module doc). An empty query, or one
        made only of stopwords and punctuation, raises ValueError: it would match everything."""
        words = search_terms(query)  # segmented once (jieba for Chinese)
        if not words:
            raise ValueError("the query has no searchable words")
        filters = filters or ItemFilter()
        filter_clauses = filters.clauses()
        terms = query_terms(words)
        # Tag and entity filters are terms of the index too (layout 3): one more postings list to
        # intersect, and the page comes from the sort rows like any other search, instead of a
        # walk over the items (~70 ms of nx-27017 CPU per search at 100k items, measured).
        by_postings = bool(
            self.sort_rows and (filters.tag or filters.entity) and await self.search_index.filters_filed()
        )
        # The term index (services/publish/search_index.py) when it is complete; else the scan.
        looked_up = terms | filters.filter_terms() if by_postings else terms
        ids = await self.search_index.matching(looked_up)
        if ids is None:
            return await self._page(search_clauses(words) + filter_clauses, sort, limit, cursor)
        if not ids:  # nothing filed under every term (e.g. a tag no item has): no more reads
            if cursor:
                Cursor.decode(cursor, sort)  # still refused when it is not one of ours
            return ItemPage(items=[], next_cursor=None)
        # The sort rows answer every other filter (tag and entity otherwise: only the items can).
        row_filters = filters.row_clauses(in_postings=by_postings) if self.sort_rows else None
        rows = row_filters is not None
        if row_filters is not None:
            filter_clauses = row_filters
        list_vs_walk = ROWS_ID_LIST_VS_WALK if rows else ID_LIST_VS_WALK
        if len(ids) ** 2 <= list_vs_walk * await self._item_count():
            clauses = [{"_id": {"$in": sorted(ids)}}, *filter_clauses]
            return await self._page(clauses, sort, limit, cursor, rows=rows)
        share = len(ids) / max(1, await self._item_count())
        walk_key = (frozenset(looked_up), repr(filter_clauses), sort, cursor, limit)
        return await self._page(
            filter_clauses, sort, limit, cursor, only_ids=ids, rows=rows, share=share, walk_key=walk_key
        )

    async def _page(
        self,
        clauses: list[dict[str, Any]],
        sort: SortKey,
        limit: int | None,
        cursor: str | None,
        only_ids: AbstractSet[str] | None = None,
        rows: bool = False,
        share: float = 1.0,
        walk_key: Hashable | None = None,
    ) -> ItemPage:
        """``rows``: find the page's order in the search index's sort rows, then read its items."""
        size = min(clamp_page_size(limit), self.max_page_size)
        path = ROW_FIELDS[sort] if rows else SORT_FIELDS[sort]  # a cursor holds the value only
        after = Cursor.decode(cursor, sort) if cursor else None
        source = SEARCH_SORT if rows else ITEMS
        projection = None if rows else await self._page_projection()
        if only_ids is None:
            docs = await self._after(clauses, path, after, size + 1, projection, source)
        else:
            docs = await self._walk(clauses, sort, path, after, size + 1, only_ids, source, share, walk_key)
        if rows or only_ids is not None:
            shown = await self._by_ids([d["_id"] for d in docs[:size]])
        else:
            shown = docs[:size]
        items = list(self._summaries(shown))
        next_cursor = None
        if len(docs) > size:
            page = docs[:size]
            last_value = _get_path(page[-1], path)
            ties = sum(1 for d in page if _get_path(d, path) == last_value)
            if after is not None and after.value == last_value and ties == len(page):
                ties += after.ties_shown  # the whole page continued the previous page's ties
            next_cursor = Cursor(sort, last_value, page[-1]["_id"], ties).encode()
        return ItemPage(items=items, next_cursor=next_cursor)

    async def _page_projection(self) -> dict[str, int] | None:
        """What a page reads of each item (``list_projection``; see ``ListProjection``)."""
        if self.list_projection == "whole":
            return LIST_PROJECTION
        if self.list_projection == "auto" and await self.store.wire_compat_mode():
            return LIST_PROJECTION
        return SHORT_PROJECTION

    async def _by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        """The items of ``ids``, in that order."""
        projection = await self._page_projection()
        found = self._items.find({"_id": {"$in": ids}}, projection).batch_size(len(ids) or 1)
        docs = {d["_id"]: d for d in await found.to_list()}
        return [docs[i] for i in ids if i in docs]

    async def _after(
        self,
        clauses: list[dict[str, Any]],
        path: str,
        after: Cursor | None,
        want: int,
        projection: dict[str, int] | None = LIST_PROJECTION,
        source: str = ITEMS,
    ) -> list[dict[str, Any]]:
        """Up to ``want`` documents in (value desc, _id desc) order after the cursor, read in up to
        three segments of simple filters: the rest of the ties, the lower values, then (score sorts)
        the items without that score, which sort last."""
        order = [(path, -1), ("_id", -1)]
        if after is None:
            return await self._find(clauses, order, want, projection, source)
        docs = await self._rest_of_ties(clauses, path, after, want, projection, source)
        if after.value is not None and len(docs) < want:
            lower = [*clauses, {path: {"$lt": after.value}}]
            docs += await self._find(lower, order, want - len(docs), projection, source)
            if after.sort not in TIME_SORTS and len(docs) < want:
                unscored = [*clauses, {path: None}]
                docs += await self._find(unscored, [("_id", -1)], want - len(docs), projection, source)
        return docs

    async def _walk(
        self,
        clauses: list[dict[str, Any]],
        sort: SortKey,
        path: str,
        after: Cursor | None,
        want: int,
        only_ids: AbstractSet[str],
        source: str = ITEMS,
        share: float = 1.0,
        walk_key: Hashable | None = None,
    ) -> list[dict[str, Any]]:
        """The list in sort order, read in batches, keeping the items in ``only_ids``: for a term
        found in many items, cheaper than ``_id $in`` of all of them (nx-27017, measured: 140 ms
        for 5,000 ids, 810 ms for 20,000) because a page fills after ~want / share items.
        Returns the matching documents of ``source`` (id and sort value at ``path``), in order.
        ``walk_key``: the same search walked before filled its page after that many rows, so
        the first batch asks for about as many (a size only: the walk goes on when it falls short)."""
        found: list[dict[str, Any]] = []
        position = after
        rows_read = 0
        hint = self._walk_hints.get(walk_key) if walk_key is not None else None
        if source == SEARCH_SORT:
            # As many rows as should hold the page at this share of matches, and a margin: a
            # row costs little, a second round trip more (nx-27017 decodes what it sorts).
            batch_size = min(ROWS_WALK_BATCH, max(20, int(want * WALK_MARGIN / max(share, 1e-6))))
        else:
            batch_size = WALK_BATCH
        largest = ROWS_WALK_BATCH if source == SEARCH_SORT else WALK_BATCH
        if hint is not None:  # fewer rows than the share suggests, or as many as a second trip would add
            batch_size = min(largest, hint + max(2, hint // 20))
        # Only the id and the sort value's top-level field while walking items (nx-27017 returns a
        # nested inclusion as a flat "a.b.c" key, measured); the sort rows are small already.
        projection = None if source == SEARCH_SORT else {path.split(".")[0]: 1}
        while len(found) < want:
            batch = await self._after(clauses, path, position, batch_size, projection, source)
            for offset, doc in enumerate(batch):
                if doc["_id"] in only_ids:
                    found.append(doc)
                    if len(found) == want and walk_key is not None:
                        self._remember_walk(walk_key, rows_read + offset + 1)
            rows_read += len(batch)
            if len(batch) < batch_size or len(found) >= want:
                break  # (the position below counts ties over the batch: only for another batch)
            batch_size = min(batch_size * 2, largest)
            last_value = _get_path(batch[-1], path)
            ties = sum(1 for d in batch if _get_path(d, path) == last_value)
            if position is not None and position.value == last_value and ties == len(batch):
                ties += position.ties_shown
            position = Cursor(sort, last_value, batch[-1]["_id"], ties)
        return found[:want]

    def _remember_walk(self, key: Hashable, rows: int) -> None:
        self._walk_hints[key] = rows
        self._walk_hints.move_to_end(key)
        while len(self._walk_hints) > WALK_HINTS:
            self._walk_hints.popitem(last=False)

    async def _rest_of_ties(
        self,
        clauses: list[dict[str, Any]],
        path: str,
        after: Cursor,
        want: int,
        projection: dict[str, int] | None = LIST_PROJECTION,
        source: str = ITEMS,
    ) -> list[dict[str, Any]]:
        # Ties are read from their start and the ones already shown (id >= last id) dropped here,
        # not in the query; the limit grows if items were inserted among the shown ties.
        fetch = after.ties_shown + want
        while True:
            tied = await self._find([*clauses, {path: after.value}], [("_id", -1)], fetch, projection, source)
            rest = [d for d in tied if d["_id"] < after.last_id]
            if len(rest) >= want or len(tied) < fetch:
                return rest[:want]
            fetch *= 2

    async def _find(
        self,
        clauses: list[dict[str, Any]],
        order: list[tuple[str, int]],
        limit: int,
        projection: dict[str, int] | None = LIST_PROJECTION,
        source: str = ITEMS,
    ) -> list[dict[str, Any]]:
        # One round trip (nx-27017 answers 101 documents, then the rest on a getMore, by default),
        # and the whole batch at once (no per-document await).
        collection = self._rows if source == SEARCH_SORT else self.store.collection(source)
        found = collection.find(combine(clauses), projection).sort(order).limit(limit).batch_size(limit)
        docs: list[dict[str, Any]] = await found.to_list()
        # Rows are decoded naive (``_rows``): the sort field (in the order, or compared in a tie's
        # clause) gets its zone back, for the cursor's value and the tie counts.
        zoned = ROW_TIMES & {order[0][0], *(key for clause in clauses for key in clause)}
        if source == SEARCH_SORT and zoned:
            for doc in docs:
                for name in zoned:
                    value = doc.get(name)
                    if isinstance(value, datetime):
                        doc[name] = value.replace(tzinfo=UTC)
        return docs

    def _summaries(self, docs: Iterable[dict[str, Any]]) -> Iterable[ItemSummary]:
        for doc in docs:
            try:
                yield ItemSummary.from_document(doc)
            except (ValidationError, KeyError, TypeError) as exc:
                # One bad document must not take the whole list down; it is counted and logged.
                self.skipped_invalid += 1
                log.warning("skipping stored item %s that does not read as an item: %s", doc.get("_id"), exc)

    async def get_item(self, item_id: str) -> Item | None:
        doc = await self.store.get(ITEMS, item_id)
        return item_from_document(doc) if doc is not None else None

    async def increment_views(self, item_id: str) -> bool:
        """+1 on the item's view counter; False when there is no such item."""
        result = await self._items.update_one({"_id": item_id}, {"$inc": {"views": 1}})
        return bool(result.matched_count)

    async def tag_counts(self, limit: int = 50) -> list[TagCount]:
        """Tags in use, most used first (for the tag filter). A single-key $group: nx-27017
        mis-groups compound ids."""
        pipeline: list[dict[str, Any]] = [
            {"$project": {"tags": 1}},
            {"$unwind": "$tags"},
            {
                "$group": {
                    "_id": "$tags.id",
                    "en": {"$first": "$tags.en"},
                    "zh": {"$first": "$tags.zh"},
                    "count": {"$sum": 1},
                }
            },
            {"$sort": {"count": -1, "_id": 1}},
            {"$limit": limit},
        ]
        rows = await self.store.aggregate(ITEMS, pipeline)
        return [TagCount(id=r["_id"], en=r["en"], zh=r["zh"], count=r["count"]) for r in rows if r.get("_id")]


def _as_operators(condition: Any) -> dict[str, Any]:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        return dict(condition)
    return {"$eq": condition}


def combine(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    """One filter document from clauses. Conditions on the same field are merged into one operator
    document and the rest kept flat, because nx-27017 answers a flat filter with one SQL query but
    evaluates any ``$and`` in Python (~0.35 s over 10,000 items, *measured*). Only clauses that can
    not be merged (several ``$or``, or the same operator twice on a field) go into ``$and``."""
    merged: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for clause in clauses:
        for key, condition in clause.items():
            if key not in merged:
                merged[key] = condition
                continue
            if key.startswith("$"):
                rest.append({key: condition})
                continue
            old, new = _as_operators(merged[key]), _as_operators(condition)
            if set(old) & set(new):
                rest.append({key: condition})
            else:
                merged[key] = {**old, **new}
    if rest:
        return {"$and": [merged, *rest]} if merged else {"$and": rest}
    return merged
