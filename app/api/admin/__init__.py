"""The admin REST API, v1: one router per resource, all behind a bearer token."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.admin import actions, evaluate, events, groups, jobs, templates, violations, wordlists

router = APIRouter(prefix="/api/v1", tags=["admin"])
for _module in (events, jobs, actions, groups, violations, templates):
    router.include_router(_module.router)
for _module in (evaluate, wordlists):
    router.include_router(_module.router)
