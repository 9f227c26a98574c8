"""The simulated qyapi endpoints: WeCom's JSON shapes, errcodes and limits (WECOM.md §4, §5).

Each handler takes the state and the request and returns the answer body, or raises `SimError`.
`handle` does what is common to all: the per-API rate limit, the access token, the JSON body.

Choices where WeCom's exact behaviour is not documented (WECOM.md marks them UNCONFIRMED):
- message/recall of an unknown msgid, or of one sent more than 24 h ago: 40058 (不合法的参数).
  Recalling an already recalled message answers ok (repeating it is harmless).
- update_template_card with an unknown, used or expired response_code: 40058.
- appchat/create with a chatid that exists: 86001; removing the owner without naming a new one
  in the same call: 86005.
- externalcontact/groupchat/get of an unknown chat_id: 40050 (chatid不存在).
- message/send over 30/min for a member: ok, but the member is listed in the record's `dropped`
  (WeCom drops the excess silently).
- message/send with enable_duplicate_check=1 and the same request JSON within the interval (default
  1800 s, virtual clock): not delivered again; the answer repeats the first one (same msgid).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from app.simulator.org import AppChat, MemberType, UserStatus
from app.simulator.state import ResponseCode, SentMessage, SimState, new_id
from app.wecom.codes import Endpoint, ErrCode

MINUTE = 60.0
HOUR = 3600.0
APPCHAT_MEMBERS_MIN, APPCHAT_MEMBERS_MAX = 2, 2000  # WECOM.md §4.2
CHAT_NAME_MAX = 50
TEXT_MAX_BYTES = 2048  # text content (WECOM.md §4.2, §4.5)
MARKDOWN_MAX_BYTES = 4096
LIST_ID_LIMIT_MAX = 10_000  # user/list_id (WECOM.md §4.6)
GROUPCHAT_LIST_LIMIT_MAX = 1000  # groupchat/list (WECOM.md §4.7)
CHATID_PATTERN = re.compile(r"[0-9a-zA-Z]{1,32}")

APPCHAT_MSGTYPES = frozenset(
    {"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown"}
)
MESSAGE_MSGTYPES = APPCHAT_MSGTYPES | {"miniprogram_notice", "template_card"}
WEBHOOK_MSGTYPES = frozenset(
    {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}
)
# Only these card types get a response_code (WECOM.md §4.3).
INTERACTIVE_CARDS = frozenset({"button_interaction", "vote_interaction", "multiple_interaction"})
UNDELIVERABLE = frozenset({UserStatus.DISABLED, UserStatus.QUIT})

ERRMSG: dict[int, str] = {
    ErrCode.SYSTEM_BUSY: "system busy",
    ErrCode.DATA_VERSION_CONFLICT: "data version conflict",
    ErrCode.INVALID_SECRET: "invalid credential",
    ErrCode.INVALID_MSGTYPE: "invalid message type",
    ErrCode.INVALID_CORPID: "invalid corpid",
    ErrCode.INVALID_ACCESS_TOKEN: "invalid access_token",
    ErrCode.INVALID_USERID_LIST: "invalid userid list",
    ErrCode.CHATID_NOT_EXIST: "chatid not exist",
    ErrCode.INVALID_PARAMETER: "invalid parameter",
    ErrCode.MISSING_ACCESS_TOKEN: "access_token missing",
    ErrCode.ACCESS_TOKEN_EXPIRED: "access_token expired",
    ErrCode.EMPTY_CONTENT: "empty content",
    ErrCode.CONTENT_TOO_LARGE: "content size out of limit",
    ErrCode.API_FREQ_OUT_OF_LIMIT: "api freq out of limit",
    ErrCode.API_CONCURRENT_OUT_OF_LIMIT: "api concurrent out of limit",
    ErrCode.API_UNAUTHORIZED: "api forbidden",
    ErrCode.USERID_NOT_FOUND: "userid not found",
    ErrCode.INVALID_DEPARTMENT_ID: "invalid department id",
    ErrCode.ALL_RECIPIENTS_INVALID: "all touser invalid",
    ErrCode.INVALID_CHATID: "invalid chatid",
    ErrCode.CHATID_NOT_FOUND: "chatid not found",
    ErrCode.INVALID_CHAT_NAME: "invalid chat name",
    ErrCode.INVALID_CHAT_OWNER: "invalid chat owner",
    ErrCode.CHAT_MEMBER_COUNT: "chat member count out of range",
    ErrCode.INVALID_CHAT_MEMBER: "invalid chat member",
    ErrCode.NOT_OWN_CHAT: "not allow to operate the chat which is not created by this app",
    ErrCode.INVALID_WEBHOOK_URL: "invalid webhook url",
    ErrCode.NO_APP_PRIVILEGE: "no privilege to access/modify contact/party/agent",
    ErrCode.INVALID_AGENTID: "invalid agentid",
}


class SimError(Exception):
    def __init__(self, errcode: int, detail: str = "") -> None:
        super().__init__(errcode, detail)
        self.errcode = int(errcode)
        self.detail = detail


def error_body(errcode: int, detail: str = "") -> dict[str, Any]:
    """An error answer shaped like WeCom's (text, hint, more-info link). Never echoes secrets."""
    text = detail or ERRMSG.get(errcode) or "error"
    hint = f"[{int(time.time())}_{secrets.token_hex(4)}]"
    return {
        "errcode": errcode,
        "errmsg": f"{text}, hint: {hint}, from ip: 127.0.0.1, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}",
    }


def ok(**fields: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **fields}


class Auth(Enum):
    NONE = "none"  # gettoken
    ANY = "any"  # read-only calls: a token of the app or of the contacts secret
    APP = "app"  # writes and messages: the app secret only
    CONTACTS = "contacts"  # user/list_id: the contacts secret only
    WEBHOOK = "webhook"  # ?key= instead of a token


@dataclass(slots=True)
class ApiRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON (None when it did not parse)
    args: dict[str, Any] = field(default_factory=dict)  # query (GET routes) or body (POST)


Handler = Callable[[SimState, ApiRequest], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    auth: Auth
    handler: Handler


# -- helpers ------------------------------------------------------------------------------------


def _int_arg(args: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SimError(ErrCode.INVALID_PARAMETER, f"invalid {name}") from None
    if not low <= number <= high:
        raise SimError(ErrCode.INVALID_PARAMETER, f"{name} out of range")
    return number


def _str_list(args: dict[str, Any], name: str, error: ErrCode) -> list[str]:
    value = args.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SimError(error, f"invalid {name}")
    return value


def _cursor(args: dict[str, Any]) -> int:
    cursor = str(args.get("cursor") or "0")
    if not cursor.isdigit():
        raise SimError(ErrCode.INVALID_PARAMETER, "invalid cursor")
    return int(cursor)


def _page(items: list[Any], offset: int, limit: int) -> tuple[list[Any], str]:
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return page, (str(offset + limit) if more else "")


def _check_agent(state: SimState, args: dict[str, Any]) -> None:
    try:
        agent = int(args.get("agentid", -1))
    except (TypeError, ValueError):
        raise SimError(ErrCode.INVALID_AGENTID) from None
    if agent != state.config.agent_id:
        raise SimError(ErrCode.NO_APP_PRIVILEGE)


def _check_content(args: dict[str, Any], allowed: frozenset[str]) -> str:
    """The msgtype, after WeCom's checks on it and on text/markdown content."""
    msgtype = args.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in allowed:
        raise SimError(ErrCode.INVALID_MSGTYPE)
    content_obj = args.get(msgtype)
    if not isinstance(content_obj, dict):
        raise SimError(ErrCode.INVALID_PARAMETER, f"missing {msgtype}")
    if msgtype in {"text", "markdown", "markdown_v2"}:
        content = content_obj.get("content")
        if not isinstance(content, str) or not content:
            raise SimError(ErrCode.EMPTY_CONTENT)
        limit = TEXT_MAX_BYTES if msgtype == "text" else MARKDOWN_MAX_BYTES
        if len(content.encode()) > limit:
            raise SimError(ErrCode.CONTENT_TOO_LARGE)
    return msgtype


def _own_chat(state: SimState, chatid: Any) -> AppChat:
    """An app chat this app created: 86001 malformed, 86003 unknown, 86008 someone else's."""
    if not isinstance(chatid, str) or not chatid:
        raise SimError(ErrCode.INVALID_CHATID)
    chat = state.org.app_chats.get(chatid)
    if chat is None:
        raise SimError(ErrCode.CHATID_NOT_FOUND)
    if not chat.created_by_app:
        raise SimError(ErrCode.NOT_OWN_CHAT)
    return chat


def _valid_members(state: SimState, userids: list[str]) -> None:
    """40031 when any id is not a current member of the directory."""
    users = state.org.users
    bad = [u for u in userids if u not in users or users[u].status in UNDELIVERABLE]
    if bad:
        raise SimError(ErrCode.INVALID_USERID_LIST, f"invalid userid list: {','.join(bad)}")


# -- gettoken and contacts ----------------------------------------------------------------------


def gettoken(state: SimState, req: ApiRequest) -> dict[str, Any]:
    cfg = state.config
    if req.args.get("corpid") != cfg.corp_id:
        raise SimError(ErrCode.INVALID_CORPID)
    secret = req.args.get("corpsecret")
    if secret and secret == cfg.secret:
        kind = "app"
    elif secret and secret == cfg.contacts_secret:
        kind = "contacts"
    else:
        raise SimError(ErrCode.INVALID_SECRET)
    token, expires_in = state.issue_token(kind)
    return ok(access_token=token, expires_in=expires_in)


def user_get(state: SimState, req: ApiRequest) -> dict[str, Any]:
    user = state.org.users.get(str(req.args.get("userid") or ""))
    if user is None:
        raise SimError(ErrCode.USERID_NOT_FOUND)
    return ok(
        userid=user.userid,
        name=user.name,
        department=list(user.department),
        order=[0] * len(user.department),
        position=user.position,
        status=int(user.status),
        isleader=0,
        is_leader_in_dept=[0] * len(user.department),
        main_department=user.department[0] if user.department else 1,
        direct_leader=[],
    )


def user_list_id(state: SimState, req: ApiRequest) -> dict[str, Any]:
    limit = _int_arg(req.args, "limit", LIST_ID_LIMIT_MAX, 1, LIST_ID_LIMIT_MAX)
    pairs = [{"userid": u.userid, "department": d} for u in state.org.users.values() for d in u.department]
    page, next_cursor = _page(pairs, _cursor(req.args), limit)
    return ok(next_cursor=next_cursor, dept_user=page)


def department_list(state: SimState, req: ApiRequest) -> dict[str, Any]:
    departments = state.org.departments
    wanted = req.args.get("id")
    if wanted in (None, ""):
        chosen = list(departments.values())
    else:
        root = _int_arg(req.args, "id", 0, 0, 2**31)
        if root not in departments:
            raise SimError(ErrCode.INVALID_DEPARTMENT_ID)
        ids, frontier = {root}, [root]
        while frontier:
            children = [d.id for d in departments.values() if d.parentid in frontier]
            frontier = [c for c in children if c not in ids]
            ids.update(frontier)
        chosen = [d for d in departments.values() if d.id in ids]
    return ok(
        department=[
            {"id": d.id, "name": d.name, "parentid": d.parentid, "order": d.order, "department_leader": []}
            for d in chosen
        ]
    )


# -- app chats ----------------------------------------------------------------------------------


def appchat_create(state: SimState, req: ApiRequest) -> dict[str, Any]:
    args = req.args
    userlist = _str_list(args, "userlist", ErrCode.CHAT_MEMBER_COUNT)
    if not APPCHAT_MEMBERS_MIN <= len(set(userlist)) <= APPCHAT_MEMBERS_MAX:
        raise SimError(ErrCode.CHAT_MEMBER_COUNT)
    _valid_members(state, userlist)
    owner = args.get("owner") or userlist[0]
    if owner not in userlist:
        raise SimError(ErrCode.INVALID_CHAT_OWNER)
    name = args.get("name") or ""
    if not isinstance(name, str) or len(name) > CHAT_NAME_MAX:
        raise SimError(ErrCode.INVALID_CHAT_NAME)
    chatid = args.get("chatid") or secrets.token_hex(16)
    if not isinstance(chatid, str) or not CHATID_PATTERN.fullmatch(chatid):
        raise SimError(ErrCode.INVALID_CHATID)
    if chatid in state.org.app_chats:
        raise SimError(ErrCode.INVALID_CHATID, "chatid exists")
    state.org.app_chats[chatid] = AppChat(chatid, name, owner, list(dict.fromkeys(userlist)))
    return ok(chatid=chatid)


def appchat_get(state: SimState, req: ApiRequest) -> dict[str, Any]:
    chat = _own_chat(state, req.args.get("chatid"))
    return ok(
        chat_info={
            "chatid": chat.chatid,
            "name": chat.name,
            "owner": chat.owner,
            "userlist": list(chat.members),
            "chat_type": 0,
        }
    )


def appchat_update(state: SimState, req: ApiRequest) -> dict[str, Any]:
    args = req.args
    chat = _own_chat(state, args.get("chatid"))
    add = _str_list(args, "add_user_list", ErrCode.INVALID_USERID_LIST)
    remove = set(_str_list(args, "del_user_list", ErrCode.INVALID_USERID_LIST))
    _valid_members(state, add)
    members = [m for m in chat.members if m not in remove]
    members += [a for a in dict.fromkeys(add) if a not in members]
    owner = args.get("owner") or chat.owner
    if owner not in members:
        raise SimError(ErrCode.INVALID_CHAT_OWNER)
    if len(members) > APPCHAT_MEMBERS_MAX:
        raise SimError(ErrCode.CHAT_MEMBER_COUNT)
    name = args.get("name")
    if name is not None and (not isinstance(name, str) or not name or len(name) > CHAT_NAME_MAX):
        raise SimError(ErrCode.INVALID_CHAT_NAME)
    if not state.hit("appchat_update", state.config.appchat_updates_per_hour, HOUR):
        raise SimError(ErrCode.API_FREQ_OUT_OF_LIMIT)
    chat.members, chat.owner = members, owner
    if name is not None:
        chat.name = name
    return ok()


def appchat_send(state: SimState, req: ApiRequest) -> dict[str, Any]:
    chat = _own_chat(state, req.args.get("chatid"))
    msgtype = _check_content(req.args, APPCHAT_MSGTYPES)
    state.messages.append(
        SentMessage(
            "appchat", msgtype, dict(req.args), state.now(), touser=list(chat.members), chatid=chat.chatid
        )
    )
    return ok()  # WeCom gives no msgid for group messages: they cannot be recalled


# -- app messages -------------------------------------------------------------------------------


def message_send(state: SimState, req: ApiRequest) -> dict[str, Any]:
    args = req.args
    _check_agent(state, args)
    msgtype = _check_content(args, MESSAGE_MSGTYPES)
    check = _duplicate_key(args)
    if check is not None:
        key, interval = check
        earlier = state.duplicates.get(key)
        if earlier is not None and state.now() - earlier[0] < interval:
            # WeCom: "同样内容(请求json)的消息,不会重复收到". What it answers is not documented;
            # we answer as for the first send (same msgid), so a caller that lost the first answer
            # and retried still learns the id to recall. Nothing is delivered again.
            return dict(earlier[1])
    answer = _deliver(state, args, msgtype)
    if check is not None:
        state.duplicates[check[0]] = (state.now(), dict(answer))
    return answer


def _duplicate_key(args: dict[str, Any]) -> tuple[str, float] | None:
    """(the request JSON's digest, the check interval) when the caller asked for WeCom's
    duplicate check (enable_duplicate_check=1; interval default 1800 s, at most 4 h)."""
    if str(args.get("enable_duplicate_check") or "0") != "1":
        return None
    interval = _int_arg(args, "duplicate_check_interval", 1800, 1, 4 * 3600)
    digest = hashlib.sha256(json.dumps(args, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return digest, float(interval)


def _deliver(state: SimState, args: dict[str, Any], msgtype: str) -> dict[str, Any]:
    users = state.org.users
    wanted = [u for u in str(args.get("touser") or "").split("|") if u]
    if "@all" in wanted:
        wanted = list(users)
    valid = [u for u in dict.fromkeys(wanted) if u in users and users[u].status not in UNDELIVERABLE]
    invalid = [u for u in dict.fromkeys(wanted) if u not in valid]
    if not valid:
        raise SimError(ErrCode.ALL_RECIPIENTS_INVALID)
    dropped = [
        u for u in valid if not state.hit(f"member:{u}", state.config.message_per_member_per_min, MINUTE)
    ]
    msgid = new_id()
    answer = ok(
        invaliduser="|".join(u.lower() for u in invalid),
        invalidparty="",
        invalidtag="",
        unlicenseduser="",
        msgid=msgid,
    )
    response_code = None
    card = args.get("template_card")
    if msgtype == "template_card" and isinstance(card, dict) and card.get("card_type") in INTERACTIVE_CARDS:
        response_code = issue_response_code(state, valid)
        answer["response_code"] = response_code
    state.messages.append(
        SentMessage(
            "message",
            msgtype,
            dict(args),
            state.now(),
            msgid=msgid,
            touser=valid,
            response_code=response_code,
            dropped=dropped,
        )
    )
    return answer


def issue_response_code(state: SimState, userids: list[str]) -> str:
    code = new_id(24)
    state.response_codes[code] = ResponseCode(list(userids), state.now() + state.config.response_code_ttl_s)
    return code


def message_recall(state: SimState, req: ApiRequest) -> dict[str, Any]:
    msgid = req.args.get("msgid")
    sent = next((m for m in state.messages if m.kind == "message" and m.msgid == msgid), None)
    if sent is None or not isinstance(msgid, str):
        raise SimError(ErrCode.INVALID_PARAMETER, "invalid msgid")
    if state.now() - sent.time > state.config.recall_window_s:
        raise SimError(ErrCode.INVALID_PARAMETER, "message sent more than 24 hours ago can not be recalled")
    state.recalled.setdefault(msgid, state.now())
    return ok()


def update_template_card(state: SimState, req: ApiRequest) -> dict[str, Any]:
    args = req.args
    _check_agent(state, args)
    code = state.response_codes.get(str(args.get("response_code") or ""))
    if code is None or code.used or code.expires_at <= state.now():
        raise SimError(ErrCode.INVALID_PARAMETER, "invalid response_code")
    if not isinstance(args.get("template_card"), dict) and not isinstance(args.get("button"), dict):
        raise SimError(ErrCode.INVALID_PARAMETER, "template_card or button required")
    code.used = True
    state.card_updates.append(
        {
            "time": state.now(),
            "response_code": args["response_code"],
            "userids": args.get("userids") or code.userids,
            "template_card": args.get("template_card"),
            "button": args.get("button"),
        }
    )
    return ok(invaliduser=[])


# -- group robot --------------------------------------------------------------------------------


def webhook_send(state: SimState, req: ApiRequest) -> dict[str, Any]:
    key = req.query.get("key") or ""
    chat = state.org.robot_chat(key) if key else None
    if chat is None:
        raise SimError(ErrCode.INVALID_WEBHOOK_URL)
    if not state.hit(f"webhook:{key}", state.config.webhook_per_min, MINUTE):
        raise SimError(ErrCode.API_FREQ_OUT_OF_LIMIT)
    msgtype = _check_content(req.args, WEBHOOK_MSGTYPES)
    mentioned = req.args[msgtype].get("mentioned_list") or []
    state.messages.append(
        SentMessage(
            "webhook",
            msgtype,
            dict(req.args),
            state.now(),
            touser=[str(m) for m in mentioned],
            chatid=chat.chatid,
        )
    )
    return ok()


# -- customer groups ----------------------------------------------------------------------------


def groupchat_get(state: SimState, req: ApiRequest) -> dict[str, Any]:
    group = state.org.customer_groups.get(str(req.args.get("chat_id") or ""))
    if group is None:
        raise SimError(ErrCode.CHATID_NOT_EXIST)
    need_name = bool(req.args.get("need_name"))
    users = state.org.users
    members = []
    for m in group.members:
        item: dict[str, Any] = {
            "userid": m.userid,
            "type": int(m.type),
            "join_time": m.join_time,
            "join_scene": m.join_scene,
            "group_nickname": m.nickname,
        }
        if m.invitor:
            item["invitor"] = {"userid": m.invitor}
        if need_name:
            internal = m.type is MemberType.INTERNAL and m.userid in users
            item["name"] = users[m.userid].name if internal else m.name
        members.append(item)
    version = hashlib.md5(  # noqa: S324 - a version tag like WeCom's, not security
        ",".join(sorted(m.userid for m in group.members)).encode()
    ).hexdigest()
    return ok(
        group_chat={
            "chat_id": group.chat_id,
            "name": group.name,
            "owner": group.owner,
            "create_time": group.create_time,
            "notice": group.notice,
            "member_list": members,
            "admin_list": [{"userid": a} for a in group.admins],
            "member_version": version,
        }
    )


def groupchat_list(state: SimState, req: ApiRequest) -> dict[str, Any]:
    args = req.args
    limit = _int_arg(args, "limit", 0, 1, GROUPCHAT_LIST_LIMIT_MAX)
    owner_filter = args.get("owner_filter") or {}
    owners = _str_list(
        owner_filter if isinstance(owner_filter, dict) else {}, "userid_list", ErrCode.INVALID_PARAMETER
    )
    groups = [g for g in state.org.customer_groups.values() if not owners or g.owner in owners]
    page, next_cursor = _page(groups, _cursor(args), limit)
    return ok(group_chat_list=[{"chat_id": g.chat_id, "status": 0} for g in page], next_cursor=next_cursor)


# -- chat archive (simulator only) --------------------------------------------------------------


def archive_pull(state: SimState, req: ApiRequest) -> dict[str, Any]:
    """Like GetChatData: the messages after `seq`, at most `limit` (≤ 1000), unencrypted."""
    seq = _int_arg(req.args, "seq", 0, 0, 2**63)
    limit = _int_arg(req.args, "limit", 0, 1, state.config.archive_limit_max)
    items = [a for a in state.archive if a["seq"] > seq][:limit]
    return ok(chatdata=items)


ROUTES: dict[str, Route] = {
    Endpoint.GETTOKEN: Route("GET", Auth.NONE, gettoken),
    Endpoint.USER_GET: Route("GET", Auth.ANY, user_get),
    Endpoint.USER_LIST_ID: Route("POST", Auth.CONTACTS, user_list_id),
    Endpoint.DEPARTMENT_LIST: Route("GET", Auth.ANY, department_list),
    Endpoint.APPCHAT_CREATE: Route("POST", Auth.APP, appchat_create),
    Endpoint.APPCHAT_GET: Route("GET", Auth.APP, appchat_get),
    Endpoint.APPCHAT_UPDATE: Route("POST", Auth.APP, appchat_update),
    Endpoint.APPCHAT_SEND: Route("POST", Auth.APP, appchat_send),
    Endpoint.MESSAGE_SEND: Route("POST", Auth.APP, message_send),
    Endpoint.MESSAGE_RECALL: Route("POST", Auth.APP, message_recall),
    Endpoint.UPDATE_TEMPLATE_CARD: Route("POST", Auth.APP, update_template_card),
    Endpoint.WEBHOOK_SEND: Route("POST", Auth.WEBHOOK, webhook_send),
    Endpoint.GROUPCHAT_GET: Route("POST", Auth.APP, groupchat_get),
    Endpoint.GROUPCHAT_LIST: Route("POST", Auth.APP, groupchat_list),
    Endpoint.ARCHIVE_PULL: Route("POST", Auth.APP, archive_pull),
}


def _authorize(state: SimState, req: ApiRequest, auth: Auth) -> None:
    """41001 no token, 40014 unknown, 42001 expired, 48002 a token of the wrong secret."""
    if auth in (Auth.NONE, Auth.WEBHOOK):
        return
    token = req.query.get("access_token")
    if not token:
        raise SimError(ErrCode.MISSING_ACCESS_TOKEN)
    issued = state.tokens.get(token)
    if issued is None:
        raise SimError(ErrCode.INVALID_ACCESS_TOKEN)
    if issued.expires_at <= state.now():
        raise SimError(ErrCode.ACCESS_TOKEN_EXPIRED)
    if auth in (Auth.APP, Auth.CONTACTS) and issued.kind != auth.value:
        raise SimError(ErrCode.API_UNAUTHORIZED)


def handle(state: SimState, route: Route, req: ApiRequest) -> dict[str, Any]:
    """Answer one qyapi call (errors included), as WeCom would: always a JSON body."""
    try:
        with state.lock:
            # Robots have their own per-key limit; every other API counts per corp (§5.1).
            if route.auth is not Auth.WEBHOOK and not state.hit(
                f"api:{req.path}", state.config.api_per_min, MINUTE
            ):
                raise SimError(ErrCode.API_FREQ_OUT_OF_LIMIT)
            _authorize(state, req, route.auth)
            if route.method == "GET":
                req.args = dict(req.query)
            elif isinstance(req.body, dict):
                req.args = req.body
            else:
                raise SimError(ErrCode.INVALID_PARAMETER, "Warning: wrong json format.")
            return route.handler(state, req)
    except SimError as exc:
        return error_body(exc.errcode, exc.detail)
