"""The compact jieba lexicon (shared/core/keyphrases.zh_lexicon): the same segmentation as stock
jieba with the same domain words, on real texts, without loading jieba's posseg and analyse tables
(~170 MB of the ~250 MB stock jieba took in analyze; bench/zh_lexicon.py measures it)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from shared.core.keyphrases import DOMAIN_DICT_FILE, keyphrases, zh_extract_tags, zh_lexicon
from shared.core.taxonomy import read_data_text

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    json.loads(line)["text"]
    for line in (ROOT / "tests" / "data" / "zh_lexicon" / "texts.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]


def test_segmentation_is_stock_jiebas_on_real_texts() -> None:
    import tempfile

    import jieba

    jieba.setLogLevel(logging.WARNING)
    stock = jieba.Tokenizer()
    stock.tmp_dir = tempfile.gettempdir()
    stock.initialize()
    compact = zh_lexicon().tokenizer
    for word in zh_lexicon().tokenizer.user_word_tag_tab:  # the same user words (tagged ones)
        stock.add_word(word, freq=compact.FREQ[word], tag=compact.user_word_tag_tab[word])
    for line in read_data_text(DOMAIN_DICT_FILE).splitlines():
        parts = line.split()
        if parts:
            stock.add_word(parts[0], freq=compact.FREQ[parts[0]])
    assert len(TEXTS) == 16
    for text in TEXTS:
        assert compact.lcut(text) == stock.lcut(text)


def test_domain_terms_stay_whole_and_function_words_are_no_key_phrases() -> None:
    text = "台积电宣布在亚利桑那州建设先进封装工厂,军备竞赛继续。这是自动驾驶公司的新一轮融资。"
    phrases = keyphrases(text, "zh")
    assert {"台积电", "先进封装", "军备竞赛", "自动驾驶"} <= set(phrases)
    assert "这是" not in zh_extract_tags(text, 50)  # HMM word outside the dictionary, starts with 这


def test_stock_posseg_and_analyse_are_never_loaded() -> None:
    code = (
        "import sys; from shared.core.keyphrases import keyphrases; "
        "from shared.core.summarize import extractive_summary; "
        "keyphrases('台积电宣布扩产。', 'zh'); extractive_summary('甲。乙。丙。丁。', 'zh'); "
        "print(sorted(m for m in sys.modules if m.startswith('jieba.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = out.stdout.strip()
    assert "jieba.posseg" not in loaded and "jieba.analyse" not in loaded, loaded
