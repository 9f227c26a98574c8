"""The WeCom simulator over real HTTP on 127.0.0.1: errcodes, limits, records, faults, the
archive, and the callback sender (against tiny targets and against the real service)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from app.simulator.runner import SimulatorServer, require_loopback
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
    verify_url,
)
from app.simulator.state import SimConfig
from app.wecom.codes import Endpoint, ErrCode
from app.wecom.crypto import CallbackCrypto, SignedQuery, parse_xml, xml_fields
from tests.conftest import new_aes_key

DAY = 86400
SALES = "wrsales2024"  # app-created, has a robot
LUNCH = "wrlunch2024"  # created by a person: 86008
ROBOT_KEY = "5f0c8a2e-3b7d-4c1a-9e6f-2d4b8a7c1e90"
CUSTOMER_GROUP = "wrOgQhDgAAcwMTB7YmDkbeBsgT_Kmz3Q"


def sim_config(**overrides: Any) -> SimConfig:
    values: dict[str, Any] = {
        "secret": "app-" + secrets.token_hex(8),
        "contacts_secret": "contacts-" + secrets.token_hex(8),
        "seed": 7,
    }
    values.update(overrides)
    return SimConfig(**values)


class Api:
    """Raw HTTP against the simulator: no WeComClient, so the simulator is tested on its own."""

    def __init__(self, sim: SimulatorServer) -> None:
        self.sim = sim
        self.http = httpx.Client(base_url=sim.base_url, trust_env=False, timeout=10)

    def token(self, kind: str = "app") -> str:
        cfg = self.sim.config
        secret = cfg.secret if kind == "app" else cfg.contacts_secret
        answer = self.http.get(Endpoint.GETTOKEN, params={"corpid": cfg.corp_id, "corpsecret": secret}).json()
        assert answer["errcode"] == 0, answer
        return str(answer["access_token"])

    def get(self, endpoint: str, token: str | None = None, **params: Any) -> dict[str, Any]:
        if token is not None:
            params["access_token"] = token
        answer: dict[str, Any] = self.http.get(endpoint, params=params).json()
        return answer

    def post(
        self, endpoint: str, body: dict[str, Any], token: str | None = None, **params: Any
    ) -> dict[str, Any]:
        if token is not None:
            params["access_token"] = token
        answer: dict[str, Any] = self.http.post(endpoint, params=params, json=body).json()
        return answer

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, path, json=body)
        resp.raise_for_status()
        return resp.json()

    def advance(self, seconds: float) -> None:
        self.control("POST", "/_sim/clock/advance", {"seconds": seconds})

    def calls(self, path: str | None = None) -> list[dict[str, Any]]:
        params = f"?path={path}" if path else ""
        calls: list[dict[str, Any]] = self.control("GET", "/_sim/calls" + params)["calls"]
        return calls


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=sim_config()) as server:
        yield server


@pytest.fixture
def api(sim: SimulatorServer) -> Iterator[Api]:
    client = Api(sim)
    yield client
    client.http.close()


class TestGettoken:
    def test_wrong_corpid_and_wrong_secret(self, api: Api) -> None:
        cfg = api.sim.config
        assert (
            api.get(Endpoint.GETTOKEN, corpid="wwother", corpsecret=cfg.secret)["errcode"]
            == ErrCode.INVALID_CORPID
        )
        assert (
            api.get(Endpoint.GETTOKEN, corpid=cfg.corp_id, corpsecret="nope")["errcode"]
            == ErrCode.INVALID_SECRET
        )

    def test_same_token_while_valid_new_one_after_expiry(self, api: Api) -> None:
        first = api.token()
        assert api.token() == first
        api.advance(7200 + 1)
        assert api.get(Endpoint.USER_GET, first, userid="zhangsan")["errcode"] == ErrCode.ACCESS_TOKEN_EXPIRED
        second = api.token()
        assert second != first
        assert api.get(Endpoint.USER_GET, second, userid="zhangsan")["errcode"] == 0

    def test_unknown_and_missing_token(self, api: Api) -> None:
        assert (
            api.get(Endpoint.USER_GET, "not-a-token", userid="zhangsan")["errcode"]
            == ErrCode.INVALID_ACCESS_TOKEN
        )
        assert api.get(Endpoint.USER_GET, userid="zhangsan")["errcode"] == ErrCode.MISSING_ACCESS_TOKEN


class TestContacts:
    def test_user_get_statuses_and_unknown_user(self, api: Api) -> None:
        token = api.token()
        assert api.get(Endpoint.USER_GET, token, userid="nobody")["errcode"] == ErrCode.USERID_NOT_FOUND
        quit_user = api.get(Endpoint.USER_GET, token, userid="wujiu")
        assert (quit_user["errcode"], quit_user["status"], quit_user["name"]) == (0, 5, "吴九")
        assert api.get(Endpoint.USER_GET, token, userid="zhengshi")["status"] == 4

    def test_user_list_id_needs_the_contacts_secret(self, api: Api) -> None:
        body = {"cursor": "", "limit": 5}
        assert api.post(Endpoint.USER_LIST_ID, body, api.token())["errcode"] == ErrCode.API_UNAUTHORIZED
        token = api.token("contacts")
        pairs: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(10):
            page = api.post(Endpoint.USER_LIST_ID, {"cursor": cursor, "limit": 5}, token)
            assert page["errcode"] == 0 and len(page["dept_user"]) <= 5
            pairs += page["dept_user"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        # one entry per (member, department): 周八 is in two departments
        assert len(pairs) == 9
        assert {"userid": "zhouba", "department": 2} in pairs

    def test_department_list_subtree_and_unknown(self, api: Api) -> None:
        token = api.token()
        assert len(api.get(Endpoint.DEPARTMENT_LIST, token)["department"]) == 4
        assert [d["name"] for d in api.get(Endpoint.DEPARTMENT_LIST, token, id=3)["department"]] == ["技术部"]
        assert api.get(Endpoint.DEPARTMENT_LIST, token, id=99)["errcode"] == ErrCode.INVALID_DEPARTMENT_ID


class TestAppChat:
    def test_group_not_created_by_the_app(self, api: Api) -> None:
        token = api.token()
        update = api.post(Endpoint.APPCHAT_UPDATE, {"chatid": LUNCH, "del_user_list": ["lisi"]}, token)
        assert update["errcode"] == ErrCode.NOT_OWN_CHAT
        assert api.get(Endpoint.APPCHAT_GET, token, chatid=LUNCH)["errcode"] == ErrCode.NOT_OWN_CHAT
        state = api.control("GET", "/_sim/state")
        assert "lisi" in state["app_chats"][LUNCH]["members"]  # nothing changed

    def test_unknown_chat_and_unknown_users(self, api: Api) -> None:
        token = api.token()
        assert (
            api.get(Endpoint.APPCHAT_GET, token, chatid="nosuchchat")["errcode"] == ErrCode.CHATID_NOT_FOUND
        )
        add = api.post(Endpoint.APPCHAT_UPDATE, {"chatid": SALES, "add_user_list": ["ghost"]}, token)
        assert add["errcode"] == ErrCode.INVALID_USERID_LIST
        create = api.post(
            Endpoint.APPCHAT_CREATE, {"name": "x", "owner": "zhangsan", "userlist": ["zhangsan"]}, token
        )
        assert create["errcode"] == ErrCode.CHAT_MEMBER_COUNT

    def test_remove_member_and_the_owner_guard(self, api: Api) -> None:
        token = api.token()
        removed = api.post(Endpoint.APPCHAT_UPDATE, {"chatid": SALES, "del_user_list": ["wujiu"]}, token)
        assert removed["errcode"] == 0
        info = api.get(Endpoint.APPCHAT_GET, token, chatid=SALES)["chat_info"]
        assert "wujiu" not in info["userlist"] and info["owner"] == "zhangsan"
        owner_gone = api.post(
            Endpoint.APPCHAT_UPDATE, {"chatid": SALES, "del_user_list": ["zhangsan"]}, token
        )
        assert owner_gone["errcode"] == ErrCode.INVALID_CHAT_OWNER

    def test_create_then_send(self, api: Api) -> None:
        token = api.token()
        chatid = api.post(
            Endpoint.APPCHAT_CREATE,
            {"name": "新项目群", "owner": "wangwu", "userlist": ["wangwu", "zhaoliu"]},
            token,
        )["chatid"]
        sent = api.post(
            Endpoint.APPCHAT_SEND, {"chatid": chatid, "msgtype": "text", "text": {"content": "欢迎"}}, token
        )
        assert sent == {"errcode": 0, "errmsg": "ok"}  # no msgid: cannot be recalled
        empty = api.post(
            Endpoint.APPCHAT_SEND, {"chatid": chatid, "msgtype": "text", "text": {"content": ""}}, token
        )
        assert empty["errcode"] == ErrCode.EMPTY_CONTENT
        messages = api.control("GET", "/_sim/state")["messages"]
        assert [(m["kind"], m["chatid"]) for m in messages] == [("appchat", chatid)]


def _card(card_type: str) -> dict[str, Any]:
    return {
        "card_type": card_type,
        "main_title": {"title": "请确认"},
        "task_id": "t1",
        "button_list": [{"text": "收到", "key": "ack"}],
    }


class TestMessages:
    def send(
        self, api: Api, token: str, touser: str, msgtype: str = "text", body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        payload = {
            "touser": touser,
            "msgtype": msgtype,
            "agentid": api.sim.config.agent_id,
            msgtype: body or {"content": "请回复收到"},
        }
        return api.post(Endpoint.MESSAGE_SEND, payload, token)

    def test_send_returns_msgid_and_response_code_for_interactive_cards(self, api: Api) -> None:
        token = api.token()
        text = self.send(api, token, "zhangsan|wujiu|ghost")
        assert text["errcode"] == 0 and text["msgid"] and "response_code" not in text
        assert text["invaliduser"] == "wujiu|ghost"  # quit and unknown
        card = self.send(api, token, "lisi", "template_card", _card("button_interaction"))
        assert card["response_code"]
        notice = self.send(api, token, "lisi", "template_card", _card("text_notice"))
        assert "response_code" not in notice

    def test_all_recipients_invalid_and_wrong_agent(self, api: Api) -> None:
        token = api.token()
        assert self.send(api, token, "ghost|wujiu")["errcode"] == ErrCode.ALL_RECIPIENTS_INVALID
        wrong_agent = api.post(
            Endpoint.MESSAGE_SEND,
            {"touser": "lisi", "msgtype": "text", "agentid": 1, "text": {"content": "x"}},
            token,
        )
        assert wrong_agent["errcode"] == ErrCode.NO_APP_PRIVILEGE

    def test_recall_within_24h_only(self, api: Api) -> None:
        token = api.token()
        early = self.send(api, token, "lisi")["msgid"]
        late = self.send(api, token, "lisi")["msgid"]
        assert api.post(Endpoint.MESSAGE_RECALL, {"msgid": early}, token)["errcode"] == 0
        api.advance(DAY + 1)
        token = api.token()  # the old one expired with the day
        refused = api.post(Endpoint.MESSAGE_RECALL, {"msgid": late}, token)
        assert refused["errcode"] == ErrCode.INVALID_PARAMETER
        assert "24 hours" in refused["errmsg"]
        assert api.control("GET", "/_sim/state")["recalled"] == [early]

    def test_recall_unknown_msgid_refused(self, api: Api) -> None:
        refused = api.post(Endpoint.MESSAGE_RECALL, {"msgid": "no-such-msg"}, api.token())
        assert refused["errcode"] == ErrCode.INVALID_PARAMETER

    def test_response_code_is_single_use(self, api: Api) -> None:
        token = api.token()
        code = self.send(api, token, "lisi", "template_card", _card("button_interaction"))["response_code"]
        update = {
            "userids": ["lisi"],
            "agentid": api.sim.config.agent_id,
            "response_code": code,
            "button": {"replace_name": "已收到"},
        }
        assert api.post(Endpoint.UPDATE_TEMPLATE_CARD, update, token)["errcode"] == 0
        assert api.post(Endpoint.UPDATE_TEMPLATE_CARD, update, token)["errcode"] == ErrCode.INVALID_PARAMETER

    def test_over_30_per_minute_is_dropped_silently(self, api: Api) -> None:
        token = api.token()
        answers = [self.send(api, token, "sunqi") for _ in range(31)]
        assert all(a["errcode"] == 0 for a in answers)
        dropped = [m["dropped"] for m in api.control("GET", "/_sim/state")["messages"]]
        assert dropped[:30] == [[]] * 30 and dropped[30] == ["sunqi"]


class TestWebhook:
    def text(self, content: str = "请大家回复收到") -> dict[str, Any]:
        return {"msgtype": "text", "text": {"content": content, "mentioned_list": ["lisi"]}}

    def test_unknown_key(self, api: Api) -> None:
        answer = api.post(Endpoint.WEBHOOK_SEND, self.text(), key="not-a-robot")
        assert answer["errcode"] == ErrCode.INVALID_WEBHOOK_URL
        assert "not-a-robot" not in answer["errmsg"]

    def test_twenty_per_minute_then_45009(self, api: Api) -> None:
        codes = [api.post(Endpoint.WEBHOOK_SEND, self.text(), key=ROBOT_KEY)["errcode"] for _ in range(21)]
        assert codes == [0] * 20 + [ErrCode.API_FREQ_OUT_OF_LIMIT]
        api.advance(60)
        assert api.post(Endpoint.WEBHOOK_SEND, self.text(), key=ROBOT_KEY)["errcode"] == 0
        sent = api.control("GET", "/_sim/state")["messages"]
        assert len(sent) == 21
        assert (sent[0]["kind"], sent[0]["chatid"], sent[0]["touser"]) == ("webhook", SALES, ["lisi"])


class TestLimitsRecordsFaults:
    def test_per_api_rate_limit(self) -> None:
        with SimulatorServer(config=sim_config(api_per_min=3)) as sim:
            api = Api(sim)
            token = api.token()
            codes = [api.get(Endpoint.USER_GET, token, userid="lisi")["errcode"] for _ in range(4)]
            assert codes == [0, 0, 0, ErrCode.API_FREQ_OUT_OF_LIMIT]
            # per API: another endpoint still has room
            assert api.get(Endpoint.DEPARTMENT_LIST, token)["errcode"] == 0

    def test_calls_record_masks_credentials(self, api: Api) -> None:
        token = api.token()
        api.get(Endpoint.USER_GET, token, userid="nobody")
        api.post(Endpoint.WEBHOOK_SEND, {"msgtype": "text", "text": {"content": "hi"}}, key=ROBOT_KEY)
        calls = api.calls()
        assert [(c["path"], c["errcode"]) for c in calls] == [
            (Endpoint.GETTOKEN, 0),
            (Endpoint.USER_GET, 60111),
            (Endpoint.WEBHOOK_SEND, 0),
        ]
        assert calls[0]["query"]["corpsecret"] == "***"
        assert calls[1]["query"] == {"userid": "nobody"}  # access_token left out
        assert calls[2]["query"] == {"key": "***"}
        assert calls[2]["body"] == {"msgtype": "text", "text": {"content": "hi"}}
        text = str(calls)
        assert token not in text and ROBOT_KEY not in text and api.sim.config.secret not in text
        assert api.control("DELETE", "/_sim/calls") == {"cleared": 3}
        assert api.calls() == []

    def test_faults_status_errcode_count_and_glob(self, api: Api) -> None:
        token = api.token()
        api.control(
            "POST",
            "/_sim/faults",
            [
                {"path": "/cgi-bin/user/*", "http_status": 502, "count": 1},
                {"path": Endpoint.DEPARTMENT_LIST, "errcode": -1, "count": 2},
                {"path": Endpoint.APPCHAT_GET, "errcode": -1, "rate": 0},
            ],
        )
        first = api.http.get(Endpoint.USER_GET, params={"access_token": token, "userid": "lisi"})
        assert first.status_code == 502
        assert api.get(Endpoint.USER_GET, token, userid="lisi")["errcode"] == 0  # count used up
        codes = [api.get(Endpoint.DEPARTMENT_LIST, token)["errcode"] for _ in range(3)]
        assert codes == [-1, -1, 0]
        assert api.get(Endpoint.APPCHAT_GET, token, chatid=SALES)["errcode"] == 0  # rate 0
        assert [f["fired"] for f in api.control("GET", "/_sim/faults")["faults"]] == [1, 2, 0]
        assert [c["fault"] for c in api.calls(Endpoint.USER_GET)] == [True, False]
        api.control("DELETE", "/_sim/faults")
        assert api.control("GET", "/_sim/faults")["faults"] == []

    def test_latency_fault_delays_the_answer(self, api: Api) -> None:
        token = api.token()
        api.control("POST", "/_sim/faults", [{"path": Endpoint.USER_GET, "latency_ms": 300}])
        started = time.monotonic()
        assert api.get(Endpoint.USER_GET, token, userid="lisi")["errcode"] == 0
        assert time.monotonic() - started >= 0.3


class TestArchiveAndCustomerGroups:
    def test_archive_pull_pages_after_seq(self, api: Api) -> None:
        seeded = api.control(
            "POST",
            "/_sim/archive/messages",
            {
                "messages": [
                    {"from": "lisi", "roomid": SALES, "content": "加我微信 abc123"},
                    {"from": "zhangsan", "roomid": SALES, "content": "收到"},
                    {"from": "wangwu", "roomid": "", "content": "私聊", "tolist": ["zhaoliu"]},
                ]
            },
        )
        assert seeded["seqs"] == [1, 2, 3]
        token = api.token()
        page = api.post(Endpoint.ARCHIVE_PULL, {"seq": 0, "limit": 2}, token)["chatdata"]
        assert [item["seq"] for item in page] == [1, 2]
        first = page[0]["message"]
        assert (first["from"], first["roomid"], first["text"]) == (
            "lisi",
            SALES,
            {"content": "加我微信 abc123"},
        )
        assert set(first["tolist"]) == {"zhangsan", "zhouba", "wujiu", "sunqi"}
        rest = api.post(Endpoint.ARCHIVE_PULL, {"seq": 2, "limit": 1000}, token)["chatdata"]
        assert [item["message"]["tolist"] for item in rest] == [["zhaoliu"]]
        assert (
            api.post(Endpoint.ARCHIVE_PULL, {"seq": 0, "limit": 1001}, token)["errcode"]
            == ErrCode.INVALID_PARAMETER
        )

    def test_customer_group_get_and_list(self, api: Api) -> None:
        token = api.token()
        group = api.post(Endpoint.GROUPCHAT_GET, {"chat_id": CUSTOMER_GROUP, "need_name": 1}, token)[
            "group_chat"
        ]
        assert [(m["userid"], m["type"]) for m in group["member_list"]][-1] == (
            "wmQ2vRDgAAhZk9wD2pT8xYFq1mGx_n4A",
            2,
        )
        assert group["admin_list"] == [{"userid": "lisi"}]
        assert (
            api.post(Endpoint.GROUPCHAT_GET, {"chat_id": "nope"}, token)["errcode"]
            == ErrCode.CHATID_NOT_EXIST
        )
        listed = api.post(
            Endpoint.GROUPCHAT_LIST, {"limit": 10, "owner_filter": {"userid_list": ["wangwu"]}}, token
        )
        assert listed["group_chat_list"] == []
        listed = api.post(Endpoint.GROUPCHAT_LIST, {"limit": 10}, token)
        assert listed["group_chat_list"] == [{"chat_id": CUSTOMER_GROUP, "status": 0}]


# -- callback sender ----------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str  # with the query string
    body: bytes


@dataclass
class Target:
    """A tiny HTTP server on 127.0.0.1 that records requests and answers per `behave`."""

    url: str
    received: list[Received] = field(default_factory=list)


@contextmanager
def tiny_target(behave: Any) -> Iterator[Target]:
    """`behave(request_number, Received) -> (status, body, delay_s)`."""
    target = Target("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            got = Received(self.command, self.path, self.rfile.read(length))
            with lock:
                target.received.append(got)
                number = len(target.received)
            status, body, delay = behave(number, got)
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the sender gave up waiting: exactly what is being tested

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    target.url = f"http://127.0.0.1:{server.server_address[1]}/wecom/callback"
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()


def _callback_target(url: str, aibot_url: str | None = None) -> CallbackTarget:
    return CallbackTarget(
        url=url,
        token="tok" + secrets.token_hex(6),
        encoding_aes_key=new_aes_key(),
        corp_id="wwtestcorp0001",
        agent_id=1000002,
        aibot_url=aibot_url,
    )


def _query(path: str) -> SignedQuery:
    q = dict(parse_qsl(urlsplit(path).query))
    return SignedQuery(q["msg_signature"], q["timestamp"], q["nonce"])


def _wait_for(condition: Any, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


class TestSender:
    async def test_slow_target_gets_three_identical_retries(self) -> None:
        with tiny_target(lambda n, r: (200, b"", 1.0)) as target:
            sender = CallbackSender(_callback_target(target.url), timeout=0.3)
            plain = app_text_xml(corp_id="wwtestcorp0001", agent_id=1000002, from_user="lisi", content="收到")
            delivery = await sender.send_xml(plain)
            _wait_for(lambda: len(target.received) >= 4)
        assert delivery.statuses == [None] * 4 and not delivery.delivered
        assert [a.error for a in delivery.attempts] == ["timeout"] * 4
        assert len(target.received) == 4
        assert len({(r.path, r.body) for r in target.received}) == 1  # identical requests

    async def test_non_200_is_retried_until_200(self) -> None:
        with tiny_target(lambda n, r: (500 if n <= 2 else 200, b"", 0.0)) as target:
            sender = CallbackSender(_callback_target(target.url), timeout=2)
            delivery = await sender.send_xml(msgaudit_notify_xml(corp_id="wwtestcorp0001", agent_id=2000004))
        assert delivery.statuses == [500, 500, 200] and delivery.delivered

    async def test_envelopes_decrypt_with_the_service_crypto(self) -> None:
        with tiny_target(lambda n, r: (200, b"", 0.0)) as target:
            cb = _callback_target(target.url, aibot_url=target.url.replace("callback", "aibot"))
            sender = CallbackSender(cb, timeout=2)
            xml_plain = template_card_event_xml(
                corp_id=cb.corp_id,
                agent_id=cb.agent_id,
                from_user="lisi",
                event_key="ack",
                task_id="task-1",
                response_code="rc-1",
            )
            json_plain = aibot_text_json(aibotid="bot1", chatid=SALES, from_user="lisi")
            await sender.send_xml(xml_plain)
            await sender.send_aibot(json_plain)
        app_req, bot_req = target.received
        app_crypto = CallbackCrypto(cb.token, cb.encoding_aes_key, cb.corp_id)
        assert app_crypto.decrypt_xml(_query(app_req.path), app_req.body) == xml_plain
        bot_crypto = CallbackCrypto(cb.token, cb.encoding_aes_key, "")
        assert bot_req.path.startswith("/wecom/aibot?")
        assert bot_crypto.decrypt_json(_query(bot_req.path), bot_req.body) == json_plain

    async def test_verify_url_passes_only_with_the_exact_echostr(self) -> None:
        cb_holder: list[CallbackTarget] = []

        def answer_echostr(n: int, r: Received) -> tuple[int, bytes, float]:
            cb = cb_holder[0]
            q = dict(parse_qsl(urlsplit(r.path).query))
            crypto = CallbackCrypto(cb.token, cb.encoding_aes_key, cb.corp_id)
            plain = crypto.verify_url(_query(r.path), q["echostr"])
            return 200, (plain if n == 1 else plain + "\n").encode(), 0.0

        with tiny_target(answer_echostr) as target:
            cb_holder.append(_callback_target(target.url))
            assert (await verify_url(cb_holder[0], "1288432023552776189")).passed
            second = await verify_url(cb_holder[0], "1288432023552776189")
        assert second.status == 200 and not second.passed  # a trailing newline fails the check

    def test_plaintext_builders_parse_like_wecom_events(self) -> None:
        chat = xml_fields(
            parse_xml(
                change_external_chat_xml(
                    corp_id="ww1",
                    chat_id=CUSTOMER_GROUP,
                    update_detail=ExternalChatChange.ADD_MEMBER,
                    members=["wmA", "wmB"],
                    join_scene=3,
                )
            )
        )
        assert (chat["Event"], chat["ChangeType"], chat["UpdateDetail"]) == (
            "change_external_chat",
            "update",
            "add_member",
        )
        assert chat["MemChangeList"] == ["wmA", "wmB"] and chat["MemChangeCnt"] == "2"
        contact = xml_fields(
            parse_xml(
                change_contact_xml(
                    corp_id="ww1", change_type=ContactChange.UPDATE_USER, userid="lisi", department=[2, 3]
                )
            )
        )
        assert (contact["ChangeType"], contact["UserID"], contact["Department"]) == (
            "update_user",
            "lisi",
            "2,3",
        )
        text = xml_fields(
            parse_xml(app_text_xml(corp_id="ww1", agent_id=7, from_user="lisi", content="a ]]> b", msg_id=42))
        )
        assert (text["Content"], text["MsgId"], text["AgentID"]) == ("a ]]> b", "42", "7")


class TestControlCallbacks:
    def test_change_external_chat_updates_state_and_is_delivered(self, api: Api) -> None:
        with tiny_target(lambda n, r: (200, b"", 0.0)) as target:
            cb = _callback_target(target.url)
            api.control(
                "PUT",
                "/_sim/callback_target",
                {"url": target.url, "token": cb.token, "encoding_aes_key": cb.encoding_aes_key},
            )
            answer = api.control(
                "POST",
                "/_sim/callbacks",
                {
                    "kind": "change_external_chat",
                    "chat_id": CUSTOMER_GROUP,
                    "update_detail": "add_member",
                    "members": ["wmNewcomer"],
                    "join_scene": 3,
                },
            )
        assert answer["delivery"]["delivered"] is True
        crypto = CallbackCrypto(cb.token, cb.encoding_aes_key, api.sim.config.corp_id)
        (req,) = target.received
        fields = xml_fields(parse_xml(crypto.decrypt_xml(_query(req.path), req.body)))
        assert fields["MemChangeList"] == ["wmNewcomer"]
        members = api.control("GET", "/_sim/state")["customer_groups"][CUSTOMER_GROUP]["members"]
        assert {"userid": "wmNewcomer", "type": 2} in members

    def test_callbacks_need_a_target(self, api: Api) -> None:
        resp = api.http.post("/_sim/callbacks", json={"kind": "msgaudit_notify"})
        assert resp.status_code == 409


class TestAgainstTheService:
    async def test_service_accepts_simulated_callbacks(
        self, sqlite_url: str, live_server_factory: Any
    ) -> None:
        from app.main import create_app
        from tests.conftest import make_settings

        settings = make_settings(sqlite_url)
        server = live_server_factory(create_app(settings, run_worker=False))
        cb = CallbackTarget(
            url=f"{server.url}/wecom/callback",
            token=settings.token.get_secret_value(),
            encoding_aes_key=settings.aes_key.get_secret_value(),
            corp_id=settings.corp_id,
            agent_id=settings.agent_id,
            aibot_url=f"{server.url}/wecom/aibot",
        )
        sender = CallbackSender(cb)
        assert (await sender.verify_url()).passed
        plain = app_text_xml(corp_id=cb.corp_id, agent_id=cb.agent_id, from_user="lisi", content="收到")
        assert (await sender.send_xml(plain)).statuses == [200]
        assert (
            await sender.send_aibot(aibot_text_json(aibotid="b", chatid=SALES, from_user="lisi"))
        ).statuses == [200]
        wrong = CallbackTarget(
            url=cb.url,
            token="wrongtoken",
            encoding_aes_key=new_aes_key(),
            corp_id=cb.corp_id,
            agent_id=cb.agent_id,
        )
        refused = await CallbackSender(wrong, retries=0).send_xml(plain)
        assert refused.statuses == [403]


class TestRunner:
    @pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])  # noqa: S104
    def test_only_loopback(self, host: str) -> None:
        with pytest.raises(ValueError, match="loopback"):
            require_loopback(host)
        with pytest.raises(ValueError, match="loopback"):
            SimulatorServer(host=host)

    def test_loopback_accepted(self) -> None:
        for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
            require_loopback(host)
