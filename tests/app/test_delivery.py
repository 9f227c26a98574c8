"""The simulator's sender delivering to a real service on 127.0.0.1, as WeCom does: every kind of
callback arrives, is processed into its record; WeCom's retries of a slow answer land once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import Request, Response

from app.main import create_app
from app.simulator import sender as sim
from app.simulator.sender import CallbackSender
from policies.base import MembershipChange
from tests.callbacks import sender_target, wait_for
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch, snapshot
from tests.factories import Recorder

AGENT = 1000002


class TestEveryKindArrives:
    def test_each_callback_kind_becomes_its_record(self, db_url: str, live_server_factory: Any) -> None:
        settings = make_settings(db_url)
        recorder = Recorder()
        server = live_server_factory(create_app(settings, run_worker=True, domains=[recorder.domain()]))
        sender = CallbackSender(sender_target(settings, server.url))
        xmls = [
            sim.app_text_xml(
                corp_id=CORP_ID, agent_id=AGENT, from_user="lisi", content="收到", msg_id=900001
            ),
            sim.change_contact_xml(
                corp_id=CORP_ID, change_type=sim.ContactChange.DELETE_USER, userid="wujiu"
            ),
            sim.change_external_chat_xml(
                corp_id=CORP_ID,
                chat_id="wrOgQh",
                update_detail=sim.ExternalChatChange.ADD_MEMBER,
                members=["wmExternal1", "lisi"],
                join_scene=3,
            ),
            sim.msgaudit_notify_xml(corp_id=CORP_ID, agent_id=AGENT),
            sim.template_card_event_xml(
                corp_id=CORP_ID,
                agent_id=AGENT,
                from_user="zhaoliu",
                event_key="ack",
                task_id="notice-1",
                response_code="rc",
            ),
            "<xml><ToUserName>wwtestcorp0001</ToUserName><FromUserName>lisi</FromUserName>"
            "<CreateTime>1763712000</CreateTime><MsgType>event</MsgType>"
            "<Event>enter_agent</Event></xml>",
        ]

        async def deliver() -> list[Any]:
            out: list[Any] = [await sender.send_xml(x) for x in xmls]
            out.append(
                await sender.send_aibot(
                    sim.aibot_text_json(
                        aibotid="aib", chatid="wrsales2024", from_user="zhangsan", content="@warden 收到"
                    )
                )
            )
            out.append(await sender.verify_url("5555"))
            return out

        results = asyncio.run(deliver())
        assert all(d.delivered for d in results[:-1])
        assert results[-1].passed
        wait_for(
            lambda: fetch(db_url, "SELECT count(*) FROM inbound_event WHERE status = 'processed'")[0][0] == 7
        )
        kinds = sorted(r[0] for r in fetch(db_url, "SELECT record_kind FROM inbound_event"))
        assert kinds == sorted(
            [
                "ChatMessage",
                "MembershipChange",
                "MembershipChange",
                "ArchiveNotice",
                "Acknowledgement",
                "UnknownEvent",
                "ChatMessage",
            ]
        )
        routed = recorder.records  # what the router handed the domains, one record per event
        assert sorted(type(r).__name__ for r in routed) == kinds
        changes = {r.change: r for r in routed if isinstance(r, MembershipChange)}
        assert set(changes) == {"delete_user", "add_member"}
        assert changes["delete_user"].user_ids == ("wujiu",)


class TestRetries:
    @pytest.mark.parametrize("delay", [0.6])
    def test_retries_of_a_slow_answer_are_stored_once(
        self, db_url: str, live_server_factory: Any, delay: float
    ) -> None:
        settings = make_settings(db_url)
        app = create_app(settings, run_worker=False)

        @app.middleware("http")
        async def slow(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            response = await call_next(request)  # the event is stored by now…
            await asyncio.sleep(delay)  # …but WeCom gives up waiting and retries
            return response

        server = live_server_factory(app)
        sender = CallbackSender(sender_target(settings, server.url), timeout=delay / 2)
        xml = sim.app_text_xml(corp_id=CORP_ID, agent_id=AGENT, from_user="lisi", content="1", msg_id=424242)
        delivery = asyncio.run(sender.send_xml(xml))
        assert len(delivery.attempts) == 4  # the first try and WeCom's three retries
        assert {a.error for a in delivery.attempts} == {"timeout"}
        wait_for(lambda: snapshot(db_url)[0] == 1)
        time.sleep(delay * 2)  # let the retries finish on the server side
        assert snapshot(db_url) == (1, 1, 0)
