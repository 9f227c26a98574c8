"""GET /api/v1/wordlists, GET|PUT|POST|DELETE /api/v1/wordlists/{rule_id}: admins' changes to the
keyword rules' words, globally or for one group (app.content.wordlists)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from app.api.deps import Admin, RuntimeDep
from app.api.pagination import Page
from app.content import wordlists
from app.content.wordlists import GLOBAL_SCOPE, Change, RuleSummary, WordListOut
from app.db import session_scope
from app.errors import Conflict, Invalid
from app.logs import log_event
from app.runtime import Runtime

router = APIRouter()
RuleId = Annotated[str, Path(max_length=8, description="a keyword rule id: C1, C2, C3, C4, C5, C10, C11")]
ScopeQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=128,
        description="`global` (default) or a registered chat id; for a JSON body, `scope` in the body wins",
    ),
]

# Both bodies a write accepts, for the OpenAPI page.
_BODIES: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["words"],
                    "properties": {
                        "words": {"type": "array", "items": {"type": "string"}},
                        "scope": {"type": "string", "default": GLOBAL_SCOPE},
                    },
                }
            },
            "text/plain": {"schema": {"type": "string", "description": "one word a line"}},
        },
    }
}


class WordsIn(BaseModel):
    words: list[Annotated[str, Field(max_length=4000)]] = Field(max_length=wordlists.MAX_WORDS)
    scope: Annotated[str, Field(min_length=1, max_length=128)] | None = None


async def _read(request: Request, scope: str | None) -> tuple[list[str], str]:
    """(words, scope) from a JSON body or a text/plain one (one word a line)."""
    raw = await request.body()
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "text/plain":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Invalid("body: text/plain must be UTF-8") from None
        return text.splitlines(), scope or GLOBAL_SCOPE
    try:
        body = WordsIn.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Invalid(f"{where}: {first['msg']}") from None
    return body.words, body.scope or scope or GLOBAL_SCOPE


async def _write(
    runtime: Runtime, request: Request, rule_id: str, scope: str | None, how: Change, actor: str
) -> WordListOut:
    wordlists.known_rule(rule_id)  # 404 before reading a body meant for no list
    words, where = await _read(request, scope)
    try:
        async with session_scope(runtime.sessions) as session:
            out = await wordlists.change(
                session, rule_id=rule_id, scope=where, words=words, how=how, actor=actor
            )
    except IntegrityError:
        raise Conflict(f"the {rule_id} list of {where!r} changed meanwhile: send it again") from None
    log_event(
        "admin.wordlist_changed", rule=rule_id, scope=where, change=how.value, words=len(words), admin=actor
    )
    return out


@router.get("/wordlists")
async def list_wordlists(_: Admin, runtime: RuntimeDep) -> Page[RuleSummary]:
    """Every keyword rule id: its default words' count and, per scope (`global`, chat ids), the
    words added and removed."""
    async with session_scope(runtime.sessions) as session:
        items = await wordlists.summary(session)
    return Page(items=items, next_before_id=None)


@router.get("/wordlists/{rule_id}")
async def get_wordlist(
    rule_id: RuleId, _: Admin, runtime: RuntimeDep, scope: ScopeQuery = None
) -> WordListOut:
    """One rule's words in a scope: `words` added there, `removed` there, and the `defaults`."""
    async with session_scope(runtime.sessions) as session:
        return await wordlists.show(session, rule_id, scope or GLOBAL_SCOPE)


@router.put("/wordlists/{rule_id}", openapi_extra=_BODIES)
async def put_wordlist(
    rule_id: RuleId, request: Request, admin: Admin, runtime: RuntimeDep, scope: ScopeQuery = None
) -> WordListOut:
    """Replace the scope's added words (its `remove` entries stay). A word that is one character
    once canonical, an empty or refused regex (`re:<pattern>`, google-re2) → 422 naming it
    (`words.<index>: …`), nothing written; an unknown rule id or chat id → 404."""
    return await _write(runtime, request, rule_id, scope, Change.REPLACE, admin.name)


@router.post("/wordlists/{rule_id}", openapi_extra=_BODIES)
async def add_words(
    rule_id: RuleId, request: Request, admin: Admin, runtime: RuntimeDep, scope: ScopeQuery = None
) -> WordListOut:
    """Add words to the scope (a word it had removed is matched again); checked as for PUT.
    `Content-Type: text/plain` imports one word a line."""
    return await _write(runtime, request, rule_id, scope, Change.ADD, admin.name)


@router.delete("/wordlists/{rule_id}", openapi_extra=_BODIES)
async def remove_words(
    rule_id: RuleId, request: Request, admin: Admin, runtime: RuntimeDep, scope: ScopeQuery = None
) -> WordListOut:
    """Stop matching words in the scope: a word it added is dropped; a default word (or, for a
    group, a global one) becomes a `remove` entry. Words in no list come back in `unchanged`."""
    return await _write(runtime, request, rule_id, scope, Change.REMOVE, admin.name)
