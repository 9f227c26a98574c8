"""GET /api/v1/templates, PUT/DELETE /api/v1/templates/{name}: the wording of member-facing texts."""

from __future__ import annotations

from string import Template
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from app.api.deps import Admin, RuntimeDep
from app.content import repository
from app.content.templates import DEFAULTS, PLACEHOLDERS
from app.db import session_scope
from app.errors import Invalid, NotFound
from app.logs import log_event

router = APIRouter()
Name = Annotated[str, Path(max_length=64, description="a template name, e.g. warning")]


class TemplateOut(BaseModel):
    name: str
    body: str  # what members receive now
    default: str
    overridden: bool
    placeholders: list[str]


class TemplateIn(BaseModel):
    body: str = Field(min_length=1, max_length=4000)


def _known(name: str) -> None:
    if name not in DEFAULTS:
        raise NotFound(f"no template named {name!r}; known: {', '.join(sorted(DEFAULTS))}")


def _out(name: str, overrides: dict[str, str]) -> TemplateOut:
    return TemplateOut(
        name=name,
        body=overrides.get(name, DEFAULTS[name]),
        default=DEFAULTS[name],
        overridden=name in overrides,
        placeholders=sorted(PLACEHOLDERS),
    )


@router.get("/templates")
async def list_templates(_: Admin, runtime: RuntimeDep) -> list[TemplateOut]:
    """Every member-facing text, with the default wording and whether an admin changed it."""
    async with session_scope(runtime.sessions) as session:
        overrides = await repository.template_overrides(session)
    return [_out(name, overrides) for name in sorted(DEFAULTS)]


@router.put("/templates/{name}")
async def put_template(name: Name, body: TemplateIn, admin: Admin, runtime: RuntimeDep) -> TemplateOut:
    """Change a text's wording. Placeholders are `${name}`; an unknown one is a 422 naming it."""
    _known(name)
    used = {m.group("named") or m.group("braced") for m in Template.pattern.finditer(body.body)}
    unknown = sorted(u for u in used if u and u not in PLACEHOLDERS)
    if unknown:
        raise Invalid(f"body: unknown placeholder {', '.join('${' + u + '}' for u in unknown)}")
    async with session_scope(runtime.sessions) as session:
        await repository.set_template(session, name=name, body=body.body, actor=admin.name)
        overrides = await repository.template_overrides(session)
    log_event("admin.template_changed", template=name, admin=admin.name)
    return _out(name, overrides)


@router.delete("/templates/{name}")
async def reset_template(name: Name, admin: Admin, runtime: RuntimeDep) -> TemplateOut:
    """Back to the default wording."""
    _known(name)
    async with session_scope(runtime.sessions) as session:
        await repository.delete_template(session, name=name)
        overrides = await repository.template_overrides(session)
    log_event("admin.template_reset", template=name, admin=admin.name)
    return _out(name, overrides)
