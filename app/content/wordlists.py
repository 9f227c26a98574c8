"""Admins' word lists (API.md): per keyword rule id, globally or for one group, changes to the
bundled default words. A word is checked by the engine itself (`build_vocabulary`) before
anything is written; one request is one transaction.

- PUT replaces the scope's added words, POST adds, DELETE removes: a word the scope added is
  dropped; a word that would still match from below (a default word, or for a group a global
  one) becomes a `remove` entry of the scope.
- A change is read by the next message judged: the service caches a scope's lists by
  `repository.word_list_versions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.content import repository
from app.errors import Invalid, NotFound
from app.groups import service as groups
from app.models import WordEntryKind
from policies.content.vocabulary import (
    REGEX_PREFIX,
    RULE_FILES,
    Kind,
    WordList,
    build_vocabulary,
    default_entries,
)
from policies.normalize import canonical_text

GLOBAL_SCOPE = "global"
MAX_WORD_CHARS = 200  # the column's width
MAX_WORDS = 10_000  # per request
MAX_ERRORS = 20  # named in one 422


class Change(StrEnum):
    REPLACE = "replace"  # PUT
    ADD = "add"  # POST
    REMOVE = "remove"  # DELETE


class ScopeCounts(BaseModel):
    added: int = 0
    removed: int = 0


class RuleSummary(BaseModel):
    rule_id: str
    defaults: int  # bundled words that sanction or add up (decisive + weak)
    scopes: dict[str, ScopeCounts]  # "global" and chat ids with changes


class WordListOut(BaseModel):
    rule_id: str
    scope: str
    words: list[str]  # added in this scope
    removed: list[str]  # switched off in this scope
    defaults: list[str]  # the bundled words of the rule (decisive + weak)
    unchanged: list[str] = []  # DELETE: words in no list below or here, nothing to remove


def default_words(rule_id: str) -> list[str]:
    return sorted(
        e.word for e in default_entries() if e.rule_id == rule_id and e.kind in (Kind.DECISIVE, Kind.WEAK)
    )


def known_rule(rule_id: str) -> None:
    if rule_id not in RULE_FILES:
        raise NotFound(f"no keyword rule {rule_id!r}; word lists exist for {', '.join(RULE_FILES)}")


async def known_scope(session: AsyncSession, scope: str) -> None:
    if scope != GLOBAL_SCOPE and await groups.get_group(session, scope) is None:
        raise NotFound(f"scope: no registered group with chat_id {scope!r} (or use 'global')")


def clean_words(words: Iterable[str]) -> list[str]:
    """Stripped, blank lines dropped, duplicates once (first order kept)."""
    out = list(dict.fromkeys(w.strip() for w in words if w.strip()))
    if len(out) > MAX_WORDS:
        raise Invalid(f"words: at most {MAX_WORDS} in one request ({len(out)} given)")
    return out


def check_words(rule_id: str, words: Sequence[str]) -> None:
    """Each word through the engine's own compiler: a single character once canonical, an empty
    or refused regex (`re:<pattern>`, google-re2) → 422 naming every bad word (the first 20)."""
    problems: list[str] = []
    for i, word in enumerate(words):
        if len(word) > MAX_WORD_CHARS:
            problems.append(f"words.{i}: {word[:40]!r}… is longer than {MAX_WORD_CHARS} characters")
            continue
        try:
            build_vocabulary({rule_id: WordList.of([word])}, defaults=())
        except ValueError as exc:
            problems.append(f"words.{i}: {exc}")
    if problems:
        more = f" (and {len(problems) - MAX_ERRORS} more)" if len(problems) > MAX_ERRORS else ""
        raise Invalid("; ".join(problems[:MAX_ERRORS]) + more)


async def _entries(session: AsyncSession, rule_id: str, scope: str) -> tuple[list[str], list[str]]:
    added: list[str] = []
    removed: list[str] = []
    for entry in await repository.word_entries(session, scopes=[scope]):
        if entry.rule_id == rule_id:
            (added if entry.kind == WordEntryKind.ADD else removed).append(entry.word)
    return added, removed


async def show(session: AsyncSession, rule_id: str, scope: str, unchanged: Sequence[str] = ()) -> WordListOut:
    known_rule(rule_id)
    await known_scope(session, scope)
    added, removed = await _entries(session, rule_id, scope)
    return WordListOut(
        rule_id=rule_id,
        scope=scope,
        words=added,
        removed=removed,
        defaults=default_words(rule_id),
        unchanged=list(unchanged),
    )


async def summary(session: AsyncSession) -> list[RuleSummary]:
    counts = await repository.word_counts(session)
    out: list[RuleSummary] = []
    for rule_id in RULE_FILES:
        scopes: dict[str, ScopeCounts] = {}
        for (rule, scope, kind), n in sorted(counts.items()):
            if rule != rule_id:
                continue
            found = scopes.setdefault(scope, ScopeCounts())
            if kind == WordEntryKind.ADD:
                found.added = n
            else:
                found.removed = n
        out.append(RuleSummary(rule_id=rule_id, defaults=len(default_words(rule_id)), scopes=scopes))
    return out


async def _below(session: AsyncSession, rule_id: str, scope: str) -> dict[str, list[str]]:
    """Canonical form → the written forms that match in `scope` before its own changes: the
    defaults and, for a group, the global changes."""
    words = set(default_words(rule_id))
    if scope != GLOBAL_SCOPE:
        added, removed = await _entries(session, rule_id, GLOBAL_SCOPE)
        words = (words - set(removed)) | set(added)
    below: dict[str, list[str]] = {}
    for word in sorted(words):
        below.setdefault(_key(word), []).append(word)
    return below


def _key(word: str) -> str:
    """A plain word written another way (full width, traditional) is the same word; a regex is
    itself."""
    return word if word.startswith(REGEX_PREFIX) else canonical_text(word)


async def change(
    session: AsyncSession, *, rule_id: str, scope: str, words: Sequence[str], how: Change, actor: str
) -> WordListOut:
    """PUT, POST or DELETE words of one rule in one scope, checked first, in the caller's
    transaction (nothing is written when a word is refused)."""
    known_rule(rule_id)
    await known_scope(session, scope)
    words = clean_words(words)
    if how is not Change.REMOVE:
        check_words(rule_id, words)
        await repository.put_words(
            session,
            rule_id=rule_id,
            scope=scope,
            words=words,
            kind=WordEntryKind.ADD,
            actor=actor,
            replace=how is Change.REPLACE,
        )
        return await show(session, rule_id, scope)
    added, _ = await _entries(session, rule_id, scope)
    below = await _below(session, rule_id, scope)
    dropped = [w for w in words if w in added]
    switched_off: list[str] = []
    unchanged: list[str] = []
    for word in words:
        forms = below.get(_key(word), [])
        if forms:
            switched_off += forms
        elif word not in dropped:
            unchanged.append(word)
    await repository.drop_words(session, rule_id=rule_id, scope=scope, words=dropped)
    await repository.put_words(
        session,
        rule_id=rule_id,
        scope=scope,
        words=list(dict.fromkeys(switched_off)),
        kind=WordEntryKind.REMOVE,
        actor=actor,
    )
    return await show(session, rule_id, scope, unchanged)
