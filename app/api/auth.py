"""Bearer-token auth for the admin API. Tokens are compared by their SHA-256 hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app import repository
from app.db import session_scope
from app.logs import log_event
from app.models import AdminToken
from app.runtime import Runtime, get_runtime

_bearer = HTTPBearer(auto_error=False, description="an admin token (`wecom-warden create-token`)")

_UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="a valid admin bearer token is required",
    headers={"WWW-Authenticate": "Bearer"},
)


async def require_admin(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AdminToken:
    token = None
    if credentials is not None and credentials.credentials:
        async with session_scope(runtime.sessions) as session:
            token = await repository.find_admin_token(session, token=credentials.credentials)
            if token is not None:
                await repository.touch_admin_token(session, token)
    if token is None:
        client = request.client.host if request.client else "-"
        log_event(
            "admin.unauthorized",
            client=client,
            method=request.method,
            path=request.url.path,
            token_given=credentials is not None,
        )
        raise _UNAUTHORIZED
    return token
