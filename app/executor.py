"""The executor: the only code that writes to WeCom. Actions are outbox rows with an idempotency key.

`app.actions` records what should happen (once per key) and queues an `execute_action` job; the
executor performs it, records WeCom's answer (errcode, msgid) or, in dry-run, what it would have
called. An action is never performed twice: a re-run finds it finished, and one whose call may or
may not have reached WeCom (the worker died mid-call, a timeout, a 5xx) is repeated only where
repeating is harmless (removal, recall); a send or card update whose fate is unknown is marked
`unknown` for a human instead of being sent twice. A definite "busy" or rate-limit answer
(-1, 6000, 45009, 45033) puts the action back to `planned` and its job retries with backoff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import session_scope
from app.jobs import ClaimedJob
from app.logs import log_event
from app.models import Action, ActionKind, ActionStatus, table_of, utcnow
from app.wecom.client import WeComClient, WeComError, WeComTransportError
from app.wecom.codes import Endpoint, ErrCode

ACTION_TABLE = table_of(Action)

# Repeating these has the same effect as doing them once. (Not card updates: their
# response_code works once, so a repeat would fail and hide that the first one worked.)
IDEMPOTENT_KINDS = frozenset({ActionKind.REMOVE_MEMBER, ActionKind.RECALL_MESSAGE})

ENDPOINT_OF = {
    ActionKind.REMOVE_MEMBER: Endpoint.APPCHAT_UPDATE,
    ActionKind.CREATE_GROUP: Endpoint.APPCHAT_CREATE,
    ActionKind.SEND_GROUP_MESSAGE: Endpoint.APPCHAT_SEND,
    ActionKind.SEND_ROBOT_MESSAGE: Endpoint.WEBHOOK_SEND,
    ActionKind.SEND_PRIVATE_MESSAGE: Endpoint.MESSAGE_SEND,
    ActionKind.RECALL_MESSAGE: Endpoint.MESSAGE_RECALL,
    ActionKind.UPDATE_TEMPLATE_CARD: Endpoint.UPDATE_TEMPLATE_CARD,
}

# A group's robot webhook key (registered through the groups API), read when a post is due.
RobotKeyLookup = Callable[[str], Awaitable[str | None]]


class Executor:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: WeComClient,
        *,
        dry_run: bool,
        robot_key_for: RobotKeyLookup,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._dry_run = dry_run
        self._robot_key_for = robot_key_for

    async def run_job(self, job: ClaimedJob) -> None:
        await self.execute(int(job.payload["action_id"]))

    async def execute(self, action_id: int) -> str:
        """Perform one action at most once; return its final (or current) status."""
        claimed = await self._start(action_id)
        if isinstance(claimed, str):
            return claimed
        kind, params = claimed
        endpoint = ENDPOINT_OF[kind].value
        if self._dry_run:
            return await self._finish(
                action_id, ActionStatus.DRY_RUN, endpoint=endpoint, result={"would_call": endpoint}
            )
        try:
            answer = await self._call(kind, params)
        except WeComError as exc:
            # Only the action's own call can have been carried out (not a failed token fetch).
            fate_unknown = (
                isinstance(exc, WeComTransportError) and exc.maybe_performed and exc.endpoint == endpoint
            )
            if fate_unknown and kind not in IDEMPOTENT_KINDS:
                log_event("action.unknown", action=action_id, kind=kind.value)
                return await self._finish(
                    action_id,
                    ActionStatus.UNKNOWN,
                    endpoint=endpoint,
                    errcode=exc.errcode,
                    errmsg=f"{exc.errmsg}: WeCom may have done it; not repeated to avoid a duplicate",
                )
            # A token WeCom refused even after the client's one refresh is not WeCom refusing the
            # action: retry later with a fresh token, as for "busy".
            if exc.transient or exc.errcode in ErrCode.TOKEN_INVALID:
                await self._release(action_id, exc)
                raise  # the job retries with backoff
            return await self._finish(
                action_id, ActionStatus.FAILED, endpoint=endpoint, errcode=exc.errcode, errmsg=exc.errmsg
            )
        return await self._finish(
            action_id,
            ActionStatus.DONE,
            endpoint=endpoint,
            errcode=0,
            msgid=str(answer.get("msgid") or "") or None,
            result=answer,
        )

    async def _start(self, action_id: int) -> tuple[ActionKind, dict[str, Any]] | str:
        """Move PLANNED → EXECUTING; or say why not (finished, or died mid-call)."""
        c = ACTION_TABLE.c
        async with session_scope(self._sessions) as session:
            row = (
                await session.execute(
                    sa.update(ACTION_TABLE)
                    .where(c.id == action_id, c.status == ActionStatus.PLANNED)
                    .values(status=ActionStatus.EXECUTING, started_at=utcnow(), attempts=c.attempts + 1)
                    .returning(c.kind, c.params)
                )
            ).first()
            if row is not None:
                return ActionKind(row.kind), dict(row.params or {})
            current = (
                await session.execute(sa.select(c.kind, c.status, c.params).where(c.id == action_id))
            ).first()
            if current is None:
                raise LookupError(f"action {action_id} does not exist")
            if current.status != ActionStatus.EXECUTING:
                return str(current.status)  # finished before: never perform twice
            # The job came back after its lease expired: the last attempt died mid-call.
            kind = ActionKind(current.kind)
            if kind in IDEMPOTENT_KINDS:
                await session.execute(
                    sa.update(ACTION_TABLE)
                    .where(c.id == action_id)
                    .values(attempts=c.attempts + 1, started_at=utcnow())
                )
                return kind, dict(current.params or {})
            await session.execute(
                sa.update(ACTION_TABLE)
                .where(c.id == action_id)
                .values(
                    status=ActionStatus.UNKNOWN,
                    finished_at=utcnow(),
                    wecom_errmsg="worker died while sending; not repeated to avoid a duplicate",
                )
            )
            log_event("action.unknown", action=action_id, kind=kind.value)
            return ActionStatus.UNKNOWN.value

    async def _call(self, kind: ActionKind, p: dict[str, Any]) -> dict[str, Any]:
        client = self._client
        if kind is ActionKind.REMOVE_MEMBER:
            await client.appchat_update(p["chatid"], del_user_list=list(p["userids"]))
            return {}
        if kind is ActionKind.CREATE_GROUP:
            chatid = await client.appchat_create(
                name=p["name"], owner=p["owner"], userlist=list(p["userlist"]), chatid=p["chatid"]
            )
            return {"chatid": chatid}
        if kind is ActionKind.SEND_GROUP_MESSAGE:
            return await client.appchat_send(p["chatid"], p["msgtype"], p["body"])
        if kind is ActionKind.SEND_ROBOT_MESSAGE:
            key = await self._robot_key_for(p["chatid"])
            if not key:
                raise WeComError(
                    ErrCode.INVALID_WEBHOOK_URL,
                    "no robot key registered for chat",
                    Endpoint.WEBHOOK_SEND.value,
                )
            return await client.webhook_send(key, p["payload"])
        if kind is ActionKind.SEND_PRIVATE_MESSAGE:
            return await client.message_send(list(p["touser"]), p["msgtype"], p["body"])
        if kind is ActionKind.RECALL_MESSAGE:
            msgids = [p["msgid"]] if "msgid" in p else await self._msgids_of(int(p["action_id"]))
            if not msgids:
                raise WeComError(
                    ErrCode.INVALID_PARAMETER,
                    f"action {p['action_id']} sent no message that could be recalled",
                    Endpoint.MESSAGE_RECALL.value,
                )
            for msgid in msgids:  # recalling a recalled message is harmless (WeCom answers ok)
                await client.message_recall(msgid)
            return {"recalled": msgids}
        return await client.update_template_card(
            userids=list(p["userids"]), response_code=p["response_code"], card=p["card"]
        )

    async def _msgids_of(self, action_id: int) -> list[str]:
        """Every message an action delivered (a re-planned send may have delivered twice)."""
        async with session_scope(self._sessions) as session:
            msgids = await session.scalar(
                sa.select(ACTION_TABLE.c.wecom_msgids).where(ACTION_TABLE.c.id == action_id)
            )
        return [str(m) for m in (msgids or [])]

    async def _release(self, action_id: int, exc: WeComError) -> None:
        """A transient failure: back to PLANNED so the job's retry performs it."""
        c = ACTION_TABLE.c
        async with session_scope(self._sessions) as session:
            await session.execute(
                sa.update(ACTION_TABLE)
                .where(c.id == action_id, c.status == ActionStatus.EXECUTING)  # still ours
                .values(
                    status=ActionStatus.PLANNED, wecom_errcode=exc.errcode, wecom_errmsg=exc.errmsg[:2000]
                )
            )

    async def _finish(
        self,
        action_id: int,
        status: ActionStatus,
        *,
        endpoint: str,
        errcode: int | None = None,
        errmsg: str | None = None,
        msgid: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> str:
        c = ACTION_TABLE.c
        values: dict[str, Any] = {
            "status": status,
            "finished_at": utcnow(),
            "wecom_endpoint": endpoint,
            "wecom_errcode": errcode,
            "wecom_errmsg": errmsg or None,
            "wecom_msgid": msgid,
            "result": result,
        }
        async with session_scope(self._sessions) as session:
            if msgid:  # kept with the ones earlier runs delivered: a recall reaches them all
                earlier = await session.scalar(sa.select(c.wecom_msgids).where(c.id == action_id))
                values["wecom_msgids"] = [*(earlier or []), msgid]
            # Only while it is still ours: a run whose lease lapsed must not overwrite what was
            # decided meanwhile (another run's outcome, an admin's ruling). Its msgid still counts.
            done = await session.execute(
                sa.update(ACTION_TABLE)
                .where(c.id == action_id, c.status == ActionStatus.EXECUTING)
                .values(**values)
            )
            superseded = not done.rowcount  # type: ignore[attr-defined]
            if superseded:
                if msgid:
                    await session.execute(
                        sa.update(ACTION_TABLE)
                        .where(c.id == action_id)
                        .values(wecom_msgids=values["wecom_msgids"])
                    )
                current = await session.scalar(sa.select(c.status).where(c.id == action_id))
        if superseded:
            log_event("action.finish_superseded", action=action_id, outcome=status.value, now=current)
            return str(current)
        log_event(
            "action.finished", action=action_id, status=status.value, endpoint=endpoint, errcode=errcode
        )
        return status.value
