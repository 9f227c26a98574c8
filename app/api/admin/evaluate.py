"""POST /api/v1/policies/evaluate: what would happen to one message, nothing stored or acted."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request

from app.api.deps import Admin, RuntimeDep
from app.content.evaluate import EvaluateIn, EvaluationOut, Evaluator
from app.runtime import Runtime, domain_clock

router = APIRouter()


def _evaluator(request: Request, runtime: Runtime) -> Evaluator:
    """One per app: its judge keeps the compiled vocabularies between requests."""
    found = getattr(request.app.state, "evaluator", None)
    if not isinstance(found, Evaluator):
        found = Evaluator(ZoneInfo(runtime.settings.timezone), domain_clock(runtime.clock))
        request.app.state.evaluator = found
    return found


@router.post("/policies/evaluate")
async def evaluate(body: EvaluateIn, request: Request, _: Admin, runtime: RuntimeDep) -> EvaluationOut:
    """What the content rules would decide about one message and what enforcement would plan,
    without storing or acting. Without `chat_id`: the `work-group` preset in an enforced group,
    the global word lists, a first offence. With it: that group's document, word lists and mode
    and the sender's active strikes (404 for an unknown group). `text` over 10 000 characters →
    422. Only decisions that are not `allow` are listed, worst first."""
    evaluator = _evaluator(request, runtime)
    # Read-only: this session is never committed (closing it rolls back).
    async with runtime.sessions() as session:
        return await evaluator.evaluate(session, body)
