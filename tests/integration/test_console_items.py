"""What `newsroom up --once` prints about the stored items, read back from a real nx-27017 (or
NEWSROOM_TEST_MONGO_URL): a title with terminal escape sequences reaches the operator's console as
plain text, never as an escape the terminal acts on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.console import show_items
from shared.settings import Settings
from shared.storage import ITEMS, MongoStore
from tests.support.items import as_document, make_item

NOW = datetime.now(UTC).replace(microsecond=0)
OSC8_LINK = "\x1b]8;;http://evil.example/\x1b\\open\x1b]8;;\x1b\\"  # a terminal hyperlink


async def test_stored_titles_reach_the_console_without_escape_sequences(
    mongo_server: str, mongo_db_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = MongoStore(mongo_server, mongo_db_name)
    hostile = make_item(
        "story-escape",
        now=NOW,
        # colour, OSC 8 hyperlink, window title with a bell, CSI as one C1 character, a forged line
        title_en=f"Red \x1b[31malert\x1b[0m {OSC8_LINK}\n- [fake] line",
        title_zh="窗口\x1b]0;owned\x07标题\x9b2J",
    )
    try:
        await store.collection(ITEMS).insert_many([as_document(hostile)])
        total = await show_items(mongo_server, Settings(mongo_db=mongo_db_name))
    finally:
        await store.client.drop_database(mongo_db_name)
        await store.close()
    printed = capsys.readouterr().out
    assert total == 1
    assert not any(control in printed for control in ("\x1b", "\x07", "\x9b"))
    lines = printed.splitlines()
    assert lines[1].startswith("    en: Red [31malert[0m ]8;;http://evil.example/\\open]8;;\\ - [fake] line")
    assert lines[2].startswith("    zh: 窗口]0;owned标题2J")
    assert len(lines) == 4  # the item (3 lines) and the summary: nothing forged


def test_sources_test_prints_a_hostile_feed_without_escape_sequences(tmp_path: Path) -> None:
    # `newsroom sources test ID` prints a live feed's titles: the operator's own terminal again.
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Hostile \u001b]0;owned\u0007",
        "items": [
            {
                "id": "1",
                "url": "https://hostile.example/1",
                "title": f"Red \u001b[31malert\u001b[0m {OSC8_LINK} \u009b2J",
                "content_text": "Body text of a hostile feed entry, long enough to be an entry.",
                "date_published": "2026-11-30T08:00:00Z",
            }
        ],
    }
    (tmp_path / "feed.json").write_text(json.dumps(feed), encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(
        "sources:\n"
        "  - id: hostile\n"
        "    name: Hostile\n"
        f"    url: {(tmp_path / 'feed.json').as_uri()}\n"
        "    kind: jsonfeed\n"
        "    language: en\n",
        encoding="utf-8",
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "newsroom.cli",
            "sources",
            "test",
            "hostile",
            "--file",
            str(tmp_path / "sources.yaml"),
        ],
        env={**clean, "NEWSROOM_DATA_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    entry = next(line for line in run.stdout.splitlines() if "hostile.example/1" in line)
    # The visible words stay (ingest's feed cleaning drops whole escape sequences; the console
    # drops any control character left), the controls never reach the terminal.
    assert all(word in entry for word in ("Red", "alert", "open")), entry
    assert not any(control in run.stdout for control in ("\x1b", "\x07", "\x9b"))
