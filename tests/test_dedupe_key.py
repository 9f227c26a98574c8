"""Unit level: the dedupe key of events without a MsgId."""

from __future__ import annotations

from app.inbox import MAX_KEY, xml_dedupe_key

JOIN = {"FromUserName": "sys", "CreateTime": "1763712000", "MsgType": "event",
        "Event": "change_external_chat", "ChatId": "wrA", "ChangeType": "update",
        "UpdateDetail": "add_member", "CurMemVer": "v2"}


def test_msgid_wins() -> None:
    assert xml_dedupe_key({"MsgId": "123", **JOIN}) == "msg:123"


def test_keys_of_events_without_curmemver_are_unchanged() -> None:
    leave = {"FromUserName": "sys", "CreateTime": "1763712000", "Event": "change_contact",
             "ChangeType": "delete_user", "UserID": "wujiu"}
    assert xml_dedupe_key(leave) == "evt:sys|1763712000|change_contact|delete_user|||wujiu||"


def test_the_same_event_has_the_same_key() -> None:
    assert xml_dedupe_key(dict(JOIN)) == xml_dedupe_key(dict(JOIN))


def test_two_member_changes_in_one_second_are_two_events() -> None:
    assert xml_dedupe_key(JOIN) != xml_dedupe_key({**JOIN, "CurMemVer": "v3"})


def test_identity_fields_tell_events_apart() -> None:
    keys = {xml_dedupe_key({**JOIN, field: "other"})
            for field in ("FromUserName", "CreateTime", "Event", "ChangeType", "ChatId")}
    assert len(keys) == 5 and xml_dedupe_key(JOIN) not in keys


def test_long_keys_are_bounded_and_still_distinct() -> None:
    a = xml_dedupe_key({**JOIN, "ChatId": "x" * 400 + "a"})
    b = xml_dedupe_key({**JOIN, "ChatId": "x" * 400 + "b"})
    assert len(a) <= MAX_KEY and len(b) <= MAX_KEY and a != b
