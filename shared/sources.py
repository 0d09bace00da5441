"""Sources as configuration: one YAML file lists every feed, page and API the ingest service polls.

```yaml
mirrors:                       # optional: serve these URL prefixes from elsewhere (offline corpus)
  https://aiwire.example/: sites/aiwire/
sources:
  - id: aiwire                 # stable id: metrics label, state key, article.source_id
    name: AI Wire
    url: https://aiwire.example/feed.xml   # or a path relative to this file, or file://
    kind: rss                  # rss | atom | jsonfeed | html_list | json_api
    language: en               # hint: en | zh (detection still runs on every article)
    weight: 1.2                # reputation weight (feeds Quality and Hot)
    poll_interval_s: 900
```

``html_list`` sources carry CSS selectors (``html_list:``), ``json_api`` sources a field mapping
(``json_api:``). Relative paths are resolved against the YAML file's folder, so a source list and
its corpus can move together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SourceKind = Literal["rss", "atom", "jsonfeed", "html_list", "json_api"]
SOURCE_KINDS: tuple[str, ...] = ("rss", "atom", "jsonfeed", "html_list", "json_api")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
BUNDLED_SOURCES = Path(__file__).parent / "data" / "sources.yaml"
SAMPLE_CORPUS_SOURCES = Path(__file__).parent / "sample_corpus" / "sources.yaml"


class SourceConfigError(ValueError):
    """The sources file is unreadable or invalid; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HtmlListSelectors(_Strict):
    """CSS selectors of a list page: ``item`` selects one element per article, the others are
    applied inside it. ``link`` must select an element with an href (or be the item itself)."""

    item: str
    link: str = "a"
    title: str | None = None  # default: the link's text
    summary: str | None = None
    published: str | None = None  # text, or a datetime attribute on <time>
    author: str | None = None


class JsonApiMapping(_Strict):
    """Where the fields are in a JSON API answer. Paths are dotted (``data.items``); ``items``
    points at the list of articles, the other paths are read inside one article object."""

    items: str = ""  # "" = the document itself is the list
    url: str
    title: str
    summary: str | None = None
    content: str | None = None
    published: str | None = None
    author: str | None = None
    rank: str | None = None
    views: str | None = None
    comments: str | None = None
    likes: str | None = None


class Source(_Strict):
    id: str
    name: str
    url: str
    kind: SourceKind = "rss"
    language: Literal["en", "zh"] | None = None
    weight: float = Field(default=1.0, ge=0.0, le=3.0)
    poll_interval_s: float = Field(default=900.0, ge=30.0)
    enabled: bool = True
    # Fetch the article page when the feed carries only a teaser: auto | always | never.
    full_text: Literal["auto", "always", "never"] = "auto"
    # Override a site's declared charset when it is known to lie (e.g. says utf-8, sends GBK).
    encoding: str | None = None
    # SSRF opt-in: let this source (and only its own host) reach private/loopback addresses.
    # For local test servers and the bundled corpus; cloud metadata addresses stay refused.
    allow_private: bool = False
    translate_body: bool = True
    html_list: HtmlListSelectors | None = None
    json_api: JsonApiMapping | None = None
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("id must be 1-64 of a-z, 0-9, '-', '_' and start with a letter or digit")
        return value

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.lower()
        if scheme not in ("http", "https", "file"):
            raise ValueError(f"url must be http(s), file:// or a path, got scheme {scheme!r}")
        return value

    @model_validator(mode="after")
    def _kind_options(self) -> Source:
        if self.kind == "html_list" and self.html_list is None:
            raise ValueError("kind html_list needs html_list selectors (at least 'item')")
        if self.kind == "json_api" and self.json_api is None:
            raise ValueError("kind json_api needs a json_api field mapping (at least 'url' and 'title')")
        return self

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


class SourceList(_Strict):
    sources: list[Source] = Field(default_factory=list)
    mirrors: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_ids(self) -> SourceList:
        seen: set[str] = set()
        for source in self.sources:
            if source.id in seen:
                raise ValueError(f"duplicate source id {source.id!r}")
            seen.add(source.id)
        return self

    def get(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)

    def enabled(self) -> list[Source]:
        return [s for s in self.sources if s.enabled]


def _resolve(location: str, base_dir: Path) -> str:
    """http(s) and file URLs stay; anything else is a path relative to the YAML file's folder."""
    scheme = urlsplit(location).scheme.lower()
    if len(scheme) > 1:  # any URL (a one-letter "scheme" is a Windows drive)
        return location
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    uri = path.as_uri()
    # Path.as_uri drops a trailing slash; mirrors are prefixes and need it.
    return uri + "/" if location.endswith("/") and not uri.endswith("/") else uri


def parse_sources(data: object, base_dir: Path, origin: str = "<memory>") -> SourceList:
    if data is None:
        data = {}
    if isinstance(data, list):  # a bare list of sources is accepted too
        data = {"sources": data}
    if not isinstance(data, dict):
        raise SourceConfigError(f"{origin}: expected a mapping with 'sources:', got {type(data).__name__}")
    raw_sources = data.get("sources") or []
    if not isinstance(raw_sources, list):
        raise SourceConfigError(f"{origin}: 'sources' must be a list")
    resolved = []
    for entry in raw_sources:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            entry = {**entry, "url": _resolve(entry["url"], base_dir)}
        resolved.append(entry)
    mirrors = {prefix: _resolve(target, base_dir) for prefix, target in (data.get("mirrors") or {}).items()}
    try:
        return SourceList(sources=resolved, mirrors=mirrors)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SourceConfigError(f"{origin}: {problems}") from exc


def load_sources(path: Path) -> SourceList:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceConfigError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SourceConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_sources(data, path.parent.resolve(), str(path))


def source_yaml_block(source: Source) -> str:
    """One list entry in the file's style (for `newsroom sources add`)."""
    data = source.model_dump(exclude_defaults=True, exclude_none=True)
    data = {"id": source.id, "name": source.name, "url": source.url, **data}
    text = yaml.safe_dump([data], allow_unicode=True, sort_keys=False, width=100)
    return "".join("  " + line if line.strip() else line for line in text.splitlines(keepends=True))


def append_source(path: Path, source: Source) -> None:
    """Add a source at the end of the file, keeping the operator's comments and layout.

    Refuses an id that is already used; the file is re-read and validated after the edit, and
    restored if the result is invalid."""
    current = load_sources(path) if path.exists() else SourceList()
    if current.get(source.id) is not None:
        raise SourceConfigError(f"{path}: a source with id {source.id!r} exists already")
    original = path.read_text(encoding="utf-8") if path.exists() else ""
    text = original
    if not re.search(r"^sources:\s*$", text, re.MULTILINE):
        text = text.rstrip("\n") + ("\n" if text.strip() else "") + "sources:\n"
    text = text.rstrip("\n") + "\n" + source_yaml_block(source)
    _write_validated(path, text, original)


def set_enabled(path: Path, source_id: str, enabled: bool) -> None:
    """Flip one source's ``enabled`` flag by a line edit (comments and layout survive)."""
    original = path.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    start = None
    indent = ""
    id_line = re.compile(r"^(\s*)-\s+id:\s*['\"]?" + re.escape(source_id) + r"['\"]?\s*(#.*)?$")
    for index, line in enumerate(lines):
        match = id_line.match(line.rstrip("\n"))
        if match:
            start, indent = index, match.group(1)
            break
    if start is None:
        raise SourceConfigError(
            f"{path}: no source with id {source_id!r} (only '- id: …' entries are edited)"
        )
    end = len(lines)
    for index in range(start + 1, len(lines)):
        stripped = lines[index].rstrip("\n")
        if stripped.startswith(indent + "-") or (
            stripped and not stripped.startswith(indent + " ") and not stripped.lstrip().startswith("#")
        ):
            end = index
            break
    field_indent = indent + "  "
    flag = f"{field_indent}enabled: {'true' if enabled else 'false'}\n"
    for index in range(start + 1, end):
        if re.match(rf"^{re.escape(field_indent)}enabled:", lines[index]):
            lines[index] = flag
            break
    else:
        lines.insert(start + 1, flag)
    _write_validated(path, "".join(lines), original)


def _write_validated(path: Path, text: str, original: str) -> None:
    path.write_text(text, encoding="utf-8")
    try:
        load_sources(path)
    except SourceConfigError:
        path.write_text(original, encoding="utf-8")
        raise


def private_origins(source: Source, mirrors: dict[str, str]) -> frozenset[tuple[str, int]]:
    """The (host, port) pairs this source may reach on private addresses: its own URL's and
    those of mirrors used by it. Empty unless the source opted in with allow_private."""
    if not source.allow_private:
        return frozenset()
    return frozenset(origin for origin in (_origin(u) for u in (source.url, *mirrors.values())) if origin)


def mirror_origins(mirrors: dict[str, str]) -> frozenset[tuple[str, int]]:
    """The (host, port) pairs of the mirror targets: operator configuration, so trusted even on
    private addresses (the offline corpus served locally)."""
    return frozenset(origin for origin in (_origin(u) for u in mirrors.values()) if origin)


def _origin(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80)


def ids(sources: Iterable[Source]) -> list[str]:
    return [s.id for s in sources]
