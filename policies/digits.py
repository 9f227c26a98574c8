"""Digit styles (C12, contact ids, phones): every way members write a digit, mapped to 0–9.

One table serves the canonical form (policies.normalize) and the digit view that the contact,
phone and PII scanners read, so "①③⑧" and "壹叁捌" are the same digits everywhere.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

# Chinese numerals, ordinary and financial (大写), simplified and traditional. 两 and 幺 are
# spoken digits ("幺三八" is how people read 138 aloud).
_CJK_DIGITS = {
    "〇": "0", "零": "0", "洞": "0",
    "一": "1", "壹": "1", "幺": "1", "么": "1",
    "二": "2", "贰": "2", "貳": "2", "两": "2", "兩": "2",
    "三": "3", "叁": "3", "參": "3", "弎": "3",
    "四": "4", "肆": "4",
    "五": "5", "伍": "5",
    "六": "6", "陆": "6", "陸": "6",
    "七": "7", "柒": "7",
    "八": "8", "捌": "8",
    "九": "9", "玖": "9",
}  # fmt: skip

# Above the BMP only the mathematical alphanumerics carry digits worth mapping (𝟏𝟐𝟑…).
_RANGES = ((0x20, 0x3000), (0x3000, 0x10000), (0x1D7CE, 0x1D800), (0x1F100, 0x1F10D))


@cache
def digit_table() -> dict[str, str]:
    """Every character that stands for one decimal digit (but the ASCII ones) → that digit.

    Built once from unicodedata (full-width ０, circled ①, parenthesised ⑴, dingbat ❶, ⒈, …)
    plus the Chinese numerals. Characters worth 10 or more (⑩, 十) are not digits.
    """
    table: dict[str, str] = {}
    for low, high in _RANGES:
        for code in range(low, high):
            ch = chr(code)
            if "0" <= ch <= "9":
                continue
            value = unicodedata.digit(ch, None)
            if value is None:
                numeric = unicodedata.numeric(ch, -1.0)
                is_digit_like = numeric in range(10) and unicodedata.category(ch) in ("No", "Nd")
                value = int(numeric) if is_digit_like else None
            if value is not None:
                table[ch] = str(value)
    table.update(_CJK_DIGITS)
    return table


@dataclass(frozen=True, slots=True)
class DigitRun:
    """A run of digits as read through the digit view, with where it lies in the original."""

    digits: str
    start: int  # original offsets: text[start:end] holds these digits and what separated them
    end: int


# What may stand between the digits of one number: "138 1234-5678", "1 3 8", "138.1234".
_DIGIT_SEPARATORS = frozenset(" \t\u3000-_.·,，、/|*~—－")


def digit_runs(text: str, *, min_len: int = 1, cjk: bool = True) -> list[DigitRun]:
    """Numbers in the text, whatever digit style, with separators inside a number skipped.

    `cjk=False` reads only real digits (ASCII, full-width, circled…): 一 in everyday words
    ("一下") would otherwise join numbers, so scanners for long numbers (ID and bank cards)
    decide whether Chinese numerals count.
    """
    table = digit_table()
    runs: list[DigitRun] = []
    digits: list[str] = []
    start = end = -1
    for i, ch in enumerate(text):
        d = ch if "0" <= ch <= "9" else table.get(ch)
        if d is not None and not cjk and ch in _CJK_DIGITS:
            d = None
        if d is not None:
            if not digits:
                start = i
            digits.append(d)
            end = i + 1
        elif digits and ch in _DIGIT_SEPARATORS and i + 1 < len(text):
            continue
        elif digits:
            if len(digits) >= min_len:
                runs.append(DigitRun("".join(digits), start, end))
            digits = []
    if digits and len(digits) >= min_len:
        runs.append(DigitRun("".join(digits), start, end))
    return runs
