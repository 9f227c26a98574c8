"""Content rules end to end, through the simulator's chat archive and a live service, on SQLite and
PostgreSQL: nothing on the service's side is scripted. An ad twice in an enforced group → a
warning, then removal with the group notice and the appeal DM; in an advised group → the owner
advised and nobody removed; a post in quiet hours → a private reminder and no strike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.main import create_app
from app.simulator import sender as sim
from app.simulator.runner import SimulatorServer
from app.simulator.sender import CallbackSender, CallbackTarget
from app.simulator.state import SimConfig
from tests.callbacks import sender_target, wait_for
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch

APP_CHAT = "wrsales2024"  # created by the app: owner zhangsan; lisi, zhouba, wujiu, sunqi
TECH_CHAT = "wrtech2024"  # created by the app: owner wangwu; zhaoliu, zhouba
CUSTOMER_CHAT = "wrOgQhDgAAcwMTB7YmDkbeBsgT_Kmz3Q"  # owner zhangsan, admin lisi, one customer
CUSTOMER = "wmQ2vRDgAAhZk9wD2pT8xYFq1mGx_n4A"
AD = "加 薇 信 ab12345 领取优惠"  # an evaded contact invitation: a C1 ad on its own
WORK = "明天上午9点开周会，请准时参加"


@dataclass
class World:
    url: str
    auth: dict[str, str]
    db: str
    sim: SimulatorServer
    target: CallbackTarget

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, self.url + path, json=body, headers=self.auth, timeout=30)

    def archive(self, *messages: dict[str, Any]) -> None:
        r = httpx.post(
            f"{self.sim.base_url}/_sim/archive/messages", json={"messages": list(messages), "notify": True}
        )
        assert r.status_code == 200, r.text
        # WeCom sends at most one notice per 15 s: keep the simulator's clock honest.
        httpx.post(f"{self.sim.base_url}/_sim/clock/advance", json={"seconds": 16}).raise_for_status()

    def judged(self) -> int:
        return int(fetch(self.db, "SELECT count(*) FROM judged_message")[0][0])

    def sent(self) -> list[dict[str, Any]]:
        return list(self.sim.state.snapshot()["messages"])

    def members(self, chat: str) -> list[str]:
        return list(self.sim.state.snapshot()["app_chats"][chat]["members"])

    def quiet_hours(self, chat: str, window: dict[str, str] | None) -> None:
        """Give the group quiet hours (C7) of its own: None for none."""
        r = self.api("PUT", f"/api/v1/groups/{chat}/policy", {"document": {"C7": {"quiet_hours": window}}})
        assert r.status_code == 200, r.text

    def settle(self) -> None:
        """Every planned action executed (done, failed or dry-run)."""
        wait_for(lambda: not fetch(self.db, "SELECT id FROM action WHERE status IN ('planned', 'executing')"))


@pytest.fixture
def world(db_url: str, live_server_factory: Any) -> Iterator[World]:
    with SimulatorServer(config=SimConfig(corp_id=CORP_ID)) as sim:
        settings = make_settings(
            db_url,
            wecom_base_url=sim.base_url,
            agent_id=sim.config.agent_id,
            secret=sim.config.secret,
            archive_source="simulator",
            archive_start="earliest",
            archive_poll_s=3600,
        )
        server = live_server_factory(create_app(settings, run_worker=True))
        target = sender_target(settings, server.url)
        sim.set_callback_target(target)
        token = settings.admin_token.get_secret_value()  # type: ignore[union-attr]
        world = World(server.url, {"Authorization": f"Bearer {token}"}, db_url, sim, target)
        assert world.api("POST", "/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app"}).status_code == 201
        r = world.api("POST", "/api/v1/groups", {"chat_id": CUSTOMER_CHAT, "kind": "customer"})
        assert r.status_code == 201, r.text
        yield world


def _params(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str) else value)


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _daytime_ms() -> int:
    """A moment after registration that is outside quiet hours (10:00 tomorrow, Shanghai)."""
    tz = ZoneInfo("Asia/Shanghai")
    local = (datetime.now(tz) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    return int(local.timestamp() * 1000)


def _window_around_now(tz: ZoneInfo) -> tuple[dict[str, str], datetime]:
    """Quiet hours from an hour ago to an hour ahead (local), and when they end."""
    now = datetime.now(tz)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}, end.replace(
        second=0, microsecond=0
    )


class TestEnforcedGroup:
    def test_an_ad_twice_warns_then_removes_with_notice_and_appeal(self, world: World) -> None:
        world.quiet_hours(APP_CHAT, None)  # the group notice goes out at once
        at = _daytime_ms()
        world.archive({"from": "lisi", "roomid": APP_CHAT, "content": AD, "msgtime": at})
        wait_for(lambda: world.judged() == 1)
        world.settle()
        [warning] = [m for m in world.sent() if m["kind"] == "message"]
        assert warning["touser"] == ["lisi"]
        text = warning["payload"]["text"]["content"]
        assert "C1" in text and "请自行撤回" in text and "薇" in text
        assert "lisi" in world.members(APP_CHAT)

        world.archive({"from": "lisi", "roomid": APP_CHAT, "content": AD, "msgtime": at + 60_000})
        wait_for(lambda: world.judged() == 2)
        world.settle()
        assert "lisi" not in world.members(APP_CHAT)
        [notice] = [m for m in world.sent() if m["kind"] == "appchat"]
        assert notice["chatid"] == APP_CHAT and "C1" in notice["payload"]["text"]["content"]
        dms = [m for m in world.sent() if m["kind"] == "message"]
        assert len(dms) == 2 and "申诉" in dms[1]["payload"]["text"]["content"]

        violations = world.api("GET", "/api/v1/violations?member=lisi").json()["items"]
        assert [(v["rule_id"], v["verdict"], v["offence"]) for v in violations] == [
            ("C1", "remove", 2),
            ("C1", "warn", 1),
        ]
        assert all(v["actions"] for v in violations)
        strikes = world.api("GET", "/api/v1/strikes?member=lisi").json()["items"]
        assert [s["category"] for s in strikes] == ["C1", "C1"] and all(s["active"] for s in strikes)

        # lisi does what the warning asked: withdraws the first message. The record shows it.
        world.archive(
            {
                "from": "lisi",
                "roomid": APP_CHAT,
                "msgtype": "revoke",
                "action": "recall",
                "extra": {"revoke": {"pre_msgid": violations[1]["message_id"]}},
            }
        )
        wait_for(
            lambda: world.api("GET", "/api/v1/violations?member=lisi").json()["items"][1]["withdrawn_at"]
        )
        assert world.api("GET", "/api/v1/violations?member=lisi").json()["items"][0]["withdrawn_at"] is None

    def test_everyday_work_talk_is_judged_and_left_alone(self, world: World) -> None:
        world.archive({"from": "zhouba", "roomid": APP_CHAT, "content": WORK, "msgtime": _daytime_ms()})
        wait_for(lambda: world.judged() == 1)
        [row] = fetch(world.db, "SELECT verdict, checks FROM judged_message")
        assert row.verdict == "allow" and "ad-keywords" in str(row.checks)
        assert world.api("GET", "/api/v1/violations").json()["items"] == []
        assert world.sent() == []

    def test_a_message_from_before_registration_is_recorded_never_sanctioned(self, world: World) -> None:
        world.quiet_hours(APP_CHAT, None)
        earlier = int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1000)
        world.archive({"from": "lisi", "roomid": APP_CHAT, "content": AD, "msgtime": earlier})
        wait_for(lambda: world.judged() == 1)
        world.settle()
        assert world.sent() == [] and world.api("GET", "/api/v1/strikes").json()["items"] == []
        [v] = world.api("GET", "/api/v1/violations").json()["items"]
        assert v["rule_id"] == "C1" and v["actions"] == [] and "text" not in v
        detail = world.api("GET", f"/api/v1/violations/{v['id']}").json()
        assert detail["text"] == AD and detail["matched"] == v["matched"]
        assert world.api("GET", "/api/v1/violations/999999").status_code == 404


class TestAdvisedGroup:
    def test_an_ad_in_a_customer_group_advises_the_owner_and_removes_nobody(self, world: World) -> None:
        at = _daytime_ms()
        for i in range(2):
            world.archive(
                {"from": CUSTOMER, "roomid": CUSTOMER_CHAT, "content": AD, "msgtime": at + i * 60_000}
            )
            wait_for(lambda n=i + 1: world.judged() == n)  # type: ignore[misc]
        world.settle()
        calls = [c["path"] for c in world.sim.state.calls_snapshot()]
        assert not any("appchat/update" in p for p in calls)
        # The customer cannot get app messages; the owner and the admin are told, once.
        [advice] = world.sent()
        planned = fetch(world.db, "SELECT params FROM action WHERE kind = 'send_private_message'")
        assert all(CUSTOMER not in _params(row.params)["touser"] for row in planned)  # never even planned
        assert (
            sorted(advice["touser"]) == ["lisi", "zhangsan"] and "C1" in advice["payload"]["text"]["content"]
        )
        [second, first] = world.api("GET", f"/api/v1/violations?chat_id={CUSTOMER_CHAT}").json()["items"]
        assert (first["verdict"], second["verdict"]) == ("warn", "advise")
        assert second["status"] == "open"  # until an admin says it was handled


class TestQuietHours:
    def test_group_posts_wait_for_the_end_of_quiet_hours_and_the_removal_does_not(self, world: World) -> None:
        tz = ZoneInfo("Asia/Shanghai")
        window, end = _window_around_now(tz)
        world.quiet_hours(APP_CHAT, window)
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        for i in range(2):
            world.archive({"from": "lisi", "roomid": APP_CHAT, "content": AD, "msgtime": now_ms + i * 1000})
            wait_for(lambda n=i + 1: world.judged() == n)  # type: ignore[misc]
        wait_for(lambda: "lisi" not in world.members(APP_CHAT))
        assert not [m for m in world.sent() if m["kind"] == "appchat"]
        [row] = fetch(
            world.db,
            "SELECT a.status, j.due_at FROM action a JOIN job j ON j.kind = 'execute_action' "
            "AND CAST(j.payload AS TEXT) LIKE '%' || a.id || '%' WHERE a.kind = 'send_group_message'",
        )
        assert row.status == "planned"
        assert abs(_aware(row.due_at) - end.astimezone(UTC)) < timedelta(minutes=1)

    def test_a_post_in_quiet_hours_is_reminded_privately_without_a_strike(self, world: World) -> None:
        tz = ZoneInfo("Asia/Shanghai")
        late = (datetime.now(tz) + timedelta(days=1)).replace(hour=23, minute=5, second=0, microsecond=0)
        world.archive(
            {"from": "zhouba", "roomid": APP_CHAT, "content": WORK, "msgtime": int(late.timestamp() * 1000)}
        )
        wait_for(lambda: world.judged() == 1)
        world.settle()
        [reminder] = world.sent()
        assert reminder["kind"] == "message" and reminder["touser"] == ["zhouba"]
        assert "C7" in reminder["payload"]["text"]["content"]
        assert world.api("GET", "/api/v1/strikes").json()["items"] == []


class TestAcrossGroupsAndSources:
    def test_strikes_count_across_groups(self, world: World) -> None:
        """zhouba is in both app groups: a first ad in one and a second in the other removes him
        from the second (strikes are per member and category, not per group)."""
        assert world.api("POST", "/api/v1/groups", {"chat_id": TECH_CHAT, "kind": "app"}).status_code == 201
        for chat in (APP_CHAT, TECH_CHAT):
            world.quiet_hours(chat, None)
        at = _daytime_ms()
        world.archive({"from": "zhouba", "roomid": APP_CHAT, "content": AD, "msgtime": at})
        wait_for(lambda: world.judged() == 1)
        world.archive({"from": "zhouba", "roomid": TECH_CHAT, "content": AD, "msgtime": at + 60_000})
        wait_for(lambda: world.judged() == 2)
        world.settle()
        assert "zhouba" in world.members(APP_CHAT) and "zhouba" not in world.members(TECH_CHAT)

    def test_the_same_words_through_the_bot_and_the_archive_are_judged_once(self, world: World) -> None:
        world.quiet_hours(APP_CHAT, None)
        words = f"@小助手 {AD}"
        sender = CallbackSender(world.target)
        delivery = asyncio.run(
            sender.send_aibot(
                sim.aibot_text_json(aibotid="aib", chatid=APP_CHAT, from_user="lisi", content=words)
            )
        )
        assert delivery.delivered
        wait_for(lambda: world.judged() == 1)
        world.archive({"from": "lisi", "roomid": APP_CHAT, "content": words})
        wait_for(
            lambda: (
                fetch(world.db, "SELECT count(*) FROM inbound_event WHERE status = 'processed'")[0][0] >= 2
            )
        )
        world.settle()
        assert world.judged() == 1
        [violation] = world.api("GET", "/api/v1/violations").json()["items"]
        assert violation["offence"] == 1
        assert len([m for m in world.sent() if m["kind"] == "message"]) == 1


class TestRobot:
    def test_a_warning_also_goes_to_the_group_through_its_robot_with_the_words_masked(
        self, world: World
    ) -> None:
        key = world.sim.state.org.app_chats[APP_CHAT].robot_key
        r = world.api("PATCH", f"/api/v1/groups/{APP_CHAT}", {"robot_key": key})
        assert r.status_code == 200 and r.json()["robot"] is True
        world.quiet_hours(APP_CHAT, None)
        world.archive({"from": "lisi", "roomid": APP_CHAT, "content": AD, "msgtime": _daytime_ms()})
        wait_for(lambda: world.judged() == 1)
        world.settle()
        [robot] = [m for m in world.sent() if m["kind"] == "webhook"]
        text = robot["payload"]["text"]["content"]
        assert "C1" in text and "ab12345" not in text and "*" in text


class TestStrikeExpiry:
    def test_an_expired_strike_no_longer_climbs_the_ladder(self, world: World) -> None:
        r = world.api(
            "PUT",
            f"/api/v1/groups/{APP_CHAT}/policy",
            {"document": {"strike_ttl_s": 60, "C7": {"quiet_hours": None}}},
        )
        assert r.status_code == 200, r.text
        at = _daytime_ms()
        world.archive({"from": "lisi", "roomid": APP_CHAT, "content": AD, "msgtime": at})
        wait_for(lambda: world.judged() == 1)
        # Two minutes later the first strike has expired: this is a first offence again.
        world.archive({"from": "lisi", "roomid": APP_CHAT, "content": AD, "msgtime": at + 120_000})
        wait_for(lambda: world.judged() == 2)
        world.settle()
        assert "lisi" in world.members(APP_CHAT)
        violations = world.api("GET", "/api/v1/violations?member=lisi").json()["items"]
        assert [(v["verdict"], v["offence"]) for v in violations] == [("warn", 1), ("warn", 1)]
        strikes = world.api("GET", "/api/v1/strikes?member=lisi").json()["items"]
        assert len(strikes) == 2  # both on record; whether one counts is decided at each message's time
