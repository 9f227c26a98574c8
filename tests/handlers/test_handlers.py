"""Handlers normalise each WeCom message type / event into a domain record (table-driven)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import handlers
from app.wecom.crypto import parse_xml, xml_fields
from handlers.base import AIBOT, ArchiveNotice, UnknownEvent, record_json
from policies.base import Acknowledgement, ChatMessage, MembershipChange, MembershipScope

RECEIVED = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def xml(body: str) -> dict[str, Any]:
    fields = xml_fields(parse_xml(f"<xml><ToUserName>wwcorp</ToUserName>{body}</xml>"))
    fields["_received_at"] = RECEIVED
    return fields


class TestXmlHandlers:
    def test_app_text_message(self) -> None:
        rec = handlers.dispatch(
            xml(
                "<FromUserName>zhangsan</FromUserName><CreateTime>1763712000</CreateTime>"
                "<MsgType>text</MsgType><Content><![CDATA[ 收到 ]]></Content><MsgId>42</MsgId>"
            ),
            source="app",
        )
        assert isinstance(rec, ChatMessage)
        assert (rec.msg_id, rec.sender, rec.text, rec.chat_id) == ("42", "zhangsan", " 收到 ", None)
        assert rec.sent_at == datetime.fromtimestamp(1763712000, UTC)

    @pytest.mark.parametrize("change", ["create_user", "update_user", "delete_user"])
    def test_change_contact(self, change: str) -> None:
        rec = handlers.dispatch(
            xml(
                "<FromUserName>sys</FromUserName><CreateTime>1763712000</CreateTime>"
                f"<MsgType>event</MsgType><Event>change_contact</Event><ChangeType>{change}</ChangeType>"
                "<UserID>lisi</UserID><Department>1,2</Department>"
            ),
            source="app",
        )
        assert isinstance(rec, MembershipChange)
        assert (rec.scope, rec.change, rec.user_ids) == (MembershipScope.DIRECTORY, change, ("lisi",))
        assert rec.detail == {"Department": "1,2"}

    @pytest.mark.parametrize(
        ("items", "expected"),
        [
            ("<Item>Jack</Item>", ("Jack",)),
            ("<Item>Jack</Item><Item>Rose</Item>", ("Jack", "Rose")),
            ("", ()),
        ],
    )
    def test_change_external_chat_members(self, items: str, expected: tuple[str, ...]) -> None:
        member_list = f"<MemChangeList>{items}</MemChangeList>" if items else ""
        rec = handlers.dispatch(
            xml(
                "<FromUserName>sys</FromUserName><CreateTime>1763712000</CreateTime>"
                "<MsgType>event</MsgType><Event>change_external_chat</Event><ChatId>wrOgQh</ChatId>"
                "<ChangeType>update</ChangeType><UpdateDetail>del_member</UpdateDetail>"
                f"<QuitScene>1</QuitScene><MemChangeCnt>{len(expected)}</MemChangeCnt>{member_list}"
            ),
            source="app",
        )
        assert isinstance(rec, MembershipChange)
        assert rec.scope == MembershipScope.EXTERNAL_CHAT
        assert (rec.change, rec.chat_id, rec.user_ids) == ("del_member", "wrOgQh", expected)
        assert rec.detail["QuitScene"] == "1"

    def test_msgaudit_notify(self) -> None:
        rec = handlers.dispatch(
            xml(
                "<FromUserName>sys</FromUserName><CreateTime>1763712000</CreateTime>"
                "<MsgType>event</MsgType><AgentID>2000004</AgentID><Event>msgaudit_notify</Event>"
            ),
            source="app",
        )
        assert isinstance(rec, ArchiveNotice) and rec.agent_id == "2000004"

    def test_template_card_event(self) -> None:
        rec = handlers.dispatch(
            xml(
                "<FromUserName>wangwu</FromUserName><CreateTime>1763712000</CreateTime>"
                "<MsgType>event</MsgType><Event>template_card_event</Event><EventKey>ack</EventKey>"
                "<TaskId>notice-7</TaskId><CardType>button_interaction</CardType>"
                "<ResponseCode>rc-1</ResponseCode>"
            ),
            source="app",
        )
        assert isinstance(rec, Acknowledgement)
        assert (rec.user, rec.task_id, rec.event_key, rec.response_code) == (
            "wangwu",
            "notice-7",
            "ack",
            "rc-1",
        )

    @pytest.mark.parametrize(
        "body",
        [
            "<MsgType>image</MsgType><PicUrl>http://x</PicUrl><MsgId>9</MsgId>",
            "<MsgType>event</MsgType><Event>enter_agent</Event>",
            "<Something>else</Something>",
        ],
    )
    def test_anything_else_is_kept_as_unknown(self, body: str) -> None:
        rec = handlers.dispatch(xml(body), source="app")
        assert isinstance(rec, UnknownEvent)
        assert "_received_at" not in rec.fields and rec.fields["ToUserName"] == "wwcorp"


class TestAibotHandler:
    def _msg(self, **extra: Any) -> dict[str, Any]:
        base = {
            "msgid": "m-1",
            "aibotid": "bot",
            "chatid": "wrkSFfCgAA",
            "chattype": "group",
            "from": {"userid": "zhaoliu"},
        }
        base.update(extra)
        fields: dict[str, Any] = json.loads(json.dumps(base))
        fields["_received_at"] = RECEIVED
        return fields

    def test_text(self) -> None:
        rec = handlers.dispatch(self._msg(msgtype="text", text={"content": "@warden 收到"}), source=AIBOT)
        assert isinstance(rec, ChatMessage)
        assert (rec.sender, rec.chat_id, rec.text, rec.mentions) == (
            "zhaoliu",
            "wrkSFfCgAA",
            "@warden 收到",
            ("warden",),
        )
        assert rec.sent_at == RECEIVED

    def test_mixed_and_quote(self) -> None:
        rec = handlers.dispatch(
            self._msg(
                msgtype="mixed",
                mixed={
                    "msg_item": [
                        {"msgtype": "text", "text": {"content": "@warden "}},
                        {"msgtype": "image", "image": {"url": "x"}},
                        {"msgtype": "text", "text": {"content": "看这个"}},
                    ]
                },
                quote={"msgtype": "text", "msgid": "q-9", "text": {"content": "原文"}},
            ),
            source=AIBOT,
        )
        assert isinstance(rec, ChatMessage)
        assert rec.text == "@warden 看这个" and rec.quoted_msg_id == "q-9"

    @pytest.mark.parametrize(
        ("mixed", "text"),
        [
            ({"msg_item": None}, ""),
            ({"msg_item": 5}, ""),
            ({"msg_item": 1.5}, ""),
            ({"msg_item": True}, ""),
            ({"msg_item": "@warden hi"}, ""),
            ({"msg_item": {"msgtype": "text", "text": {"content": "hi"}}}, ""),
            ({}, ""),
            ("not an object", ""),
            (None, ""),
            ({"msg_item": [None, 5, "x", [], {"msgtype": "text", "text": {"content": "ok"}}]}, "ok"),
            (
                {
                    "msg_item": [
                        {"msgtype": "text", "text": "flat"},
                        {"msgtype": "text"},
                        {"msgtype": "text", "text": {"content": None}},
                        {"msgtype": "text", "text": {"content": {"a": 1}}},
                        {"msgtype": "text", "text": {"content": "ok"}},
                    ]
                },
                "ok",
            ),
            (
                {
                    "msg_item": [
                        {
                            "msgtype": "mixed",
                            "mixed": {"msg_item": [{"msgtype": "text", "text": {"content": "nested"}}]},
                        }
                    ]
                },
                "",
            ),
        ],
    )
    def test_odd_mixed_messages_are_tolerated(self, mixed: Any, text: str) -> None:
        rec = handlers.dispatch(self._msg(msgtype="mixed", mixed=mixed), source=AIBOT)
        assert isinstance(rec, ChatMessage)
        assert rec.text == text and rec.msg_type == "mixed"

    def test_records_serialise_to_json(self) -> None:
        rec = handlers.dispatch(self._msg(msgtype="text", text={"content": "hi"}), source=AIBOT)
        data = record_json(rec)
        assert json.loads(json.dumps(data))["sent_at"] == RECEIVED.isoformat()
        assert data["source"] == "aibot"
