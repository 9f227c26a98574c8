"""C12 private information: no spreading of others' ID numbers, bank cards, phone numbers
(REGULATIONS.md C12; on for ID and bank cards, phones off by default).

Numbers are read through the digit view (`policies.digits.digit_runs`, real digits only: ASCII,
full-width, circled ①, parenthesised ⑴, dingbat ❶ …; Chinese numerals would join everyday words),
so "１１０１０５ １９４９ １２３１ ００２Ｘ" and "①①⓪…" are the same number as "110105194912310021".
Inside a run, digit groups split by separators are tried alone and together, so an ID next to a
phone number ("110105…002X，13800138000") is still found, and an order number is never cut into
pieces that happen to validate.

- ID card (居民身份证, GB 11643-1999): 17 digits + a check character (0-9 or X), ISO 7064
  MOD 11-2; a known province code; a birth date (YYYYMMDD) that exists, not after the message
  and at most 120 years before it. The old 15-digit numbers (out of use since 2013) are not read.
- Bank card: 16-19 digits, Luhn, and an issuer prefix of the cards used in China (UnionPay 62,
  60, Visa 4, Mastercard 51-55 / 2221-2720, JCB 35, the old ICBC 9558): a 19-digit order number
  passes Luhn one time in ten; the prefix filters most of those.
- Phone (option `phones=True`): a mainland mobile number (1[3-9] + 9 digits, or with 86 in
  front). Whose number it is cannot be told from the text (a member may share their own or a
  customer's on purpose), so a phone goes to admin review, never a sanction.

ID and bank-card findings → `WARN` with a strike and a private reminder asking the member to
withdraw the message ("请自行撤回该消息": WeCom does not let an app recall members' messages).

Masking: a decision never holds a full number. `matched`, the evidence and the reason carry the
number masked to its first 3 and last 2 characters (`110*************2X`); only `span` points
into the original text (which the service stores under its own retention rules).
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import NamedTuple

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict
from policies.digits import _DIGIT_SEPARATORS, digit_runs, digit_table

RULE = "C12 禁止传播他人隐私信息"
KIND_LABELS = {"id_card": "身份证号", "bank_card": "银行卡号", "phone": "手机号"}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PROVINCES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
     "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
     "71", "81", "82", "83"}
)  # fmt: skip
_X = frozenset("Xx\uff38\uff58")  # X, x, Ｘ, ｘ
_PHONE = re.compile(r"(?:86)?(1[3-9]\d{9})")


def _is_card_prefix(digits: str) -> bool:
    two = digits[:2]
    return (
        two in ("62", "60", "35")
        or digits[0] == "4"
        or "51" <= two <= "55"
        or "2221" <= digits[:4] <= "2720"
        or digits.startswith("9558")
    )


def id_card_ok(number: str, today: date | None = None) -> bool:
    """A mainland ID number (18 characters, digits and a final X) that checks out."""
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in _PROVINCES:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17].upper():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    today = today or date.today()
    return born <= today and today.year - born.year <= 120


def luhn_ok(digits: str) -> bool:
    """The Luhn check of bank card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask(number: str) -> str:
    """First 3 and last 2 characters kept, the rest starred: never store a full number."""
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


class PiiHit(NamedTuple):
    kind: str  # id_card | bank_card | phone
    start: int  # original offsets of the whole number (separators inside included)
    end: int
    masked: str


# Digit characters the view reads (not Chinese numerals) and what it skips between them: a
# number long enough to matter is a match of `_NUMBER`, and only those stretches go through the
# digit view (a Python loop): a message full of dates and prices costs a regex scan, not a loop.
def _digit_class() -> str:
    """`\\d` (every Unicode decimal digit: ASCII, full-width, 𝟏…) plus the other digit-like
    characters of the digit table (①, ⑴, ❶, ⒈, 🄁…) as ranges, but not the Chinese numerals. A class
    of 540 single characters cost ~20 µs per 200-character message; ranges make it a bitmap."""
    extra = sorted(
        ord(ch) for ch in digit_table() if not re.match(r"\d", ch) and not "\u3007" <= ch <= "\u9fff"
    )
    ranges: list[list[int]] = []
    for code in extra:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return r"\d" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


_DIGIT_CLASS = _digit_class()
_SEPARATOR_CLASS = "".join(re.escape(ch) for ch in sorted(_DIGIT_SEPARATORS))


@cache
def _number_re(min_len: int) -> re.Pattern[str]:
    return re.compile(f"[{_DIGIT_CLASS}](?:[{_SEPARATOR_CLASS}]*[{_DIGIT_CLASS}]){{{min_len - 1},}}")


def _groups(text: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """The digit groups of text[start:end] (a digit run) split at separators: (digits, start, end)."""
    table = digit_table()
    groups: list[tuple[str, int, int]] = []
    digits: list[str] = []
    g_start = start
    for i in range(start, end):
        ch = text[i]
        d = ch if "0" <= ch <= "9" else table.get(ch)
        if d is not None:
            if not digits:
                g_start = i
            digits.append(d)
        elif digits:
            groups.append(("".join(digits), g_start, i))
            digits = []
    if digits:
        groups.append(("".join(digits), g_start, end))
    return groups


def _x_follows(text: str, end: int) -> bool:
    """An ID's check character X right after its 17 digits, and ending the token ("…002X2" is an
    identifier of some other kind)."""
    if end >= len(text) or text[end] not in _X:
        return False
    after = text[end + 1 : end + 2]
    return not (after.isascii() and after.isalnum()) and after not in digit_table()


def find_pii(
    text: str,
    *,
    id_cards: bool = True,
    bank_cards: bool = True,
    phones: bool = False,
    today: date | None = None,
) -> list[PiiHit]:
    """ID, bank-card and (when asked) phone numbers in the text, masked, in order, not overlapping."""
    min_len = 11 if phones else 16
    if not (id_cards or bank_cards or phones):
        return []
    candidates: list[tuple[int, int, PiiHit]] = []  # (priority, -length, hit)
    for stretch in _number_re(min_len).finditer(text):
        for run in digit_runs(stretch.group(), min_len=min_len, cjk=False):
            _candidates(
                text,
                stretch.start() + run.start,
                stretch.start() + run.end,
                candidates,
                id_cards=id_cards,
                bank_cards=bank_cards,
                phones=phones,
                today=today,
            )
    chosen: list[PiiHit] = []
    for _, _, hit in sorted(candidates, key=lambda c: (c[0], c[1], c[2].start)):
        if all(hit.end <= other.start or hit.start >= other.end for other in chosen):
            chosen.append(hit)
    return sorted(chosen, key=lambda h: h.start)


def _candidates(
    text: str,
    run_start: int,
    run_end: int,
    candidates: list[tuple[int, int, PiiHit]],
    *,
    id_cards: bool,
    bank_cards: bool,
    phones: bool,
    today: date | None,
) -> None:
    """Every number made of whole digit groups of one run that checks out, into `candidates`."""
    groups = _groups(text, run_start, run_end)
    for i in range(len(groups)):
        number = ""
        for j in range(i, len(groups)):
            number += groups[j][0]
            if len(number) > 19:
                break
            start, end = groups[i][1], groups[j][2]
            if id_cards:
                id_number = number
                if len(number) == 17 and j == len(groups) - 1 and _x_follows(text, end):
                    id_number, end = number + "X", end + 1
                if id_card_ok(id_number, today):
                    candidates.append((0, -18, PiiHit("id_card", start, end, mask(id_number))))
                    continue
                end = groups[j][2]
            if bank_cards and 16 <= len(number) <= 19 and _is_card_prefix(number) and luhn_ok(number):
                candidates.append((1, -len(number), PiiHit("bank_card", start, end, mask(number))))
            elif phones and len(number) in (11, 13) and (phone := _PHONE.fullmatch(number)):
                candidates.append((2, -len(number), PiiHit("phone", start, end, mask(phone[1]))))


class PrivateInfo:
    """C12: ID-card and bank-card numbers → warning with a strike and a request to withdraw the
    message; phone numbers (off by default) → admin review. Numbers are masked in every decision
    (first 3 and last 2 characters kept). See the module docstring."""

    name = "private-info"
    rule_id = "C12"

    def __init__(self, *, id_cards: bool = True, bank_cards: bool = True, phones: bool = False) -> None:
        self.id_cards = id_cards
        self.bank_cards = bank_cards
        self.phones = phones

    def evaluate(self, subject: ChatMessage, context: PolicyContext) -> list[Decision]:
        hits = find_pii(
            subject.text,
            id_cards=self.id_cards,
            bank_cards=self.bank_cards,
            phones=self.phones,
            today=context.local().date(),
        )
        if not hits:
            return []
        sanctioned = [h for h in hits if h.kind != "phone"]
        first = (sanctioned or hits)[0]
        found = "、".join(f"{KIND_LABELS[h.kind]}（{h.masked}）" for h in (sanctioned or hits))
        evidence = tuple((h.kind, h.masked) for h in hits)
        remedies: tuple[Remedy, ...]
        if sanctioned:
            verdict, remedies = Verdict.WARN, (Remedy.RECORD_STRIKE, Remedy.REMIND_PRIVATELY)
            reason = f"{RULE}：消息含{found}，请自行撤回该消息。"
        else:
            verdict, remedies = Verdict.REVIEW, (Remedy.REVIEW,)
            reason = f"{RULE}：消息含{found}，如为他人信息请自行撤回该消息；已交管理员审核。"
        return [
            Decision(
                self.name,
                self.rule_id,
                verdict,
                reason,
                span=(first.start, first.end),
                matched=first.masked,
                evidence=evidence,
                remedies=remedies,
            )
        ]
