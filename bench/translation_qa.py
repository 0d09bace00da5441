"""Translation QA on real human translations: false alarms on faithful references, recall on
errors injected into them.

The set: ``../shared/data/real-world/wmt_zh_en_dev.jsonl`` (WMT newstest zh→en, professional
references). Every reference is checked against its source with ``check_translation`` (the
function the translate stage uses): a flag on a faithful reference is a false alarm.

Errors are injected into the references by a seeded script (below), one mutant per row and kind
when the row allows it, each a real mistake a model makes:

- ``digit``: one digit of a number changed;
- ``digit_in_name``: one digit inside a product or model name changed (iPhone7 → iPhone8);
- ``digit_among_numbers``: a number changed that has another number close by (1499 → 1489 next
  to 1299);
- ``zh_numeral``: a value the source writes in Chinese numerals (二十三岁, 五点二亿) changed in
  the translation (23 → 24);
- ``latin_drop``: a Latin-script name of the source dropped from the translation;
- ``latin_swap``: a Latin-script name replaced by another one (taken from other rows);
- ``entity_swap``: an organisation or person named in the source (in Chinese) replaced in the
  translation by another one of the same kind (glossary organisations, pinyin names of other
  rows); also when the original name appears elsewhere in the text.

Recall counts the mutants of rows whose faithful reference passes (a mutant of an already
flagged row proves nothing). The figures are given per seed, over seeds, and on two random halves
of the rows (the reviewers hold back other rows: a rule that only fits these rows shows up as a
gap between the halves).

    python bench/translation_qa.py [--seeds 0 1 2 3 4] [--show-failures]

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.core.translation import Glossary, check_translation, latin_names  # noqa: E402
from shared.core.translation.qa.numerals import zh_numeral_values  # noqa: E402
from shared.core.translation.qa.pinyin import pinyin_names  # noqa: E402
from shared.llm import load_glossary  # noqa: E402
from tests.support.translation_samples import PARAGRAPHS, SUMMARY, TITLE  # noqa: E402

DATA = REPO.parent.parent / "shared" / "data" / "real-world" / "wmt_zh_en_dev.jsonl"
if not DATA.exists():
    DATA = Path("/work/shared/data/real-world/wmt_zh_en_dev.jsonl")

KINDS = (
    "digit",
    "digit_in_name",
    "digit_among_numbers",
    "zh_numeral",
    "latin_drop",
    "latin_swap",
    "entity_swap",
)
_EN_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()


@dataclass(frozen=True)
class Row:
    index: int
    zh: str
    en: str


@dataclass(frozen=True)
class Mutant:
    row: int
    kind: str
    text: str
    change: str  # what was changed, for the report


def load_rows(path: Path = DATA) -> list[Row]:
    rows = []
    for index, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            raw = json.loads(line)
            rows.append(Row(index, raw["zh"], raw["en"]))
    return rows


# --- the injector -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d[\d,.]*\d|(?<![A-Za-z0-9.,])\d(?![A-Za-z0-9])")
_WORD_WITH_DIGIT = re.compile(r"\b(?=[A-Za-z0-9-]*[A-Za-z])(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]+\b")


def _change_digit(token: str, rng: random.Random) -> str:
    positions = [i for i, c in enumerate(token) if c.isdigit()]
    position = rng.choice(positions)
    choices = [d for d in "0123456789" if d != token[position]]
    if position == 0 or not token[position - 1].isdigit():
        choices = [d for d in choices if d != "0"] or choices
    return token[:position] + rng.choice(choices) + token[position + 1 :]


def _replace_at(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def mutate_digit(row: Row, rng: random.Random, near_others: bool) -> Mutant | None:
    matches = list(_NUMBER.finditer(row.en))
    if near_others:
        matches = [
            m
            for m in matches
            if any(o is not m and abs(o.start() - m.start()) <= 40 for o in _NUMBER.finditer(row.en))
        ]
    if not matches:
        return None
    match = rng.choice(matches)
    new = _change_digit(match.group(0), rng)
    kind = "digit_among_numbers" if near_others else "digit"
    return Mutant(
        row.index, kind, _replace_at(row.en, match.start(), match.end(), new), f"{match.group(0)}→{new}"
    )


def mutate_digit_in_name(row: Row, rng: random.Random) -> Mutant | None:
    matches = list(_WORD_WITH_DIGIT.finditer(row.en))
    if not matches:
        return None
    match = rng.choice(matches)
    new = _change_digit(match.group(0), rng)
    return Mutant(
        row.index,
        "digit_in_name",
        _replace_at(row.en, match.start(), match.end(), new),
        f"{match.group(0)}→{new}",
    )


def mutate_zh_numeral(row: Row, rng: random.Random) -> Mutant | None:
    """A value the source writes in Chinese numerals, changed where the reference renders it."""
    candidates: list[tuple[int, int, str]] = []
    for value in zh_numeral_values(row.zh):
        if value != int(value) and not (value * 10).is_integer():
            continue
        for shown in {f"{value:g}", f"{int(value):,}" if value == int(value) else f"{value:g}"}:
            for match in re.finditer(rf"(?<![\d.,]){re.escape(shown)}(?![\d])", row.en):
                candidates.append((match.start(), match.end(), "digits"))
        if value == int(value) and 0 <= value < len(_EN_WORDS):
            for match in re.finditer(rf"\b{_EN_WORDS[int(value)]}\b", row.en, re.I):
                candidates.append((match.start(), match.end(), "word"))
        # Magnitudes rendered as words: 五点二亿 = 520 million.
        for scale, word in ((1e6, "million"), (1e9, "billion"), (1e12, "trillion"), (1e3, "thousand")):
            scaled = value / scale
            if scaled >= 1 and (scaled * 100).is_integer():
                for match in re.finditer(rf"(?<![\d.,]){re.escape(f'{scaled:g}')}\s{word}", row.en):
                    candidates.append((match.start(), match.start() + len(f"{scaled:g}"), "digits"))
    if not candidates:
        return None
    start, end, form = rng.choice(sorted(set(candidates)))
    old = row.en[start:end]
    if form == "word":
        value = _EN_WORDS.index(old.lower())
        new_value = rng.choice([v for v in range(2, 13) if v != value])
        new = _EN_WORDS[new_value]
        new = new.capitalize() if old[0].isupper() else new
    else:
        new = _change_digit(old, rng)
    return Mutant(row.index, "zh_numeral", _replace_at(row.en, start, end, new), f"{old}→{new}")


def _occurrences(name: str, text: str) -> list[re.Match[str]]:
    return list(re.finditer(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text))


def mutate_latin(
    row: Row, rng: random.Random, pool: list[str], drop: bool, glossary: Glossary
) -> Mutant | None:
    # Names (a capital or a digit), not an English word the source quotes ("Wolf of Wall Street").
    names = [
        n
        for n in latin_names(row.zh, "zh", glossary)
        if _occurrences(n, row.en) and any(c.isupper() or c.isdigit() for c in n)
    ]
    if not names:
        return None
    name = rng.choice(names)
    match = rng.choice(_occurrences(name, row.en))
    if drop:
        # The name is gone from the translation (every mention).
        dropped = re.sub(rf" ?(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", "", row.en)
        return Mutant(row.index, "latin_drop", dropped, f"-{name}")
    others = [p for p in pool if p.lower() not in row.zh.lower() and p.lower() not in row.en.lower()]
    new = rng.choice(others)
    return Mutant(
        row.index, "latin_swap", _replace_at(row.en, match.start(), match.end(), new), f"{name}→{new}"
    )


def mutate_entity(
    row: Row, rng: random.Random, glossary: Glossary, organisations: list[str], people: list[str]
) -> Mutant | None:
    """An organisation (glossary) or a person (pinyin) named in the Chinese source, replaced in the
    reference by another of the same kind that the source does not name."""
    targets: list[tuple[int, int, str, str]] = []
    source_entries = {id(e) for e in glossary.entries_in(row.zh, "zh")}
    for found in glossary.find(row.en, "en", include_accepted=True):
        if id(found.entry) in source_entries and found.entry.kind in ("company", "organization", "product"):
            targets.append((found.start, found.end, found.term, "organisation"))
    for name in pinyin_names(row.en, _glossary_spans(glossary, row.en)):
        for match in _occurrences(name, row.en):
            targets.append((match.start(), match.end(), name, "person"))
    if not targets:
        return None
    start, end, old, kind = rng.choice(sorted(set(targets)))
    pool = organisations if kind == "organisation" else people
    choices = [p for p in pool if p.lower() not in row.en.lower() and p != old]
    new = rng.choice(choices)
    return Mutant(row.index, "entity_swap", _replace_at(row.en, start, end, new), f"{old}→{new}")


def _glossary_spans(glossary: Glossary, text: str) -> list[tuple[int, int]]:
    return [(m.start, m.end) for m in glossary.find(text, "en", include_accepted=True)]


def inject(rows: list[Row], seed: int, glossary: Glossary) -> list[Mutant]:
    rng = random.Random(seed)
    # Names, not the odd English word a Chinese source quotes ("Tech For A Better World").
    latin_pool = sorted({n for row in rows for n in latin_names(row.zh, "zh", glossary) if len(n) >= 4})
    organisations = sorted(
        {e.preferred("en") for e in glossary.entries if e.kind == "company" and e.preferred("en").isascii()}
    )
    people = sorted(
        {n for row in rows for n in pinyin_names(row.en, _glossary_spans(glossary, row.en)) if " " in n}
    )
    mutators: dict[str, Callable[[Row], Mutant | None]] = {
        "digit": lambda r: mutate_digit(r, rng, near_others=False),
        "digit_in_name": lambda r: mutate_digit_in_name(r, rng),
        "digit_among_numbers": lambda r: mutate_digit(r, rng, near_others=True),
        "zh_numeral": lambda r: mutate_zh_numeral(r, rng),
        "latin_drop": lambda r: mutate_latin(r, rng, latin_pool, True, glossary),
        "latin_swap": lambda r: mutate_latin(r, rng, latin_pool, False, glossary),
        "entity_swap": lambda r: mutate_entity(r, rng, glossary, organisations, people),
    }
    mutants = []
    for row in rows:
        for kind in KINDS:
            mutant = mutators[kind](row)
            if mutant is not None and mutant.text != row.en:
                mutants.append(mutant)
    return mutants


# --- measuring --------------------------------------------------------------------------------------


def flags(zh: str, en: str, glossary: Glossary) -> list[str]:
    return [f.flag("") for f in check_translation(zh, en, "zh", "en", glossary)]


def measure(rows: list[Row], seed: int, glossary: Glossary, show: bool) -> dict[str, object]:
    by_index = {row.index: row for row in rows}
    flagged = {row.index: flags(row.zh, row.en, glossary) for row in rows}
    clean = {index for index, found in flagged.items() if not found}
    mutants = [m for m in inject(rows, seed, glossary) if m.row in clean]
    caught: dict[str, list[int]] = {kind: [0, 0] for kind in KINDS}
    missed = []
    for mutant in mutants:
        found = flags(by_index[mutant.row].zh, mutant.text, glossary)
        caught[mutant.kind][1] += 1
        if found:
            caught[mutant.kind][0] += 1
        elif show:
            missed.append({"row": mutant.row, "kind": mutant.kind, "change": mutant.change})
    total_caught = sum(c for c, _ in caught.values())
    total = sum(n for _, n in caught.values())
    out: dict[str, object] = {
        "rows": len(rows),
        "false_alarms": len(rows) - len(clean),
        "false_alarm_rate": round((len(rows) - len(clean)) / len(rows), 4),
        "mutants": total,
        "recall": round(total_caught / total, 4) if total else None,
        "recall_by_kind": {k: f"{c}/{n}" for k, (c, n) in caught.items()},
    }
    if show:
        out["flagged_references"] = {str(i): f for i, f in flagged.items() if f}
        out["missed"] = missed
    return out


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% interval of a rate measured on few rows (3 of 125 says little about the fourth 125)."""
    if not total:
        return (0.0, 1.0)
    rate = successes / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * ((rate * (1 - rate) / total + z * z / (4 * total * total)) ** 0.5) / (1 + z * z / total)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def synthetic(glossary: Glossary) -> dict[str, object]:
    """The synthetic set of tests/support (a published bilingual story), both directions."""
    pairs = [TITLE, SUMMARY, *PARAGRAPHS]
    alarms = sum(bool(check_translation(zh, en, "zh", "en", glossary)) for zh, en in pairs)
    alarms += sum(bool(check_translation(en, zh, "en", "zh", glossary)) for zh, en in pairs)
    return {"pairs": len(pairs) * 2, "false_alarms": alarms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args()
    glossary = load_glossary()
    rows = load_rows()
    started = time.perf_counter()
    per_seed = {seed: measure(rows, seed, glossary, args.show_failures) for seed in args.seeds}
    recalls = [float(r["recall"]) for r in per_seed.values() if r["recall"] is not None]  # type: ignore[arg-type]
    halves = {}
    for seed in args.seeds:
        shuffled = rows[:]
        random.Random(1000 + seed).shuffle(shuffled)
        half = len(shuffled) // 2
        for name, part in (("a", shuffled[:half]), ("b", shuffled[half:])):
            result = measure(part, seed, glossary, False)
            halves[f"seed{seed}_{name}"] = {
                "rows": result["rows"],
                "false_alarm_rate": result["false_alarm_rate"],
                "recall": result["recall"],
            }
    first = per_seed[args.seeds[0]]
    print(
        json.dumps(
            {
                "data": str(DATA),
                "rows": len(rows),
                "false_alarms": first["false_alarms"],
                "false_alarm_rate": first["false_alarm_rate"],
                "false_alarm_rate_95ci": wilson(int(first["false_alarms"]), len(rows)),  # type: ignore[call-overload]
                "recall_mean": round(statistics.mean(recalls), 4) if recalls else None,
                "recall_min": min(recalls) if recalls else None,
                "recall_max": max(recalls) if recalls else None,
                "per_seed": per_seed,
                "halves": halves,
                "synthetic_set": synthetic(glossary),
                "targets": {"false_alarm_rate_max": 0.03, "recall_min": 0.95},
                "seconds": round(time.perf_counter() - started, 1),
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
