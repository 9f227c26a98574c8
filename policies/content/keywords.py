"""Keyword rules C1, C2, C3, C4, C5, C10 and C11 (REGULATIONS.md), sharing one scan per message.

Each rule family is a policy class; all of them read the same `Scan` of a message (one
canonicalisation, one pass of one Aho–Corasick automaton), memoised by `KeywordScanner.scan`.

Evidence is weighted. A decisive word sanctions alone (WARN with a strike and a private reminder:
the lead's ladder turns strikes into warnings and removals). Weak words (优惠, 活动, 咨询) count
only together with other evidence within `window` canonical characters: contact ids (微信/QQ/VX
followed by an id), URLs, phone numbers, money and selling promises. A finding needs
`sanction_score` points and at least one piece of "reach" evidence (a contact id, a URL, a phone)
to sanction; with `review_score` points it goes to an admin (REVIEW); a weak word alone does
nothing. Quoted text (a quote-reply's embedded quote) is out of scope: a member is not judged again
for the words of someone they quote.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict
from policies.content.vocabulary import (
    Entry,
    Kind,
    Pattern,
    Vocabulary,
    default_vocabulary,
)
from policies.normalize import Canonical, canonical, map_char

# An id after a contact word, on the canonical text (separators already dropped, every digit
# style already 0–9): "微信：abc_123" → "微信abc123".
_ID_RE = re.compile(r"(?:号码|号|id|是|为)?([a-z][a-z0-9]{5,19}|[0-9][a-z0-9]{4,19})")
_GROUP_ID_RE = re.compile(r"(?:号码|号|是)?([0-9]{5,12})")
_PHONE_RE = re.compile(r"(?<![0-9])(?:86)?(1[3-9][0-9]{9}|400[0-9]{7})(?![0-9])")
_MONEY_RE = re.compile(r"[0-9]+(?:元|块钱|万元|美元|rmb)")
# A private, deliberately small URL check (policies/content/urls.py is the real one).
_URL_RE = re.compile(
    r"(?i)\b(?:https?://[^\s，。！？]+|www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+|"
    r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|top|xyz|vip|cc|me|io|info|club|shop|site|app|ly|gl)\b)"
)
_REACH = frozenset({"contact_id", "url", "phone"})

_QUOTED = frozenset({"keyword", "weak", "contact_id", "group_id", "invite", "promise"})
_STRIKE = (Remedy.RECORD_STRIKE, Remedy.REMIND_PRIVATELY)
_REVIEW = (Remedy.REVIEW,)


@dataclass(frozen=True, slots=True)
class Hit:
    """A word found in a message, canonical offsets; `contact_id` when an id follows it."""

    entry: Entry
    start: int
    end: int
    contact_id: str | None = None
    evasive: bool = False  # a generated spelling (薇信, 加v, weixin), not the plain word or initials

    @property
    def id_end(self) -> int:
        return self.end + (len(self.contact_id) if self.contact_id else 0)


@dataclass(frozen=True, slots=True)
class Item:
    """One piece of evidence for a rule, in canonical offsets."""

    kind: str  # decisive | weak | contact_id | url | phone | money | promise | regex
    value: str
    start: int
    end: int
    weight: int


class Scan:
    """What one message holds, computed once and shared by every keyword policy."""

    def __init__(self, message: ChatMessage, vocabulary: Vocabulary) -> None:
        self.message = message
        self.vocabulary = vocabulary
        text = message.text or ""
        quoted = message.quoted_text
        if quoted and quoted in text:
            at = text.index(quoted)  # the quote is blanked: same length, spans stay valid
            text = text[:at] + " " * len(quoted) + text[at + len(quoted) :]
        self.text = text
        self.canonical: Canonical = canonical(text)
        self.hits: list[Hit] = self._hits()
        # The hits per rule id (None: shared evidence words), so each policy reads only its own.
        self.by_rule: dict[str | None, list[Hit]] = {}
        for hit in self.hits:
            self.by_rule.setdefault(hit.entry.rule_id, []).append(hit)

    def _hits(self) -> list[Hit]:
        patterns = self.vocabulary.patterns
        ctext = self.canonical.text
        raw = self.vocabulary.automaton.find_matches_as_indexes(ctext, overlapping=True)
        if not raw:
            return []
        allowed: list[tuple[int, int]] = []
        found: list[tuple[Pattern, int, int]] = []
        for index, start, end in raw:
            pattern = patterns[index]
            if any(e.kind is Kind.ALLOW for e in pattern.entries):
                allowed.append((start, end))
            if any(e.kind is not Kind.ALLOW for e in pattern.entries):
                found.append((pattern, start, end))
        hits: list[Hit] = []
        for pattern, start, end in found:
            if any(a <= start and end <= b and (a, b) != (start, end) for a, b in allowed):
                continue
            if (pattern.check_left or pattern.check_right) and not self._bounded(pattern, start, end):
                continue
            for entry in pattern.entries:
                if entry.kind is Kind.ALLOW:
                    continue
                contact_id = None
                if entry.kind in (Kind.CONTACT, Kind.INVITE):
                    m = _ID_RE.match(ctext, end)
                    contact_id = m.group(1) if m else None
                    if contact_id and sum(c.isdigit() for c in contact_id) < 3 and not pattern.check_right:
                        contact_id = None  # "微信聊天记录" is not an id; "vx" + letters still is
                elif entry.kind is Kind.GROUP:
                    m = _GROUP_ID_RE.match(ctext, end)
                    contact_id = m.group(1) if m else None
                evasive = entry.generated and (not pattern.text.isascii() or len(pattern.text) >= 5)
                hits.append(Hit(entry, start, end, contact_id, evasive))
        return hits

    def _bounded(self, pattern: Pattern, start: int, end: int) -> bool:
        """Latin and digit word boundaries, read in the ORIGINAL text: "sm" is not in "sms", but
        "s m s" does not hide it either. Contact words may be followed by digits (vx123456)."""
        a, b = self.canonical.span(start, end)
        original = self.canonical.original
        if pattern.check_left and a > 0:
            before = map_char(original[a - 1])
            if before and _is_alnum(before[-1]):
                return False
        if pattern.check_right and b < len(original):
            after = map_char(original[b])
            contact = all(e.kind in (Kind.CONTACT, Kind.INVITE, Kind.GROUP) for e in pattern.entries)
            if after and (after[0].isascii() and after[0].isalpha() if contact else _is_alnum(after[0])):
                return False
        return True

    # Lazily computed evidence: only for messages that already hold a rule word or contact word.
    @cached_property
    def phones(self) -> list[Item]:
        found = _PHONE_RE.finditer(self.canonical.text)
        return [Item("phone", m.group(1), m.start(1), m.end(1), 1) for m in found]

    @cached_property
    def money(self) -> list[Item]:
        found = _MONEY_RE.finditer(self.canonical.text)
        return [Item("money", m.group(), m.start(), m.end(), 1) for m in found]

    @cached_property
    def urls(self) -> list[Item]:
        items: list[Item] = []
        if "." in self.text or "。" in self.text or "．" in self.text:
            index = None
            for m in _URL_RE.finditer(self.text):
                index = index or self.canonical.index()
                start = bisect_left(index, m.start())
                end = max(start, bisect_left(index, m.end()))
                items.append(Item("url", m.group(), start, end, 1))
        size = len(self.canonical.text)
        items += [Item("url", link, 0, size, 1) for link in self.message.links]  # cards: the whole message
        return items

    def span_of(self, start: int, end: int) -> tuple[tuple[int, int], str]:
        span = self.canonical.span(start, end)
        return span, self.text[span[0] : span[1]]


def _outermost(items: list[Item]) -> list[Item]:
    """Items in text order without those lying inside another (日结 inside 日结工资, 薇信 + id
    inside 加我薇信 + id): one piece of evidence is counted once."""
    items = sorted(items, key=lambda i: (i.start, -i.end, -i.weight))
    kept: list[Item] = []
    for item in items:
        if item.kind in _QUOTED and any(
            k.kind in _QUOTED and k.start <= item.start and item.end <= k.end for k in kept
        ):
            continue
        kept.append(item)
    return kept


def _is_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class KeywordScanner:
    """Scans messages against one vocabulary; the last scan is memoised by message identity so the
    seven keyword policies evaluating one message one after another share one scan."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary or default_vocabulary()
        # The last message scanned and its scan, swapped as one tuple (atomic under the GIL; per
        # thread, so concurrent evaluations never read each other's slot).
        self._last = threading.local()

    def scan(self, message: ChatMessage) -> Scan:
        last: tuple[ChatMessage, Scan] | None = getattr(self._last, "pair", None)
        if last is not None and last[0] is message:
            return last[1]
        result = Scan(message, self.vocabulary)
        self._last.pair = (message, result)
        return result


_DEFAULT_SCANNER: KeywordScanner | None = None


def default_scanner() -> KeywordScanner:
    """One scanner over the bundled vocabulary, shared by policies built without one."""
    global _DEFAULT_SCANNER
    if _DEFAULT_SCANNER is None:
        _DEFAULT_SCANNER = KeywordScanner()
    return _DEFAULT_SCANNER


class KeywordPolicy:
    """Common machinery of the keyword rules; subclasses name the rule and its evidence."""

    name = "keywords"
    rule_id = ""
    statement = ""  # the rule in one Chinese sentence, quoted in every reason
    uses_features = False  # contact ids, URLs, phones, money and promises count as evidence
    bare_contacts = False  # C1: a contact id alone is evidence of an ad (REVIEW; evasive: WARN)

    def __init__(
        self,
        *,
        scanner: KeywordScanner | None = None,
        window: int = 40,
        sanction_score: int = 4,
        review_score: int = 2,
    ) -> None:
        if window < 1 or review_score < 1 or sanction_score < review_score:
            raise ValueError("window ≥ 1 and sanction_score ≥ review_score ≥ 1")
        self.scanner = scanner or default_scanner()
        self.window = window
        self.sanction_score = sanction_score
        self.review_score = review_score

    def evaluate(self, message: ChatMessage, context: PolicyContext) -> list[Decision]:
        if not message.text and not message.links:
            return []
        scan = self.scanner.scan(message)
        if not scan.hits and not scan.vocabulary.regexes:
            return []
        words: list[Item] = []
        contacts: list[Item] = []
        decisive: list[tuple[Item, str]] = []
        own = scan.by_rule.get(self.rule_id, ())
        shared = scan.by_rule.get(None, ()) if self.uses_features or self.bare_contacts else ()
        if not own and not shared and not scan.vocabulary.regexes:
            return []
        for hit in own:
            entry = hit.entry
            if entry.kind is Kind.DECISIVE:
                decisive.append((Item("keyword", entry.word, hit.start, hit.end, 3), "含违规词"))
            elif entry.kind is Kind.WEAK:
                words.append(Item("weak", entry.word, hit.start, hit.end, 1))
        for hit in shared:
            contacts += self._feature(hit, decisive)
        for rule in scan.vocabulary.regexes:
            if rule.rule_id == self.rule_id:
                m = rule.compiled.search(scan.text)
                if m is not None and m.end() > m.start():
                    return [self._regex_decision(scan, rule.pattern, m.start(), m.end())]
        if decisive:
            item, why = min(decisive, key=lambda d: (d[0].start, d[0].start - d[0].end))
            evidence = _outermost([d[0] for d in decisive] + words + contacts)
            return [self._decision(scan, Verdict.WARN, item, why, evidence)]
        if not words and not (self.bare_contacts and contacts):
            return []
        items = words + contacts
        if self.uses_features and words:
            items += scan.phones + scan.money + scan.urls
        return self._weigh(scan, items)

    def _feature(self, hit: Hit, decisive: list[tuple[Item, str]]) -> list[Item]:
        entry = hit.entry
        if entry.kind is Kind.PROMISE:
            return [Item("promise", entry.word, hit.start, hit.end, 1)] if self.uses_features else []
        if entry.kind in (Kind.CONTACT, Kind.INVITE) and hit.contact_id:
            item = Item("contact_id", f"{entry.word} {hit.contact_id}", hit.start, hit.id_end, 2)
            if self.bare_contacts and hit.evasive:
                decisive.append((item, "含变体联系方式"))
            return [item]
        if entry.kind is Kind.INVITE and self.uses_features:
            return [Item("invite", entry.word, hit.start, hit.end, 1)]
        return []

    def _weigh(self, scan: Scan, items: list[Item]) -> list[Decision]:
        """The best window around each rule word or contact id: points, and whether it reaches out."""
        items = _outermost(items)
        best: tuple[int, bool, Item, list[Item]] | None = None
        for anchor in items:
            if anchor.kind not in ("weak", "contact_id"):
                continue
            whole = len(scan.canonical.text)  # link cards span the whole message: always near
            lo, hi = anchor.start - self.window, anchor.start + self.window
            near = [i for i in items if lo <= i.start <= hi or i.end - i.start >= whole]
            seen: dict[tuple[str, str], Item] = {}
            for i in near:
                seen.setdefault((i.kind, i.value), i)
            score = sum(i.weight for i in seen.values())
            reach = any(i.kind in _REACH for i in seen.values())
            has_word = any(i.kind == "weak" for i in seen.values())
            if not has_word and not self.bare_contacts:
                continue
            if best is None or (score, reach) > (best[0], best[1]):
                best = (score, reach, anchor, list(seen.values()))
        if best is None:
            return []
        score, reach, anchor, evidence = best
        if score >= self.sanction_score and reach and any(i.kind == "weak" for i in evidence):
            return [self._decision(scan, Verdict.WARN, anchor, "含推广内容及联系方式", evidence)]
        if score >= self.review_score:
            return [self._decision(scan, Verdict.REVIEW, anchor, "疑似违规，请管理员复核", evidence)]
        return []

    def _decision(
        self, scan: Scan, verdict: Verdict, anchor: Item, why: str, evidence: Iterable[Item]
    ) -> Decision:
        span, matched = scan.span_of(anchor.start, anchor.end)
        quoted = (f"「{scan.span_of(i.start, i.end)[1]}」" for i in evidence if i.kind in _QUOTED)
        words = "、".join(dict.fromkeys(quoted))
        reason = f"{self.rule_id} {self.statement}：{why}{words or f'「{matched}」'}"
        return Decision(
            self.name,
            self.rule_id,
            verdict,
            reason,
            span=span,
            matched=matched,
            evidence=tuple(dict.fromkeys((i.kind, i.value) for i in evidence)),
            remedies=_STRIKE if verdict is Verdict.WARN else _REVIEW,
        )

    def _regex_decision(self, scan: Scan, pattern: str, start: int, end: int) -> Decision:
        matched = scan.text[start:end]
        return Decision(
            self.name,
            self.rule_id,
            Verdict.WARN,
            f"{self.rule_id} {self.statement}：含违规内容「{matched}」",
            span=(start, end),
            matched=matched,
            evidence=(("regex", pattern),),
            remedies=_STRIKE,
        )


class AdKeywords(KeywordPolicy):
    """C1 群内禁止发布商业广告: advertising words, contact invitations and ids (also their pinyin
    and homophone spellings), URLs, phones, money and promises within a short window."""

    name = "ad-keywords"
    rule_id = "C1"
    statement = "群内禁止发布商业广告"
    uses_features = True
    bare_contacts = True


class PornGamblingKeywords(KeywordPolicy):
    """C2 群内禁止发布色情、赌博内容 (the words; links are judged by the link policy)."""

    name = "porn-gambling-keywords"
    rule_id = "C2"
    statement = "群内禁止发布色情、赌博内容"
    uses_features = True


class PoliticalKeywords(KeywordPolicy):
    """C3 群内禁止发布反动言论: calls to subvert or attack the state (a small list, not topics)."""

    name = "political-keywords"
    rule_id = "C3"
    statement = "群内禁止发布反动言论"


class InflammatoryKeywords(KeywordPolicy):
    """C4 群内禁止发布煽动性、极端言论: incitement to violence, slurs against groups of people."""

    name = "inflammatory-keywords"
    rule_id = "C4"
    statement = "群内禁止发布煽动性、极端言论"


class InsultKeywords(KeywordPolicy):
    """C5 群内禁止人身攻击、辱骂和粗言秽语."""

    name = "insult-keywords"
    rule_id = "C5"
    statement = "群内禁止人身攻击、辱骂和粗言秽语"


class SolicitationKeywords(KeywordPolicy):
    """C10 未经管理员同意，群内禁止发布投资理财推广、招聘和募捐信息."""

    name = "solicitation-keywords"
    rule_id = "C10"
    statement = "未经管理员同意，群内禁止发布投资理财推广、招聘和募捐信息"
    uses_features = True


class GroupInvitationKeywords(KeywordPolicy):
    """C11 群内禁止拉人进其他群、发布群二维码或群邀请: invitation words, and a group channel
    followed by a number (qq群 12345678, 群号 12345678)."""

    name = "group-invitation-keywords"
    rule_id = "C11"
    statement = "群内禁止拉人进其他群、发布群二维码或群邀请"
    uses_features = True

    def _feature(self, hit: Hit, decisive: list[tuple[Item, str]]) -> list[Item]:
        if hit.entry.kind is Kind.GROUP and hit.contact_id:
            item = Item("group_id", f"{hit.entry.word} {hit.contact_id}", hit.start, hit.id_end, 3)
            decisive.append((item, "含其他群的群号"))
            return [item]
        return []


KEYWORD_POLICIES: tuple[type[KeywordPolicy], ...] = (
    AdKeywords,
    PornGamblingKeywords,
    PoliticalKeywords,
    InflammatoryKeywords,
    InsultKeywords,
    SolicitationKeywords,
    GroupInvitationKeywords,
)


def keyword_policies(scanner: KeywordScanner | None = None) -> list[KeywordPolicy]:
    """Every keyword family sharing one scanner (one scan per message)."""
    shared = scanner or default_scanner()
    return [cls(scanner=shared) for cls in KEYWORD_POLICIES]
