"""The archive through a live service and the real simulator: a msgaudit_notify callback pulls the
new messages, each becomes an inbound event the pipeline normalises into a ChatMessage (or a
MessageRecall) for the domain services; a lost notice is made good by the poll."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.archive import DOMAIN as ARCHIVE_DOMAIN
from app.archive.pull import ARCHIVE_PULL, PULL_KEY
from app.main import create_app
from app.simulator.runner import SimulatorServer
from app.simulator.state import SimConfig
from policies.base import ChatMessage, MessageRecall, MessageSource
from tests.callbacks import sender_target, wait_for
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch
from tests.factories import Recorder


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=SimConfig(corp_id=CORP_ID)) as server:
        yield server


def start_service(sim: SimulatorServer, db: str, live_server_factory: Any, **overrides: Any) -> Recorder:
    settings = make_settings(
        db,
        wecom_base_url=sim.base_url,
        agent_id=sim.config.agent_id,
        secret=sim.config.secret,
        archive_source="simulator",
        **overrides,
    )
    recorder = Recorder()
    server = live_server_factory(
        create_app(settings, run_worker=True, domains=[ARCHIVE_DOMAIN, recorder.domain()])
    )
    sim.set_callback_target(sender_target(settings, server.url))
    return recorder


def post_archive(sim: SimulatorServer, messages: list[dict[str, Any]], *, notify: bool) -> None:
    response = httpx.post(
        f"{sim.base_url}/_sim/archive/messages", json={"messages": messages, "notify": notify}
    )
    assert response.status_code == 200, response.text
    if notify:
        assert response.json()["delivery"]["delivered"]


def archive_events(db: str) -> list[Any]:
    return fetch(db, "SELECT dedupe_key, status, record_kind FROM inbound_event WHERE source = 'archive'")


def cursor(db: str) -> int:
    rows = fetch(db, "SELECT seq FROM archive_cursor")
    return int(rows[0][0]) if rows else -1


class TestLive:
    def test_a_notice_pulls_the_new_messages_into_chat_messages(
        self, db_url: str, live_server_factory: Any, sim: SimulatorServer
    ) -> None:
        recorder = start_service(
            sim, db_url, live_server_factory, archive_start="earliest", archive_poll_s=3600
        )
        wait_for(lambda: cursor(db_url) == 0)  # the start-up pull made the cursor
        post_archive(
            sim,
            [
                {"from": "zhangsan", "roomid": "wrGroup1", "content": "加我微信 abc123"},
                {"from": "lisi", "roomid": "wrGroup1", "content": "@张三 收到"},
                {
                    "from": "lisi",
                    "roomid": "wrGroup1",
                    "msgtype": "revoke",
                    "action": "recall",
                    "msgid": "r1",
                    "extra": {"revoke": {"pre_msgid": "m-earlier"}},
                },
            ],
            notify=True,
        )
        wait_for(lambda: sum(e.status == "processed" for e in archive_events(db_url)) == 3)
        assert cursor(db_url) == 3
        chats = [r for r in recorder.records if isinstance(r, ChatMessage)]
        assert [(m.sender, m.chat_id, m.text, m.source) for m in chats] == [
            ("zhangsan", "wrGroup1", "加我微信 abc123", MessageSource.ARCHIVE),
            ("lisi", "wrGroup1", "@张三 收到", MessageSource.ARCHIVE),
        ]
        (recall,) = [r for r in recorder.records if isinstance(r, MessageRecall)]
        assert (recall.recalled_msg_id, recall.chat_id) == ("m-earlier", "wrGroup1")
        # another notice with nothing new: nothing stored twice; one pull stays queued (the poll)
        httpx.post(
            f"{sim.base_url}/_sim/clock/advance", json={"seconds": 20}
        ).raise_for_status()  # ≥15 s apart
        post_archive(sim, [], notify=True)
        wait_for(
            lambda: (
                fetch(db_url, "SELECT count(*) FROM job WHERE kind = :k AND status = 'done'", k=ARCHIVE_PULL)[
                    0
                ][0]
                >= 3
            )
        )
        assert len(archive_events(db_url)) == 3
        queued = fetch(db_url, "SELECT key FROM job WHERE kind = :k AND status = 'queued'", k=ARCHIVE_PULL)
        assert [q.key for q in queued] == [PULL_KEY]

    def test_a_lost_notice_is_made_good_by_the_poll(
        self, sqlite_url: str, live_server_factory: Any, sim: SimulatorServer
    ) -> None:
        start_service(sim, sqlite_url, live_server_factory, archive_start="earliest", archive_poll_s=1)
        post_archive(sim, [{"from": "wangwu", "roomid": "wrGroup2", "content": "没人通知我"}], notify=False)
        wait_for(lambda: [e.status for e in archive_events(sqlite_url)] == ["processed"])
        assert cursor(sqlite_url) == 1
