"""The executor against the simulator (real HTTP on 127.0.0.1): every act recorded with WeCom's
answer, never performed twice per idempotency key, dry-run calls nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.actions import ActionPlanner, ActionRejected
from app.db import make_engine, make_sessionmaker, session_scope
from app.executor import Executor
from app.jobs import JobKind
from app.models import Action, ActionKind, ActionStatus, Job, JobStatus, utcnow
from app.simulator.runner import SimulatorServer
from app.simulator.state import FaultRule
from app.wecom.client import WeComClient
from app.wecom.codes import Endpoint
from app.worker import Worker

SALES = "wrsales2024"  # created by the app, has a robot
LUNCH = "wrlunch2024"  # created by a person: 86008
ROBOT_KEY = "5f0c8a2e-3b7d-4c1a-9e6f-2d4b8a7c1e90"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer() as server:
        yield server


@dataclass
class Env:
    sim: SimulatorServer
    sessions: Any
    client: WeComClient

    def executor(self, *, dry_run: bool = False) -> Executor:
        return Executor(self.sessions, self.client, dry_run=dry_run, robot_key_for=_keys)

    def calls(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        return self.sim.state.calls_snapshot(endpoint.value)

    async def plan(self, kind: ActionKind, params: dict[str, Any], key: str) -> tuple[int, bool]:
        async with session_scope(self.sessions) as s:
            planned = await ActionPlanner(job_max_attempts=8).plan(
                s, kind=kind, params=params, idempotency_key=key, reason="test", requested_by="tests"
            )
            return planned.id, planned.new

    async def action(self, action_id: int) -> Action:
        async with session_scope(self.sessions) as s:
            found = await s.get(Action, action_id)
            assert found is not None
            return found


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def env(db_url: str, sim: SimulatorServer) -> AsyncIterator[Env]:
    engine = make_engine(db_url)
    client = WeComClient(
        base_url=sim.base_url,
        corp_id=sim.config.corp_id,
        agent_id=sim.config.agent_id,
        secret=sim.config.secret,
        max_attempts=3,
        sleep=_no_sleep,
    )
    yield Env(sim, make_sessionmaker(engine), client)
    await client.aclose()
    await engine.dispose()


async def _keys(chat_id: str) -> str | None:
    return {SALES: ROBOT_KEY}.get(chat_id)


class TestExecutor:
    async def test_remove_member_from_an_app_group(self, env: Env) -> None:
        action_id, new = await env.plan(
            ActionKind.REMOVE_MEMBER, {"chatid": SALES, "userids": ["wujiu"]}, "M5:wujiu:sales"
        )
        assert new
        assert await env.executor().execute(action_id) == ActionStatus.DONE
        members = env.sim.state.snapshot()["app_chats"][SALES]["members"]
        assert "wujiu" not in members and "zhangsan" in members
        action = await env.action(action_id)
        assert (action.wecom_endpoint, action.wecom_errcode) == (Endpoint.APPCHAT_UPDATE, 0)
        assert action.finished_at is not None

    async def test_the_same_idempotency_key_is_never_performed_twice(self, env: Env) -> None:
        params = {"touser": ["lisi"], "msgtype": "text", "body": {"content": "请回复收到"}}
        first, new1 = await env.plan(ActionKind.SEND_PRIVATE_MESSAGE, params, "A2:notice-1:lisi")
        again, new2 = await env.plan(ActionKind.SEND_PRIVATE_MESSAGE, params, "A2:notice-1:lisi")
        assert (first, new1, new2) == (again, True, False)
        executor = env.executor()
        assert await executor.execute(first) == ActionStatus.DONE
        assert await executor.execute(first) == ActionStatus.DONE  # a re-run of the job
        (call,) = env.calls(Endpoint.MESSAGE_SEND)
        assert call["body"]["enable_duplicate_check"] == 1  # a client retry is not delivered twice
        action = await env.action(first)
        sent = env.sim.state.snapshot()["messages"]
        assert action.wecom_msgid and action.wecom_msgid == sent[0]["msgid"]
        async with session_scope(env.sessions) as s:
            n = await s.scalar(
                sa.select(sa.func.count()).select_from(Job).where(col(Job.kind) == JobKind.EXECUTE_ACTION)
            )
        assert n == 1  # the second plan queued nothing

    async def test_send_then_recall_our_own_message(self, env: Env) -> None:
        send_id, _ = await env.plan(
            ActionKind.SEND_PRIVATE_MESSAGE,
            {"touser": ["zhaoliu"], "msgtype": "text", "body": {"content": "请回复收到"}},
            "s1",
        )
        executor = env.executor()
        await executor.execute(send_id)
        msgid = (await env.action(send_id)).wecom_msgid
        recall_id, _ = await env.plan(ActionKind.RECALL_MESSAGE, {"msgid": msgid}, "r1")
        assert await executor.execute(recall_id) == ActionStatus.DONE
        assert env.sim.state.snapshot()["recalled"] == [msgid]

    async def test_robot_message_uses_the_registered_key(self, env: Env) -> None:
        action_id, _ = await env.plan(
            ActionKind.SEND_ROBOT_MESSAGE,
            {
                "chatid": SALES,
                "payload": {"msgtype": "text", "text": {"content": "请回复收到", "mentioned_list": ["lisi"]}},
            },
            "robot-1",
        )
        assert await env.executor().execute(action_id) == ActionStatus.DONE
        (msg,) = env.sim.state.snapshot()["messages"]
        assert msg["kind"] == "webhook" and msg["chatid"] == SALES
        action = await env.action(action_id)
        assert ROBOT_KEY not in str(action.params) + str(action.result)

    async def test_wecom_refusal_is_recorded_not_retried(self, env: Env) -> None:
        action_id, _ = await env.plan(
            ActionKind.REMOVE_MEMBER, {"chatid": LUNCH, "userids": ["sunqi"]}, "lunch"
        )
        assert await env.executor().execute(action_id) == ActionStatus.FAILED
        action = await env.action(action_id)
        assert action.wecom_errcode == 86008
        assert len(env.calls(Endpoint.APPCHAT_UPDATE)) == 1
        assert "sunqi" in env.sim.state.snapshot()["app_chats"][LUNCH]["members"]

    async def test_dry_run_records_and_calls_nothing(self, env: Env) -> None:
        action_id, _ = await env.plan(
            ActionKind.REMOVE_MEMBER, {"chatid": SALES, "userids": ["wujiu"]}, "dry"
        )
        assert await env.executor(dry_run=True).execute(action_id) == ActionStatus.DRY_RUN
        assert env.sim.state.calls_snapshot() == []
        assert "wujiu" in env.sim.state.snapshot()["app_chats"][SALES]["members"]
        action = await env.action(action_id)
        assert action.result == {"would_call": Endpoint.APPCHAT_UPDATE.value}

    async def test_transient_failures_go_back_to_the_queue(self, env: Env) -> None:
        # WeCom's own "busy" answer: certainly not sent, so the job may try again later.
        env.sim.state.add_faults([FaultRule(path=Endpoint.MESSAGE_SEND.value, errcode=-1, count=3)])
        action_id, _ = await env.plan(
            ActionKind.SEND_PRIVATE_MESSAGE,
            {"touser": ["lisi"], "msgtype": "text", "body": {"content": "x"}},
            "flaky",
        )
        worker = Worker(env.sessions, {JobKind.EXECUTE_ACTION: env.executor().run_job})
        await worker.run_until_idle()
        action = await env.action(action_id)
        assert action.status == ActionStatus.PLANNED and action.wecom_errcode == -1
        async with session_scope(env.sessions) as s:
            job = await s.scalar(sa.select(Job).where(col(Job.kind) == JobKind.EXECUTE_ACTION))
            assert job is not None and job.status == JobStatus.QUEUED and job.attempts == 1
            job.due_at = job.created_at  # skip the backoff wait
        await worker.run_until_idle()
        action = await env.action(action_id)
        assert action.status == ActionStatus.DONE and action.attempts == 2
        assert len([c for c in env.calls(Endpoint.MESSAGE_SEND) if not c["fault"]]) == 1

    @pytest.mark.parametrize(
        ("kind", "params", "endpoint", "calls"),
        [
            (
                ActionKind.SEND_GROUP_MESSAGE,
                {"chatid": SALES, "msgtype": "text", "body": {"content": "请回复收到"}},
                Endpoint.APPCHAT_SEND,
                1,
            ),  # no duplicate check at WeCom: one try only
            (
                ActionKind.SEND_PRIVATE_MESSAGE,
                {"touser": ["lisi"], "msgtype": "text", "body": {"content": "请回复收到"}},
                Endpoint.MESSAGE_SEND,
                3,
            ),  # the client's retries are covered by the duplicate check
        ],
    )
    async def test_a_send_whose_fate_is_unknown_is_not_repeated(
        self, env: Env, kind: ActionKind, params: dict[str, Any], endpoint: Endpoint, calls: int
    ) -> None:
        env.sim.state.add_faults([FaultRule(path=endpoint.value, http_status=502)])
        action_id, _ = await env.plan(kind, params, f"unsure:{kind.value}")
        worker = Worker(env.sessions, {JobKind.EXECUTE_ACTION: env.executor().run_job})
        await worker.run_until_idle()
        action = await env.action(action_id)
        assert action.status == ActionStatus.UNKNOWN and "not repeated" in (action.wecom_errmsg or "")
        assert len(env.calls(endpoint)) == calls
        async with session_scope(env.sessions) as s:
            job = await s.scalar(sa.select(Job).where(col(Job.kind) == JobKind.EXECUTE_ACTION))
        assert job is not None and job.status == JobStatus.DONE  # nothing left to retry

    async def test_a_failed_token_fetch_leaves_the_send_planned(self, env: Env) -> None:
        """gettoken timing out or answering 5xx proves the send itself was never made."""
        env.sim.state.add_faults([FaultRule(path=Endpoint.GETTOKEN.value, http_status=502)])
        action_id, _ = await env.plan(
            ActionKind.SEND_GROUP_MESSAGE,
            {"chatid": SALES, "msgtype": "text", "body": {"content": "请回复收到"}},
            "no-token",
        )
        worker = Worker(env.sessions, {JobKind.EXECUTE_ACTION: env.executor().run_job})
        await worker.run_until_idle()
        action = await env.action(action_id)
        assert (action.status, action.wecom_errcode) == (ActionStatus.PLANNED, -1)
        assert env.calls(Endpoint.APPCHAT_SEND) == []
        async with session_scope(env.sessions) as s:
            job = await s.scalar(sa.select(Job).where(col(Job.kind) == JobKind.EXECUTE_ACTION))
        assert job is not None and job.status == JobStatus.QUEUED  # retried later

    async def test_an_idempotent_action_is_repeated_after_a_5xx(self, env: Env) -> None:
        env.sim.state.add_faults([FaultRule(path=Endpoint.APPCHAT_UPDATE.value, http_status=502, count=2)])
        action_id, _ = await env.plan(
            ActionKind.REMOVE_MEMBER, {"chatid": SALES, "userids": ["wujiu"]}, "M5:5xx"
        )
        assert await env.executor().execute(action_id) == ActionStatus.DONE
        assert len(env.calls(Endpoint.APPCHAT_UPDATE)) == 3

    async def test_a_permanent_http_error_fails_without_retry(self, env: Env) -> None:
        env.sim.state.add_faults([FaultRule(path=Endpoint.APPCHAT_UPDATE.value, http_status=404)])
        action_id, _ = await env.plan(
            ActionKind.REMOVE_MEMBER, {"chatid": SALES, "userids": ["wujiu"]}, "http404"
        )
        assert await env.executor().execute(action_id) == ActionStatus.FAILED
        action = await env.action(action_id)
        assert (action.wecom_errcode, action.wecom_errmsg) == (-1, "HTTP 404")
        assert len(env.calls(Endpoint.APPCHAT_UPDATE)) == 1

    @pytest.mark.parametrize(
        ("kind", "params", "expected", "calls"),
        [
            (
                ActionKind.SEND_PRIVATE_MESSAGE,
                {"touser": ["lisi"], "msgtype": "text", "body": {"content": "x"}},
                ActionStatus.UNKNOWN,
                0,
            ),
            (ActionKind.REMOVE_MEMBER, {"chatid": SALES, "userids": ["wujiu"]}, ActionStatus.DONE, 1),
        ],
    )
    async def test_a_call_interrupted_by_a_dead_worker(
        self, env: Env, kind: ActionKind, params: dict[str, Any], expected: ActionStatus, calls: int
    ) -> None:
        """A send may have reached WeCom: not repeated. A removal is safe to repeat."""
        action_id, _ = await env.plan(kind, params, "interrupted")
        async with session_scope(env.sessions) as s:
            action = await s.get(Action, action_id)
            assert action is not None
            action.status = ActionStatus.EXECUTING  # what a worker killed mid-call leaves
        assert await env.executor().execute(action_id) == expected
        assert len(env.sim.state.calls_snapshot()) - len(env.calls(Endpoint.GETTOKEN)) == calls

    async def test_bad_params_are_refused_when_planned(self, env: Env) -> None:
        with pytest.raises(ActionRejected, match="chatid"):
            await env.plan(ActionKind.REMOVE_MEMBER, {"userids": ["x"]}, "bad")
        async with session_scope(env.sessions) as s:
            assert await s.scalar(sa.select(sa.func.count()).select_from(Action)) == 0


class TestDeliveredOnce:
    """A private message whose first answer was lost is delivered once, and a recall reaches
    every message an action delivered."""

    async def test_a_timed_out_send_is_delivered_once_and_recalled(
        self, db_url: str, sim: SimulatorServer
    ) -> None:
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        # The first send answers after the client gave up (WeCom did it; the answer is lost).
        client = WeComClient(
            base_url=sim.base_url,
            corp_id=sim.config.corp_id,
            agent_id=sim.config.agent_id,
            secret=sim.config.secret,
            timeout=0.5,
            max_attempts=3,
            sleep=_no_sleep,
        )
        sim.state.add_faults([FaultRule(path=Endpoint.MESSAGE_SEND.value, latency_ms=1500, count=1)])
        env = Env(sim, sessions, client)
        send_id, _ = await env.plan(
            ActionKind.SEND_PRIVATE_MESSAGE,
            {"touser": ["lisi"], "msgtype": "text", "body": {"content": "请回复收到 (A2)"}},
            "late",
        )
        assert await env.executor().execute(send_id) == ActionStatus.DONE
        await asyncio.sleep(1.5)  # the first, slow call completes at the simulator too
        delivered = [m for m in sim.state.messages if m.kind == "message"]
        assert len(delivered) == 1
        send = await env.action(send_id)
        assert send.wecom_msgids == [delivered[0].msgid]
        recall_id, _ = await env.plan(ActionKind.RECALL_MESSAGE, {"action_id": send_id}, "recall")
        assert await env.executor().execute(recall_id) == ActionStatus.DONE
        assert set(sim.state.recalled) == {delivered[0].msgid}
        await client.aclose()
        await engine.dispose()

    async def test_a_recall_reaches_every_message_a_replanned_send_delivered(self, env: Env) -> None:
        send_id, _ = await env.plan(
            ActionKind.SEND_PRIVATE_MESSAGE,
            {"touser": ["lisi"], "msgtype": "text", "body": {"content": "请回复收到"}},
            "twice",
        )
        assert await env.executor().execute(send_id) == ActionStatus.DONE
        env.sim.state.advance(1801)  # past WeCom's duplicate check: a second copy arrives
        async with session_scope(env.sessions) as s:  # an admin re-planned it (fate unknown)
            await s.execute(
                sa.update(Action).where(col(Action.id) == send_id).values(status=ActionStatus.PLANNED)
            )
        assert await env.executor().execute(send_id) == ActionStatus.DONE
        msgids = (await env.action(send_id)).wecom_msgids or []
        assert len(msgids) == 2 and len(set(msgids)) == 2
        recall_id, _ = await env.plan(ActionKind.RECALL_MESSAGE, {"action_id": send_id}, "r")
        assert await env.executor().execute(recall_id) == ActionStatus.DONE
        assert set(env.sim.state.recalled) == set(msgids)

    async def test_a_recall_needs_a_msgid_or_an_action(self, env: Env) -> None:
        with pytest.raises(ActionRejected, match="one of msgid, action_id"):
            await env.plan(ActionKind.RECALL_MESSAGE, {}, "nothing")


class TestTokens:
    async def test_a_token_refused_twice_is_retried_later_not_failed(self, env: Env) -> None:
        """42001 after the client's own refresh is not WeCom refusing the action."""
        env.sim.state.add_faults([FaultRule(path=Endpoint.MESSAGE_SEND.value, errcode=42001, count=2)])
        action_id, _ = await env.plan(
            ActionKind.SEND_PRIVATE_MESSAGE,
            {"touser": ["lisi"], "msgtype": "text", "body": {"content": "x"}},
            "token",
        )
        worker = Worker(env.sessions, {JobKind.EXECUTE_ACTION: env.executor().run_job})
        await worker.run_until_idle()
        action = await env.action(action_id)
        assert (action.status, action.wecom_errcode) == (ActionStatus.PLANNED, 42001)
        async with session_scope(env.sessions) as s:
            await s.execute(sa.update(Job).values(due_at=utcnow()))  # skip the backoff wait
        await worker.run_until_idle()
        assert (await env.action(action_id)).status == ActionStatus.DONE


class TestALateRunDoesNotOverwrite:
    async def test_a_ruling_made_while_a_lapsed_run_was_sending_stands(self, env: Env) -> None:
        """A worker whose lease lapsed finishes its call after the action was ruled on: the
        ruling stays, and the message it delivered is still kept for a recall."""
        action_id, _ = await env.plan(
            ActionKind.SEND_PRIVATE_MESSAGE,
            {"touser": ["lisi"], "msgtype": "text", "body": {"content": "请回复收到"}},
            "late-run",
        )
        env.sim.state.add_faults([FaultRule(path=Endpoint.MESSAGE_SEND.value, latency_ms=800, count=1)])
        executor = env.executor()
        running = asyncio.create_task(executor.execute(action_id))
        await asyncio.sleep(0.4)  # the call is in flight; meanwhile it is ruled failed
        async with session_scope(env.sessions) as s:
            await s.execute(
                sa.update(Action)
                .where(col(Action.id) == action_id)
                .values(status=ActionStatus.FAILED, resolved_by="admin")
            )
        assert await running == ActionStatus.FAILED
        action = await env.action(action_id)
        assert (action.status, action.resolved_by) == (ActionStatus.FAILED, "admin")
        assert action.wecom_msgids and len(action.wecom_msgids) == 1
