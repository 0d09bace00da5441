"""The compose ``llm`` profile (Ollama): one setting chooses the model the services ask for and the
model the server pulls on its first start; the context window the gateway fits requests to is
the one the server runs with. Validated offline with Debian's docker-compose when installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


def test_one_setting_chooses_the_pulled_and_the_requested_model() -> None:
    data = yaml.safe_load(COMPOSE.read_text())
    llm = data["services"]["llm"]
    stage_env = data["services"]["translate"]["environment"]
    assert "NEWSROOM_LLM__MODEL" in " ".join(llm["entrypoint"])
    assert "ollama pull" in " ".join(llm["entrypoint"])
    assert llm["environment"]["NEWSROOM_LLM__MODEL"].startswith("${NEWSROOM_LLM__MODEL")
    assert stage_env["NEWSROOM_LLM__MODEL"].startswith("${NEWSROOM_LLM__MODEL")
    # Ollama's OpenAI API does not tell its window: both sides take it from one setting.
    assert llm["environment"]["OLLAMA_CONTEXT_LENGTH"].startswith("${NEWSROOM_LLM__CONTEXT_TOKENS")
    assert stage_env["NEWSROOM_LLM__CONTEXT_TOKENS"].startswith("${NEWSROOM_LLM__CONTEXT_TOKENS")
    assert "NEWSROOM_LLM_PULL" not in COMPOSE.read_text()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_the_llm_profile_resolves_to_the_chosen_model(tmp_path: Path) -> None:
    env = (
        REPO / ".env.example"
    ).read_text() + "\nNEWSROOM_LLM__MODEL=qwen2.5:14b\nNEWSROOM_LLM__CONTEXT_TOKENS=16384\n"
    (tmp_path / ".env").write_text(env)
    result = subprocess.run(
        [
            "docker-compose",
            "--env-file",
            str(tmp_path / ".env"),
            "-f",
            str(COMPOSE),
            "--profile",
            "llm",
            "config",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert resolved["llm"]["environment"]["NEWSROOM_LLM__MODEL"] == "qwen2.5:14b"
    assert str(resolved["llm"]["environment"]["OLLAMA_CONTEXT_LENGTH"]) == "16384"
    assert resolved["analyze"]["environment"]["NEWSROOM_LLM__MODEL"] == "qwen2.5:14b"
    assert str(resolved["analyze"]["environment"]["NEWSROOM_LLM__CONTEXT_TOKENS"]) == "16384"


def test_an_empty_context_setting_from_compose_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.settings import load_settings

    monkeypatch.setenv("NEWSROOM_LLM__CONTEXT_TOKENS", "")
    monkeypatch.setenv("NEWSROOM_LLM__ANALYZE__CONTEXT_TOKENS", "4096")
    settings = load_settings()
    assert settings.llm.context_tokens is None
    assert settings.llm.for_task("analyze").context_tokens == 4096
