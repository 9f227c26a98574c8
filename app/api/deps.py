"""Dependency aliases every router uses: the runtime and the admin caller.

Handlers open their own transaction with `session_scope(runtime.sessions)`: the commit happens
before the answer is written, so a 2xx always means the write is durable.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.auth import require_admin
from app.models import AdminToken
from app.runtime import Runtime, get_runtime

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Admin = Annotated[AdminToken, Depends(require_admin)]
