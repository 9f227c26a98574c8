"""The groups domain's daily roster job and the functions other domains call, on SQLite and
PostgreSQL with the simulated WeCom."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import make_engine, make_sessionmaker, session_scope
from app.groups import DOMAIN, ROSTER_SYNC_KIND, service
from app.groups.schemas import GroupIn
from app.groups.service import GroupsService
from app.jobs import ClaimedJob
from app.models import GroupKind, Job, table_of
from app.simulator.runner import SimulatorServer
from app.simulator.state import FaultRule, SimConfig
from app.tasks import DomainDeps, collect, installed_domains
from app.wecom.client import WeComClient
from app.wecom.codes import Endpoint, ErrCode
from tests.conftest import CORP_ID, make_settings

NOW = datetime(2030, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=SimConfig(corp_id=CORP_ID)) as server:
        yield server


@pytest.fixture
async def wecom(sim: SimulatorServer) -> AsyncIterator[WeComClient]:
    client = WeComClient(
        base_url=sim.base_url,
        corp_id=CORP_ID,
        agent_id=sim.config.agent_id,
        secret=sim.config.secret,
        max_attempts=1,
    )
    yield client
    await client.aclose()


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def _job(day: str) -> ClaimedJob:
    payload = {"local_date": day}
    return ClaimedJob(id=1, kind=ROSTER_SYNC_KIND, payload=payload, attempts=1, max_attempts=3, claim="t")


async def _register(groups: GroupsService, **body: Any) -> None:
    await groups.register(GroupIn(**body), "alice")


class TestDailyRosterJob:
    async def test_it_re_reads_every_roster_and_queues_tomorrow(
        self, db_url: str, sim: SimulatorServer, wecom: WeComClient, sessions: Any
    ) -> None:
        assert DOMAIN in installed_domains()
        groups = GroupsService(sessions, wecom, clock=lambda: NOW)
        await _register(groups, chat_id="wrsales2024", kind="app")
        await _register(groups, chat_id="wrtech2024", kind="app", mode="observe")
        await _register(groups, chat_id="wrpeople", kind="internal", owner="lisi")
        sim.state.org.app_chats["wrsales2024"].members.remove("wujiu")
        del sim.state.org.app_chats["wrtech2024"]  # gone in WeCom: logged, the others still read
        deps = DomainDeps(
            settings=make_settings(db_url),
            sessions=sessions,
            wecom=wecom,
            planner=None,  # type: ignore[arg-type]
            clock=lambda: NOW,
        )
        registry = collect([DOMAIN], deps)
        await registry.jobs[ROSTER_SYNC_KIND](_job("2030-03-01"))
        async with session_scope(sessions) as s:
            present = {m.userid for m in await service.members(s, "wrsales2024")}
            everyone = await service.members(s, "wrsales2024", present_only=False)
            changes = (
                await s.execute(
                    sa.text("SELECT userid, change, source, actor FROM roster_change WHERE source='daily'")
                )
            ).all()
            queued = (await s.execute(sa.select(table_of(Job).c.key))).scalars().all()
        assert "wujiu" not in present and len(present) == 4
        (gone,) = [m for m in everyone if m.userid == "wujiu"]
        assert not gone.present and gone.left_at == NOW
        assert [tuple(c) for c in changes] == [("wujiu", "left", "daily", "system")]
        assert queued == [f"recurring:{ROSTER_SYNC_KIND}:2030-03-02"]
        # Internal groups have no roster API: never asked.
        asked = [c["query"].get("chatid") for c in sim.state.calls_snapshot(Endpoint.APPCHAT_GET.value)]
        assert "wrpeople" not in asked

    async def test_a_busy_wecom_fails_the_run_so_the_job_retries(
        self, sim: SimulatorServer, wecom: WeComClient, sessions: Any
    ) -> None:
        groups = GroupsService(sessions, wecom, clock=lambda: NOW)
        await _register(groups, chat_id="wrsales2024", kind="app")
        sim.state.add_faults([FaultRule(path=Endpoint.APPCHAT_GET.value, errcode=ErrCode.SYSTEM_BUSY)])
        with pytest.raises(RuntimeError, match="busy"):
            await groups.sync_all(date(2030, 3, 1))


class TestWhatOtherDomainsUse:
    async def test_group_room_members_and_privilege(self, wecom: WeComClient, sessions: Any) -> None:
        groups = GroupsService(sessions, wecom, clock=lambda: NOW)
        await _register(
            groups,
            chat_id="wrOgQhDgAAcwMTB7YmDkbeBsgT_Kmz3Q",
            kind="customer",
            exempt=["sunqi"],
            admins=["zhouba"],
            archive_room_id="wrArchive1",
            robot_key="k-123",
        )
        async with session_scope(sessions) as s:
            group = await service.group_for_room(s, "wrArchive1")
            assert group is not None and group.kind is GroupKind.CUSTOMER and group.robot
            assert await service.get_group(s, group.chat_id) == group
            assert await service.group_for_room(s, group.chat_id) is None  # the archive names it otherwise
            for userid, privileged in [
                ("zhangsan", True),
                ("lisi", True),
                ("zhouba", True),
                ("sunqi", True),
                ("wmQ2vRDgAAhZk9wD2pT8xYFq1mGx_n4A", False),
                ("nobody", False),
            ]:
                assert await service.is_privileged(s, group.chat_id, userid) is privileged, userid
            assert await service.is_privileged(s, "wrunknown", "zhangsan") is False
            assert len(await service.members(s, group.chat_id)) == 3
            assert await service.robot_key(s, group.chat_id) == "k-123"
            assert (await service.active_policy(s, group.chat_id) or {})["C6"]["max_chars"] == 200
