"""The content domain's entry: a group message (any source) → policies → stored decisions →
strikes → planned actions, all in the message's own savepoint.

Order of work (DESIGN.md): load what the policies may see (group, document, word lists, strikes,
recent activity), judge purely, then write: the judged-message row first (its unique key makes a
second delivery of the same message a no-op), violations, strikes (append-only), actions. Nothing
here talks to WeCom: acts are outbox rows for the executor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.content import repository
from app.content.enforcement import Act, GroupFacts, Outcome, decide_acts, plan_actions
from app.content.judging import PolicyJudge, Windows, WordLists, text_hash
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
    return await _snapshot(session, await groups.group_for_room(session, room_id), cache)


async def load_group_by_chat(
    session: AsyncSession, chat_id: str, cache: _Cached | None = None
) -> GroupSnapshot | None:
    """The registered group with this chat id (the admin API's name for it)."""
    return await _snapshot(session, await groups.get_group(session, chat_id), cache)


async def _snapshot(
    session: AsyncSession, info: groups.GroupInfo | None, cache: _Cached | None
) -> GroupSnapshot | None:
    if info is None:
        return None
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
    session: AsyncSession, chat_id: str | None, cache: _Cached | None = None
) -> tuple[WordLists, WordLists]:
    """The admins' changes to the vocabulary: global, and this group's."""
    out: list[WordLists] = []
    for scope in (GLOBAL_SCOPE, chat_id):
        if scope is None:
            out.append({})
            continue
        version = await repository.word_list_version(session, [scope])
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


@dataclass
class ContentService:
    judge: PolicyJudge
    timezone: tzinfo
    clock: Callable[[], datetime]
    cache: _Cached = field(default_factory=_Cached)

    async def handle(self, message: ChatMessage | MessageRecall, ctx: DomainContext) -> None:
        if isinstance(message, MessageRecall):
            return await self.withdrawn(message, ctx)
        if message.chat_id is None:
            return  # a member's single chat with the app: acknowledgements and appeals, not content
        session = ctx.session
        # The archive names a group by its room id; the AI bot (and the app) by its chat id.
        group = None
        if message.source is not MessageSource.ARCHIVE:
            group = await load_group_by_chat(session, message.chat_id, self.cache)
        if group is None:
            group = await load_group(session, message.chat_id, self.cache)
        if group is None:
            log_event("content.unregistered_group", level=logging.DEBUG, chat=message.chat_id)
            return
        await repository.lock_member(session, message.sender)
        key = text_hash(message.text)
        if await repository.copy_judged_elsewhere(
            session,
            chat_id=group.facts.chat_id,
            sender=message.sender,
            text_hash=key,
            source=message.source.value,
            at=message.sent_at,
        ):
            return
        context = await self._context(session, message, group, key)
        word_lists = await load_word_lists(session, group.facts.chat_id, self.cache)
        outcomes = self.judge.judge(message, context, group.document, word_lists)
        # Never sanction a message sent before its group was registered (the archive keeps days).
        sanctionable = message.sent_at >= group.registered_at
        worst = max((o.decision.verdict for o in outcomes), key=SEVERITY.__getitem__, default=Verdict.ALLOW)
        judged_id = await repository.claim_message(
            session,
            {
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
            },
        )
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
            context = await self._context(session, message, group, text_hash(message.text))
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

    def _group_post_at(self, document: PolicyDocument) -> datetime | None:
        """C7: group posts wait for the end of quiet hours (private messages and removals do not)."""
        quiet = document.C7.quiet_hours if document.C7.enabled else None
        if quiet is None:
            return None
        now = self.clock()
        allowed = next_allowed(now, quiet, self.timezone)
        return None if allowed == now else allowed

    async def _context(
        self, session: AsyncSession, message: ChatMessage, group: GroupSnapshot, key: str
    ) -> PolicyContext:
        now = message.sent_at
        windows = Windows.of(group.document)
        counts = await repository.recent_counts(
            session,
            chat_id=group.facts.chat_id,
            sender=message.sender,
            now=now,
            windows={
                "messages": (windows.messages_s, None),
                "same_text": (windows.same_text_s, f"hash:{key}"),
                "images": (windows.images_s, "image"),
            },
        )
        strikes = await repository.active_strikes(session, message.sender, now)
        return PolicyContext(
            now=now,
            timezone=self.timezone,
            mode=group.facts.mode,
            chat_id=group.facts.chat_id,
            exempt=message.sender in group.privileged,
            strikes={cat: s.count for cat, s in strikes.items()},
            last_strike_at={cat: s.last_at for cat, s in strikes.items() if s.last_at is not None},
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
