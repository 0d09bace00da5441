"""Issue 13.11: a service's log output is JSON lines only: FastStream's own start/stop messages
(which it writes ANSI-coloured, with propagation off) go through the JSON handler too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.runtime.embedded import EmbeddedServer, free_port_block, nats_url
from shared.settings import STAGE_PORT_OFFSET

REPO = Path(__file__).resolve().parents[2]


def test_a_stage_writes_only_json_lines(nats: EmbeddedServer, mongo_server: str, mongo_db_name: str) -> None:
    base = free_port_block(5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
    env.update(
        NEWSROOM_NATS_URL=nats_url(nats),
        NEWSROOM_MONGO_URL=mongo_server,
        NEWSROOM_MONGO_DB=mongo_db_name,
        NEWSROOM_METRICS_BASE_PORT=str(base),
        PYTHONPATH=str(REPO),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.translate"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{base + STAGE_PORT_OFFSET['translate']}/readyz"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "the service logged nothing"
    assert not any("\x1b[" in line for line in lines), [line for line in lines if "\x1b[" in line][:3]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line[:200]!r}") from None
    assert any(r.get("logger", "").startswith("faststream") for r in records), records[:5]
    assert all(r.get("service") == "translate" and r.get("level") for r in records)
