"""Versioned prompt templates (files in shared/prompts/) and the translation glossary.

A template file is named ``<name>.v<N>.md``. Text before the ``<!-- system -->`` marker documents
the prompt and is not sent; the system and user messages follow their markers. Variables are
``$name`` (string.Template): a missing variable is an error, never an empty hole in a prompt.
The prompt id ("translate.v1") goes into the LLM cache key and onto every output (provenance).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from shared.core.translation import Glossary

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
GLOSSARY_PATH = Path(__file__).resolve().parent.parent / "data" / "glossary.yaml"

_MARKER = re.compile(r"^<!--\s*(system|user)\s*-->\s*$", re.M)
_FILE_NAME = re.compile(r"^(?P<name>[a-z0-9_-]+)\.v(?P<version>\d+)\.md$")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    system: str
    user: str

    @property
    def id(self) -> str:
        return f"{self.name}.v{self.version}"

    def render(self, **variables: str) -> list[dict[str, str]]:
        """Chat messages with the variables filled in (KeyError when one is missing)."""
        return [
            {"role": "system", "content": string.Template(self.system).substitute(variables).strip()},
            {"role": "user", "content": string.Template(self.user).substitute(variables).strip()},
        ]

    @classmethod
    def parse(cls, name: str, version: int, text: str) -> PromptTemplate:
        parts = _MARKER.split(text)
        # parts: [preamble, "system", body, "user", body]
        sections = {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}
        if set(sections) != {"system", "user"}:
            raise ValueError(
                f"prompt {name}.v{version} needs one <!-- system --> and one <!-- user --> section"
            )
        return cls(
            name=name, version=version, system=sections["system"].strip(), user=sections["user"].strip()
        )


def available_versions(name: str, directory: Path = PROMPTS_DIR) -> list[int]:
    versions = []
    for path in directory.glob(f"{name}.v*.md"):
        match = _FILE_NAME.match(path.name)
        if match and match.group("name") == name:
            versions.append(int(match.group("version")))
    return sorted(versions)


@lru_cache(maxsize=32)
def load_prompt(name: str, version: int | None = None, directory: Path = PROMPTS_DIR) -> PromptTemplate:
    """The template ``name`` at ``version`` (default: the highest version on disk)."""
    versions = available_versions(name, directory)
    if not versions:
        raise FileNotFoundError(f"no prompt template {name}.v<N>.md in {directory}")
    chosen = versions[-1] if version is None else version
    path = directory / f"{name}.v{chosen}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt template {path.name} in {directory} (have {versions})")
    return PromptTemplate.parse(name, chosen, path.read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def load_glossary(path: Path = GLOSSARY_PATH) -> Glossary:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return Glossary.from_mapping(data or {})
