"""What publish files an item under in the search index (shared/core/search_terms.py), measured
on bench/pipeline.py's corpus and on real texts (``../shared/data/real-world``): terms per item by
kind, terms several fields give (filed once), Han pairs the query side cannot produce from the
pair itself, terms held by more than half of the items, and how many distinct terms (and
term#bucket postings documents) a group of N stories filed together writes.

    python bench/search_terms_stats.py [--bench-items 200] [--groups 8,32,128]

Items are made as publish stores them after the local tier (no LLM: one language's title and
summary, key phrases, tags and entities with both labels, the source titles). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
REAL = REPO.parent.parent / "shared" / "data" / "real-world"


def item_doc(
    title: str, text: str, language: str, source_titles: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """An item as publish files it (TERM_SOURCES of the stored form) after the local tier."""
    from shared.core.local_analysis import analyze_locally

    local = analyze_locally(title, text, language, None)
    return {
        "title": {language: title},
        "summary": {language: local.summary} if local.summary else {},
        "keyphrases": list(local.keyphrases),
        "tags": [{"id": t.id, "en": t.en, "zh": t.zh} for t in local.tags],
        "entities": [{"id": e.id, "en": e.en, "zh": e.zh} for e in local.entities],
        "sources": [{"title": t, "language": lang} for t, lang in source_titles],
    }


def bench_items(count: int) -> list[dict[str, Any]]:
    from pipeline import article_title, body  # type: ignore[import-not-found]

    return [item_doc(article_title(i), body(i), "en", [(article_title(i), "en")]) for i in range(count)]


def real_items() -> dict[str, list[dict[str, Any]]]:
    """Feed items (tests/data/scoring: title and lead of real 36Kr, Hacker News and lab-blog entries),
    Qwen blog posts (one item per post and language: the bilingual pairs are two stories until
    ingest joins them) and WMT news sentences (zh source and en reference, each its own item: title
    = the first clause, summary = the sentence)."""
    out: dict[str, list[dict[str, Any]]] = {"qwen_blog": [], "wmt_news": [], "feed_items": []}
    for line in (REPO / "tests" / "data" / "scoring" / "real_items.jsonl").read_text("utf-8").splitlines():
        content = json.loads(line)["content"]  # 36Kr, Hacker News, lab blogs (from the real feeds)
        title, language = content["title"], content["language"]
        out["feed_items"].append(item_doc(title, content["body"][:600], language, [(title, language)]))
    for line in (REAL / "qwen_blog_stories_dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out["qwen_blog"].append(
            item_doc(row["title"], row["text"], row["lang"], [(row["title"], row["lang"])])
        )
    for line in (REAL / "wmt_zh_en_dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for language in ("zh", "en"):
            sentence = row[language]
            title = sentence.split("，" if language == "zh" else ",")[0][:120]
            out["wmt_news"].append(item_doc(title, sentence, language, [(title, language)]))
    return out


def kind(term: str) -> str:
    from shared.core.search_terms import FILTER_ARRAYS

    if any(term.startswith(f"{k}:") for k in FILTER_ARRAYS):
        return "filter"
    if "\u3400" <= term[0] <= "\u9fff" or "\uf900" <= term[0] <= "\ufaff":
        return "han_pair"
    return "latin_word"


def field_terms(doc: Mapping[str, Any]) -> list[set[str]]:
    """The word terms of each searched text of the item, separately (duplicates across fields)."""
    from shared.core.search_terms import item_texts, word_terms

    return [word_terms(text) for text, _ in item_texts(doc)]


def query_reaches_pair(pair: str) -> bool:
    """Does the query made of the pair alone look it up? (jieba keeps it one word)"""
    from services.publish.queries import search_terms
    from shared.core.search_terms import query_terms

    words = search_terms(pair)
    return pair in query_terms(words)


def stats(items: list[dict[str, Any]], groups: Sequence[int]) -> dict[str, Any]:
    from services.publish.search_index import posting_key
    from shared.core.search_terms import filter_terms, item_terms
    from shared.llm.prompts import load_glossary

    glossary = load_glossary()
    per_item: list[set[str]] = []
    kinds: Counter[str] = Counter()
    from_glossary = 0
    stems = 0
    repeated = 0
    field_total = 0
    for doc in items:
        words = item_terms(doc, None)
        terms = item_terms(doc, glossary) | filter_terms(doc)
        per_item.append(terms)
        from_glossary += len(terms - words - filter_terms(doc))
        kinds.update(kind(t) for t in terms)
        stems += sum(1 for t in words if t + "s" in words and kind(t) == "latin_word")
        fields = field_terms(doc)
        field_total += sum(len(f) for f in fields)
        repeated += sum(len(f) for f in fields) - len(set().union(*fields)) if fields else 0
    n = len(items)
    document_frequency = Counter(t for terms in per_item for t in terms)
    common = sorted(t for t, c in document_frequency.items() if c > n / 2)
    pairs = {t for t in document_frequency if kind(t) == "han_pair"}
    unreached = {p for p in pairs if not query_reaches_pair(p)}
    unreached_filings = sum(document_frequency[p] for p in unreached)
    total = sum(len(t) for t in per_item)
    ids = [f"item-{i}" for i in range(n)]
    # Of the postings documents an item is filed in, the share that exists already (filed in
    # order): what publish's one update_many per story covers once its process has seen them.
    existing: list[float] = []
    seen: set[str] = set()
    for item_id, terms in zip(ids, per_item, strict=True):
        keys = {posting_key(t, item_id) for t in terms}
        existing.append(len(keys & seen) / max(1, len(keys)))
        seen |= keys
    by_group: dict[str, Any] = {}
    for size in groups:
        chunks = [range(start, start + size) for start in range(0, n - size + 1, size)]
        if not chunks:
            continue
        distinct_terms = [len(set().union(*(per_item[i] for i in chunk))) for chunk in chunks]
        bucket_docs = [len({posting_key(t, ids[i]) for i in chunk for t in per_item[i]}) for chunk in chunks]
        by_group[f"group_of_{size}"] = {
            "term_filings": round(sum(len(per_item[i]) for chunk in chunks for i in chunk) / len(chunks), 1),
            "distinct_terms_mean": round(statistics.mean(distinct_terms), 1),
            "postings_documents_written_mean": round(statistics.mean(bucket_docs), 1),
        }
    return {
        "items": n,
        "terms_per_item": {
            "mean": round(total / n, 1),
            "median": statistics.median(len(t) for t in per_item),
            "max": max(len(t) for t in per_item),
        },
        "terms_per_item_by_kind": {k: round(v / n, 1) for k, v in sorted(kinds.items())},
        "glossary_names_per_item": round(from_glossary / n, 1),
        "plural_stems_per_item": round(stems / n, 1),
        "field_terms_per_item": round(field_total / n, 1),
        "repeated_across_fields_per_item": round(repeated / n, 1),
        "han_pairs_distinct": len(pairs),
        "han_pairs_a_query_of_the_pair_does_not_look_up": len(unreached),
        "share_of_filings_on_those_pairs": round(unreached_filings / max(1, total), 3),
        "terms_in_over_half_of_items": common,
        "share_of_filings_on_those_terms": round(sum(document_frequency[t] for t in common) / total, 3),
        "postings_documents_existing_share_last_third": round(statistics.mean(existing[2 * n // 3 :]), 3),
        **by_group,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bench-items", type=int, default=200)
    parser.add_argument("--groups", default="8,32,128", help="stories filed together (comma-separated)")
    args = parser.parse_args()
    groups = [int(size) for size in args.groups.split(",")]
    out: dict[str, Any] = {"bench_corpus": stats(bench_items(args.bench_items), groups)}
    real = real_items()
    for name, items in real.items():
        out[name] = stats(items, groups)
    mixed = [item for items in real.values() for item in items]
    random.Random(17).shuffle(mixed)  # every real text, in one arrival order
    out["all_real_shuffled"] = stats(mixed, groups)
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
