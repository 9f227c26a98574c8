"""/api/v1/groups (the registry, rosters, policy versions) and /api/v1/policies/presets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.api.deps import Admin, RuntimeDep
from app.api.pagination import BeforeId, Limit, Page
from app.groups.schemas import (
    GroupIn,
    GroupOut,
    GroupPatch,
    MemberOut,
    PolicyIn,
    PolicyOut,
    PresetOut,
    RollbackIn,
    SyncOut,
)
from app.groups.service import GroupsService, presets
from app.models import GroupKind
from app.runtime import Runtime, domain_clock
from policies.base import GroupMode

router = APIRouter()
ChatId = Annotated[str, Path(min_length=1, max_length=128, description="the WeCom chat id")]


def _service(runtime: Runtime) -> GroupsService:
    return GroupsService(
        runtime.sessions,
        runtime.wecom,
        clock=domain_clock(runtime.clock),
        planner=runtime.planner,
        execute=runtime.executor.execute,
    )


@router.post("/groups", status_code=201)
async def register_group(body: GroupIn, admin: Admin, runtime: RuntimeDep) -> GroupOut:
    """Adopt an app chat (`appchat/get`), create one (no `chat_id`: `appchat/create`, M10),
    register a customer group (`externalcontact/groupchat/get`) or an internal group (owner
    given; WeCom has no roster API for it). `mode: enforce` only for kind app (422 naming `mode`);
    a registered chat → 409; WeCom 86008 → 409, 86003 → 404 with the errcode in the detail.
    `robot_key` is write-only: answers say `robot: true|false`."""
    return await _service(runtime).register(body, admin.name)


@router.get("/groups")
async def list_groups(
    _: Admin,
    runtime: RuntimeDep,
    limit: Limit = 50,
    before_id: BeforeId = None,
    kind: GroupKind | None = None,
    mode: GroupMode | None = None,
) -> Page[GroupOut]:
    """Registered groups, newest first; `counts` by mode."""
    items, next_id, counts = await _service(runtime).page(
        limit=limit, before_id=before_id, kind=kind, mode=mode
    )
    return Page(items=items, next_before_id=next_id, counts=counts)


@router.get("/groups/{chat_id}")
async def get_group(chat_id: ChatId, _: Admin, runtime: RuntimeDep) -> GroupOut:
    return await _service(runtime).get(chat_id)


@router.patch("/groups/{chat_id}")
async def update_group(chat_id: ChatId, body: GroupPatch, admin: Admin, runtime: RuntimeDep) -> GroupOut:
    """Change mode, name, purpose, admins, notice_authors, exempt, robot_key (null removes it)
    or archive_room_id; only the fields given."""
    return await _service(runtime).update(chat_id, body, admin.name)


@router.get("/groups/{chat_id}/members")
async def list_members(
    chat_id: ChatId,
    _: Admin,
    runtime: RuntimeDep,
    limit: Limit = 50,
    before_id: BeforeId = None,
    present: Annotated[bool | None, Query(description="only those still in (true) or gone (false)")] = None,
) -> Page[MemberOut]:
    """The roster as last read from WeCom, leavers included (`present: false`, `left_at`);
    `counts` of present and left."""
    items, next_id, counts = await _service(runtime).members_page(
        chat_id, limit=limit, before_id=before_id, present=present
    )
    return Page(items=items, next_before_id=next_id, counts=counts)


@router.post("/groups/{chat_id}/sync")
async def sync_group(chat_id: ChatId, admin: Admin, runtime: RuntimeDep) -> SyncOut:
    """Re-read the roster from WeCom now (409 for an internal group: no roster API)."""
    return await _service(runtime).sync(chat_id, admin.name)


@router.get("/groups/{chat_id}/policy")
async def get_policy(chat_id: ChatId, _: Admin, runtime: RuntimeDep) -> PolicyOut:
    """The active policy version."""
    return await _service(runtime).policy(chat_id)


@router.put("/groups/{chat_id}/policy")
async def put_policy(chat_id: ChatId, body: PolicyIn, admin: Admin, runtime: RuntimeDep) -> PolicyOut:
    """A new version, active at once; an invalid document → 422 naming the field, and the old
    version stays active."""
    return await _service(runtime).put_policy(chat_id, body.document, admin.name)


@router.get("/groups/{chat_id}/policy/versions")
async def list_policy_versions(
    chat_id: ChatId, _: Admin, runtime: RuntimeDep, limit: Limit = 50, before_id: BeforeId = None
) -> Page[PolicyOut]:
    items, next_id = await _service(runtime).policy_versions(chat_id, limit=limit, before_id=before_id)
    return Page(items=items, next_before_id=next_id)


@router.post("/groups/{chat_id}/policy/rollback", status_code=201)
async def rollback_policy(chat_id: ChatId, body: RollbackIn, admin: Admin, runtime: RuntimeDep) -> PolicyOut:
    """A new version equal to `version` (404 if the group never had it)."""
    return await _service(runtime).rollback(chat_id, body.version, admin.name)


@router.get("/policies/presets")
async def list_presets(_: Admin) -> Page[PresetOut]:
    """The presets (`work-group`, `strict`, `observe-only`) as documents."""
    return Page(items=presets(), next_before_id=None)
