"""The simulator's control API under /_sim/: what tests, benchmarks and the demo use to look
inside the simulated WeCom and to steer it (faults, virtual time, archive messages, callbacks).

  GET    /_sim/calls[?path=]        every qyapi call: time, method, path, query (no access_token),
                                    JSON body, errcode, http_status, fault
  DELETE /_sim/calls
  GET    /_sim/faults               the rules, with how often each fired
  POST   /_sim/faults               [{path (glob), latency_ms, http_status, errcode, errmsg,
                                      rate 0..1, count}]
  DELETE /_sim/faults
  POST   /_sim/clock/advance        {"seconds": N} → {"now": virtual unix time}
  GET    /_sim/state                groups and members now, sent messages, recalled msgids, …
  POST   /_sim/archive/messages     {"messages": [{from, roomid, content, …}], "notify": bool}
  PUT    /_sim/callback_target      where callbacks go (url, token, encoding_aes_key, aibot_url…)
  POST   /_sim/callbacks            {"kind": "text" | "change_contact" | …, …} → delivery record
"""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from app.simulator.org import GroupMember, MemberType, User, UserStatus
from app.simulator.qyapi import issue_response_code
from app.simulator.sender import (
    CallbackSender,
    CallbackTarget,
    ContactChange,
    ExternalChatChange,
    aibot_text_json,
    app_text_xml,
    change_contact_xml,
    change_external_chat_xml,
    msgaudit_notify_xml,
    template_card_event_xml,
)
from app.simulator.state import FaultRule, SimState, new_id


class FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = "*"
    latency_ms: int = Field(0, ge=0, le=120_000)
    http_status: int | None = Field(None, ge=400, le=599)
    errcode: int | None = None
    errmsg: str | None = None
    rate: float = Field(1.0, ge=0.0, le=1.0)
    count: int | None = Field(None, ge=1)


class AdvanceIn(BaseModel):
    seconds: float = Field(ge=0)


class ArchiveMessageIn(BaseModel):
    """A chat-archive message as GetChatData + DecryptData would return it."""

    model_config = ConfigDict(populate_by_name=True)

    sender: str = Field(alias="from")
    roomid: str = ""  # empty: a single chat
    content: str | None = None  # text.content when msgtype is text
    msgtype: str = "text"
    msgtime: int | None = None  # milliseconds; default: now (virtual)
    msgid: str | None = None
    action: str = "send"  # send | recall | switch
    tolist: list[str] | None = None  # default: the group's other members
    extra: dict[str, Any] = Field(default_factory=dict)  # merged in, e.g. {"image": {...}}


class ArchiveIn(BaseModel):
    messages: list[ArchiveMessageIn]
    notify: bool = False  # also deliver a msgaudit_notify callback


class TargetIn(BaseModel):
    url: str
    token: str
    encoding_aes_key: str
    aibot_url: str | None = None
    aibot_token: str | None = None
    aibot_aes_key: str | None = None


class CallbackKind(StrEnum):
    TEXT = "text"
    CHANGE_CONTACT = "change_contact"
    CHANGE_EXTERNAL_CHAT = "change_external_chat"
    MSGAUDIT_NOTIFY = "msgaudit_notify"
    TEMPLATE_CARD_EVENT = "template_card_event"
    AIBOT_TEXT = "aibot_text"
    XML = "xml"  # `plaintext` as given, to the app URL
    JSON = "json"  # `plaintext` as given, to the AI-bot URL


class CallbackIn(BaseModel):
    kind: CallbackKind
    from_user: str | None = None  # text, template_card_event, aibot_text
    content: str | None = None  # text, aibot_text
    msg_id: int | None = None  # text
    change_type: ContactChange | None = None  # change_contact
    userid: str | None = None  # change_contact
    name: str | None = None  # change_contact create_user (applied to the directory only)
    department: list[int] | None = None  # change_contact
    status: int | None = None  # change_contact update_user (applied to the directory only)
    chat_id: str | None = None  # change_external_chat
    update_detail: ExternalChatChange | None = None  # change_external_chat
    members: list[str] = Field(default_factory=list)  # change_external_chat
    join_scene: int = 0
    quit_scene: int = 0
    event_key: str = "ack"  # template_card_event
    task_id: str | None = None
    response_code: str | None = None  # default: a fresh one, usable with update_template_card
    card_type: str = "button_interaction"
    chatid: str | None = None  # aibot_text
    aibotid: str = "aibot-sim"
    plaintext: str | None = None  # xml / json
    apply: bool = True  # change the simulated org too (contacts, customer-group members)
    timestamp: str | None = None
    nonce: str | None = None


def _need(value: Any, name: str) -> Any:
    if value in (None, ""):
        raise HTTPException(422, f"{name} is required for this kind")
    return value


def _apply_contact(state: SimState, body: CallbackIn) -> None:
    users = state.org.users
    userid = str(body.userid)
    if body.change_type is ContactChange.DELETE_USER:
        users.pop(userid, None)
    elif body.change_type is ContactChange.CREATE_USER:
        users[userid] = User(userid, body.name or userid, body.department or [1])
    elif userid in users:
        user = users[userid]
        if body.department is not None:
            user.department = list(body.department)
        if body.status is not None:
            user.status = UserStatus(body.status)


def _apply_external_chat(state: SimState, body: CallbackIn) -> None:
    group = state.org.customer_groups.get(str(body.chat_id))
    if group is None:
        raise HTTPException(404, "unknown customer group")
    if body.update_detail is ExternalChatChange.DEL_MEMBER:
        group.members = [m for m in group.members if m.userid not in body.members]
        return
    present = {m.userid for m in group.members}
    for userid in body.members:
        if userid not in present:
            kind = MemberType.INTERNAL if userid in state.org.users else MemberType.EXTERNAL
            group.members.append(
                GroupMember(userid, kind, join_time=int(state.now()), join_scene=body.join_scene or 1)
            )


def _plaintext(state: SimState, target: CallbackTarget, body: CallbackIn) -> tuple[str, bool]:
    """(plaintext, True when it goes to the AI-bot URL as JSON)."""
    corp, agent = target.corp_id, target.agent_id
    match body.kind:
        case CallbackKind.TEXT:
            return app_text_xml(
                corp_id=corp,
                agent_id=agent,
                content=_need(body.content, "content"),
                from_user=_need(body.from_user, "from_user"),
                msg_id=body.msg_id,
            ), False
        case CallbackKind.CHANGE_CONTACT:
            return change_contact_xml(
                corp_id=corp,
                change_type=_need(body.change_type, "change_type"),
                userid=_need(body.userid, "userid"),
                department=body.department,
            ), False
        case CallbackKind.CHANGE_EXTERNAL_CHAT:
            return change_external_chat_xml(
                corp_id=corp,
                chat_id=_need(body.chat_id, "chat_id"),
                update_detail=_need(body.update_detail, "update_detail"),
                members=body.members,
                join_scene=body.join_scene,
                quit_scene=body.quit_scene,
            ), False
        case CallbackKind.MSGAUDIT_NOTIFY:
            return msgaudit_notify_xml(corp_id=corp, agent_id=agent), False
        case CallbackKind.TEMPLATE_CARD_EVENT:
            return template_card_event_xml(
                corp_id=corp,
                agent_id=agent,
                from_user=_need(body.from_user, "from_user"),
                event_key=body.event_key,
                task_id=_need(body.task_id, "task_id"),
                response_code=str(body.response_code),
                card_type=body.card_type,
            ), False
        case CallbackKind.AIBOT_TEXT:
            return aibot_text_json(
                aibotid=body.aibotid,
                chatid=_need(body.chatid, "chatid"),
                from_user=_need(body.from_user, "from_user"),
                content=body.content or "@bot 收到",
            ), True
        case CallbackKind.XML:
            return _need(body.plaintext, "plaintext"), False
        case CallbackKind.JSON:
            return _need(body.plaintext, "plaintext"), True
    raise HTTPException(422, "unknown kind")  # pragma: no cover - the enum is exhaustive


async def deliver(
    state: SimState,
    plaintext: str,
    *,
    aibot: bool,
    kind: str,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """Send one callback to the configured target with WeCom's timeout and retries."""
    target = state.callback_target
    if target is None:
        raise HTTPException(409, "no callback target: PUT /_sim/callback_target first")
    sender = CallbackSender(
        target, timeout=state.config.callback_timeout_s, retries=state.config.callback_retries
    )
    if aibot:
        delivery = await sender.send_aibot(plaintext, timestamp=timestamp, nonce=nonce)
    else:
        delivery = await sender.send_xml(plaintext, timestamp=timestamp, nonce=nonce)
    summary = {
        "time": state.now(),
        "kind": kind,
        "url": delivery.url,
        "delivered": delivery.delivered,
        "statuses": delivery.statuses,
    }
    with state.lock:
        state.deliveries.append(summary)
    return delivery.as_dict()


def _archive_message(state: SimState, m: ArchiveMessageIn) -> dict[str, Any]:
    chat = state.org.app_chats.get(m.roomid)
    group = state.org.customer_groups.get(m.roomid)
    members = chat.members if chat else [g.userid for g in group.members] if group else []
    message: dict[str, Any] = {
        "msgid": m.msgid or new_id(),
        "action": m.action,
        "from": m.sender,
        "tolist": m.tolist if m.tolist is not None else [u for u in members if u != m.sender],
        "roomid": m.roomid,
        "msgtime": m.msgtime if m.msgtime is not None else int(state.now() * 1000),
        "msgtype": m.msgtype,
    }
    if m.msgtype == "text":
        message["text"] = {"content": m.content or ""}
    message.update(m.extra)
    return message


def control_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/_sim", tags=["simulator control"])

    @router.get("/calls")
    def get_calls(path: str | None = None) -> dict[str, Any]:
        return {"calls": state.calls_snapshot(path)}

    @router.delete("/calls")
    def clear_calls() -> dict[str, Any]:
        with state.lock:
            count = len(state.calls)
            state.calls.clear()
        return {"cleared": count}

    @router.get("/faults")
    def get_faults() -> dict[str, Any]:
        with state.lock:
            return {"faults": [asdict(f) for f in state.faults]}

    @router.post("/faults")
    def add_faults(rules: list[FaultIn]) -> dict[str, Any]:
        added = state.add_faults([FaultRule(**r.model_dump()) for r in rules])
        return {"faults": [asdict(f) for f in added]}

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        with state.lock:
            count = len(state.faults)
            state.faults.clear()
        return {"cleared": count}

    @router.post("/clock/advance")
    def advance(body: AdvanceIn) -> dict[str, Any]:
        return {"now": state.advance(body.seconds)}

    @router.get("/state")
    def get_state() -> dict[str, Any]:
        return state.snapshot()

    @router.post("/archive/messages")
    async def add_archive(body: ArchiveIn) -> dict[str, Any]:
        target = state.callback_target
        if body.notify and target is None:
            raise HTTPException(409, "no callback target: PUT /_sim/callback_target first")
        with state.lock:
            seqs = []
            for m in body.messages:
                message = _archive_message(state, m)
                seqs.append(len(state.archive) + 1)
                state.archive.append(
                    {"seq": seqs[-1], "msgid": message["msgid"], "publickey_ver": 1, "message": message}
                )
        answer: dict[str, Any] = {"seqs": seqs}
        if body.notify and target is not None:
            plain = msgaudit_notify_xml(  # on the virtual clock: notices ≥15 s apart differ
                corp_id=target.corp_id, agent_id=target.agent_id, create_time=int(state.now())
            )
            answer["delivery"] = await deliver(state, plain, aibot=False, kind="msgaudit_notify")
        return answer

    @router.put("/callback_target")
    def set_target(body: TargetIn) -> dict[str, Any]:
        state.callback_target = CallbackTarget(
            url=body.url,
            token=body.token,
            encoding_aes_key=body.encoding_aes_key,
            corp_id=state.config.corp_id,
            agent_id=state.config.agent_id,
            aibot_url=body.aibot_url,
            aibot_token=body.aibot_token,
            aibot_aes_key=body.aibot_aes_key,
        )
        return {"url": body.url, "aibot_url": body.aibot_url}

    @router.post("/callbacks")
    async def send_callback(body: CallbackIn) -> dict[str, Any]:
        target = state.callback_target
        if target is None:
            raise HTTPException(409, "no callback target: PUT /_sim/callback_target first")
        answer: dict[str, Any] = {}
        if body.kind is CallbackKind.TEMPLATE_CARD_EVENT and not body.response_code:
            # A fresh code, so the service can answer the click with update_template_card.
            with state.lock:
                body.response_code = issue_response_code(state, [_need(body.from_user, "from_user")])
            answer["response_code"] = body.response_code
        plaintext, aibot = _plaintext(state, target, body)
        if body.apply:
            with state.lock:
                if body.kind is CallbackKind.CHANGE_CONTACT:
                    _apply_contact(state, body)
                elif body.kind is CallbackKind.CHANGE_EXTERNAL_CHAT:
                    _apply_external_chat(state, body)
        answer["plaintext"] = plaintext
        answer["delivery"] = await deliver(
            state, plaintext, aibot=aibot, kind=body.kind.value, timestamp=body.timestamp, nonce=body.nonce
        )
        return answer

    return router
