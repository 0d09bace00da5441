"""docker-compose.yml and the Prometheus files, validated offline (no Docker engine here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_every_service_has_a_healthcheck_and_a_restart_policy() -> None:
    services = compose()["services"]
    for name in (
        "nats",
        "mongo",
        "ingest",
        "translate",
        "analyze",
        "score",
        "publish",
        "prometheus",
        "grafana",
    ):
        assert name in services, name
    for name, service in services.items():
        assert service.get("healthcheck"), f"{name} has no healthcheck"
        assert service.get("restart") in {"unless-stopped", "always", "on-failure"}, (
            f"{name} has no restart policy"
        )


def test_no_secret_literal_in_compose() -> None:
    secret_key = re.compile(r"PASSWORD|API_KEY|SECRET|TOKEN")
    for name, service in compose()["services"].items():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if secret_key.search(key):
                assert "${" in str(value), f"{name}: {key} has a literal value"
            for credential in re.findall(r"//(.+)@", str(value)):  # user:password@host in URLs
                literal = re.sub(r"\$\{[^}]*\}", "", credential).replace(":", "")
                assert literal == "", f"{name}: {key} has literal credentials"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_compose_file_validates() -> None:
    result = subprocess.run(
        ["docker-compose", "--env-file", str(REPO / ".env.example"), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) is not installed"
)
def test_prometheus_config_and_rules_pass_promtool() -> None:
    for args in (
        ["check", "config", "deploy/prometheus/prometheus.yml"],
        ["check", "rules", "deploy/prometheus/alerts.yml"],
    ):
        result = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
