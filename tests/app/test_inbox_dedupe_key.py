"""Unit level: the dedupe key of events without a MsgId (the plaintext's digest), and the old-format
key still computed for the transition (it must stay exactly what earlier versions stored)."""

from __future__ import annotations

from app.inbox import MAX_KEY, InboxRecord, legacy_xml_dedupe_key, xml_dedupe_key
from app.wecom.crypto import parse_xml, xml_fields

JOIN = {
    "FromUserName": "sys",
    "CreateTime": "1763712000",
    "MsgType": "event",
    "Event": "change_external_chat",
    "ChatId": "wrA",
    "ChangeType": "update",
    "UpdateDetail": "add_member",
    "CurMemVer": "v2",
}

UPDATE_USER = (
    "<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><FromUserName><![CDATA[sys]]>"
    "</FromUserName><CreateTime>1763712000</CreateTime><MsgType><![CDATA[event]]>"
    "</MsgType><Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[update_user]]>"
    "</ChangeType><UserID><![CDATA[zhangsan]]></UserID>{change}</xml>"
)

CARD = (
    "<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>"
    "<CreateTime>1763712000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
    "<TaskId><![CDATA[{task}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
    "<AgentID>1000002</AgentID></xml>"
)


def key_of(plaintext: str) -> str:
    return InboxRecord.from_xml_fields(xml_fields(parse_xml(plaintext)), plaintext).dedupe_key


def test_msgid_wins() -> None:
    assert xml_dedupe_key({"MsgId": "123", **JOIN}, "<xml/>") == "msg:123"
    assert legacy_xml_dedupe_key({"MsgId": "123", **JOIN}) is None


def test_a_retry_repeats_the_plaintext_so_it_has_the_same_key() -> None:
    plaintext = UPDATE_USER.format(change="<Department><![CDATA[1,2]]></Department>")
    assert key_of(plaintext) == key_of(plaintext)
    assert key_of(plaintext).startswith("xml-body:") and len(key_of(plaintext)) <= MAX_KEY


def test_two_directory_changes_of_one_person_in_one_second_are_two_events() -> None:
    mobile = UPDATE_USER.format(change="<Mobile><![CDATA[13800000000]]></Mobile>")
    department = UPDATE_USER.format(change="<Department><![CDATA[1,2]]></Department>")
    assert key_of(mobile) != key_of(department)
    # What went wrong before: the old-format key is the same for both.
    assert legacy_xml_dedupe_key(xml_fields(parse_xml(mobile))) == legacy_xml_dedupe_key(
        xml_fields(parse_xml(department))
    )


def test_two_card_presses_differing_only_in_task_or_key_are_two_events() -> None:
    base = key_of(CARD.format(task="task-1", key="ack"))
    assert base != key_of(CARD.format(task="task-2", key="ack"))
    assert base != key_of(CARD.format(task="task-1", key="nack"))


# -- the old format, kept for the transition: pinned to what earlier versions stored -----------


def test_old_format_keys_are_unchanged() -> None:
    leave = {
        "FromUserName": "sys",
        "CreateTime": "1763712000",
        "Event": "change_contact",
        "ChangeType": "delete_user",
        "UserID": "wujiu",
    }
    assert legacy_xml_dedupe_key(leave) == "evt:sys|1763712000|change_contact|delete_user|||wujiu||"
    assert legacy_xml_dedupe_key(JOIN) == (
        "evt:sys|1763712000|change_external_chat|update|add_member|wrA||||CurMemVer=v2"
    )


def test_old_format_keeps_curmemver_taskid_and_eventkey_apart() -> None:
    assert legacy_xml_dedupe_key(JOIN) != legacy_xml_dedupe_key({**JOIN, "CurMemVer": "v3"})
    assert legacy_xml_dedupe_key({**JOIN, "TaskId": "a"}) != legacy_xml_dedupe_key({**JOIN, "TaskId": "b"})
    assert legacy_xml_dedupe_key({**JOIN, "EventKey": "a"}) != legacy_xml_dedupe_key(
        {**JOIN, "EventKey": "b"}
    )


def test_old_format_identity_fields_tell_events_apart() -> None:
    keys = {
        legacy_xml_dedupe_key({**JOIN, field: "other"})
        for field in ("FromUserName", "CreateTime", "Event", "ChangeType", "ChatId")
    }
    assert len(keys) == 5 and legacy_xml_dedupe_key(JOIN) not in keys


def test_old_format_long_keys_are_bounded_and_still_distinct() -> None:
    a = legacy_xml_dedupe_key({**JOIN, "ChatId": "x" * 400 + "a"})
    b = legacy_xml_dedupe_key({**JOIN, "ChatId": "x" * 400 + "b"})
    assert a and b and len(a) <= MAX_KEY and len(b) <= MAX_KEY and a != b
