"""Everything a running service holds: settings, database, inbox, crypto, WeCom client, worker."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.actions import ActionPlanner
from app.db import session_scope
from app.executor import Executor
from app.groups import service as groups
from app.inbox import InboxWriter
from app.jobs import JobHandler, JobKind
from app.logs import LogLimiter
from app.pipeline import EventProcessor
from app.recurring import schedule_all
from app.routing import DomainContext
from app.settings import Settings
from app.tasks import Domain, DomainDeps, collect, installed_domains
from app.wecom.client import WeComClient
from app.wecom.crypto import CallbackCrypto
from app.wecom.reader import WeComReader
from app.worker import Worker


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    inbox: InboxWriter
    app_crypto: CallbackCrypto
    aibot_crypto: CallbackCrypto
    wecom: WeComClient
    executor: Executor
    planner: ActionPlanner
    worker: Worker | None = None
    clock: Callable[[], float] = field(default=time.time)
    refusal_log: LogLimiter = field(default_factory=LogLimiter)  # callback refusals, per reason


def domain_clock(clock: Callable[[], float]) -> Callable[[], datetime]:
    """The runtime's clock (unix seconds, injectable for tests) as aware UTC datetimes."""
    return lambda: datetime.fromtimestamp(clock(), UTC)


def make_planner(settings: Settings) -> ActionPlanner:
    return ActionPlanner(job_max_attempts=settings.job_max_attempts)


def make_executor(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], wecom: WeComClient
) -> Executor:
    configured = {chat: key.get_secret_value() for chat, key in settings.robot_keys.items()}

    async def robot_key_for(chat_id: str) -> str | None:
        """The key registered with the group (groups API), else one from WARDEN_ROBOT_KEYS."""
        async with session_scope(sessions) as session:
            registered = await groups.robot_key(session, chat_id)
        return registered or configured.get(chat_id)

    return Executor(sessions, wecom, dry_run=settings.dry_run, robot_key_for=robot_key_for)


def make_worker(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    executor: Executor,
    wecom: WeComReader,
    *,
    clock: Callable[[], float] = time.time,
    domains: Sequence[Domain] | None = None,
) -> Worker:
    """The worker with the core job kinds (events, actions) and every installed domain's."""
    deps = DomainDeps(
        settings=settings,
        sessions=sessions,
        wecom=wecom,
        planner=make_planner(settings),
        clock=domain_clock(clock),
    )
    registry = collect(installed_domains() if domains is None else domains, deps)

    def context(session: AsyncSession, event_id: int) -> DomainContext:
        return DomainContext(
            session=session,
            settings=settings,
            clock=deps.clock,
            wecom=wecom,
            planner=deps.planner,
            event_id=event_id,
        )

    handlers: dict[str, JobHandler] = {
        JobKind.PROCESS_EVENT: EventProcessor(
            sessions, router=registry.router, context=context, job_max_attempts=settings.job_max_attempts
        ),
        JobKind.EXECUTE_ACTION: executor.run_job,
        **registry.jobs,
    }

    async def on_start() -> None:
        await schedule_all(
            sessions,
            list(registry.recurring),
            tz=deps.timezone,
            max_attempts=settings.job_max_attempts,
            now=deps.clock(),
        )
        for hook in registry.on_start:
            await hook()

    return Worker(
        sessions,
        handlers,
        concurrency=settings.worker_concurrency,
        lease_s=settings.job_lease_s,
        on_start=on_start,
    )


def make_crypto(settings: Settings) -> tuple[CallbackCrypto, CallbackCrypto]:
    """(app callback crypto with receiveid = CorpID, AI-bot crypto with receiveid = "")."""
    token = settings.token.get_secret_value()
    key = settings.aes_key.get_secret_value()
    bot_token = settings.aibot_token.get_secret_value() if settings.aibot_token else token
    bot_key = settings.aibot_aes_key.get_secret_value() if settings.aibot_aes_key else key
    return CallbackCrypto(token, key, settings.corp_id), CallbackCrypto(bot_token, bot_key, "")


def make_wecom_client(settings: Settings) -> WeComClient:
    return WeComClient(
        base_url=settings.wecom_base_url,
        corp_id=settings.corp_id,
        agent_id=settings.agent_id,
        secret=settings.secret.get_secret_value(),
        contacts_secret=(settings.contacts_secret.get_secret_value() if settings.contacts_secret else None),
    )


async def get_runtime(request: Request) -> Runtime:
    """A FastAPI dependency; async so FastAPI does not hand it to a thread pool."""
    runtime: Runtime = request.app.state.runtime
    return runtime
