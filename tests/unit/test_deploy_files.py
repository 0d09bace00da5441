"""docker-compose.yml, the Prometheus files and the Grafana dashboard, validated offline (no Docker
engine here). Whether every metric they name is really exported is checked against live services
in tests/integration/test_metrics_names.py (it uses ``queried_metric_names`` from here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "newsroom.json"
DATASOURCES = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
STAGES = ("ingest", "translate", "analyze", "score", "publish")
# Images built FROM scratch (no shell, no wget): Docker cannot run a probe inside them, so their
# healthcheck is disabled explicitly and Prometheus watches them instead (alert on `up`).
SCRATCH_IMAGES = {"nats-exporter"}

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) is not installed"
)

# --- PromQL: which metric names an expression reads ----------------------------------------------

_PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    "atan2",
}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords, label names, strings and
    durations left out). Small and strict on purpose: our expressions use plain selectors."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        token = match.group(0)
        if token.lower() in _PROMQL_KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(token)
    return names


def alert_rules() -> list[dict[str, Any]]:
    data: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels inside collapsed rows
    return panels


def queried_metric_names() -> dict[str, set[str]]:
    """metric name -> where it is used (alert names, dashboard panel titles)."""
    used: dict[str, set[str]] = {}
    for rule in alert_rules():
        for name in promql_metric_names(rule["expr"]):
            used.setdefault(name, set()).add(f"alert {rule['alert']}")
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            for name in promql_metric_names(target["expr"]):
                used.setdefault(name, set()).add(f"panel {panel['title']!r}")
    return used


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_every_service_has_a_healthcheck_and_a_restart_policy() -> None:
    services = compose()["services"]
    for name in ("nats", "mongo", *STAGES, "prometheus", "grafana", "llm"):
        assert name in services, name
    for name, service in services.items():
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        if name in SCRATCH_IMAGES:
            assert healthcheck == {"disable": True}, name
        else:
            assert healthcheck.get("test"), f"{name}: healthcheck without a test"
        restart = service.get("restart")
        assert restart in {"unless-stopped", "always", "on-failure"}, f"{name} has no restart policy"
        limits = (service.get("deploy") or {}).get("resources", {}).get("limits", {})
        assert limits.get("memory"), f"{name} has no memory limit"


def test_stages_run_from_one_image_with_their_own_healthz() -> None:
    services = compose()["services"]
    images = {services[stage]["image"] for stage in STAGES}
    builds = {services[stage]["build"]["dockerfile"] for stage in STAGES}
    assert len(images) == 1 and builds == {"deploy/Dockerfile"}
    for offset, stage in enumerate(STAGES):
        assert services[stage]["command"] == ["run", stage]
        assert f"127.0.0.1:{9101 + offset}/healthz" in " ".join(services[stage]["healthcheck"]["test"])


def test_dockerfile_is_multi_stage_and_runs_as_a_non_root_user() -> None:
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert not re.search(r"(PASSWORD|API_KEY|SECRET|TOKEN)\S*=", text), "no secret baked into the image"


def test_nats_and_mongo_use_authentication_and_named_volumes() -> None:
    data = compose()
    services, volumes = data["services"], data["volumes"]
    assert "authorization" in (REPO / "deploy" / "nats" / "nats.conf").read_text()
    assert services["nats"]["environment"]["NATS_PASSWORD"].startswith("${")
    assert services["mongo"]["environment"]["MONGO_INITDB_ROOT_PASSWORD"].startswith("${")
    for name, mount in (("mongo", "/data/db"), ("nats", "/data")):
        named = [v.split(":")[0] for v in services[name]["volumes"] if v.split(":")[1] == mount]
        assert named and named[0] in volumes, f"{name} keeps {mount} in a named volume"
    assert services["llm"]["profiles"] == ["llm"]


def test_env_example_documents_every_variable_compose_needs() -> None:
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    needed = set(re.findall(r"\$\{([A-Z_]+)[:?}-]", COMPOSE.read_text()))
    assert needed <= documented, needed - documented


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


def test_prometheus_scrapes_every_stage_and_nats() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    scraped = {(sd["names"][0], sd["port"]) for sd in jobs["newsroom"]["dns_sd_configs"]}
    assert scraped == {(stage, 9101 + offset) for offset, stage in enumerate(STAGES)}
    assert jobs["nats"]["static_configs"][0]["targets"] == ["nats-exporter:7777"]


def test_alert_rules_cover_the_operators_questions() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    for name in (
        "NewsroomConsumerLagGrowing",
        "NewsroomDeadLetters",
        "NewsroomNothingPublished",
        "NewsroomLLMErrorRateHigh",
        "NewsroomSourceFailing",
        "NewsroomServiceDown",
    ):
        assert name in rules, name
        assert rules[name]["annotations"]["summary"]
        assert rules[name]["labels"]["severity"] in {"info", "warning", "critical"}


@needs_promtool
def test_alert_rules_fire_when_they_should_promtool_unit_tests() -> None:
    result = subprocess.run(
        ["promtool", "test", "rules", "deploy/prometheus/alerts_test.yml"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_valid_grafana_json_on_the_provisioned_datasource() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    datasource_uids = {ds["uid"] for ds in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    assert datasource_uids == {"prometheus"}
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    queried = [panel for panel in panels if panel["type"] != "row"]
    assert len(queried) >= 20
    for panel in queried:
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
            assert target["expr"].strip() and promql_metric_names(target["expr"]), panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
    titles = " ".join(panel["title"].lower() for panel in panels if panel["type"] == "row")
    for section in ("flow", "lag", "dead letters", "llm", "sources"):
        assert section in titles, section


def test_promql_metric_names_reads_selectors_only() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, stage) "
        '(rate(newsroom_processing_seconds_bucket{stage!="x"}[5m])))'
        ' / on (stage) group_left max without (instance) (up{job="newsroom"}) > 1e-9 and vector(0)'
    )
    assert promql_metric_names(expr) == {"newsroom_processing_seconds_bucket", "up"}
