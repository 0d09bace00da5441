"""The search index's pure parts: the sort row of an item, hidden items, and the read side's
postings cache (versions decide what is re-read; the memory it holds is bounded)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from services.publish.search_index import TERM_SOURCES, PostingsCache, is_hidden, sort_row
from tests.support.items import as_document, make_item

NOW = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


class FakePostings:
    """A postings store in memory: ``file`` bumps the term's version, as publish does."""

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}
        self.versions: dict[str, int] = {}
        self.reads: list[list[str]] = []

    def file(self, term: str, item_id: str) -> None:
        self.ids.setdefault(term, set()).add(item_id)
        self.versions[term] = self.versions.get(term, 0) + 1

    async def term_versions(self, terms: Iterable[str]) -> dict[str, int]:
        return {term: self.versions.get(term, 0) for term in terms}

    async def read_postings(self, terms: Iterable[str]) -> dict[str, set[str]]:
        wanted = sorted(terms)
        self.reads.append(wanted)
        return {term: set(self.ids.get(term, set())) for term in wanted}


async def test_the_cache_rereads_only_a_term_whose_version_moved() -> None:
    source, cache = FakePostings(), PostingsCache()
    source.file("tsmc", "a")
    source.file("chip", "a")
    assert await cache.postings(source, ["chip", "tsmc"]) == {"chip": {"a"}, "tsmc": {"a"}}
    assert await cache.postings(source, ["chip", "tsmc"]) == {"chip": {"a"}, "tsmc": {"a"}}
    assert source.reads == [["chip", "tsmc"]]
    source.file("tsmc", "b")  # another process filed an item under "tsmc"
    assert await cache.postings(source, ["chip", "tsmc"]) == {"chip": {"a"}, "tsmc": {"a", "b"}}
    assert source.reads[-1] == ["tsmc"]
    assert (cache.hits, cache.misses) == (3, 3)


async def test_the_cache_holds_at_most_max_ids_and_drops_the_least_recent_term() -> None:
    source, cache = FakePostings(), PostingsCache(max_ids=5)
    for n in range(3):
        source.file("old", f"o{n}")
        source.file("new", f"n{n}")
    for n in range(10):
        source.file("huge", f"h{n}")
    await cache.postings(source, ["old"])
    await cache.postings(source, ["new"])
    assert await cache.postings(source, ["huge"]) == {"huge": {f"h{n}" for n in range(10)}}
    assert cache.held_ids == 3  # "huge" was never kept (too large); "new" pushed "old" out
    await cache.postings(source, ["new", "old"])
    assert source.reads[-1] == ["old"]
    await cache.postings(source, ["new"])
    assert source.reads[-1] == ["new"]  # "old" came back and pushed out the least recent, "new"
    reads = len(source.reads)
    await cache.postings(source, ["new"])
    assert len(source.reads) == reads and cache.held_ids == 3


def test_the_sort_row_is_the_same_from_the_stored_and_the_dumped_item() -> None:
    item = make_item("story-x", now=NOW, title_en="Chip news", title_zh=None, hot=71.5, quality=None)
    stored, dumped = as_document(item), item.model_dump(mode="json", include=TERM_SOURCES)
    row = sort_row(item.id, dumped)
    assert row == sort_row(item.id, stored)
    assert row["hot"] == 71.5 and row["quality"] is None and row["impact"] == 50.0
    # Milliseconds, as BSON keeps the item's own time.
    assert row["published_at"].microsecond == 123000


def test_an_item_merged_into_another_is_hidden() -> None:
    item = make_item("story-x", now=NOW, title_en="Chip news", title_zh=None)
    doc = item.model_dump(mode="json", include=TERM_SOURCES)
    assert not is_hidden(doc)
    assert is_hidden({**doc, "merged_into": "story-y"})


async def test_an_intersection_is_kept_while_every_term_s_version_holds() -> None:
    """Two frequent terms (or a term and a tag filter) are intersected once per version pair: the
    next search with the same versions takes the kept set; a change of either term is seen."""
    source, cache = FakePostings(), PostingsCache(max_intersection_ids=3)
    for item_id in ("a", "b", "c"):
        source.file("tsmc", item_id)
    source.file("tag:chips", "a")
    source.file("tag:chips", "c")
    first = await cache.matching(source, ["tag:chips", "tsmc"])
    assert first == {"a", "c"}
    assert await cache.matching(source, ["tag:chips", "tsmc"]) is first  # kept, not recomputed
    source.file("tag:chips", "b")  # another process re-tagged b
    assert await cache.matching(source, ["tag:chips", "tsmc"]) == {"a", "b", "c"}
    assert source.reads[-1] == ["tag:chips"]  # only the moved term was read again
    source.file("nvidia", "x")
    assert await cache.matching(source, ["nvidia", "tsmc"]) == set()
    assert await cache.matching(source, ["tsmc"]) == {"a", "b", "c"}  # one term: its postings
    # Bounded: the newest intersections within max_intersection_ids ids, the oldest dropped.
    assert sum(len(ids) for ids in cache._intersections.values()) <= 3
