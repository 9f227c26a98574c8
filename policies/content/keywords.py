"""Keyword rules C1, C2, C3, C4, C5, C10 and C11 (REGULATIONS.md), sharing one scan per message.

Each rule family is a policy class; all of them read the same `Scan` of a message (one
canonicalisation, one pass of one Aho–Corasick automaton), memoised by `KeywordScanner.scan`.

Evidence is weighted. A decisive word sanctions alone (WARN with a strike and a private reminder:
the lead's ladder turns strikes into warnings and removals). Weak words count only together with
other evidence within `window` canonical characters: contact ids (微信/QQ/VX followed by an id),
URLs (policies.content.urls.find_urls, the links policy's finder), phone numbers, money and selling
promises. Points: a weak word 1, a promise 1, money 1, a phone 1, a URL 1 (2 for C2: gambling or
porn wording next to a link is how those sites are advertised), a contact id 2, a contact
INVITATION with an id 3 (加我微信 abc123: it asks members to move off the group). With
`review_score` points a finding goes to an admin (REVIEW); a weak word alone does nothing.

To sanction, a window needs `sanction_score` points, one piece of "reach" evidence (a contact id,
a URL, a phone) AND something that sells: a `[promo]` word (优惠, 特价, 详询: weak words that only
a seller writes), a promise (限时, 免费领取), or two different weak words. Where the line is, and
why: colleagues legitimately write "加我微信 zhang88" to each other, and work chat is full of the
business words in `[weak]` (活动, 咨询, 报名, 会员). So an invitation with an id alone, or with one
business word ("加我微信 zs88，活动细节私聊"), goes to REVIEW; an invitation with an id and a
selling word ("加我微信 abc123，优惠多多") is an ad and WARNs (CONTENT.md technique 9: contact
invitations are decisive when they come with promotion). A money amount adds a point but does not
sell by itself (a colleague asking for 15元 back). An evasive spelling of the invitation (加V,
薇信 + id) is decisive on its own: colleagues have no reason to hide a contact word.

C5: a weak insult word aimed at someone (你个垃圾, 你这个神经病, 你们这些废物) is decisive: the
second-person frame is what makes 垃圾 or 神经病 an insult rather than a topic.

Quoted text (a quote-reply's embedded quote) is out of scope: a member is not judged again for the
words of someone they quote.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict
from policies.content.urls import find_urls
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
# Characters a URL needs somewhere (a dot of any width, or 点 as in "baidu点com"): without one,
# find_urls is not called at all.
_URL_HINT = re.compile("[.\u3002\uff0e\uff61\ufe52\u70b9\u9ede]")
# C5: a weak insult word right after these is aimed at someone ("你个垃圾"), canonical text.
_AIMED_RE = re.compile(
    r"(?:你|妳|尼)(?:个|这个|这种|这|是个|就是个|真是个|真是|真|是|丫|丫的|们这些|们这群|们这帮|他妈|他妈的|tm)$"
)
_REACH = frozenset({"contact_id", "url", "phone"})
_WORDS = frozenset({"weak", "promo"})
_SELLING = frozenset({"promo", "promise"})

_QUOTED = frozenset({"keyword", "weak", "promo", "contact_id", "group_id", "invite", "promise"})
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
        self._phones: list[Item] | None = None
        self._money: list[Item] | None = None
        self._urls: list[Item] | None = None
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
            if pattern.allows:
                allowed.append((start, end))
            if pattern.denies:
                found.append((pattern, start, end))
        hits: list[Hit] = []
        for pattern, start, end in found:
            if allowed and any(a <= start and end <= b and (a, b) != (start, end) for a, b in allowed):
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
        ctext = self.canonical.text
        # Canonical neighbours that are not letters or digits settle it without the offset index:
        # a letter or digit next to the span in the original would be next to it here too.
        left_free = not pattern.check_left or start == 0 or not _is_alnum(ctext[start - 1])
        right_free = not pattern.check_right or end == len(ctext) or not _is_alnum(ctext[end])
        if left_free and right_free:
            return True
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
    # Plain attributes rather than functools.cached_property, which takes a lock on every read in
    # Python 3.11 (a third of a microsecond each, several times per policy).
    @property
    def phones(self) -> list[Item]:
        if self._phones is None:
            found = _PHONE_RE.finditer(self.canonical.text)
            self._phones = [Item("phone", m.group(1), m.start(1), m.end(1), 1) for m in found]
        return self._phones

    @property
    def money(self) -> list[Item]:
        if self._money is None:
            found = _MONEY_RE.finditer(self.canonical.text)
            self._money = [Item("money", m.group(), m.start(), m.end(), 1) for m in found]
        return self._money

    @property
    def urls(self) -> list[Item]:
        if self._urls is None:
            self._urls = self._find_urls()
        return self._urls

    def _find_urls(self) -> list[Item]:
        """URLs in the text (find_urls, original offsets → canonical ones) and link cards; weight 1
        (a policy may weigh them more)."""
        items: list[Item] = []
        found = find_urls(self.text) if _URL_HINT.search(self.text) else []
        if found:
            index = self.canonical.index()
            for hit in found:
                start = bisect_left(index, hit.start)
                end = max(start, bisect_left(index, hit.end))
                items.append(Item("url", hit.url, start, end, 1))
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


def _reweigh(item: Item, weight: int) -> Item:
    return Item(item.kind, item.value, item.start, item.end, weight)


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
    url_weight = 1  # points for a URL near a rule word

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
            elif entry.kind is Kind.WEAK or entry.kind is Kind.PROMO:
                aimed = self._aimed(scan, hit)
                if aimed is not None:
                    decisive.append(aimed)
                else:
                    words.append(Item(entry.kind.value, entry.word, hit.start, hit.end, 1))
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
            items += scan.phones + scan.money
            items += [u if self.url_weight == u.weight else _reweigh(u, self.url_weight) for u in scan.urls]
        return self._weigh(scan, items)

    def _aimed(self, scan: Scan, hit: Hit) -> tuple[Item, str] | None:
        """A weak word that is decisive in its context (C5: aimed at someone); None by default."""
        return None

    def _feature(self, hit: Hit, decisive: list[tuple[Item, str]]) -> list[Item]:
        entry = hit.entry
        if entry.kind is Kind.PROMISE:
            return [Item("promise", entry.word, hit.start, hit.end, 1)] if self.uses_features else []
        if entry.kind in (Kind.CONTACT, Kind.INVITE) and hit.contact_id:
            weight = 3 if entry.kind is Kind.INVITE else 2  # an invitation asks to move off the group
            item = Item("contact_id", f"{entry.word} {hit.contact_id}", hit.start, hit.id_end, weight)
            if self.bare_contacts and hit.evasive:
                decisive.append((item, "含变体联系方式"))
            return [item]
        if entry.kind is Kind.INVITE and self.uses_features:
            return [Item("invite", entry.word, hit.start, hit.end, 1)]
        return []

    def _weigh(self, scan: Scan, items: list[Item]) -> list[Decision]:
        """The best window around each rule word or contact id: points, and whether it reaches out."""
        items = _outermost(items)
        best: tuple[tuple[bool, int, bool], Item, list[Item]] | None = None
        for anchor in items:
            if anchor.kind not in _WORDS and anchor.kind != "contact_id":
                continue
            whole = len(scan.canonical.text)  # link cards span the whole message: always near
            lo, hi = anchor.start - self.window, anchor.start + self.window
            near = [i for i in items if lo <= i.start <= hi or i.end - i.start >= whole]
            seen: dict[tuple[str, str], Item] = {}
            for i in near:
                seen.setdefault((i.kind, i.value), i)
            score = sum(i.weight for i in seen.values())
            reach = any(i.kind in _REACH for i in seen.values())
            words = sum(i.kind in _WORDS for i in seen.values())
            if not words and not self.bare_contacts:
                continue
            sells = words > 0 and (words >= 2 or any(i.kind in _SELLING for i in seen.values()))
            key = (score >= self.sanction_score and reach and sells, score, reach)
            if best is None or key > best[0]:
                best = (key, anchor, list(seen.values()))
        if best is None:
            return []
        (sanction, score, _), anchor, evidence = best
        if sanction:
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
    url_weight = 2


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

    def _aimed(self, scan: Scan, hit: Hit) -> tuple[Item, str] | None:
        ctext = scan.canonical.text
        m = _AIMED_RE.search(ctext, max(0, hit.start - 6), hit.start)
        if m is None:
            return None
        return Item("keyword", ctext[m.start() : hit.end], m.start(), hit.end, 3), "含辱骂他人的言语"


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
