"""Issue 13.3 and 13.11: the documents say what the code does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def test_compose_publishes_ports_on_loopback_only() -> None:
    """docs/operations.md promises loopback-only ports; compose must agree."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    published = [
        (name, str(port))
        for name, service in compose["services"].items()
        for port in service.get("ports", [])
    ]
    assert published, "compose publishes no port at all?"
    for name, port in published:
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    operations = (REPO / "docs/operations.md").read_text()
    assert "Only loopback ports are" in operations


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_boundary_in_security_md_points_to_an_existing_test() -> None:
    text = (REPO / "docs/security.md").read_text()
    for boundary in (
        "Feeds and article pages",
        "Submitted URLs",
        "LLM output",
        "Event payloads",
        "HTTP read API",
        "Webhooks",
        "Operator configuration",
    ):
        assert boundary in text, boundary
    references = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`", text)
    assert len(references) >= 30
    current: Path | None = None
    for path, name, continued in references:
        if path:
            current = REPO / path
            assert current.is_file(), path
        test = name or continued
        if test:
            assert current is not None
            assert test in _tests_in(current), f"{current.relative_to(REPO)}::{test} does not exist"


def test_docs_cite_only_files_that_exist() -> None:
    for doc in ("README.md", "docs/scaling.md", "docs/operations.md"):
        text = (REPO / doc).read_text()
        for cited in re.findall(r"\]\(((?:docs/|\.\./|\./)?[\w./-]+\.md)\)", text):
            base = (REPO / doc).parent
            assert (base / cited).resolve().is_file() or (REPO / cited).is_file(), f"{doc} cites {cited}"
        assert "ARCHITECTURE.md" not in text or (REPO / "ARCHITECTURE.md").is_file(), doc


def test_scaling_md_knows_stream_replicas_exist() -> None:
    from shared.settings import Settings

    assert "stream_replicas" in Settings.model_fields
    text = (REPO / "docs/scaling.md").read_text()
    assert "NEWSROOM_STREAM_REPLICAS" in text
    assert not re.search(r"NEWSROOM_STREAM_REPLICAS[^.\n]*(?:does not exist|not yet|doesn't exist)", text)


def test_the_licence_is_an_spdx_expression() -> None:
    """Issue 13.11: the table form (``license = {text = ...}``) makes setuptools print a
    deprecation warning block on every install; PEP 639 wants an SPDX expression."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    licence = project["project"]["license"]
    assert isinstance(licence, str)
    licenses = pytest.importorskip("packaging.licenses")
    assert licenses.canonicalize_license_expression(licence) == licence
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))
    requires = " ".join(project["build-system"]["requires"])
    assert re.search(r"setuptools>=(7[7-9]|[89]\d)", requires), requires  # PEP 639 support
