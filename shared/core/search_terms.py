"""Index terms for bilingual search: what an item is filed under, and what a query looks up.

The search index (services/publish/search_index.py) keeps one postings document per term, found by
``_id`` (the one lookup nx-27017 answers without a scan). Item and query must be cut into the same
terms, so both go through ``word_terms``:

- Latin-script words: NFKC, case-folded; a word ending in "s" is also filed without it ("chips"
  answers "chip", as the earlier substring search did).
- Chinese: folded to Simplified (opencc t2s), then every pair of adjacent characters of a run of
  Han characters. Single characters are not filed: the common ones (的, 公) would each hold nearly
  every item, and every write to such a postings document rewrites it; a one-character query word
  is left out of the lookup. A query word (segmented with jieba's domain dictionary, see
  ``queries.search_terms``) needs all its pairs: 台积电 -> 台积, 积电. Pairs rather than jieba
  words on the item side because jieba cuts a word differently inside a sentence than alone in a
  query (台积电的 vs 台积电), and a term index only finds what both sides cut alike; pairs are the
  usual CJK analyser (Lucene's CJKAnalyzer) and need no dictionary in publish.
- Cross-language names: an item is also filed under the names its tag and entity labels carry in
  both languages (so "TSMC" finds an item written only in Chinese that names 台积电), and under
  both sides of every glossary entry found in its text.
- Filters: an item is also filed under ``tag:<id>`` and ``entity:<id>`` of its tags and entities
  (``filter_terms``), so a search with a tag or entity filter intersects one more postings list
  instead of reading items. No query word yields such a term (words never contain ":").

No I/O here: the glossary and the converter are passed in or loaded from package data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from shared.core.translation import Glossary

# Bump when the rules above change: publish then rebuilds the index (old terms are removed).
TERMS_VERSION = 1

_HAN = r"\u3400-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"(?P<han>[{_HAN}]+)|(?P<word>[^\W_{_HAN}]+)")

# Words that carry no meaning on their own (the query side drops them too).
STOPWORDS = frozenset("a an and are as at by for from in is of on or the to with".split())

# Searched parts of an item document (the short fields the substring search looked in).
SCALAR_FIELDS = (("title", "en"), ("title", "zh"), ("summary", "en"), ("summary", "zh"))
LABELLED_ARRAYS = ("tags", "entities")  # elements with "en" and "zh" labels


@lru_cache(maxsize=1)
def _to_simplified() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def word_terms(text: str, query: bool = False) -> set[str]:
    """The index terms of a text, or (``query``) what one query word looks up."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    terms: set[str] = set()
    for match in _TOKEN.finditer(folded):
        han, word = match.group("han"), match.group("word")
        if han:
            han = _to_simplified().convert(han)
            terms.update(han[i : i + 2] for i in range(len(han) - 1))
        elif word and word not in STOPWORDS:
            terms.add(word)
            if not query and len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
                terms.add(word[:-1])
    return terms


def item_texts(doc: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(text, language or None) of the searched fields of an item document (stored form)."""
    texts: list[tuple[str, str | None]] = []
    for parent, language in SCALAR_FIELDS:
        value = (doc.get(parent) or {}).get(language)
        if isinstance(value, str) and value:
            texts.append((value, language))
    texts += [(phrase, None) for phrase in doc.get("keyphrases") or [] if isinstance(phrase, str)]
    for array in LABELLED_ARRAYS:
        for element in doc.get(array) or []:
            for language in ("en", "zh"):
                label = element.get(language) if isinstance(element, Mapping) else None
                if isinstance(label, str) and label:
                    texts.append((label, language))
    for source in doc.get("sources") or []:
        title = source.get("title") if isinstance(source, Mapping) else None
        if isinstance(title, str) and title:
            texts.append((title, source.get("language")))
    return texts


def item_terms(doc: Mapping[str, Any], glossary: Glossary | None = None) -> set[str]:
    """Every term an item is filed under."""
    terms: set[str] = set()
    for text, language in item_texts(doc):
        terms |= word_terms(text)
        if glossary is None:
            continue
        for lang in (language,) if language in ("en", "zh") else ("en", "zh"):
            for entry in glossary.entries_in(text, lang):
                for name in (*entry.en, *entry.zh):
                    if not entry.is_ambiguous(name):
                        terms |= word_terms(name)
    return terms


# The item array whose element ids a filter term of each kind names.
FILTER_ARRAYS = {"tag": "tags", "entity": "entities"}


def filter_term(kind: str, value: str) -> str:
    """The term an item with ``value`` among the ids of its ``kind`` array (tags, entities) is
    filed under: exact, as the filter compares ids (never case-folded)."""
    return f"{kind}:{value}"


def filter_terms(doc: Mapping[str, Any]) -> set[str]:
    """The filter terms of an item document (stored or dumped form)."""
    terms: set[str] = set()
    for kind, array in FILTER_ARRAYS.items():
        for element in doc.get(array) or []:
            value = element.get("id") if isinstance(element, Mapping) else None
            if isinstance(value, str) and value:
                terms.add(filter_term(kind, value))
    return terms


def query_terms(words: Iterable[str]) -> set[str]:
    """The terms that must all be filed for an item to match a query of ``words`` (segmented)."""
    terms: set[str] = set()
    for word in words:
        terms |= word_terms(word, query=True)
    return terms
