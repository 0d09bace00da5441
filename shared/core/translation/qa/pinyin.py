"""Chinese names written in pinyin (赵秀平 ↔ Zhao Xiuping), checked either way.

English text writes most Chinese person and place names in Hanyu Pinyin. ``pinyin_names`` finds
them: a run "Surname Given" whose surname is a common Chinese surname (Zhao Xiuping, Xiao Xu), or a
single word of two or more syllables that could hardly be English (Mianyang, Xinhua). Each must be
grounded in the Chinese text it is compared with: some consecutive characters there read as the
name (``pypinyin`` gives every reading of each character, so heteronyms such as 重 = zhong/chong
are all tried). A name that no characters of the Chinese text spell is a name the Chinese text
does not contain: a swapped or invented person.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from shared.core.translation.text import HAN, NOT_NAMES, sentence_initial

# The hundred or so most common Chinese surnames (a general list, not one of any data set).
_SURNAME_CHARS = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖萧田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱"
    "严覃武戴莫孔向汤俞庞温柳聂岳纪欧甘祝包宁尚"
)
# Where the letters could only be pinyin (or Wade-Giles) in English text.
_PINYIN_MARKER = re.compile(r"x|q|zh|ao|ui|iu|ong|ian|iao|uo|uan|iang|iong|uang")
_NOT_SYLLABLES = frozenset({"ng", "m", "n", "hm", "hng"})
_CAPITALISED = re.compile(r"(?<![A-Za-z0-9])[A-Z][a-z]+(?:-[A-Za-z][a-z]+)?(?![A-Za-z0-9])")


@lru_cache(maxsize=1)
def _pinyin_dict() -> dict[int, str]:
    # Only the per-character dictionary is needed: without the phrase dictionary pypinyin takes
    # about 12 MB instead of about 60 MB.
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
    from pypinyin.pinyin_dict import pinyin_dict

    return dict(pinyin_dict)


def _plain(syllable: str) -> str:
    """A reading without tone marks, ü as u (English writes Lü as Lu or Lyu)."""
    decomposed = unicodedata.normalize("NFD", syllable)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ü", "u").lower()


@lru_cache(maxsize=8192)
def readings(char: str) -> frozenset[str]:
    """Every toneless reading of one Han character (empty for anything else)."""
    raw = _pinyin_dict().get(ord(char), "")
    return frozenset(_plain(r) for r in raw.split(",") if r)


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable."""
    out: set[str] = set()
    for raw in _pinyin_dict().values():
        out.update(_plain(r) for r in raw.split(","))
    # Interjection readings (嗯 ng, 呣 m) are no syllables of a name.
    return frozenset(s for s in out if s.isalpha() and s not in _NOT_SYLLABLES)


@lru_cache(maxsize=1)
def _surnames() -> frozenset[str]:
    return frozenset(r for char in _SURNAME_CHARS for r in readings(char))


@lru_cache(maxsize=4096)
def syllable_count(word: str) -> int:
    """How many pinyin syllables ``word`` splits into (0: it is not pinyin). Fewest wins."""
    word = word.lower().replace("-", "").replace("'", "")
    valid = syllables()
    best = [0] + [10**6] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 6), end):
            # Pinyin writes an apostrophe before a syllable that starts with a, o or e (Xi'an):
            # inside a word they start none, which rules out English words (Asian, Sequence).
            if start and word[start] in "aoe":
                continue
            if best[start] < 10**6 and word[start:end] in valid:
                best[end] = min(best[end], best[start] + 1)
    return best[-1] if best[-1] < 10**6 else 0


def _runs(text: str) -> list[list[tuple[str, int]]]:
    """Runs of capitalised words separated by single spaces, with their offsets."""
    runs: list[list[tuple[str, int]]] = []
    previous_end = -2
    for match in _CAPITALISED.finditer(text):
        if runs and text[previous_end : match.start()] == " ":
            runs[-1].append((match.group(0), match.start()))
        else:
            runs.append([(match.group(0), match.start())])
        previous_end = match.end()
    return runs


def pinyin_names(text: str, skip: Iterable[tuple[int, int]] = ()) -> list[str]:
    """Chinese names written in pinyin in English ``text``; ``skip``: spans already covered (e.g.
    by glossary names)."""
    covered = list(skip)
    names: dict[str, None] = {}
    surnames = _surnames()
    for run in _runs(text):
        # A compound partly covered ("Shenzhen-Hong Kong") is split into its parts.
        parts: list[tuple[str, int]] = []
        for word, start in run:
            partly = any(b < start + len(word) and start < e for b, e in covered) and "-" in word
            if partly:
                head, tail = word.split("-", 1)
                parts += [(head, start), (tail, start + len(head) + 1)]
            else:
                parts.append((word, start))
        words = [
            (w, s)
            for w, s in parts
            if w not in NOT_NAMES and not any(b < s + len(w) and s < e for b, e in covered)
        ]
        counts = [syllable_count(w) for w, _ in words]
        index = 0
        while index < len(words):
            # "Surname Given" (Zhao Xiuping, Li Keqiang) is a person. Not "Given Surname": an
            # English given name may read as pinyin (Katie Zhu = 朱凯蒂).
            for size in (3, 2):
                group = words[index : index + size]
                group_counts = counts[index : index + size]
                if len(group) < size or 0 in group_counts or any(c > 2 for c in group_counts):
                    continue
                if group[0][0].lower() in surnames:
                    names.setdefault(" ".join(w for w, _ in group), None)
                    index += size
                    break
            else:
                word, count = words[index][0], counts[index]
                initial = sentence_initial(text, words[index][1])
                if count >= 2 and not initial and _PINYIN_MARKER.search(word.lower()):
                    names.setdefault(word, None)
                index += 1
    return list(names)


def _spelled_from(letters: str, text: str, start: int) -> bool:
    """Whether consecutive Han characters of ``text`` from ``start`` read as ``letters``."""
    frontier = {0}
    position = start
    while frontier and position < len(text):
        options = readings(text[position])
        if not options:
            return False
        advanced = set()
        for done in frontier:
            for reading in options:
                if letters.startswith(reading.translate(_UNASPIRATED), done):
                    advanced.add(done + len(reading))
        if len(letters) in advanced:
            return True
        frontier = advanced
        position += 1
    return False


# Aspirated and plain initials (p/b, t/d, k/g) compare alike: older and Hong Kong spellings
# (艾力彼 = "Ai Li Pi") write one for the other.
_UNASPIRATED = str.maketrans("ptk", "bdg")


def _letters(name: str) -> str:
    # Shaanxi (陕西) is the official spelling that tells it from Shanxi (山西).
    return re.sub(r"[^a-z]", "", name.lower()).replace("aa", "a").translate(_UNASPIRATED)


def grounded(name: str, chinese: str) -> bool:
    """Whether some consecutive characters of ``chinese`` read as ``name`` (in the order written,
    or with the words reversed: "Xiuping Zhao")."""
    words = name.split()
    spellings = {_letters(name), _letters(" ".join(reversed(words)))}
    starts = [m.start() for m in HAN.finditer(chinese)]
    for letters in spellings:
        if not letters:
            continue
        for start in starts:
            first = readings(chinese[start])
            if any(letters.startswith(r.translate(_UNASPIRATED)) for r in first) and _spelled_from(
                letters, chinese, start
            ):
                return True
    return False


# --- Chinese person names in Chinese text --------------------------------------------------------

# Where Chinese text reliably names a person: before a verb of saying, after a comma, the start or
# a title (赵秀平说, 研究员庞之浩说). Names elsewhere are left alone: Chinese has no spaces, and a
# guessed name would be a false alarm.
_SAYS = "说|表示|称|指出|认为|透露|介绍|坦言|强调|告诉|回忆|解释|补充"
_TITLES = (
    "记者",
    "总理",
    "主席",
    "教授",
    "院长",
    "市长",
    "省长",
    "部长",
    "局长",
    "总裁",
    "经理",
    "队员",
    "选手",
    "专家",
    "研究员",
    "董事长",
    "创始人",
    "负责人",
    "发言人",
    "书记",
    "主任",
    "总统",
    "首相",
)
# Characters of transliterated foreign names (马克龙 = Macron, 戴维斯 = Davis): such a name is not
# written in pinyin in English.
_TRANSLITERATION = frozenset("斯克尔德特姆森娜丽莉恩顿伊芙布罗普奇基夫维尼亚乌托蒂琳弗杰瑞萨蒙拉里卡")


# 周一表示 is "said on Monday"; 王先生说, 李总说: a title, not a given name.
_NOT_GIVEN = frozenset("零〇一二两三四五六七八九十日天年月先生总姐哥某")


@lru_cache(maxsize=1)
def _person_before_saying() -> re.Pattern[str]:
    return re.compile(rf"([{_SURNAME_CHARS}][\u4e00-\u9fff]{{1,2}}?)(?={_SAYS})")


def chinese_person_names(chinese: str) -> list[str]:
    """Chinese person names that Chinese text states unmistakably (see ``_SAYS``)."""
    names: dict[str, None] = {}
    for match in _person_before_saying().finditer(chinese):
        name, before = match.group(1), chinese[: match.start()]
        if not (not before or before[-1] in "，,、：:（(“ 。；;\n" or before.endswith(_TITLES)):
            continue
        given = name[1:]
        if any(char in _TRANSLITERATION or char in _NOT_GIVEN for char in given):
            continue
        if not all(readings(c) for c in name):
            continue
        names.setdefault(name, None)
    return list(names)


def spelled_in(name: str, english: str) -> bool:
    """Whether ``english`` writes the Chinese ``name`` in pinyin (surname first or last)."""
    letters = _letters(english)
    options = [sorted(readings(char)) for char in name]
    spellings = {""}
    for choices in options:
        spellings = {done + choice for done in spellings for choice in choices}
        if len(spellings) > 256:
            return True  # too many readings to tell: not checked
    surname = {r for r in options[0]}
    for spelling in spellings:
        normal = spelling.translate(_UNASPIRATED)
        if normal in letters:
            return True
        for reading in surname:
            if spelling.startswith(reading):
                given_first = (spelling[len(reading) :] + reading).translate(_UNASPIRATED)
                if given_first in letters:
                    return True
    return False
