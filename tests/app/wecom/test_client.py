"""WeComClient against the real simulator over HTTP on 127.0.0.1 (no mocks of the client):
token cache and refresh, retries and backoff, errcodes, secrets kept out of errors and logs,
client-side rate limits."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app.simulator.runner import SimulatorServer
from app.simulator.state import SimConfig
from app.wecom.client import (
    FREQ_LIMIT_BACKOFF_FLOOR_S,
    SecretKind,
    WeComClient,
    WeComError,
    WeComTransportError,
)
from app.wecom.codes import Endpoint, ErrCode
from app.wecom.ratelimit import SlidingWindowLimiter

SALES = "wrsales2024"
LUNCH = "wrlunch2024"  # not created by the app
ROBOT_KEY = "5f0c8a2e-3b7d-4c1a-9e6f-2d4b8a7c1e90"
CUSTOMER_GROUP = "wrOgQhDgAAcwMTB7YmDkbeBsgT_Kmz3Q"


class FakeTime:
    """A clock and a sleep for the client: sleeping records the delay and moves both the client's
    clock and, when `sim` is given, the simulator's virtual clock, so no test really waits."""

    def __init__(self, sim: SimulatorServer | None = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._sim = sim

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self._sim is not None:
            self._sim.state.advance(seconds)
        await asyncio.sleep(0)


class Control:
    """The simulator's control API."""

    def __init__(self, sim: SimulatorServer) -> None:
        self.http = httpx.AsyncClient(base_url=sim.base_url, trust_env=False)

    async def faults(self, *rules: dict[str, Any]) -> None:
        (await self.http.post("/_sim/faults", json=list(rules))).raise_for_status()

    async def advance(self, seconds: float) -> None:
        (await self.http.post("/_sim/clock/advance", json={"seconds": seconds})).raise_for_status()

    async def calls(self, path: str) -> list[dict[str, Any]]:
        resp = await self.http.get("/_sim/calls", params={"path": path})
        calls: list[dict[str, Any]] = resp.json()["calls"]
        return calls

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = (await self.http.get("/_sim/state")).json()
        return state


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimConfig(
        secret="app-" + secrets.token_hex(12), contacts_secret="contacts-" + secrets.token_hex(12), seed=3
    )
    with SimulatorServer(config=config) as server:
        yield server


@pytest.fixture
async def control(sim: SimulatorServer) -> AsyncIterator[Control]:
    ctl = Control(sim)
    yield ctl
    await ctl.http.aclose()


@pytest.fixture
def fake_time(sim: SimulatorServer) -> FakeTime:
    return FakeTime(sim)


def make_client(sim: SimulatorServer, fake_time: FakeTime, **overrides: Any) -> WeComClient:
    cfg = sim.config
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "corp_id": cfg.corp_id,
        "agent_id": cfg.agent_id,
        "secret": cfg.secret,
        "contacts_secret": cfg.contacts_secret,
        "timeout": 5.0,
        "sleep": fake_time.sleep,
        "clock": fake_time.clock,
    }
    values.update(overrides)
    return WeComClient(**values)


@pytest.fixture
async def client(sim: SimulatorServer, fake_time: FakeTime) -> AsyncIterator[WeComClient]:
    async with make_client(sim, fake_time) as wecom:
        yield wecom


class TestTokens:
    async def test_token_is_cached_and_reused(self, client: WeComClient, control: Control) -> None:
        first = await client.access_token()
        for userid in ("zhangsan", "lisi", "wangwu"):
            assert (await client.user_get(userid))["userid"] == userid
        assert await client.access_token() == first
        assert len(await control.calls(Endpoint.GETTOKEN)) == 1

    async def test_expired_token_is_refreshed_and_the_call_retried_once(
        self, client: WeComClient, control: Control, fake_time: FakeTime
    ) -> None:
        await client.user_get("zhangsan")
        await control.advance(7200 + 1)  # the simulator's clock only: the client's cache says valid
        assert (await client.user_get("lisi"))["name"] == "李四"
        assert len(await control.calls(Endpoint.GETTOKEN)) == 2
        assert [c["errcode"] for c in await control.calls(Endpoint.USER_GET)] == [0, 42001, 0]
        assert fake_time.sleeps == []  # a refresh is not a backoff

    async def test_token_refresh_is_tried_only_once(self, client: WeComClient, control: Control) -> None:
        await control.faults({"path": Endpoint.USER_GET, "errcode": 40014, "count": 5})
        with pytest.raises(WeComError) as caught:
            await client.user_get("zhangsan")
        assert caught.value.errcode == ErrCode.INVALID_ACCESS_TOKEN
        assert len(await control.calls(Endpoint.USER_GET)) == 2
        assert len(await control.calls(Endpoint.GETTOKEN)) == 2

    async def test_client_expires_its_cache_before_wecom_does(
        self, client: WeComClient, control: Control, fake_time: FakeTime
    ) -> None:
        await client.user_get("zhangsan")
        fake_time.now += 7200 - 60  # inside the safety margin: fetch a new one first
        await control.advance(7200 - 60)
        await client.user_get("lisi")
        assert [c["errcode"] for c in await control.calls(Endpoint.USER_GET)] == [0, 0]
        assert len(await control.calls(Endpoint.GETTOKEN)) == 2

    async def test_concurrent_callers_fetch_the_token_once(
        self, client: WeComClient, control: Control
    ) -> None:
        await control.faults({"path": Endpoint.GETTOKEN, "latency_ms": 200})
        users = ["zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhouba"] * 3
        answers = await asyncio.gather(*(client.user_get(u) for u in users))
        assert [a["userid"] for a in answers] == users
        assert len(await control.calls(Endpoint.GETTOKEN)) == 1

    async def test_one_token_per_secret(
        self, client: WeComClient, control: Control, sim: SimulatorServer, fake_time: FakeTime
    ) -> None:
        assert len((await client.user_list_id(limit=100))["dept_user"]) == 9
        await client.user_get("zhangsan")
        assert await client.access_token(SecretKind.CONTACTS) != await client.access_token()
        assert len(await control.calls(Endpoint.GETTOKEN)) == 2
        async with make_client(sim, fake_time, contacts_secret=None) as no_contacts:
            with pytest.raises(WeComError) as caught:
                await no_contacts.user_list_id()
        assert caught.value.errcode == ErrCode.API_UNAUTHORIZED
        assert len(await control.calls(Endpoint.USER_LIST_ID)) == 1  # refused without a call


class TestRetries:
    async def test_45009_backs_off_at_least_the_floor(
        self, client: WeComClient, control: Control, fake_time: FakeTime
    ) -> None:
        await control.faults({"path": Endpoint.USER_GET, "errcode": 45009, "count": 2})
        assert (await client.user_get("zhangsan"))["errcode"] == 0
        assert [c["errcode"] for c in await control.calls(Endpoint.USER_GET)] == [45009, 45009, 0]
        assert len(fake_time.sleeps) == 2
        assert all(s >= FREQ_LIMIT_BACKOFF_FLOOR_S for s in fake_time.sleeps)

    async def test_5xx_is_retried_with_growing_backoff(
        self, client: WeComClient, control: Control, fake_time: FakeTime
    ) -> None:
        await control.faults({"path": Endpoint.USER_GET, "http_status": 502, "count": 2})
        assert (await client.user_get("zhangsan"))["userid"] == "zhangsan"
        assert [c["http_status"] for c in await control.calls(Endpoint.USER_GET)] == [502, 502, 200]
        first, second = fake_time.sleeps
        assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0  # base 0.5 s, doubling, jittered

    async def test_timeout_is_retried(
        self, sim: SimulatorServer, control: Control, fake_time: FakeTime
    ) -> None:
        await control.faults({"path": Endpoint.USER_GET, "latency_ms": 800, "count": 1})
        async with make_client(sim, fake_time, timeout=0.3) as wecom:
            assert (await wecom.user_get("lisi"))["userid"] == "lisi"
        assert len(await control.calls(Endpoint.USER_GET)) == 2
        assert len(fake_time.sleeps) == 1

    async def test_a_timed_out_group_send_is_not_repeated(
        self, sim: SimulatorServer, control: Control, fake_time: FakeTime
    ) -> None:
        await control.faults({"path": Endpoint.APPCHAT_SEND, "latency_ms": 800, "count": 1})
        async with make_client(sim, fake_time, timeout=0.3) as wecom:
            with pytest.raises(WeComTransportError) as caught:
                await wecom.appchat_send("wrsales2024", "text", {"content": "请回复收到"})
        assert caught.value.maybe_performed
        assert len(await control.calls(Endpoint.APPCHAT_SEND)) == 1  # WeCom may have posted it
        assert fake_time.sleeps == []

    async def test_a_busy_answer_to_a_group_send_is_retried(
        self, client: WeComClient, control: Control
    ) -> None:
        await control.faults({"path": Endpoint.APPCHAT_SEND, "errcode": -1, "count": 1})
        assert (await client.appchat_send("wrsales2024", "text", {"content": "x"}))["errcode"] == 0
        assert [c["errcode"] for c in await control.calls(Endpoint.APPCHAT_SEND)] == [-1, 0]

    async def test_other_errcodes_surface_at_once(
        self, client: WeComClient, control: Control, fake_time: FakeTime
    ) -> None:
        with pytest.raises(WeComError) as caught:
            await client.appchat_update(LUNCH, del_user_list=["lisi"])
        error = caught.value
        assert type(error) is WeComError
        assert (error.errcode, error.endpoint) == (ErrCode.NOT_OWN_CHAT, Endpoint.APPCHAT_UPDATE)
        assert len(await control.calls(Endpoint.APPCHAT_UPDATE)) == 1
        assert fake_time.sleeps == []

    async def test_transport_retries_exhausted(
        self, sim: SimulatorServer, control: Control, fake_time: FakeTime
    ) -> None:
        await control.faults({"path": Endpoint.USER_GET, "http_status": 503})
        async with make_client(sim, fake_time, max_attempts=3) as wecom:
            with pytest.raises(WeComTransportError) as caught:
                await wecom.user_get("lisi")
        assert caught.value.http_status == 503
        assert caught.value.errcode == ErrCode.SYSTEM_BUSY
        assert len(await control.calls(Endpoint.USER_GET)) == 3
        assert len(fake_time.sleeps) == 2

    async def test_retryable_errcode_exhausted(self, client: WeComClient, control: Control) -> None:
        await control.faults({"path": Endpoint.DEPARTMENT_LIST, "errcode": -1})
        with pytest.raises(WeComError) as caught:
            await client.department_list()
        assert caught.value.errcode == ErrCode.SYSTEM_BUSY
        assert not isinstance(caught.value, WeComTransportError)
        assert len(await control.calls(Endpoint.DEPARTMENT_LIST)) == 4  # max_attempts default

    async def test_connection_refused_is_a_transport_error(self, fake_time: FakeTime) -> None:
        async with WeComClient(
            base_url="http://127.0.0.1:9",
            corp_id="ww1",
            agent_id=1,
            secret="s",
            max_attempts=2,
            sleep=fake_time.sleep,
        ) as wecom:
            with pytest.raises(WeComTransportError) as caught:
                await wecom.access_token()
        assert len(fake_time.sleeps) == 1
        assert not caught.value.maybe_performed  # never reached WeCom


class TestSecrets:
    async def test_secrets_never_appear_in_errors_or_logs(
        self,
        sim: SimulatorServer,
        client: WeComClient,
        control: Control,
        fake_time: FakeTime,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        errors: list[WeComError] = []
        wrong_secret = "wrong-" + secrets.token_hex(10)
        async with make_client(sim, fake_time, secret=wrong_secret) as bad:
            with pytest.raises(WeComError) as caught:
                await bad.user_get("lisi")
        errors.append(caught.value)
        assert caught.value.errcode == ErrCode.INVALID_SECRET

        token = await client.access_token()
        unknown_key = "key-" + secrets.token_hex(10)
        with pytest.raises(WeComError) as caught:
            await client.webhook_send(unknown_key, {"msgtype": "text", "text": {"content": "x"}})
        errors.append(caught.value)
        # An errmsg that echoes credentials is masked before it reaches the exception.
        await control.faults(
            {
                "path": Endpoint.USER_GET,
                "errcode": 40058,
                "count": 1,
                "errmsg": f"bad request access_token={token} {sim.config.secret}",
            }
        )
        with pytest.raises(WeComError) as caught:
            await client.user_get("lisi")
        errors.append(caught.value)
        await control.faults({"path": Endpoint.WEBHOOK_SEND, "errcode": -1})  # busy: retried
        with pytest.raises(WeComError) as caught:
            await client.webhook_send(ROBOT_KEY, {"msgtype": "text", "text": {"content": "x"}})
        errors.append(caught.value)
        (await control.http.delete("/_sim/faults")).raise_for_status()
        await control.faults({"path": Endpoint.WEBHOOK_SEND, "http_status": 502})
        with pytest.raises(WeComTransportError) as caught:
            await client.webhook_send(ROBOT_KEY, {"msgtype": "text", "text": {"content": "x"}})
        errors.append(caught.value)

        assert "***" in str(errors[2])
        texts = [str(e) for e in errors] + [repr(e) for e in errors] + [caplog.text]
        for secret in (sim.config.secret, wrong_secret, token, unknown_key, ROBOT_KEY):
            assert not any(secret in text for text in texts), secret
        # the logs were written (so the check above means something), URLs masked
        assert "wecom.call" in caplog.text and "wecom.retry" in caplog.text
        assert "access_token=***" in caplog.text and "key=***" in caplog.text


class TestRateLimits:
    async def test_limiter_waits_for_room(self) -> None:
        fake = FakeTime()
        limiter = SlidingWindowLimiter(3, 60.0, name="t", clock=fake.clock, sleep=fake.sleep)
        for _ in range(3):
            assert await limiter.acquire("a") == 0.0
            fake.now += 10
        assert await limiter.acquire("b") == 0.0  # keys are independent
        assert await limiter.acquire("a") == pytest.approx(30.0)  # the first hit leaves at 60 s
        assert fake.sleeps == [pytest.approx(30.0)]

    async def test_webhook_client_limit_keeps_clear_of_wecom_limit(
        self, client: WeComClient, control: Control, fake_time: FakeTime
    ) -> None:
        payload = {"msgtype": "text", "text": {"content": "请回复收到", "mentioned_list": ["lisi"]}}
        for _ in range(25):
            await client.webhook_send(ROBOT_KEY, payload)
        codes = [c["errcode"] for c in await control.calls(Endpoint.WEBHOOK_SEND)]
        assert codes == [0] * 25  # the simulator answers 45009 past 20 a minute
        assert len(fake_time.sleeps) >= 1 and sum(fake_time.sleeps) >= 50

    async def test_message_send_per_member_limit(
        self, client: WeComClient, control: Control, fake_time: FakeTime
    ) -> None:
        for n in range(26):  # distinct texts: WeCom's duplicate check would drop repeats
            await client.message_send(["sunqi"], "text", {"content": f"请确认 {n}"})
        assert len(fake_time.sleeps) == 1 and fake_time.sleeps[0] > 0
        messages = (await control.state())["messages"]
        assert len(messages) == 26 and all(m["dropped"] == [] for m in messages)


class TestEndpoints:
    async def test_group_lifecycle(self, client: WeComClient, control: Control) -> None:
        chatid = await client.appchat_create(name="项目群", owner="wangwu", userlist=["wangwu", "zhaoliu"])
        await client.appchat_update(chatid, add_user_list=["zhouba"], name="项目群2")
        await client.appchat_update(chatid, del_user_list=["zhaoliu"])
        info = await client.appchat_get(chatid)
        assert (info["name"], info["userlist"]) == ("项目群2", ["wangwu", "zhouba"])
        assert await client.appchat_send(chatid, "text", {"content": "你好"}) == {
            "errcode": 0,
            "errmsg": "ok",
        }
        assert [d["name"] for d in await client.department_list(1)][:2] == ["星河贸易有限公司", "销售部"]

    async def test_message_recall_and_card_update(self, client: WeComClient, control: Control) -> None:
        card = {
            "card_type": "button_interaction",
            "main_title": {"title": "请确认群规"},
            "task_id": "t-1",
            "button_list": [{"text": "收到", "key": "ack"}],
        }
        sent = await client.message_send(["lisi"], "template_card", card)
        assert sent["msgid"] and sent["response_code"]
        answer = await client.update_template_card(
            userids=["lisi"],
            response_code=sent["response_code"],
            card={**card, "main_title": {"title": "已确认"}},
        )
        assert answer["errcode"] == 0
        await client.message_recall(sent["msgid"])
        state = await control.state()
        assert state["recalled"] == [sent["msgid"]]
        assert state["card_updates"][0]["template_card"]["main_title"] == {"title": "已确认"}

    async def test_customer_groups_and_archive(self, client: WeComClient, control: Control) -> None:
        listed = await client.groupchat_list(owner_userids=["zhangsan"])
        assert [g["chat_id"] for g in listed["group_chat_list"]] == [CUSTOMER_GROUP]
        group = await client.groupchat_get(CUSTOMER_GROUP)
        assert sorted(m["type"] for m in group["member_list"]) == [1, 1, 2]
        resp = await control.http.post(
            "/_sim/archive/messages",
            json={"messages": [{"from": "lisi", "roomid": SALES, "content": "收到"}]},
        )
        resp.raise_for_status()
        data = await client.archive_pull(seq=0, limit=10)
        assert [(d["seq"], d["message"]["text"]["content"]) for d in data["chatdata"]] == [(1, "收到")]
        assert (await client.archive_pull(seq=1))["chatdata"] == []
