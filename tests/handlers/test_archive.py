"""Chat-archive messages → records: every documented type and quirk (fixtures: DOC:91774's examples
as WxJava quotes them, tests/fixtures/wecom/archive/SOURCES.md), and the odd shapes around them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import handlers
from handlers.archive import archive_time, is_message, normalise, split_quote
from handlers.base import ARCHIVE, UnknownEvent
from policies.base import ChatMessage, MessageRecall, MessageSource
from tests.conftest import ROOT

EXAMPLES: dict[str, dict[str, Any]] = json.loads(
    (ROOT / "tests/fixtures/wecom/archive/wxjava_msgaudit_examples.json").read_text(encoding="utf-8")
)
RECEIVED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def record_of(message: dict[str, Any]) -> Any:
    """Through the registry, as the pipeline dispatches a stored archive event."""
    return handlers.dispatch({**message, "_received_at": RECEIVED}, source=ARCHIVE)


def message_of(name: str) -> ChatMessage:
    record = record_of(EXAMPLES[name])
    assert isinstance(record, ChatMessage)
    assert record.source is MessageSource.ARCHIVE
    return record


# (example, msg_type, text, links)
TABLE = [
    ("text", "text", "test", ()),
    ("image", "image", "", ()),
    ("voice", "voice", "", ()),
    ("video", "video", "", ()),
    ("emotion", "emotion", "", ()),
    ("file", "file", "资料.docx", ()),
    ("voip_doc_share", "voip_doc_share", "欢迎使用微盘.pdf.pdf", ()),
    ("card", "card", "", ()),
    ("agree", "agree", "", ()),
    ("disagree", "disagree", "", ()),
    ("location", "location", "xxx管理中心\n北京市xxx区xxx路xxx大厦x座", ()),
    (
        "link",
        "link",
        "邀请你加入群聊\n技术支持群，进入可查看详情",
        ("https://work.weixin.qq.com/wework_admin/external_room/join/exceed?vcode=xxx",),
    ),
    ("weapp", "weapp", "开始聊天前请仔细阅读服务须知事项\n客户需同意存档聊天记录\n服务须知", ()),
    ("chatrecord", "chatrecord", "群聊\ntest\ntest2", ()),
    ("collect", "collect", "这是填表title", ()),
    ("redpacket", "redpacket", "恭喜发财，大吉大利", ()),
    ("meeting", "meeting", "夕会", ()),
    ("docmsg", "docmsg", "测试&演示客户", ("https://doc.weixin.qq.com/txdoc/excel?docid=xxx",)),
    ("markdown", "markdown", "请前往系统查看，谢谢。", ()),
    ("news", "news", "service \ntest", ("http://xxx",)),
    ("calendar", "calendar", "xxx业绩复盘会", ()),
    ("mixed", "mixed", "你好[微笑]\n", ()),
    ("meeting_voice_call", "meeting_voice_call", "", ()),
]


class TestDocumentedTypes:
    @pytest.mark.parametrize(("name", "msg_type", "text", "links"), TABLE, ids=[t[0] for t in TABLE])
    def test_each_type(self, name: str, msg_type: str, text: str, links: tuple[str, ...]) -> None:
        message = message_of(name)
        assert (message.msg_type, message.text, message.links) == (msg_type, text, links)
        assert message.msg_id == EXAMPLES[name]["msgid"]
        assert message.sender == EXAMPLES[name]["from"]

    def test_msgtime_is_milliseconds(self) -> None:
        message = message_of("text")  # msgtime 1547087894783
        assert message.sent_at == datetime(2019, 1, 10, 2, 38, 14, 783000, tzinfo=UTC)

    def test_group_and_single_chats(self) -> None:
        assert message_of("markdown").chat_id == "wr0SfLCgAAgCaCPeM33UNe"
        assert message_of("text").chat_id is None  # roomid ""
        assert message_of("voip_doc_share").chat_id is None  # no roomid at all

    def test_a_recall_names_the_message_withdrawn(self) -> None:
        record = record_of(EXAMPLES["revoke"])
        assert record == MessageRecall(
            msg_id="15775510700152506326_1603875615",
            recalled_msg_id="14822339130656386894_1603875600",
            sender="kenshin",
            at=datetime.fromtimestamp(1603875615.723, UTC),
            source=MessageSource.ARCHIVE,
            chat_id=None,
        )

    def test_a_switch_record_is_not_a_message(self) -> None:
        switch = EXAMPLES["switch"]
        assert not is_message(switch)
        assert normalise(switch) is None
        record = record_of(switch)  # never stored by the pull; through the registry it is kept whole
        assert isinstance(record, UnknownEvent) and record.msg_type == "switch"
        assert record.at == datetime.fromtimestamp(1554119421.84, UTC)

    def test_mentions_stay_literal_text(self) -> None:
        message = record_of({**EXAMPLES["text"], "text": {"content": "@张三 @李四 明天开会"}})
        assert message.text == "@张三 @李四 明天开会" and message.mentions == ()


QUOTES = [
    (
        "这是一条引用/回复消息：\n“张三：\n加我微信 abc123”\n------\n@张三 好的",
        "@张三 好的",
        "加我微信 abc123",
    ),
    ('这是一条引用/回复消息：\n"张三：\n第一行\n第二行"\n------\n收到', "收到", "第一行\n第二行"),
    ("This is a quote/reply:\n“Zhang San:\nhello”\n------\nhi", "hi", "hello"),
    ("「李四：明天几点？」\n- - - - - - - - - - - - - - -\n九点", "九点", "明天几点？"),
    ('这是一条引用/回复消息："\n------\n@nick777', "@nick777", ""),  # DOC:91774's own example
    ("普通消息\n------\n不是引用", "普通消息\n------\n不是引用", None),
    ("这是一条引用/回复消息", "这是一条引用/回复消息", None),
]


class TestQuoteReplies:
    @pytest.mark.parametrize(("content", "own", "quoted"), QUOTES)
    def test_split(self, content: str, own: str, quoted: str | None) -> None:
        assert split_quote(content) == (own, quoted)
        message = record_of({**EXAMPLES["text"], "text": {"content": content}})
        assert (message.text, message.quoted_text) == (own, quoted)

    def test_the_documented_example(self) -> None:
        message = message_of("text_quote_reply")
        assert (message.text, message.quoted_text) == ("@nick777", "")


class TestCardsAndMixed:
    def test_mixed_items_are_json_strings(self) -> None:
        items = [
            {"type": "text", "content": json.dumps({"content": "看这里"})},
            {"type": "link", "content": json.dumps({"title": "优惠", "link_url": "https://x.example/a"})},
            {"type": "image", "content": json.dumps({"md5sum": "00"})},
        ]
        message = record_of({**EXAMPLES["mixed"], "mixed": {"item": items}})
        assert (message.text, message.links) == ("看这里\n优惠", ("https://x.example/a",))

    def test_a_forwarded_chat_record_keeps_its_links(self) -> None:
        items = [
            {"type": "ChatRecordLink", "content": json.dumps({"title": "t", "link_url": "https://a.example"})}
        ]
        message = record_of({**EXAMPLES["chatrecord"], "chatrecord": {"title": "记录", "item": items}})
        assert (message.text, message.links) == ("记录\nt", ("https://a.example",))

    @pytest.mark.parametrize(
        "body",
        [
            {"item": "not a list"},
            {"item": [1, None, {"type": "text", "content": "not json"}, {"type": "text", "content": "[1]"}]},
            "mixed is a string",
            None,
        ],
    )
    def test_odd_mixed_is_no_text_never_a_crash(self, body: Any) -> None:
        message = record_of({**EXAMPLES["mixed"], "mixed": body})
        assert (message.msg_type, message.text) == ("mixed", "")

    def test_a_vote_reads_its_title_and_options(self) -> None:
        vote = {"votetitle": "团建去哪", "voteitem": ["爬山", "唱歌"], "votetype": 101, "voteid": "v1"}
        message = record_of({**EXAMPLES["text"], "msgtype": "vote", "vote": vote})
        assert message.text == "团建去哪\n爬山\n唱歌"


class TestOddShapes:
    @pytest.mark.parametrize("msgtime", [None, "soon", True, 10**20])
    def test_an_unreadable_msgtime_falls_back_to_the_time_received(self, msgtime: Any) -> None:
        message = record_of({**EXAMPLES["text"], "msgtime": msgtime})
        assert message.sent_at == RECEIVED

    def test_archive_time(self) -> None:
        assert archive_time(1_700_000_000_123) == datetime.fromtimestamp(1_700_000_000.123, UTC)
        assert archive_time("1700000000000") == datetime.fromtimestamp(1_700_000_000, UTC)

    def test_a_recall_without_its_body(self) -> None:
        record = record_of({**EXAMPLES["revoke"], "revoke": None})
        assert isinstance(record, MessageRecall) and record.recalled_msg_id == ""

    def test_an_unknown_type_keeps_its_name(self) -> None:
        message = record_of(
            {**EXAMPLES["text"], "msgtype": "sphfeed", "sphfeed": {"feed_desc": "好物", "sph_name": "号"}}
        )
        assert (message.msg_type, message.text) == ("sphfeed", "好物\n号")
        message = record_of({**EXAMPLES["text"], "msgtype": "brand_new_type"})
        assert (message.msg_type, message.text) == ("brand_new_type", "")

    def test_text_that_is_not_a_string(self) -> None:
        message = record_of({**EXAMPLES["text"], "text": {"content": 42}})
        assert message.text == ""
