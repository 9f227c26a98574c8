"""Keyword vocabularies per rule id (C1, C2, C3, C4, C5, C10, C11), compiled into one automaton.

The defaults are data files in policies/data/keywords/ (see the README there). Admins add and
remove words per rule id, globally or for one group (API.md word lists): `build_vocabulary`
merges the defaults with both and compiles ONE Aho–Corasick automaton (ahocorasick-rs) over the
canonical forms of every word of every rule, plus the shared evidence words (contact channels,
invitations, promises). `VocabularyCache` keeps one compiled vocabulary per distinct set of
changes, so groups without their own words share the global one.

Words are canonicalised exactly like messages (policies.normalize); a word whose canonical form is
shorter than two characters is refused (ValueError), as are empty admin regexes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources

import ahocorasick_rs
import re2

from policies.normalize import canonical_text

# Rule id → the data file of its default words.
RULE_FILES: dict[str, str] = {
    "C1": "c1_ads.txt",
    "C2": "c2_porn_gambling.txt",
    "C3": "c3_political.txt",
    "C4": "c4_inflammatory.txt",
    "C5": "c5_insults.txt",
    "C10": "c10_solicitation.txt",
    "C11": "c11_group_invitation.txt",
}
FEATURE_FILES = ("features.txt", "contact_variants.txt")
REGEX_PREFIX = "re:"  # an admin word starting with this is a regular expression (google-re2)


class Kind(StrEnum):
    DECISIVE = "decisive"  # sanctions alone
    WEAK = "weak"  # adds up with other evidence in a window; never sanctions alone
    PROMO = "promo"  # a weak word that sells (优惠, 特价, 详询): like WEAK, and lets a window sanction
    ALLOW = "allow"  # a benign superstring: cancels the deny words it contains
    CONTACT = "contact"  # a contact channel (微信, qq, 薇信): evidence when an id follows
    INVITE = "invite"  # an invitation to contact (加微信, 加v)
    GROUP = "group"  # another group's channel (qq群, 群号): C11 evidence when a number follows
    PROMISE = "promise"  # a selling promise (稳赚, 限时)


FEATURE_KINDS = frozenset({Kind.CONTACT, Kind.INVITE, Kind.GROUP, Kind.PROMISE})


@dataclass(frozen=True, slots=True)
class Entry:
    word: str  # as written in the list
    kind: Kind
    rule_id: str | None = None  # None: a shared evidence word
    generated: bool = False  # a generated spelling (contact_variants.txt): an evasion
    admin: bool = False  # added by an admin


@dataclass(frozen=True, slots=True)
class Pattern:
    """One canonical string in the automaton and every entry that wrote it."""

    text: str
    entries: tuple[Entry, ...]
    check_left: bool  # starts with an ASCII letter or digit: needs a word boundary before it
    check_right: bool  # ends with one: needs a boundary after it (contact words: no letter after)
    allows: bool = False  # some entry is an allow-list word
    denies: bool = True  # some entry is not


@dataclass(frozen=True, slots=True)
class WordList:
    """An admin's changes to one rule's words (API.md word lists), globally or for one group.
    Added words are decisive; `re:<pattern>` adds a regular expression (google-re2, linear time)
    matched against the original text. Removing a word switches it off, default or added."""

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, added: Iterable[str] = (), removed: Iterable[str] = ()) -> WordList:
        return cls(frozenset(w.strip() for w in added if w.strip()), frozenset(w.strip() for w in removed))


def _parse(text: str, rule_id: str | None, generated: bool) -> list[Entry]:
    entries: list[Entry] = []
    kind: Kind | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            kind = Kind(line[1:-1])
            continue
        if kind is None:
            raise ValueError(f"word {line!r} before any [section]")
        entries.append(Entry(line, kind, rule_id, generated))
    return entries


@cache
def default_entries() -> tuple[Entry, ...]:
    """Every default word of every rule and the shared evidence words, from policies/data."""
    folder = resources.files("policies.data").joinpath("keywords")
    entries: list[Entry] = []
    for rule_id, name in RULE_FILES.items():
        entries += _parse(folder.joinpath(name).read_text("utf-8"), rule_id, False)
    for name in FEATURE_FILES:
        entries += _parse(folder.joinpath(name).read_text("utf-8"), None, name == "contact_variants.txt")
    return tuple(entries)


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


@dataclass(frozen=True, slots=True)
class RegexRule:
    rule_id: str
    pattern: str
    compiled: re2._Regexp


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The compiled words: one automaton over every pattern, and the admins' regexes."""

    patterns: tuple[Pattern, ...]
    automaton: ahocorasick_rs.AhoCorasick
    regexes: tuple[RegexRule, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)  # words per rule id (and "features")

    def __len__(self) -> int:
        return len(self.patterns)


@cache
def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the admin's 422, not a line on stderr
    options.max_mem = 8 << 20
    return options


def _canonical_word(word: str, *, strict: bool) -> str | None:
    text = canonical_text(word)
    if len(text) < 2:
        if strict:
            raise ValueError(f"keyword {word!r} is a single character once canonical ({text!r}): refused")
        return None
    return text


def build_vocabulary(
    global_lists: Mapping[str, WordList] | None = None,
    group_lists: Mapping[str, WordList] | None = None,
    *,
    defaults: Iterable[Entry] | None = None,
    extra: Iterable[Entry] = (),
) -> Vocabulary:
    """Defaults + global changes + the group's changes (in that order: a group can remove a global
    word and re-add a default one), compiled into one automaton.

    Raises ValueError for a single-character word or a regex google-re2 refuses."""
    chosen: dict[tuple[str, str | None, Kind], Entry] = {}
    for entry in default_entries() if defaults is None else defaults:
        chosen[(entry.word, entry.rule_id, entry.kind)] = entry
    for entry in extra:
        chosen[(entry.word, entry.rule_id, entry.kind)] = entry
    regexes: dict[tuple[str, str], RegexRule] = {}
    for lists in (global_lists or {}, group_lists or {}):
        for rule_id, changes in lists.items():
            if rule_id not in RULE_FILES:
                raise ValueError(f"no keyword rule {rule_id!r} (known: {', '.join(RULE_FILES)})")
            for word in changes.removed:
                for kind in (Kind.DECISIVE, Kind.WEAK, Kind.PROMO):
                    chosen.pop((word, rule_id, kind), None)
                regexes.pop((rule_id, word), None)
            for word in changes.added:
                if word.startswith(REGEX_PREFIX):
                    pattern = word[len(REGEX_PREFIX) :]
                    if not pattern:
                        raise ValueError("an empty regular expression is refused")
                    try:
                        compiled = re2.compile(pattern, options=_re2_options())
                    except re2.error as exc:
                        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
                        raise ValueError(f"regular expression {pattern!r}: {detail}") from None
                    regexes[(rule_id, word)] = RegexRule(rule_id, pattern, compiled)
                    continue
                _canonical_word(word, strict=True)
                chosen.pop((word, rule_id, Kind.WEAK), None)
                chosen.pop((word, rule_id, Kind.PROMO), None)
                chosen[(word, rule_id, Kind.DECISIVE)] = Entry(word, Kind.DECISIVE, rule_id, admin=True)

    by_text: dict[str, list[Entry]] = {}
    counts: dict[str, int] = {}
    # Hand-written words first: a generated spelling that canonicalises to one of them (+微信 →
    # 加微信) is the plain word, not an evasion, and is left out.
    for entry in sorted(chosen.values(), key=lambda e: e.generated):
        text = _canonical_word(entry.word, strict=entry.admin)
        if text is not None and entry.generated and text in by_text:
            continue
        if text is None and entry.generated:
            continue  # 寇寇 collapses to one character: a generated spelling that cannot stand
        if text is None:
            raise ValueError(f"default keyword {entry.word!r} is a single character once canonical")
        by_text.setdefault(text, []).append(entry)
        key = entry.rule_id or "features"
        counts[key] = counts.get(key, 0) + 1
    patterns = tuple(
        Pattern(
            text,
            tuple(entries),
            check_left=_ascii_alnum(text[0]),
            check_right=_ascii_alnum(text[-1]),
            allows=any(e.kind is Kind.ALLOW for e in entries),
            denies=any(e.kind is not Kind.ALLOW for e in entries),
        )
        for text, entries in by_text.items()
    )
    automaton = ahocorasick_rs.AhoCorasick([p.text for p in patterns] or ["\x00\x00"])
    return Vocabulary(patterns, automaton, tuple(regexes.values()), counts)


def _key(lists: Mapping[str, WordList] | None) -> tuple[tuple[str, WordList], ...]:
    return tuple(sorted((lists or {}).items()))


class VocabularyCache:
    """Compiled vocabularies by their (global, group) word lists, least recently used evicted.
    Groups with no words of their own share one entry."""

    def __init__(self, maxsize: int = 256) -> None:
        self._maxsize = maxsize
        self._items: OrderedDict[tuple[object, ...], Vocabulary] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        global_lists: Mapping[str, WordList] | None = None,
        group_lists: Mapping[str, WordList] | None = None,
    ) -> Vocabulary:
        key = (_key(global_lists), _key(group_lists))
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        built = build_vocabulary(global_lists, group_lists)
        with self._lock:
            self._items[key] = built
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)
        return built


@cache
def default_vocabulary() -> Vocabulary:
    """The bundled words only (no admin changes), built once per process."""
    return build_vocabulary()
