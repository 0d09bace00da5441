"""The bundled offline corpus (fictional items, see README.md): its folder, its source list, and
the same list pointed at an HTTP server that serves this folder (tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path

from shared.sources import SourceList, load_sources

CORPUS_DIR = Path(__file__).resolve().parent
SOURCES_FILE = CORPUS_DIR / "sources.yaml"


def corpus_sources(http_base: str | None = None) -> SourceList:
    """The corpus sources; with ``http_base`` (e.g. ``http://127.0.0.1:8123/``, serving
    CORPUS_DIR) every file location becomes a URL on that server, and the sources may reach it
    on its private address (allow_private, limited to that server's host and port)."""
    sources = load_sources(SOURCES_FILE)
    if http_base is None:
        return sources
    base = http_base.rstrip("/") + "/"
    root = CORPUS_DIR.as_uri() + "/"

    def over_http(location: str) -> str:
        return base + location[len(root) :] if location.startswith(root) else location

    mirrors = {prefix: over_http(target) for prefix, target in sources.mirrors.items()}
    moved = [
        source.model_copy(update={"url": over_http(source.url), "allow_private": True})
        for source in sources.sources
    ]
    # Sources whose own URL is a mirrored public address fetch it through the mirror.
    return SourceList(sources=moved, mirrors=mirrors)
