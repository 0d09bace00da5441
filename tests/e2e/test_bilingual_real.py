"""Real bilingual stories end to end, with no language model: the Qwen team's own English and
Chinese posts (22 stories, same-day releases of one model family among them) as two local RSS
feeds → the five services on a real nats-server and nx-27017 → items that show each story in both
languages from its own posts, never one story's title with another's, with per-language
provenance and no configuration advice; ``newsroom``'s published/updated events say why."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.runtime.embedded import EmbeddedServer, nats_url
from tests.support.bilingual_feeds import labels_of_rows, load_rows, pairing_report, write_feed_pair
from tests.support.stack import Stack, messages, settle
from tests.support.waits import PIPELINE_TEST_TIMEOUT_S

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]


@pytest.fixture()
def stack(nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, tmp_path: Path) -> Iterator[Stack]:
    sources = write_feed_pair(load_rows(), tmp_path / "feeds")
    running = Stack(nats_url(nats), mongo_server, mongo_db_name, tmp_path, embeddings=True)
    running.env_extra = {"NEWSROOM_INGEST__SOURCES_FILE": str(sources), "NEWSROOM_INGEST__POLL": "false"}
    running.start_all()
    try:
        yield running
    finally:
        running.stop_all()


def test_real_bilingual_posts_come_out_bilingual_without_a_model(stack: Stack) -> None:
    rows = load_rows()
    items = settle(stack)
    report = pairing_report(items, labels_of_rows(rows))
    print("BILINGUAL-REAL", json.dumps(report, ensure_ascii=False))

    # Never one story's title with another's in the other language.
    assert report["wrong_pairings"] == 0, report["wrong_pairing_examples"]
    # Most of the 22 stories come out in both languages from their own posts. The rest depends on
    # clustering (wrong merges of same-day releases leave a story in one language, guarded, not
    # mis-paired): main's clustering gave 16 of 22 in two runs; the floor leaves room for order.
    assert report["stories_bilingual"] >= 12, report
    for item in items:
        for language in ("en", "zh"):
            text = item["languages"][language]
            if item["title"][language]:
                assert text["origin"] == "source" and text["source_name"], (item["title"], text)
            else:
                # source_left: the member that wrote it moved to another story (a revised
                # clustering decision) and no other member covers the language.
                assert text["origin"] == "none" and text["reason"] in ("no_model", "source_left")
                assert text["notice"]
        assert "NEWSROOM_" not in json.dumps(item, default=str, ensure_ascii=False)

    # Each story announced once; a language that arrived after the story's first publication is
    # announced as language_added exactly once for that story.
    out = messages(stack.nats_url, "NEWS_OUT")
    published = Counter(d["story_id"] for s, d, _ in out if s.startswith("news.published."))
    # A story that ended (clustering revised it into another one) was published and then merged.
    merged = {d["_id"] for d in stack.mongo().merged_items.find({}, {"_id": 1})}
    assert set(published.values()) == {1} and set(published) == {i["_id"] for i in items} | merged
    added = Counter(
        d["story_id"] for s, d, _ in out if s.startswith("news.updated.") and "language_added" in d["reasons"]
    )
    assert all(count == 1 for count in added.values())
    first_versions = {d["story_id"]: d["item"]["title"] for s, d, _ in out if s.startswith("news.published.")}
    # A revised story may lose a language again (its member moved to another story: source_left).
    revised = {d["story_id"] for _, d, _ in messages(stack.nats_url, "NEWS_PIPELINE", "news.story.revised")}
    for item in items:
        shown_first = first_versions[item["_id"]]
        gained = [lang for lang in ("en", "zh") if item["title"][lang] and not shown_first.get(lang)]
        if item["_id"] in revised and not gained:
            continue
        assert added.get(item["_id"], 0) == (1 if gained else 0), (item["_id"], gained)
