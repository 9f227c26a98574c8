"""Every real payload in tests/fixtures/wecom (see SOURCES.md there) through a live service: sent as
WeCom sends it, stored once (also when WeCom retries it), normalised into the record it should be."""

from __future__ import annotations

from typing import Any

import pytest

from app.main import create_app
from policies.base import Acknowledgement, ChatMessage, MembershipChange
from tests.callbacks import Client, wait_for
from tests.conftest import ROOT, make_settings
from tests.dbutil import fetch
from tests.factories import Recorder

FIXTURES = ROOT / "tests" / "fixtures" / "wecom" / "callbacks"

# file → the record it becomes (UnknownEvent: kept whole for later issues, never dropped).
EXPECTED = {
    "wxjava_text_all_fields.xml": "ChatMessage",
    "wxjava_event_pic_weixin.xml": "UnknownEvent",
    "wxjava_change_contact_update_user_extattr.xml": "MembershipChange",
    "wxjava_event_taskcard_click.xml": "UnknownEvent",
    "wxjava_change_external_contact_add.xml": "UnknownEvent",
    "wxjava_change_external_contact_del.xml": "UnknownEvent",
    "wxjava_change_contact_update_user_new_userid.xml": "MembershipChange",
    "wxjava_template_card_event_selected_items.xml": "Acknowledgement",
    "wxjava_event_upload_media_job_finish.xml": "UnknownEvent",
    "wxjava_text_string_msgid.xml": "ChatMessage",
    "wxjava_text_intelligent_robot.xml": "ChatMessage",
    "wxjava_change_external_chat_add_member.xml": "MembershipChange",
    "wxjava_msgaudit_notify.xml": "ArchiveNotice",
    "goworkwx_text.xml": "ChatMessage",
    "goworkwx_change_external_contact_edit.xml": "UnknownEvent",
    "goworkwx_change_contact_create_user.xml": "MembershipChange",
}


def test_every_fixture_is_listed_with_its_source() -> None:
    files = {p.name for p in FIXTURES.glob("*.xml")}
    assert files == set(EXPECTED)
    sources = (FIXTURES.parent / "SOURCES.md").read_text(encoding="utf-8")
    assert all(f"callbacks/{name}" in sources for name in files)


@pytest.fixture
def service(db_url: str, live_server_factory: Any) -> tuple[Client, str, Recorder]:
    recorder = Recorder()
    settings = make_settings(db_url)
    server = live_server_factory(create_app(settings, run_worker=True, domains=[recorder.domain()]))
    return Client(settings, server.url), db_url, recorder


def test_real_callbacks_are_stored_once_and_normalised(service: tuple[Client, str, Recorder]) -> None:
    client, db, recorder = service
    for name in sorted(EXPECTED):
        plaintext = (FIXTURES / name).read_text(encoding="utf-8")
        params, body = client.signed(plaintext)
        for _ in range(2):  # the delivery and WeCom's retry of it
            r = client.post(params, body)
            assert (r.status_code, r.content) == (200, b""), name
    wait_for(
        lambda: (
            fetch(db, "SELECT count(*) FROM inbound_event WHERE status <> 'received'")[0][0] == len(EXPECTED)
        )
    )
    rows = fetch(db, "SELECT status, record_kind FROM inbound_event ORDER BY id")
    assert [tuple(r) for r in rows] == [("processed", EXPECTED[n]) for n in sorted(EXPECTED)]
    routed = recorder.records
    assert len(routed) == len(EXPECTED)  # each once, retries included
    texts = {m.msg_id: m.text for m in routed if isinstance(m, ChatMessage)}
    assert texts["CAIQg/PKxgYY2sC9tpuAgAMg9/zKaw=="] == "this is a test"  # a string MsgId
    assert texts["msg123456"] == "你好，智能机器人"
    changes = [c for c in routed if isinstance(c, MembershipChange)]
    assert {c.change for c in changes} >= {"update_user", "create_user", "add_member"}
    (ack,) = [a for a in routed if isinstance(a, Acknowledgement)]
    assert (ack.user, ack.task_id, ack.event_key, ack.response_code) == (
        "FromUser",
        "taskid111",
        "key111",
        "ResponseCode",
    )


def test_a_suite_callback_without_msgtype_is_refused(service: tuple[Client, str, Recorder]) -> None:
    """Third-party (suite) forms never reach a self-built app (WECOM.md correction 12)."""
    client, db, _ = service
    suite = (
        "<xml><SuiteId><![CDATA[ww4asffe99e54c0f4c]]></SuiteId><AuthCorpId><![CDATA["
        "wxf8b4f85f3a794e77]]></AuthCorpId><InfoType><![CDATA[change_external_chat]]>"
        "</InfoType><TimeStamp>1403610513</TimeStamp><ChatId><![CDATA[CHAT_ID]]></ChatId>"
        "<ChangeType><![CDATA[create]]></ChangeType></xml>"
    )
    params, body = client.signed(suite)
    r = client.post(params, body)
    assert 400 <= r.status_code < 500
    assert fetch(db, "SELECT count(*) FROM inbound_event")[0][0] == 0
