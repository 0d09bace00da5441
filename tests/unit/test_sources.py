from pathlib import Path

import pytest

from shared.sample_corpus import CORPUS_DIR, corpus_sources
from shared.sources import (
    BUNDLED_SOURCES,
    Source,
    SourceConfigError,
    append_source,
    load_sources,
    private_origins,
    set_enabled,
)


def test_bundled_starter_list_is_valid_and_bilingual() -> None:
    sources = load_sources(BUNDLED_SOURCES)
    assert len(sources.sources) >= 40
    languages = {s.language for s in sources.sources}
    assert languages == {"en", "zh"}
    assert all(s.url.startswith("https://") for s in sources.sources)


def test_corpus_paths_resolve_relative_to_the_file() -> None:
    sources = corpus_sources()
    aiwire = sources.get("aiwire")
    assert aiwire is not None and aiwire.url == (CORPUS_DIR / "feeds/aiwire.rss").as_uri()
    assert sources.mirrors["https://zhineng.example/"] == (CORPUS_DIR / "sites/zhineng").as_uri() + "/"


def test_corpus_over_http_allows_only_that_server() -> None:
    sources = corpus_sources("http://127.0.0.1:8123")
    aiwire, rebang = sources.get("aiwire"), sources.get("rebang")
    assert aiwire is not None and aiwire.url == "http://127.0.0.1:8123/feeds/aiwire.rss"
    # A public address of a corpus site stays as it is and is fetched through its mirror.
    assert rebang is not None and rebang.url == "https://rebang.example/index.html"
    assert sources.mirrors["https://rebang.example/"] == "http://127.0.0.1:8123/sites/rebang/"
    assert private_origins(sources.sources[0], sources.mirrors) == {("127.0.0.1", 8123)}


def test_invalid_entries_are_reported_with_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("sources:\n  - id: Bad Id\n    name: x\n    url: ftp://x\n    kind: html_list\n")
    with pytest.raises(SourceConfigError) as info:
        load_sources(path)
    message = str(info.value)
    assert str(path) in message and "sources.0.id" in message and "sources.0.url" in message


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "sources:\n  - {id: a, name: A, url: 'https://a.example/f'}\n  - {id: a, name: B, url: 'https://b.example/f'}\n"
    )
    with pytest.raises(SourceConfigError, match="duplicate source id 'a'"):
        load_sources(path)


def test_add_and_disable_keep_comments(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "# my sources\nsources:\n  - id: one  # first\n    name: One\n    url: https://one.example/feed\n\n"
        "  - id: two\n    name: Two\n    url: https://two.example/feed\n    enabled: true\n"
    )
    append_source(
        path, Source(id="three", name="三", url="https://three.example/rss", language="zh", weight=1.3)
    )
    set_enabled(path, "one", False)
    set_enabled(path, "two", False)
    text = path.read_text()
    assert "# my sources" in text and "# first" in text
    sources = load_sources(path)
    assert [s.enabled for s in sources.sources] == [False, False, True]
    three = sources.get("three")
    assert three is not None and (three.name, three.language, three.weight) == ("三", "zh", 1.3)
    with pytest.raises(SourceConfigError, match="exists already"):
        append_source(path, Source(id="one", name="x", url="https://x.example/"))
    with pytest.raises(SourceConfigError, match="no source with id"):
        set_enabled(path, "missing", False)
