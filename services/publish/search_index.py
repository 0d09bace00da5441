"""The search index: postings by term, read by ``_id`` (what nx-27017 answers without a scan).

Collections:
- ``search_postings``: ``{_id: "term#b", ids: [item id, ...]}`` (terms: shared/core/search_terms.py,
  including the filter terms ``tag:<id>`` and ``entity:<id>``),
  each term's ids split over POSTING_BUCKETS documents by a hash of the item id: nx-27017 rewrites
  a whole document on ``$addToSet``, so a frequent term's one big document made every new item
  cost ~150 ms to file at 10k items (measured); a lookup reads all buckets of a term in the same
  single ``_id $in`` query.
- ``search_item_terms``: ``{_id: item id, terms: [...], v: TERMS_VERSION}``: what an item is filed
  under now, so a changed text loses its old terms.
- ``search_sort`` (``SEARCH_SORT``): ``{_id: item id, version, hot, quality, impact, published_at,
  updated_at, origin_language}``: the item's sort values (and language, for the filter) alone, as
  top-level fields (``ROW_FIELDS``). A frequent term's page is found by walking this list in sort
  order, then only the page's items are read:
  nx-27017 decodes every document it sorts, and sorts a nested path slowly (200 rows in sort order,
  10,000 items, measured: items ~50-85 ms, rows with nested score paths 8-45 ms, flat rows 5.5 ms).
- ``search_term_versions``: ``{_id: term, v: n}``, incremented after every change of the term's
  postings: the read side keeps decoded postings in memory and re-reads a term only when its
  version moved (``PostingsCache``), so every API process sees a change on its next search.
- ``search_state``: ``{_id: "postings", v: TERMS_VERSION, layout: LAYOUT_VERSION, complete: true}``
  once every stored item is filed. Until then the read side keeps the scan (a data dir from before
  the index, or after a change of the term rules or the layout): publish rebuilds it in the
  background at start-up, in batches. Layout 2 to 3 only adds the filter terms: while an index of
  layout 2 is re-filed, search keeps using its terms and answers tag and entity filters from the
  items, as layout 2 did.

Writes are idempotent, so a redelivered story changes nothing: ``$addToSet`` of new terms first,
``$pull`` of dropped ones, the terms' versions, the sort row, then the item's term list last (a
crash in between is redone from the old list on the next delivery). A story's id goes into the
postings documents its process has seen exist (``KnownBuckets``) with one ``update_many``, checked
by its matched count, and into the others by an upsert each (``add_postings``). A hidden item
(``merged_into`` set: its members live on in another item) is filed under no term, so search never
returns it.
Equality on an indexed array, which nx-27017 answers wrongly, is never used: every read is by
``_id``, or (the sort rows) a sort on a top-level number or date.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import ReplaceOne, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError

from services.publish.batching import DUPLICATE_KEY, CoalescingStore, bulk_write
from shared.core.search_terms import TERMS_VERSION, filter_terms, item_terms
from shared.core.translation import Glossary
from shared.metrics import MONGO_WRITE_SECONDS
from shared.storage import ITEMS, SEARCH_SORT, MongoStore

log = logging.getLogger("newsroom.publish.search")

POSTINGS = "search_postings"
ITEM_TERMS = "search_item_terms"
STATE = "search_state"
STATE_ID = "postings"
TERM_VERSIONS = "search_term_versions"
# Bump when the collections above change shape: publish re-files every item at start-up.
# 1: postings and term lists; 2: + sort rows and term versions; 3: + filter terms (tag:, entity:).
LAYOUT_VERSION = 3
TERMS_LAYOUT = 2  # the oldest layout whose word terms and sort rows the read side can use
STATE_RECHECK_S = 30.0  # how often a reader looks again for a layout being re-filed
SCORE_NAMES = ("hot", "quality", "impact")
# A sort row's field for each sort key of the read side (queries.SortKey).
ROW_FIELDS = {
    "hot": "hot",
    "quality": "quality",
    "impact": "impact",
    "time": "published_at",
    "updated": "updated_at",
}
# Item fields that hide an item from readers (set by the story revision merge).
HIDDEN_FIELDS = ("merged_into",)

# Only what the terms and the sort row are made of (the backfill reads every item). Whole
# top-level fields: nx-27017 answers an inclusion of a path inside an array ("sources.title") with
# nothing and a nested one ("scores.hot.value") as a flat "a.b.c" key (measured).
TERM_SOURCES = {
    "title",
    "summary",
    "keyphrases",
    "tags",
    "entities",
    "sources",
    "scores",
    "published_at",
    "updated_at",
    "version",
    "origin_language",
    *HIDDEN_FIELDS,
}
TERM_FIELDS = dict.fromkeys(TERM_SOURCES, 1)
BACKFILL_BATCH = 200
POSTING_BUCKETS = 16
# Postings documents a publish process remembers to exist (KnownBuckets; ~10 MB at most).
KNOWN_BUCKETS = 65_536


def posting_key(term: str, item_id: str) -> str:
    return f"{term}#{zlib.crc32(item_id.encode('utf-8')) % POSTING_BUCKETS:x}"


def version_key(term: str) -> str:
    """``KnownBuckets``' name of a term's version document (never a bucket's: those end in hex)."""
    return f"{term}#v"


def posting_keys(term: str) -> list[str]:
    return [f"{term}#{bucket:x}" for bucket in range(POSTING_BUCKETS)]


async def bump_versions(store: MongoStore, requests: Sequence[tuple[frozenset[str], frozenset[str]]]) -> None:
    """Increment the version of every term changed by any of ``requests`` ((changed terms, terms
    with a new bucket) per item), once, after all of their postings were written. A term whose
    postings already had the bucket has a version document (written with its first posting): all
    of those in one ``UpdateMany`` (nx-27017 runs a bulk of single updates one by one: ~40 % more
    server CPU, measured), in the same command as an upsert for each term with a new bucket. When
    one of those documents is missing (a crash between the two writes) every such term gets an
    upsert. A term bumped twice is fine: readers only compare versions for equality."""
    new_bucket = frozenset().union(*(new for _, new in requests))
    known = sorted(frozenset().union(*(changed for changed, _ in requests)) - new_bucket)
    bump = {"$inc": {"v": 1}}
    writes: list[Any] = [UpdateMany({"_id": {"$in": known}}, bump)] if known else []
    writes += [UpdateOne({"_id": term}, bump, upsert=True) for term in sorted(new_bucket)]
    if not writes:
        return
    versions = store.collection(TERM_VERSIONS)
    result = await versions.bulk_write(writes, ordered=False)
    # Matched = the known terms found + the new-bucket terms whose document existed already.
    if known and result.matched_count - (len(new_bucket) - result.upserted_count) < len(known):
        await versions.bulk_write(
            [UpdateOne({"_id": term}, bump, upsert=True) for term in known], ordered=False
        )


@dataclass(frozen=True)
class PostingsAdd:
    """One item's new postings: documents its process saw exist (``known``) and the others."""

    item_id: str
    known: list[str]
    unknown: list[str]


async def add_postings(store: MongoStore, requests: Sequence[PostingsAdd]) -> list[tuple[set[str], bool]]:
    """Add each item id to its postings documents, all items in one bulk: an upsert for each
    unknown document, one ``update_many`` for the known ones (nx-27017 runs a bulk of single
    updates one by one: a story under ~63 existing buckets cost it ~6 ms of CPU that way, ~3.2 ms
    as one update_many, and pymongo ~0.45 ms against ~0.2, measured). Per item: the documents
    its upserts created, and whether every known one was there. A known document may be gone
    (the postings dropped under a running publisher): then the bulk matched fewer than it named
    (an update_many matches each of its ids at most once) and every item is answered False."""
    writes: list[Any] = []
    spans = []
    for request in requests:
        add = {"$addToSet": {"ids": request.item_id}}
        start = len(writes)
        writes += [UpdateOne({"_id": key}, add, upsert=True) for key in request.unknown]
        if request.known:
            writes.append(UpdateMany({"_id": {"$in": request.known}}, add))
        spans.append((start, len(writes)))
    if not writes:
        return [(set(), True)] * len(requests)
    try:
        result = await store.collection(POSTINGS).bulk_write(writes, ordered=False)
    except BulkWriteError:  # (two publishers' upserts of one new document) each item redoes its own
        return [(set(), False)] * len(requests)
    upserted = result.upserted_ids
    upserts = sum(len(request.unknown) for request in requests)
    # matched_count leaves upserted documents out (MongoDB and nx-27017 alike, through pymongo).
    complete = result.matched_count == sum(len(request.known) for request in requests) + upserts - len(
        upserted
    )
    return [({upserted[i] for i in range(start, end) if i in upserted}, complete) for start, end in spans]


class KnownBuckets:
    """Postings documents (``term#b``) and term version documents (``version_key``) this process
    saw exist: written by it, or matched. Only a hint: a write through it checks that every listed
    document matched, and upserts them all otherwise. Bounded (least recently used out): a
    frequent term's documents stay known, a rare word's would rarely be filed again anyway."""

    def __init__(self, max_keys: int = KNOWN_BUCKETS) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[str, None] = OrderedDict()

    def has(self, key: str) -> bool:
        if key not in self._keys:
            return False
        self._keys.move_to_end(key)
        return True

    def add(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._keys[key] = None
            self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class PostingsSource(Protocol):
    async def term_versions(self, terms: Iterable[str]) -> dict[str, int]: ...

    async def read_postings(self, terms: Iterable[str]) -> dict[str, set[str]]: ...


class PostingsCache:
    """Decoded postings of the terms searched lately, in the read API's memory (a frequent term's
    postings hold ~1/7 of all ids: 14,000 at 100k items, ~40 ms to read and decode). Each search
    reads the terms' versions (one ``_id $in`` of small documents) and re-reads a term whose
    version moved, so a change filed by publish (any process) is seen by the next search in every
    API process: never stale beyond that read. Bounded by the ids held (LRU by term).

    The intersection of several terms' postings is kept too, keyed by every term's version (so it
    is exactly as fresh as the postings it came from): two frequent terms, or a term and a tag
    filter, cost ~2 ms of set intersection per search at 100k items otherwise (measured)."""

    def __init__(self, max_ids: int = 400_000, max_intersection_ids: int = 100_000) -> None:
        self.max_ids = max_ids
        self._entries: OrderedDict[str, tuple[int, frozenset[str]]] = OrderedDict()
        self._held = 0
        self.max_intersection_ids = max_intersection_ids
        self._intersections: OrderedDict[tuple[tuple[str, int], ...], frozenset[str]] = OrderedDict()
        self._intersection_held = 0
        self.hits = 0
        self.misses = 0

    async def matching(self, index: PostingsSource, terms: list[str]) -> frozenset[str]:
        """The ids filed under every term of ``terms`` (not empty)."""
        versions = await index.term_versions(terms)
        key = tuple(sorted(versions.items()))
        cached = self._intersections.get(key)
        if cached is not None:
            self._intersections.move_to_end(key)
            self.hits += len(terms)
            return cached
        found = await self.postings(index, terms, versions)
        ids = intersect(found.values())
        if len(terms) > 1 and len(ids) <= self.max_intersection_ids:
            self._intersections[key] = ids
            self._intersection_held += len(ids)
            while self._intersection_held > self.max_intersection_ids:
                _, evicted = self._intersections.popitem(last=False)
                self._intersection_held -= len(evicted)
        return ids

    async def postings(
        self, index: PostingsSource, terms: list[str], versions: Mapping[str, int] | None = None
    ) -> dict[str, frozenset[str]]:
        if versions is None:
            versions = await index.term_versions(terms)
        out: dict[str, frozenset[str]] = {}
        stale = []
        for term in terms:
            entry = self._entries.get(term)
            if entry is not None and entry[0] == versions[term]:
                self._entries.move_to_end(term)
                out[term] = entry[1]
                self.hits += 1
            else:
                stale.append(term)
                self.misses += 1
        if stale:
            # Read after the versions: postings newer than the version read are kept under the
            # older version and re-read on the next search (never the other way round).
            for term, ids in (await index.read_postings(stale)).items():
                out[term] = frozenset(ids)
                self._put(term, versions[term], out[term])
        return out

    @property
    def held_ids(self) -> int:
        return self._held

    def _put(self, term: str, version: int, ids: frozenset[str]) -> None:
        old = self._entries.pop(term, None)
        if old is not None:
            self._held -= len(old[1])
        if len(ids) > self.max_ids:
            return
        self._entries[term] = (version, ids)
        self._held += len(ids)
        while self._held > self.max_ids:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._held -= len(evicted)


def intersect(postings: Iterable[AbstractSet[str]]) -> frozenset[str]:
    """The ids in every one of ``postings`` (smallest first; a single one is returned as is)."""
    ordered = sorted(postings, key=len)
    if len(ordered) == 1 and isinstance(ordered[0], frozenset):
        return ordered[0]
    ids = set(ordered[0])
    for other in ordered[1:]:
        if not ids:
            break
        ids.intersection_update(other)
    return frozenset(ids)


def is_hidden(doc: Mapping[str, Any]) -> bool:
    return any(doc.get(name) for name in HIDDEN_FIELDS)


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, str):  # an item dumped in JSON mode
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    # Milliseconds, as BSON stores the item's own time: the rows sort exactly as the items do.
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def sort_row(item_id: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The item's sort values (what ``items`` holds at queries.SORT_FIELDS), top-level."""
    scores = doc.get("scores") or {}
    row: dict[str, Any] = {"_id": item_id, "version": int(doc.get("version") or 1)}
    for name in SCORE_NAMES:
        score = scores.get(name) if isinstance(scores, Mapping) else None
        row[name] = score.get("value") if isinstance(score, Mapping) else None
    row["published_at"] = _as_time(doc.get("published_at"))
    row["updated_at"] = _as_time(doc.get("updated_at"))
    row["origin_language"] = doc.get("origin_language")  # for the language filter
    return row


class SearchIndex:
    def __init__(
        self, store: MongoStore, glossary: Glossary | None = None, cache: PostingsCache | None = None
    ) -> None:
        self.store = store
        self.glossary = glossary
        self.cache = cache
        self.known = KnownBuckets()  # postings documents seen to exist (publish's writes)
        self._layout = 0  # of the stored index, once complete (0: not complete or unusable)
        self._state_read_at = -math.inf

    async def index_item(
        self, item_id: str, doc: Mapping[str, Any], created: bool = False
    ) -> tuple[int, int]:
        """File the item under its current terms and sort values. Returns (terms added, terms
        removed). ``doc``: the item's TERM_SOURCES (stored or dumped form). ``created``: this
        delivery inserted the item (publish's fold), so it is filed under no term yet and its
        term list is not read: an id leaves ``items`` only through a revision's retire, which
        files it under no term first (a redelivery is no longer ``created`` and reads it)."""
        terms = set() if is_hidden(doc) else item_terms(doc, self.glossary) | filter_terms(doc)
        previous = None if created else await self.store.get(ITEM_TERMS, item_id)
        old = set(previous.get("terms") or []) if previous else set()
        added, removed = terms - old, old - terms
        if added or removed:
            new_bucket = await self._write_postings(item_id, added, removed)
            # A term whose version document this process saw has one, new bucket or not: it goes
            # in the one update_many (bump_versions upserts every such term when one is missing).
            new_bucket = {term for term in new_bucket if not self.known.has(version_key(term))}
            # After the postings: a reader that sees the new version reads the new postings.
            await self._bump_versions(added | removed, new_bucket)
            self.known.add(version_key(term) for term in added | removed)
        await self._write_sort_row(item_id, doc)
        if added or removed or previous is None or previous.get("v") != TERMS_VERSION:
            await self.store.upsert(ITEM_TERMS, item_id, {"terms": sorted(terms), "v": TERMS_VERSION})
        return len(added), len(removed)

    async def _write_postings(self, item_id: str, added: set[str], removed: set[str]) -> set[str]:
        """Add ``item_id`` to the postings of ``added``, pull it from those of ``removed``; returns
        the terms whose bucket document this created (``add_postings``; with the other stories
        filed at the same moment, in one command, in publish)."""
        keys = {posting_key(term, item_id): term for term in added}
        known = sorted(key for key in keys if self.known.has(key))
        request = PostingsAdd(item_id, known, sorted(keys.keys() - set(known)))
        if removed:  # rare (a changed text): its own command; a missing bucket holds nothing to pull
            pulled = sorted(posting_key(term, item_id) for term in removed)
            pull = UpdateMany({"_id": {"$in": pulled}}, {"$pull": {"ids": item_id}})
            (await bulk_write(self.store, POSTINGS, [pull])).raise_errors()
        started = time.perf_counter()
        created, complete = await self._add_postings(request) if keys else (set(), True)
        MONGO_WRITE_SECONDS.labels(POSTINGS).observe(time.perf_counter() - started)
        if not complete:  # a known bucket was gone, or the bulk failed in part: one upsert each
            add = {"$addToSet": {"ids": item_id}}
            redo = await bulk_write(
                self.store, POSTINGS, [UpdateOne({"_id": key}, add, upsert=True) for key in sorted(keys)]
            )
            redo.raise_errors()
            created |= set(redo.upserted_ids.values())
        self.known.add(keys)
        return {keys[key] for key in created}

    async def _add_postings(self, request: PostingsAdd) -> tuple[set[str], bool]:
        store = self.store
        if isinstance(store, CoalescingStore):

            async def flush(requests: list[PostingsAdd]) -> list[tuple[set[str], bool]]:
                return await add_postings(store, requests)

            answer: tuple[set[str], bool] = await store.shared(POSTINGS, flush).submit(request)
            return answer
        return (await add_postings(store, [request]))[0]

    async def _bump_versions(self, changed: set[str], new_bucket: set[str]) -> None:
        """Increment the version of every changed term (see ``bump_versions``); in publish, with
        the terms of the other stories filed at the same moment, in one command."""
        request = (frozenset(changed), frozenset(new_bucket))
        store = self.store
        if isinstance(store, CoalescingStore):

            async def flush(requests: list[tuple[frozenset[str], frozenset[str]]]) -> list[None]:
                await bump_versions(store, requests)
                return [None] * len(requests)

            await store.shared(TERM_VERSIONS, flush).submit(request)
        else:
            await bump_versions(store, [request])

    async def _write_sort_row(self, item_id: str, doc: Mapping[str, Any]) -> None:
        row = sort_row(item_id, doc)
        # One conditional write, no read first: the row is replaced unless a newer version of
        # the item was filed meanwhile (parallel deliveries); then the upsert's insert meets the
        # stored _id and fails as a duplicate (MongoDB and nx-27017 alike, measured). A
        # redelivery rewrites the same row. A whole-document write with the _id in it: nx-27017
        # stores $set of a top-level datetime as a string, and gives an upserted replacement a
        # new ObjectId unless it carries its _id.
        same_or_older = {"_id": item_id, "version": {"$lte": row["version"]}}
        outcome = await bulk_write(self.store, SEARCH_SORT, [ReplaceOne(same_or_older, row, upsert=True)])
        outcome.raise_errors(allowed=frozenset({DUPLICATE_KEY}))

    async def is_complete(self) -> bool:
        """Every stored item is filed under its word terms and has its sort row (layout 2 or 3)."""
        await self._read_state()
        return self._layout in (TERMS_LAYOUT, LAYOUT_VERSION)

    async def filters_filed(self) -> bool:
        """Every stored item is filed under its filter terms too (layout 3)."""
        await self._read_state()
        return self._layout == LAYOUT_VERSION

    async def _read_state(self) -> None:
        """Read ``search_state`` until it shows this layout: on every call while the index is not
        usable (the scan is slower than the read), every STATE_RECHECK_S while an index of
        layout 2 is being re-filed (to start using the filter terms once they are all filed)."""
        if self._layout == LAYOUT_VERSION:
            return
        if self._layout and time.monotonic() - self._state_read_at < STATE_RECHECK_S:
            return
        state = await self.store.get(STATE, STATE_ID)
        self._state_read_at = time.monotonic()
        complete = bool(state and state.get("complete") and state.get("v") == TERMS_VERSION)
        layout = state.get("layout") if state and complete else 0
        self._layout = layout if layout in (TERMS_LAYOUT, LAYOUT_VERSION) else 0

    async def term_versions(self, terms: Iterable[str]) -> dict[str, int]:
        """The current version of each term's postings (0: never changed)."""
        wanted = sorted(set(terms))
        found = {
            doc["_id"]: int(doc.get("v") or 0)
            async for doc in self.store.collection(TERM_VERSIONS).find({"_id": {"$in": wanted}})
        }
        return {term: found.get(term, 0) for term in wanted}

    async def read_postings(self, terms: Iterable[str]) -> dict[str, set[str]]:
        """Every id filed under each term (over its buckets), in one ``_id $in``."""
        wanted = sorted(set(terms))
        keys = [key for term in wanted for key in posting_keys(term)]
        found: dict[str, set[str]] = {term: set() for term in wanted}
        async for doc in self.store.collection(POSTINGS).find({"_id": {"$in": keys}}):
            found[doc["_id"].rsplit("#", 1)[0]].update(doc.get("ids") or [])
        return found

    async def matching(self, terms: Iterable[str]) -> frozenset[str] | None:
        """Ids of the items filed under every term; None when the index is not complete. Filter
        terms (``tag:``, ``entity:``) only once ``filters_filed``."""
        wanted = sorted(set(terms))
        if not wanted or not await self.is_complete():
            return None
        if self.cache:
            return await self.cache.matching(self, wanted)
        return intersect((await self.read_postings(wanted)).values())

    async def backfill(self) -> int:
        """File every stored item not filed under the current rules, then mark the index complete.
        Batches of BACKFILL_BATCH items, yielding between them; safe beside live publishing."""
        if await self.is_complete() and self._layout == LAYOUT_VERSION:
            return 0
        filed = 0
        cursor = self.store.collection(ITEMS).find({}, TERM_FIELDS).batch_size(BACKFILL_BATCH)
        async for doc in cursor:
            await self.index_item(doc["_id"], doc)
            filed += 1
            if filed % BACKFILL_BATCH == 0:
                log.info("search index: %d items filed", filed)
                await asyncio.sleep(0)
        state = {"complete": True, "v": TERMS_VERSION, "layout": LAYOUT_VERSION, "items": filed}
        await self.store.upsert(STATE, STATE_ID, state)
        self._layout = LAYOUT_VERSION
        log.info("search index complete: %d items", filed)
        return filed
