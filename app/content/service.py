"""The content domain's entry: a group message (any source) → policies → stored decisions →
strikes → planned actions, all in the message's own savepoint.

Order of work (DESIGN.md): load what the policies may see (group, document, word lists, strikes,
recent activity), judge purely, then write: the judged-message row first (its unique key makes a
second delivery of the same message a no-op), violations, strikes (append-only), actions. Nothing
here talks to WeCom: acts are outbox rows for the executor.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.content import repository
from app.content.enforcement import Act, GroupFacts, Outcome, decide_acts, plan_actions
from app.content.judging import PolicyJudge, Windows, WordLists, text_hash
from app.db import dialect_of
from app.groups import service as groups
from app.logs import log_event
from app.models import ViolationStatus, WordEntryKind, utcnow
from app.routing import DomainContext
from policies.base import (
    ChatMessage,
    GroupMode,
    MessageRecall,
    MessageSource,
    PolicyContext,
    RecentActivity,
    Remedy,
    Verdict,
)
from policies.content.quiet_hours import next_allowed
from policies.content.vocabulary import WordList
from policies.document import PolicyDocument, effective_mode, load_preset, parse_document

GLOBAL_SCOPE = "global"

# Worst first: the judged-message row keeps the worst verdict of its decisions.
SEVERITY = {
    Verdict.ALLOW: 0,
    Verdict.REMIND: 1,
    Verdict.REVIEW: 2,
    Verdict.WARN: 3,
    Verdict.ADVISE: 4,
    Verdict.REMOVE: 5,
}


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """A registered group as judging needs it."""

    facts: GroupFacts
    registered_at: datetime
    privileged: frozenset[str]  # owner, admins and the exemption list: never struck
    document: PolicyDocument


@dataclass
class _Cached:
    """Parsed documents and loaded word lists, keyed by what identifies their content."""

    documents: dict[tuple[str, int | None], PolicyDocument] = field(default_factory=dict)
    words: dict[tuple[str, repository.WordListVersion], WordLists] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


async def load_group(
    session: AsyncSession, room_id: str, cache: _Cached | None = None
) -> GroupSnapshot | None:
    """The registered group the archive's room (or the bot's chat) belongs to, with its active
    document (the `work-group` defaults when it has none)."""
    info = await groups.group_for_room(session, room_id)
    return None if info is None else await snapshot_of(session, info, cache)


async def load_group_by_chat(
    session: AsyncSession, chat_id: str, cache: _Cached | None = None
) -> GroupSnapshot | None:
    """The registered group with this chat id (the admin API's name for it)."""
    info = await groups.get_group(session, chat_id)
    return None if info is None else await snapshot_of(session, info, cache)


async def snapshot_of(session: AsyncSession, info: groups.GroupInfo, cache: _Cached | None) -> GroupSnapshot:
    key = (info.chat_id, info.policy_version)
    document = cache.documents.get(key) if cache else None
    if document is None:
        document = parse_document(await groups.active_policy(session, info.chat_id) or {})
        if cache:
            with cache.lock:
                cache.documents[key] = document
    facts = GroupFacts(
        chat_id=info.chat_id,
        name=info.name,
        mode=info.mode,
        owner=info.owner or None,
        admins=info.admins,
        robot=info.robot,
    )
    return GroupSnapshot(facts, info.registered_at, info.privileged, document)


async def load_word_lists(
    session: AsyncSession,
    chat_id: str | None,
    cache: _Cached | None = None,
    versions: Mapping[str, repository.WordListVersion] | None = None,
) -> tuple[WordLists, WordLists]:
    """The admins' changes to the vocabulary: global, and this group's (`versions`: their
    `word_list_versions` when the caller read them already)."""
    scopes = [GLOBAL_SCOPE] if chat_id is None else [GLOBAL_SCOPE, chat_id]
    if versions is None or not all(scope in versions for scope in scopes):
        versions = await repository.word_list_versions(session, scopes)  # one statement for both
    out: list[WordLists] = []
    for scope in (GLOBAL_SCOPE, chat_id):
        if scope is None:
            out.append({})
            continue
        version = versions[scope]
        found = cache.words.get((scope, version)) if cache else None
        if found is None:
            added: dict[str, list[str]] = {}
            removed: dict[str, list[str]] = {}
            for entry in await repository.word_entries(session, scopes=[scope]):
                target = added if entry.kind == WordEntryKind.ADD else removed
                target.setdefault(entry.rule_id, []).append(entry.word)
            found = {
                rule: WordList.of(added.get(rule, ()), removed.get(rule, ()))
                for rule in sorted(set(added) | set(removed))
            }
            if cache:
                with cache.lock:
                    for old in [k for k in cache.words if k[0] == scope]:
                        del cache.words[old]  # a scope's older versions are never read again
                    cache.words[(scope, version)] = found
        out.append(found)
    return out[0], out[1]


@dataclass(frozen=True, slots=True)
class Preview:
    """What judging one message would decide and do; nothing stored, nothing acted."""

    outcomes: list[Outcome]  # the decisions that are not `allow`, worst first
    acts: list[Act]  # what enforcement would plan for them


# Without a group: the `work-group` preset in a group the app created (enforced), a first offence.
UNGROUPED = GroupFacts(chat_id="", name="", mode=GroupMode.ENFORCE, owner=None, admins=(), robot=False)

DEFAULT_WINDOWS = Windows.of(parse_document({}))
_BATCH_VIEW = "content.batch_view"  # its key in the batch session's `info`
MAX_BATCH_SPAN = timedelta(days=2)  # a batch spread wider reads per message (no view)
_Row = tuple[datetime, str, str, str]  # sent_at, text_hash, msg_type, source


@dataclass
class _BatchView:
    """What every message of one batch reads, loaded once at its start (`prepare_batch`) and
    kept up to date with the batch's own judged messages. Only on SQLite, where a transaction
    holds the write lock from its BEGIN: nothing else can change groups, documents, word lists
    or judged messages until the batch commits, so the view is what per-message queries would
    have read. It lives in the batch's session: a batch that fails is run again without it."""

    groups: dict[str, GroupSnapshot | None]  # archive room → its group
    word_versions: dict[str, repository.WordListVersion]
    since: datetime  # judged messages loaded: since <= sent_at <= until
    until: datetime
    rows: dict[tuple[str, str], list[_Row]]  # (chat id, sender) → by sent_at
    judged: set[tuple[str, str]]  # (source, msgid) of the batch's messages judged before or now
    pending: list[dict[str, Any]] = field(default_factory=list)  # judged rows not written yet

    def recent(self, message: ChatMessage, group: GroupSnapshot, key: str) -> repository.Recent | None:
        """`recent_activity` as the database would answer it; None when outside what was loaded."""
        w = Windows.of(group.document)
        now = message.sent_at
        start = now - timedelta(seconds=max(w.messages_s, w.same_text_s, w.images_s))
        start = min(start, now - repository.COPY_WINDOW)
        end = now + repository.COPY_WINDOW
        if start < self.since or end > self.until:
            return None
        rows = self.rows.get((group.facts.chat_id, message.sender), [])
        source = message.source.value
        since = {name: now - timedelta(seconds=window) for name, (window, _) in _counters(w, key).items()}
        copied, messages, same, images = False, 0, 0, 0
        for at, text_key, kind, src in rows[bisect.bisect_left(rows, start, key=lambda r: r[0]) :]:
            if at > end:
                break
            if text_key == key and src != source and at >= now - repository.COPY_WINDOW:
                copied = True  # the AI bot's copy of this message (±3 minutes), judged already
            if at > now:
                continue
            messages += at > since["messages"]
            same += at > since["same_text"] and text_key == key
            images += at > since["images"] and kind == "image"
        return repository.Recent(copied, {"messages": messages, "same_text": same, "images": images})

    async def flush(self, session: AsyncSession) -> None:
        """Write the deferred judged rows (one statement), before anything reads them."""
        rows, self.pending = self.pending, []
        await repository.add_judged(session, rows)

    def add(self, message: ChatMessage, chat_id: str, key: str) -> None:
        row = (message.sent_at, key, message.msg_type, message.source.value)
        bisect.insort(self.rows.setdefault((chat_id, message.sender), []), row, key=lambda r: r[0])


def _with_strikes(context: PolicyContext, strikes: Mapping[str, repository.StrikeCount]) -> PolicyContext:
    """The context with the member's active strikes (what the offence ladders climb)."""
    return replace(
        context,
        strikes={cat: s.count for cat, s in strikes.items()},
        last_strike_at={cat: s.last_at for cat, s in strikes.items() if s.last_at is not None},
    )


def _counters(windows: Windows, key: str) -> dict[str, tuple[int, str | None]]:
    """The sender's counters the policies see (C8 messages and same text, C9 images)."""
    return {
        "messages": (windows.messages_s, None),
        "same_text": (windows.same_text_s, f"hash:{key}"),
        "images": (windows.images_s, "image"),
    }


@dataclass
class ContentService:
    judge: PolicyJudge
    timezone: tzinfo
    clock: Callable[[], datetime]
    cache: _Cached = field(default_factory=_Cached)
    _windows: dict[str, Windows] = field(default_factory=dict)  # room → its document's, last seen

    async def handle(self, message: ChatMessage | MessageRecall, ctx: DomainContext) -> None:
        if isinstance(message, MessageRecall):
            return await self.withdrawn(message, ctx)
        if message.chat_id is None:
            return  # a member's single chat with the app: acknowledgements and appeals, not content
        session = ctx.session
        # One writer per member: two of their messages judged at once must not both read the
        # strikes before either adds one (PostgreSQL; SQLite has one writer anyway).
        await repository.lock_member(session, message.sender)
        key = text_hash(message.text)
        view: _BatchView | None = session.info.get(_BATCH_VIEW)
        if view is not None and message.chat_id in view.groups:
            found = view.groups[message.chat_id]
            recent = None if found is None else view.recent(message, found, key)
            if found is None:
                log_event("content.unregistered_group", level=logging.DEBUG, chat=message.chat_id)
                return
            if recent is not None:
                await self._judge(ctx, message, found, key, recent, view.word_versions, view)
                return
            await view.flush(session)  # read by the queries below
        # One statement reads the group, its word-list versions and the sender's counters, over
        # the windows this room's document had last time (checked below: a PUT may change them).
        hinted = self._windows.get(message.chat_id, DEFAULT_WINDOWS)
        inputs = await repository.message_inputs(
            session,
            room_id=message.chat_id,
            by_chat=message.source is not MessageSource.ARCHIVE,
            global_scope=GLOBAL_SCOPE,
            sender=message.sender,
            text_hash=key,
            source=message.source.value,
            now=message.sent_at,
            windows=_counters(hinted, key),
        )
        if inputs is None:
            log_event("content.unregistered_group", level=logging.DEBUG, chat=message.chat_id)
            return
        group = await snapshot_of(session, groups.info_of(inputs.group), self.cache)
        recent = inputs.recent
        windows = Windows.of(group.document)
        if windows != hinted:
            self._windows[message.chat_id] = windows
            recent = await repository.recent_activity(
                session,
                chat_id=group.facts.chat_id,
                sender=message.sender,
                text_hash=key,
                source=message.source.value,
                now=message.sent_at,
                windows=_counters(windows, key),
            )
        await self._judge(ctx, message, group, key, recent, inputs.word_versions, view)

    async def _judge(
        self,
        ctx: DomainContext,
        message: ChatMessage,
        group: GroupSnapshot,
        key: str,
        recent: repository.Recent,
        word_versions: Mapping[str, repository.WordListVersion],
        view: _BatchView | None,
    ) -> None:
        if recent.copied:
            return
        session = ctx.session
        context = self._context(message, group, recent.counts)
        word_lists = await load_word_lists(session, group.facts.chat_id, self.cache, word_versions)
        outcomes = self.judge.judge(message, context, group.document, word_lists)
        if any(o.decision.verdict is not Verdict.ALLOW for o in outcomes):
            # Only an offence ladder reads strikes, and only for a finding (never an allow): most
            # messages need no strike query. Judged again (pure) with the member's record.
            strikes = await repository.active_strikes(session, message.sender, message.sent_at)
            if strikes:
                context = _with_strikes(context, strikes)
                outcomes = self.judge.judge(message, context, group.document, word_lists)
        # Never sanction a message sent before its group was registered (the archive keeps days).
        sanctionable = message.sent_at >= group.registered_at
        worst = max((o.decision.verdict for o in outcomes), key=SEVERITY.__getitem__, default=Verdict.ALLOW)
        row = {
            "source": message.source.value,
            "msg_id": message.msg_id,
            "chat_id": group.facts.chat_id,
            "sender": message.sender,
            "sent_at": message.sent_at,
            "msg_type": message.msg_type,
            "text_hash": key,
            "chars": len(message.text),
            "verdict": worst.value,
            "checks": sorted({o.decision.policy for o in outcomes}),
            "sanctionable": sanctionable,
            "judged_at": utcnow(),
        }
        found = [o for o in outcomes if o.decision.verdict is not Verdict.ALLOW]
        if view is not None:
            if (message.source.value, message.msg_id) in view.judged:
                return  # judged before (a redelivery, or a batch re-run after a split)
            view.judged.add((message.source.value, message.msg_id))
            view.add(message, group.facts.chat_id, key)
            if not found:
                view.pending.append(row)  # nothing refers to it: written with the batch's others
                return
        judged_id = await repository.claim_message(session, row)
        if judged_id is None:
            return  # judged before (a redelivery, or a batch re-run after a split)
        found = [o for o in outcomes if o.decision.verdict is not Verdict.ALLOW]
        if not found:
            return
        acting = sanctionable and any(o.acts for o in found)
        overrides = await repository.template_overrides(session) if acting else {}
        post_at = self._group_post_at(group.document) if acting else None
        for outcome in found:
            await self._record(ctx, group, message, outcome, judged_id, sanctionable, overrides, post_at)
        log_event(
            "content.judged",
            chat=group.facts.chat_id,
            msg=message.msg_id,
            verdict=worst.value,
            rules=",".join(o.decision.rule_id for o in found),
        )

    async def withdrawn(self, recall: MessageRecall, ctx: DomainContext) -> None:
        """A member withdrew a message (the archive's `revoke`): its violations record it."""
        if recall.chat_id is None:
            return
        group = await load_group(ctx.session, recall.chat_id, self.cache)
        if group is None:
            return
        marked = await repository.mark_withdrawn(
            ctx.session, chat_id=group.facts.chat_id, msg_id=recall.recalled_msg_id, at=recall.at
        )
        if marked:
            log_event("content.withdrawn", chat=group.facts.chat_id, msg=recall.recalled_msg_id)

    async def preview(
        self, session: AsyncSession | None, message: ChatMessage, group: GroupSnapshot | None
    ) -> Preview:
        """Judge `message` as `handle` would, reading only: in `group` with its document, word
        lists, mode and the sender's active strikes; without one, the `work-group` preset, the
        global word lists (none without a session) and a first offence. Raises ValueError when a
        stored word cannot be compiled."""
        if group is None:
            document = load_preset("work-group")
            facts = replace(UNGROUPED, chat_id=message.chat_id or "")
            context = PolicyContext(now=message.sent_at, timezone=self.timezone, mode=facts.mode)
            global_lists = (await load_word_lists(session, None, self.cache))[0] if session else {}
            word_lists: tuple[WordLists, WordLists] = (global_lists, {})
            sanctionable = True
        else:
            assert session is not None
            document, facts = group.document, group.facts
            key = text_hash(message.text)
            recent = await repository.recent_activity(
                session,
                chat_id=facts.chat_id,
                sender=message.sender,
                text_hash=key,
                source=message.source.value,
                now=message.sent_at,
                windows=_counters(Windows.of(document), key),
            )
            strikes = await repository.active_strikes(session, message.sender, message.sent_at)
            context = _with_strikes(self._context(message, group, recent.counts), strikes)
            word_lists = await load_word_lists(session, facts.chat_id, self.cache)
            sanctionable = message.sent_at >= group.registered_at
        outcomes = self.judge.judge(message, context, document, word_lists)
        found = sorted_outcomes([o for o in outcomes if o.decision.verdict is not Verdict.ALLOW])
        acting = sanctionable and any(o.acts for o in found)
        overrides = await repository.template_overrides(session) if acting and session else {}
        acts = [
            act
            for outcome in (found if sanctionable else [])
            for act in decide_acts(group=facts, message=message, outcome=outcome, templates=overrides)
        ]
        return Preview(found, acts)

    async def prepare_batch(self, session: AsyncSession, records: Sequence[object]) -> None:
        """Called by the pipeline before a batch whose records all come here: on SQLite, read
        the groups, word-list versions and recent judged messages of the whole batch at once
        (three statements instead of one or two per message). See _BatchView."""
        messages = [r for r in records if isinstance(r, ChatMessage) and r.chat_id is not None]
        if not messages or dialect_of(session) != "sqlite":
            return
        rooms = sorted({m.chat_id for m in messages if m.chat_id is not None})
        by_chat = {m.chat_id for m in messages if m.source is not MessageSource.ARCHIVE}
        found: dict[str, GroupSnapshot | None] = {}
        for room in rooms:
            found[room] = await self._group_of(session, room, by_chat=room in by_chat)
        snapshots = [g for g in found.values() if g is not None]
        windows = [Windows.of(g.document) for g in snapshots]
        reach = max(
            [repository.COPY_WINDOW.total_seconds()]
            + [max(w.messages_s, w.same_text_s, w.images_s) for w in windows]
        )
        first = min(m.sent_at for m in messages)
        last = max(m.sent_at for m in messages)
        if last - first > MAX_BATCH_SPAN:
            return
        since, until = first - timedelta(seconds=reach), last + repository.COPY_WINDOW
        chats = sorted({g.facts.chat_id for g in snapshots})
        rows: dict[tuple[str, str], list[_Row]] = {}
        if chats:
            senders = sorted({m.sender for m in messages})
            for chat, sender, at, key, kind, source in await repository.judged_between(
                session, chat_ids=chats, senders=senders, since=since, until=until
            ):
                rows.setdefault((chat, sender), []).append((at, key, kind, source))
        for listed in rows.values():
            listed.sort(key=lambda r: r[0])
        versions = await repository.word_list_versions(session, [GLOBAL_SCOPE, *chats])
        judged: set[tuple[str, str]] = set()
        for source in sorted({m.source.value for m in messages}):
            ids = [m.msg_id for m in messages if m.source.value == source]
            judged.update((source, i) for i in await repository.judged_msgids(session, source, ids))
        session.info[_BATCH_VIEW] = _BatchView(found, versions, since, until, rows, judged)

    async def finish_batch(self, session: AsyncSession) -> None:
        """After the batch's last message: write the judged rows `prepare_batch`'s view deferred."""
        view: _BatchView | None = session.info.pop(_BATCH_VIEW, None)
        if view is not None:
            await view.flush(session)

    async def _group_of(self, session: AsyncSession, room: str, *, by_chat: bool) -> GroupSnapshot | None:
        """The archive names a group by its room id; the AI bot and the app by its chat id."""
        found = await load_group_by_chat(session, room, self.cache) if by_chat else None
        return found or await load_group(session, room, self.cache)

    def _group_post_at(self, document: PolicyDocument) -> datetime | None:
        """C7: group posts wait for the end of quiet hours (private messages and removals do not)."""
        quiet = document.C7.quiet_hours if document.C7.enabled else None
        if quiet is None:
            return None
        now = self.clock()
        allowed = next_allowed(now, quiet, self.timezone)
        return None if allowed == now else allowed

    def _context(
        self, message: ChatMessage, group: GroupSnapshot, counts: Mapping[str, int]
    ) -> PolicyContext:
        """What the policies see, without the member's strikes (added when a finding needs them)."""
        return PolicyContext(
            now=message.sent_at,
            timezone=self.timezone,
            mode=group.facts.mode,
            chat_id=group.facts.chat_id,
            exempt=message.sender in group.privileged,
            recent_messages=counts["messages"],
            recent=RecentActivity(
                messages=counts["messages"], same_text=counts["same_text"], images=counts["images"]
            ),
        )

    async def _record(
        self,
        ctx: DomainContext,
        group: GroupSnapshot,
        message: ChatMessage,
        outcome: Outcome,
        judged_id: int,
        sanctionable: bool,
        overrides: Mapping[str, str],
        post_at: datetime | None,
    ) -> None:
        d = outcome.decision
        waits_for_human = sanctionable and d.verdict in (Verdict.REVIEW, Verdict.ADVISE) and outcome.acts
        violation_id = await repository.add_violation(
            ctx.session,
            {
                "judged_message_id": judged_id,
                "message_id": message.msg_id,
                "chat_id": group.facts.chat_id,
                "member": message.sender,
                "rule_id": d.rule_id,
                "policy": d.policy,
                "verdict": d.verdict.value,
                "reason": d.reason[:2000],
                "matched": d.matched[:2000] if d.matched else None,
                "span_start": d.span[0] if d.span else None,
                "span_end": d.span[1] if d.span else None,
                "evidence": [list(e) for e in d.evidence],
                "text": message.text[:8000],
                "mode": effective_mode(group.document, group.facts.mode).value,  # as judged
                "exempt": d.exempt,
                "offence": outcome.offence,
                "actions": [],
                "at": message.sent_at,
                "decided_at": utcnow(),
                "status": (ViolationStatus.OPEN if waits_for_human else ViolationStatus.ACTED).value,
            },
        )
        if not sanctionable:
            return  # recorded for the record, never counted or acted on
        if Remedy.RECORD_STRIKE in d.remedies:
            await repository.add_strike(
                ctx.session,
                {
                    "violation_id": violation_id,
                    "member": message.sender,
                    "category": d.rule_id,
                    "rule_id": d.rule_id,
                    "chat_id": group.facts.chat_id,
                    "at": message.sent_at,
                    "expires_at": message.sent_at + timedelta(seconds=group.document.strike_ttl_s),
                },
            )
        if not outcome.acts:
            return
        action_ids = await plan_actions(
            ctx,
            group=group.facts,
            message=message,
            outcome=outcome,
            violation_id=violation_id,
            templates=overrides,
            group_post_at=post_at,
        )
        if action_ids:
            await repository.set_violation_actions(ctx.session, violation_id, action_ids)


def sorted_outcomes(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Worst first (for answers that list what would happen)."""
    return sorted(outcomes, key=lambda o: -SEVERITY[o.decision.verdict])
