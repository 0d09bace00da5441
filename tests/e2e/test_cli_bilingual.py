"""The README's run command on the bundled sample corpus with no model: `newsroom up --once`
prints both titles of each item with where they come from, a summary line that counts the
bilingual items, and a one-line banner that translation and analysis by a model are off and how to
turn them on; no item text carries that advice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.runtime.embedded import free_port_block
from tests.support import example_cache
from tests.support.waits import PIPELINE_RUN_S, PIPELINE_TEST_TIMEOUT_S

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]
REPO = Path(__file__).resolve().parents[2]


def test_up_once_prints_bilingual_items_without_a_model(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
    env["NEWSROOM_METRICS_BASE_PORT"] = str(free_port_block(5))
    env["NEWSROOM_INGEST__SOURCES_FILE"] = str(REPO / "shared" / "sample_corpus" / "sources.yaml")
    example_cache.seed(tmp_path / "var")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newsroom.cli",
            "up",
            "--data-dir",
            str(tmp_path / "var"),
            "--once",
            "--timeout",
            str(PIPELINE_RUN_S),
        ],
        capture_output=True,
        text=True,
        timeout=PIPELINE_RUN_S + 120,  # the CLI's own limit, plus its start and stop
        cwd=REPO,
        env=env,
    )
    example_cache.keep(tmp_path / "var")
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    banner = [line for line in out.splitlines() if "Language model:" in line]
    assert len(banner) == 1 and "off" in banner[0] and "NEWSROOM_LLM__BASE_URL" in banner[0]
    summary = re.search(
        r"Items: (\d+) published, (\d+) bilingual \(from sources (\d+), by model (\d+)\)", out
    )
    assert summary, out[-3000:]
    published, bilingual, sources, model = map(int, summary.groups())
    # The sample corpus has 8 stories with an article in each language (bench/bilingual.py).
    assert published >= 8 and bilingual >= 6 and sources == bilingual and model == 0
    item_lines = [
        line for line in out.splitlines() if line.startswith("    en: ") or line.startswith("    zh: ")
    ]
    assert any("(source: 智能前沿)" in line for line in item_lines)
    assert any(line.endswith("Chinese version not available yet / 暂无中文版本") for line in item_lines)
    assert not any("NEWSROOM_" in line for line in item_lines)
