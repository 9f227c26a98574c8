"""Liveness and readiness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app.db import DatabaseNotReady, check_migrated
from app.runtime import Runtime, get_runtime

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: Annotated[Runtime, Depends(get_runtime)]) -> JSONResponse:
    """The database is reachable and migrated, and the worker (if in-process) is running."""
    try:
        await check_migrated(runtime.engine)
    except DatabaseNotReady as exc:
        return JSONResponse({"status": "not ready", "reason": str(exc)}, status_code=503)
    if runtime.worker is not None and runtime.worker.stopped:
        return JSONResponse(
            {"status": "not ready", "reason": "the in-process worker stopped"}, status_code=503
        )
    return JSONResponse({"status": "ready", "worker": runtime.worker is not None})
