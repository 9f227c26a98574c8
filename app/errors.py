"""One error base for what the service refuses, with its HTTP status; one handler answers it.

Domain code raises these (never HTTPException), so the same refusal reads the same from the
API, the CLI and a job's error.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class AppError(Exception):
    """A refusal a caller can act on: `detail` names the problem."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    """The request is well-formed but the state forbids it (e.g. retrying a job that is not dead)."""

    status_code = 409


class Invalid(AppError):
    status_code = 422


async def _answer(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _answer)
