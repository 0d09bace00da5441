"""Chinese segmentation and key phrases: stock jieba against the compact ``zh_lexicon``.

Stock jieba here is what analyze loaded before: a ``jieba.Tokenizer`` with the same domain words,
``jieba.posseg`` for parts of speech and ``jieba.analyse.TFIDF`` for key phrases. Each variant runs
in its own process (so its memory is its own) on the real Chinese texts of
``../shared/data/real-world/`` (WMT zh sentences, Qwen blog posts in Chinese, the 36氪 and AIbase
feeds), and reports the RSS the dictionary added (current and peak), load time and CPU per text.
Then: how often the segmentation is identical, the token-boundary F1 against stock jieba, the
overlap of the top-8 key phrases, and whether the domain terms (the domain dictionary and the
gazetteer's Chinese names, e.g. 军备竞赛, 台积电, 自动驾驶) stay whole wherever they occur.

    .venv/bin/python bench/zh_lexicon.py [--data ../shared/data/real-world]

Prints JSON. A different sample: ``--shuffle-seed N`` changes the order (the figures are
order-independent), ``--half 0|1`` keeps every other text.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent.parent / "shared" / "data" / "real-world"


def status_kb() -> dict[str, int]:
    with open("/proc/self/status", encoding="ascii") as status:
        return {
            k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in status) if k in ("VmRSS", "VmHWM")
        }


def load_texts(data: Path) -> list[str]:
    import feedparser

    texts = []
    for line in (data / "wmt_zh_en_dev.jsonl").read_text("utf-8").splitlines():
        if line.strip():
            texts.append(json.loads(line)["zh"])
    for line in (data / "qwen_blog_stories_dev.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line) if line.strip() else None
        if row and row["lang"] == "zh":
            texts.append(f"{row['title']}\n{row['text']}")
    for name in ("zh_36kr_2016.xml", "zh_ainewsdirect_aibase_daily.xml"):
        for entry in feedparser.parse((data / "feeds" / name).read_bytes()).entries:
            html = entry.get("content", [{}])[0].get("value") or entry.get("summary", "")
            from lxml import html as lxml_html

            text = lxml_html.fromstring(html).text_content() if html.strip() else ""
            texts.append(f"{entry.get('title', '')}\n{text}"[:4000])
    return [t for t in texts if t.strip()]


def stock_jieba() -> tuple[Any, Any]:
    """What shared/core/keyphrases.py loaded before (jieba 0.42 posseg + analyse)."""
    import logging
    import re
    import tempfile

    import jieba
    import jieba.analyse
    import jieba.posseg

    from shared.core.entities import load_gazetteer
    from shared.core.keyphrases import DOMAIN_DICT_FILE, ZH_STOP_WORDS
    from shared.core.taxonomy import read_data_text

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = tempfile.gettempdir()
    tokenizer.initialize()
    for line in read_data_text(DOMAIN_DICT_FILE).splitlines():
        parts = line.split()
        if parts:
            freq = int(parts[1]) if len(parts) > 1 else None
            tokenizer.add_word(parts[0], freq=freq, tag=parts[2] if len(parts) > 2 else None)
    for entity in load_gazetteer().entities.values():
        for alias in entity.aliases:
            if re.search(r"[\u3400-\u9fff]", alias) and len(alias) >= 2:
                tokenizer.add_word(alias, freq=2000, tag="nr" if entity.kind == "person" else "nt")
    extractor = jieba.analyse.TFIDF()
    extractor.tokenizer = tokenizer
    extractor.postokenizer = jieba.posseg.POSTokenizer(tokenizer)
    extractor.stop_words = set(extractor.stop_words) | ZH_STOP_WORDS
    return tokenizer, extractor


def domain_terms() -> list[str]:
    import re

    from shared.core.entities import load_gazetteer
    from shared.core.keyphrases import DOMAIN_DICT_FILE
    from shared.core.taxonomy import read_data_text

    terms = [line.split()[0] for line in read_data_text(DOMAIN_DICT_FILE).splitlines() if line.split()]
    for entity in load_gazetteer().entities.values():
        terms += [a for a in entity.aliases if re.search(r"[\u3400-\u9fff]", a) and len(a) >= 2]
    return sorted({*terms, "军备竞赛"})


def run_variant(variant: str, data: Path) -> dict[str, Any]:
    """In a fresh process: load the variant, segment and extract key phrases of every text."""
    from shared.core.keyphrases import ALLOW_POS_ZH  # imported before the baseline RSS is read

    texts = load_texts(data)
    before = status_kb()
    started = time.perf_counter()
    if variant == "stock":
        tokenizer, extractor = stock_jieba()

        def phrases(text: str) -> list[str]:
            words = extractor.extract_tags(text, topK=16, allowPOS=tuple(sorted(ALLOW_POS_ZH)))
            return [w for w in words if len(w.strip()) > 1][:8]
    else:
        from shared.core.keyphrases import zh_extract_tags, zh_lexicon

        tokenizer = zh_lexicon().tokenizer

        def phrases(text: str) -> list[str]:
            return [w for w in zh_extract_tags(text, 16) if len(w.strip()) > 1][:8]

    load_s = time.perf_counter() - started
    loaded = status_kb()
    cpu = time.process_time()
    segmented = [tokenizer.lcut(t) for t in texts]
    keyphrases = [phrases(t) for t in texts]
    cpu_s = time.process_time() - cpu
    after = status_kb()
    return {
        "variant": variant,
        "rss_added_mb": round((after["VmRSS"] - before["VmRSS"]) / 1024, 1),
        "peak_added_mb": round((after["VmHWM"] - before["VmRSS"]) / 1024, 1),
        "process_rss_mb": round(after["VmRSS"] / 1024, 1),
        "load_s": round(load_s, 2),
        "cpu_ms_per_text": round(1000 * cpu_s / len(texts), 2),
        "texts": len(texts),
        "segmented": segmented,
        "keyphrases": keyphrases,
        "_loaded_rss_mb": round(loaded["VmRSS"] / 1024, 1),
    }


def boundaries(tokens: list[str]) -> set[int]:
    out, pos = set(), 0
    for token in tokens:
        pos += len(token)
        out.add(pos)
    return out


def compare(
    stock: dict[str, Any], compact: dict[str, Any], order: list[int], terms: list[str]
) -> dict[str, Any]:
    identical = tp = fp = fn = 0
    overlap: list[float] = []
    whole = {"stock": 0, "compact": 0}
    occurrences = 0
    texts = load_texts(ARGS.data)
    for i in order:
        a, b = stock["segmented"][i], compact["segmented"][i]
        identical += a == b
        ba, bb = boundaries(a), boundaries(b)
        tp, fp, fn = tp + len(ba & bb), fp + len(bb - ba), fn + len(ba - bb)
        ka, kb = set(stock["keyphrases"][i]), set(compact["keyphrases"][i])
        if ka or kb:
            overlap.append(len(ka & kb) / max(len(ka), len(kb)))
        for term in terms:
            if term in texts[i]:
                occurrences += 1
                whole["stock"] += term in a
                whole["compact"] += term in b
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {
        "texts": len(order),
        "segmentation_identical_share": round(identical / len(order), 4),
        "boundary_f1_vs_stock": round(2 * precision * recall / (precision + recall), 4),
        "keyphrase_top8_overlap_mean": round(sum(overlap) / len(overlap), 4),
        "domain_term_occurrences": occurrences,
        "domain_terms_kept_whole": whole,
    }


ARGS: argparse.Namespace
SUMMARY_KEYS = ("rss_added_mb", "peak_added_mb", "process_rss_mb", "load_s", "cpu_ms_per_text", "texts")


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variant", choices=("stock", "compact"), help=argparse.SUPPRESS)
    parser.add_argument("--shuffle-seed", type=int, default=None)
    parser.add_argument("--half", type=int, choices=(0, 1), default=None)
    ARGS = parser.parse_args()
    if ARGS.variant:
        print(json.dumps(run_variant(ARGS.variant, ARGS.data), ensure_ascii=False))
        return
    results = {}
    for variant in ("stock", "compact"):
        out = subprocess.run(
            [sys.executable, __file__, "--variant", variant, "--data", str(ARGS.data)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        results[variant] = json.loads(out.stdout)
    n = results["stock"]["texts"]
    order = list(range(n))
    if ARGS.shuffle_seed is not None:
        random.Random(ARGS.shuffle_seed).shuffle(order)
    if ARGS.half is not None:
        order = order[ARGS.half :: 2]
    report = {
        "benchmark": "zh_lexicon",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **{
            v: {
                k: r[k]
                for k in r
                if k not in ("segmented", "keyphrases", "variant") and not k.startswith("_")
            }
            for v, r in results.items()
        },
        "agreement": compare(results["stock"], results["compact"], order, domain_terms()),
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
