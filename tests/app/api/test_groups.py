"""The groups registry through a real server and the simulated WeCom, on SQLite and PostgreSQL:
every registration form and refusal, rosters re-read, policy versions, the robot key kept secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.simulator.org import GroupMember, MemberType
from app.simulator.runner import SimulatorServer
from app.simulator.state import SimConfig
from app.wecom.codes import Endpoint
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch

APP_CHAT = "wrsales2024"  # created by the app: zhangsan (owner), lisi, zhouba, wujiu, sunqi
PEOPLES_CHAT = "wrlunch2024"  # created by a person: appchat/get answers 86008
CUSTOMER_CHAT = "wrOgQhDgAAcwMTB7YmDkbeBsgT_Kmz3Q"  # owner zhangsan, admin lisi, one external
EXTERNAL = "wmQ2vRDgAAhZk9wD2pT8xYFq1mGx_n4A"
ROBOT_KEY = "9d1f3c5a-7e2b-4f60-8a1d-robotkeysecret"


@dataclass
class Service:
    url: str
    auth: dict[str, str]
    db: str
    sim: SimulatorServer
    admin: str = "bootstrap (WARDEN_ADMIN_TOKEN)"

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self.auth, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.url + path, params=params, headers=self.auth, timeout=30)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return httpx.patch(self.url + path, json=body, headers=self.auth, timeout=30)

    def put(self, path: str, body: Any) -> httpx.Response:
        return httpx.put(self.url + path, json=body, headers=self.auth, timeout=30)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=SimConfig(corp_id=CORP_ID)) as server:
        yield server


def _service(db: str, sim: SimulatorServer, live_server_factory: Any, **overrides: Any) -> Service:
    settings = make_settings(
        db, wecom_base_url=sim.base_url, agent_id=sim.config.agent_id, secret=sim.config.secret, **overrides
    )
    server = live_server_factory(create_app(settings, run_worker=False))
    token = settings.admin_token.get_secret_value()  # type: ignore[union-attr]
    return Service(server.url, {"Authorization": f"Bearer {token}"}, db, sim)


@pytest.fixture
def svc(db_url: str, sim: SimulatorServer, live_server_factory: Any) -> Service:
    return _service(db_url, sim, live_server_factory)


def _members(svc: Service, chat_id: str) -> dict[str, dict[str, Any]]:
    r = svc.get(f"/api/v1/groups/{chat_id}/members", limit=500)
    assert r.status_code == 200, r.text
    return {m["userid"]: m for m in r.json()["items"]}


class TestRegister:
    def test_adopt_an_app_chat(self, svc: Service) -> None:
        r = svc.post("/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app", "mode": "enforce"})
        assert r.status_code == 201, r.text
        g = r.json()
        assert (g["chat_id"], g["kind"], g["mode"], g["name"], g["owner"]) == (
            APP_CHAT,
            "app",
            "enforce",
            "销售部工作群",
            "zhangsan",
        )
        assert g["member_count"] == 5 and g["policy_version"] == 1 and g["robot"] is False
        assert g["archive_room_id"] == APP_CHAT and g["registered_by"] == svc.admin
        assert {"admins", "notice_authors", "exempt", "registered_at", "purpose"} <= set(g)
        members = _members(svc, APP_CHAT)
        assert set(members) == {"zhangsan", "lisi", "zhouba", "wujiu", "sunqi"}
        assert all(m["kind"] == "internal" and m["present"] for m in members.values())
        assert svc.get(f"/api/v1/groups/{APP_CHAT}").json() == g
        policy = svc.get(f"/api/v1/groups/{APP_CHAT}/policy").json()
        assert policy["version"] == 1 and policy["author"] == svc.admin
        assert policy["document"] == svc.get("/api/v1/policies/presets").json()["items"][0]["document"]

    def test_a_customer_group_reads_owner_admins_and_members(self, svc: Service) -> None:
        r = svc.post(
            "/api/v1/groups",
            {
                "chat_id": CUSTOMER_CHAT,
                "kind": "customer",
                "mode": "advise",
                "preset": "strict",
                "exempt": ["sunqi"],
                "purpose": "售后",
            },
        )
        assert r.status_code == 201, r.text
        g = r.json()
        assert (g["owner"], g["wecom_admins"], g["mode"], g["member_count"]) == (
            "zhangsan",
            ["lisi"],
            "advise",
            3,
        )
        assert g["exempt"] == ["sunqi"] and g["purpose"] == "售后"
        members = _members(svc, CUSTOMER_CHAT)
        external = members[EXTERNAL]
        assert (external["kind"], external["join_scene"], external["display_name"]) == (
            "external",
            3,
            "华东陈总",
        )
        assert external["joined_at"] is not None
        assert members["lisi"]["invited_by"] == "zhangsan" and members["lisi"]["kind"] == "internal"
        strict = svc.get(f"/api/v1/groups/{CUSTOMER_CHAT}/policy").json()["document"]
        presets = {p["name"]: p["document"] for p in svc.get("/api/v1/policies/presets").json()["items"]}
        assert set(presets) == {"work-group", "strict", "observe-only"} and strict == presets["strict"]

    def test_an_internal_group_has_its_owner_and_no_roster_api(self, svc: Service) -> None:
        r = svc.post(
            "/api/v1/groups",
            {"chat_id": "wrpeople01", "kind": "internal", "owner": "zhaoliu", "archive_room_id": "wrRoom01"},
        )
        assert r.status_code == 201, r.text
        g = r.json()
        assert (g["mode"], g["owner"], g["roster_api"], g["member_count"]) == ("advise", "zhaoliu", False, 0)
        assert g["archive_room_id"] == "wrRoom01"
        r = svc.post("/api/v1/groups/wrpeople01/sync", {})
        assert r.status_code == 409 and "no API that lists its members" in r.json()["detail"]
        assert svc.sim.state.calls_snapshot(Endpoint.APPCHAT_GET.value) == []

    def test_create_a_group_through_the_executor_then_adopt_it(self, svc: Service) -> None:
        r = svc.post(
            "/api/v1/groups",
            {
                "kind": "app",
                "name": "项目群",
                "owner": "wangwu",
                "members": ["zhaoliu", "zhouba"],
                "purpose": "项目沟通",
            },
        )
        assert r.status_code == 201, r.text
        g = r.json()
        chat_id = g["chat_id"]
        assert chat_id in svc.sim.state.org.app_chats  # WeCom has it
        assert (g["mode"], g["owner"], g["member_count"], g["name"]) == ("enforce", "wangwu", 3, "项目群")
        (action,) = fetch(
            svc.db, "SELECT kind, status, requested_by, wecom_endpoint, wecom_errcode, result FROM action"
        )
        assert (action.kind, action.status, action.requested_by) == ("create_group", "done", svc.admin)
        assert action.wecom_endpoint == Endpoint.APPCHAT_CREATE.value and action.wecom_errcode == 0
        assert chat_id in str(action.result)
        assert all(m["joined_at"] is not None for m in _members(svc, chat_id).values())

    def test_a_create_wecom_refuses_is_recorded_failed_and_names_the_field(self, svc: Service) -> None:
        r = svc.post("/api/v1/groups", {"kind": "app", "name": "x", "owner": "wangwu", "members": ["nobody"]})
        assert r.status_code == 422 and r.json()["detail"].startswith(
            "members: WeCom appchat/create errcode 40031"
        )
        (action,) = fetch(svc.db, "SELECT status, wecom_errcode FROM action")
        assert (action.status, action.wecom_errcode) == ("failed", 40031)
        assert fetch(svc.db, "SELECT count(*) FROM chat_group")[0][0] == 0

    @pytest.mark.parametrize("kind", ["customer", "internal"])
    def test_enforce_where_wecom_cannot_remove_is_422_naming_mode(self, svc: Service, kind: str) -> None:
        r = svc.post(
            "/api/v1/groups", {"chat_id": CUSTOMER_CHAT, "kind": kind, "mode": "enforce", "owner": "x"}
        )
        assert r.status_code == 422 and r.json()["detail"].startswith("mode:")
        assert svc.sim.state.calls_snapshot(Endpoint.GROUPCHAT_GET.value) == []  # refused before WeCom

    def test_registering_twice_is_409_and_changes_nothing(self, svc: Service) -> None:
        assert svc.post("/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app"}).status_code == 201
        r = svc.post("/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app", "mode": "observe"})
        assert r.status_code == 409 and APP_CHAT in r.json()["detail"]
        assert svc.get(f"/api/v1/groups/{APP_CHAT}").json()["mode"] == "enforce"
        assert fetch(svc.db, "SELECT count(*) FROM policy_version")[0][0] == 1

    def test_wecom_86008_is_409_and_86003_is_404_with_the_errcode(self, svc: Service) -> None:
        r = svc.post("/api/v1/groups", {"chat_id": PEOPLES_CHAT, "kind": "app"})
        assert r.status_code == 409 and "errcode 86008" in r.json()["detail"]
        r = svc.post("/api/v1/groups", {"chat_id": "wrnosuchchat", "kind": "app"})
        assert r.status_code == 404 and "errcode 86003" in r.json()["detail"]
        assert fetch(svc.db, "SELECT count(*) FROM chat_group")[0][0] == 0

    def test_unknown_group_404_everywhere(self, svc: Service) -> None:
        for r in (
            svc.get("/api/v1/groups/wrnone"),
            svc.patch("/api/v1/groups/wrnone", {"mode": "observe"}),
            svc.get("/api/v1/groups/wrnone/members"),
            svc.post("/api/v1/groups/wrnone/sync", {}),
            svc.get("/api/v1/groups/wrnone/policy"),
            svc.put("/api/v1/groups/wrnone/policy", {"document": {}}),
            svc.get("/api/v1/groups/wrnone/policy/versions"),
            svc.post("/api/v1/groups/wrnone/policy/rollback", {"version": 1}),
        ):
            assert r.status_code == 404, r.request.url
            assert "wrnone" in r.json()["detail"]


class TestListAndPatch:
    def test_newest_first_paged_and_filtered(self, svc: Service) -> None:
        for chat in ("wrp1", "wrp2", "wrp3"):
            assert (
                svc.post("/api/v1/groups", {"chat_id": chat, "kind": "internal", "owner": "lisi"}).status_code
                == 201
            )
        svc.patch("/api/v1/groups/wrp2", {"mode": "observe"})
        page = svc.get("/api/v1/groups", limit=2).json()
        assert [g["chat_id"] for g in page["items"]] == ["wrp3", "wrp2"]
        assert page["counts"] == {"advise": 2, "observe": 1}
        rest = svc.get("/api/v1/groups", limit=2, before_id=page["next_before_id"]).json()
        assert [g["chat_id"] for g in rest["items"]] == ["wrp1"] and rest["next_before_id"] is None
        assert [g["chat_id"] for g in svc.get("/api/v1/groups", mode="observe").json()["items"]] == ["wrp2"]
        assert svc.get("/api/v1/groups", kind="app").json()["items"] == []
        assert svc.get("/api/v1/groups", kind="bogus").status_code == 422

    def test_patch_changes_what_is_given_and_records_the_actor(self, svc: Service) -> None:
        svc.post("/api/v1/groups", {"chat_id": CUSTOMER_CHAT, "kind": "customer"})
        r = svc.patch(
            f"/api/v1/groups/{CUSTOMER_CHAT}",
            {
                "mode": "observe",
                "admins": ["sunqi"],
                "notice_authors": ["lisi"],
                "name": "新名字",
                "archive_room_id": "wrArchiveRoom9",
            },
        )
        assert r.status_code == 200, r.text
        g = r.json()
        assert (g["mode"], g["admins"], g["notice_authors"], g["name"]) == (
            "observe",
            ["sunqi"],
            ["lisi"],
            "新名字",
        )
        assert g["exempt"] == [] and g["updated_by"] == svc.admin and g["archive_room_id"] == "wrArchiveRoom9"
        r = svc.patch(f"/api/v1/groups/{CUSTOMER_CHAT}", {"mode": "enforce"})
        assert r.status_code == 422 and r.json()["detail"].startswith("mode:")
        assert svc.get(f"/api/v1/groups/{CUSTOMER_CHAT}").json()["mode"] == "observe"
        r = svc.patch(f"/api/v1/groups/{CUSTOMER_CHAT}", {"unknown_field": 1})
        assert r.status_code == 422 and "unknown_field" in r.text

    def test_an_archive_room_taken_by_another_group_is_409(self, svc: Service) -> None:
        svc.post("/api/v1/groups", {"chat_id": "wra", "kind": "internal", "owner": "lisi"})
        svc.post("/api/v1/groups", {"chat_id": "wrb", "kind": "internal", "owner": "lisi"})
        r = svc.patch("/api/v1/groups/wrb", {"archive_room_id": "wra"})
        assert r.status_code == 409 and r.json()["detail"].startswith("archive_room_id:")
        r = svc.post(
            "/api/v1/groups", {"chat_id": "wrc", "kind": "internal", "owner": "x", "archive_room_id": "wra"}
        )
        assert r.status_code == 409


class TestRobotKey:
    def test_the_key_is_never_answered_nor_logged(
        self, svc: Service, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        answers = [
            svc.post("/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app", "robot_key": ROBOT_KEY}),
            svc.get(f"/api/v1/groups/{APP_CHAT}"),
            svc.get("/api/v1/groups"),
            svc.patch(f"/api/v1/groups/{APP_CHAT}", {"robot_key": ROBOT_KEY + "2", "mode": "observe"}),
            svc.post(f"/api/v1/groups/{APP_CHAT}/sync", {}),
            svc.get(f"/api/v1/groups/{APP_CHAT}/members"),
            svc.get("/api/v1/actions"),
            svc.patch(f"/api/v1/groups/{APP_CHAT}", {"robot_key": "x" * 300}),  # refused: not echoed
        ]
        assert answers[0].json()["robot"] is True and answers[-1].status_code == 422
        for r in answers:
            assert ROBOT_KEY not in r.text and "x" * 300 not in r.text
        # The service's own loggers at any level, everyone's at INFO and above. (The database
        # drivers' DEBUG lines carry every bound parameter; the service never enables them.)
        seen = [r for r in caplog.records if r.name.startswith("warden") or r.levelno >= logging.INFO]
        assert [r for r in seen if r.name.startswith("warden") and "groups." in r.getMessage()]
        assert not [r.getMessage() for r in seen if ROBOT_KEY[:20] in r.getMessage()]
        assert fetch(svc.db, "SELECT robot_key FROM chat_group")[0][0] == ROBOT_KEY + "2"
        r = svc.patch(f"/api/v1/groups/{APP_CHAT}", {"robot_key": None})
        assert r.json()["robot"] is False


class TestRoster:
    def test_sync_marks_leavers_and_newcomers_and_records_each_change(self, svc: Service) -> None:
        svc.post("/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app"})
        chat = svc.sim.state.org.app_chats[APP_CHAT]
        chat.members = [m for m in chat.members if m != "wujiu"] + ["wangwu"]
        r = svc.post(f"/api/v1/groups/{APP_CHAT}/sync", {})
        assert r.status_code == 200, r.text
        assert (r.json()["joined"], r.json()["left"]) == (["wangwu"], ["wujiu"])
        assert r.json()["group"]["member_count"] == 5
        members = _members(svc, APP_CHAT)
        assert members["wujiu"]["present"] is False and members["wujiu"]["left_at"] is not None
        assert members["wangwu"]["present"] is True and members["wangwu"]["joined_at"] is not None
        assert members["lisi"]["joined_at"] is None  # there before we looked: WeCom does not say since when
        gone = svc.get(f"/api/v1/groups/{APP_CHAT}/members", present="false").json()
        assert [m["userid"] for m in gone["items"]] == ["wujiu"] and gone["counts"] == {
            "present": 5,
            "left": 1,
        }
        changes = fetch(
            svc.db, "SELECT userid, change, source, actor FROM roster_change WHERE source = 'sync'"
        )
        assert sorted(tuple(c) for c in changes) == [
            ("wangwu", "joined", "sync", svc.admin),
            ("wujiu", "left", "sync", svc.admin),
        ]
        # Back again: present once more, a new join recorded.
        chat.members.append("wujiu")
        assert svc.post(f"/api/v1/groups/{APP_CHAT}/sync", {}).json()["joined"] == ["wujiu"]
        assert _members(svc, APP_CHAT)["wujiu"]["present"] is True

    def test_a_customer_groups_owner_admins_and_members_are_re_read(self, svc: Service) -> None:
        svc.post("/api/v1/groups", {"chat_id": CUSTOMER_CHAT, "kind": "customer"})
        group = svc.sim.state.org.customer_groups[CUSTOMER_CHAT]
        group.admins = []
        group.members = [m for m in group.members if m.userid != EXTERNAL] + [
            GroupMember(
                "wmNEWcustomer", MemberType.EXTERNAL, join_time=1_800_000_000, join_scene=2, nickname="新客"
            )
        ]
        body = svc.post(f"/api/v1/groups/{CUSTOMER_CHAT}/sync", {}).json()
        assert (body["joined"], body["left"], body["group"]["wecom_admins"]) == (
            ["wmNEWcustomer"],
            [EXTERNAL],
            [],
        )
        new = _members(svc, CUSTOMER_CHAT)["wmNEWcustomer"]
        assert new["joined_at"].startswith("2027-01-15T08:00:00") and new["display_name"] == "新客"

    def test_a_group_wecom_no_longer_knows_answers_404_and_keeps_the_roster(self, svc: Service) -> None:
        svc.post("/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app"})
        del svc.sim.state.org.app_chats[APP_CHAT]
        r = svc.post(f"/api/v1/groups/{APP_CHAT}/sync", {})
        assert r.status_code == 404 and "errcode 86003" in r.json()["detail"]
        assert len([m for m in _members(svc, APP_CHAT).values() if m["present"]]) == 5


class TestPolicyVersions:
    def test_put_versions_and_rollback(self, svc: Service) -> None:
        svc.post("/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app"})
        base = f"/api/v1/groups/{APP_CHAT}/policy"
        v1 = svc.get(base).json()["document"]
        v2_doc = {**v1, "C6": {"enabled": True, "max_chars": 300}}
        r = svc.put(base, {"document": v2_doc})
        assert r.status_code == 200, r.text
        assert (r.json()["version"], r.json()["author"], r.json()["document"]) == (2, svc.admin, v2_doc)
        bad = svc.put(base, {"document": {**v2_doc, "C7": {"enabled": "yes"}}})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("document.C7.enabled")
        assert svc.put(base, {"document": {"nonsense": {}}}).json()["detail"].startswith("document.nonsense")
        assert svc.get(base).json()["version"] == 2  # the old version stays active
        r = svc.post(base + "/rollback", {"version": 1})
        assert r.status_code == 201, r.text
        assert (r.json()["version"], r.json()["rolled_back_from"], r.json()["document"]) == (3, 1, v1)
        assert svc.get(f"/api/v1/groups/{APP_CHAT}").json()["policy_version"] == 3
        versions = svc.get(base + "/versions", limit=2).json()
        assert [v["version"] for v in versions["items"]] == [3, 2]
        assert [v["active"] for v in versions["items"]] == [True, False]
        older = svc.get(base + "/versions", before_id=versions["next_before_id"]).json()
        assert [v["version"] for v in older["items"]] == [1]
        assert svc.post(base + "/rollback", {"version": 9}).status_code == 404
        assert svc.post(base + "/rollback", {"version": 0}).status_code == 422

    def test_an_unknown_preset_is_422_naming_preset(self, svc: Service) -> None:
        r = svc.post("/api/v1/groups", {"chat_id": APP_CHAT, "kind": "app", "preset": "lenient"})
        assert r.status_code == 422 and r.json()["detail"].startswith("preset:")
        assert fetch(svc.db, "SELECT count(*) FROM chat_group")[0][0] == 0


class TestCreateUnderDryRun:
    def test_nothing_is_created_and_the_answer_says_so(
        self, sqlite_url: str, sim: SimulatorServer, live_server_factory: Any
    ) -> None:
        svc = _service(sqlite_url, sim, live_server_factory, dry_run=True)
        before = set(sim.state.org.app_chats)
        r = svc.post(
            "/api/v1/groups", {"kind": "app", "name": "项目群", "owner": "wangwu", "members": ["zhaoliu"]}
        )
        assert r.status_code == 409 and "WARDEN_DRY_RUN" in r.json()["detail"]
        assert set(sim.state.org.app_chats) == before
        assert [tuple(a) for a in fetch(sqlite_url, "SELECT kind, status FROM action")] == [
            ("create_group", "dry_run")
        ]
