"""Paging for every list: newest first, `limit` rows, `before_id` for the next page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Generic, Protocol, TypeVar

from fastapi import Query
from pydantic import BaseModel

# Ids are 32-bit on PostgreSQL (SERIAL) and 64-bit on SQLite: one bound that fits both, so a
# huge `before_id` is a 422 naming the parameter, not a driver overflow.
MAX_ID = 2**31 - 1

Limit = Annotated[int, Query(ge=1, le=500, description="at most this many rows, newest first")]
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="rows with a smaller id (next page)")]


class HasId(Protocol):
    @property
    def id(self) -> int | None: ...


T = TypeVar("T")
R = TypeVar("R", bound=HasId)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_before_id: int | None  # pass as before_id for the next page; null at the end
    counts: dict[str, int] | None = None


def split_page(rows: Sequence[R], limit: int) -> tuple[list[R], int | None]:
    """Rows fetched with `limit + 1` → (this page, next_before_id). The extra row only tells
    whether there is a next page, so a last page that is exactly full ends with null."""
    page = list(rows[:limit])
    return page, (page[-1].id if len(rows) > limit and page else None)


OutT = TypeVar("OutT", bound=BaseModel)


def page_of(
    rows: Sequence[R], limit: int, out: type[OutT], *, counts: dict[str, int] | None = None
) -> Page[OutT]:
    """Rows fetched with `limit + 1` as a page of `out` models (read from their attributes)."""
    page, next_id = split_page(rows, limit)
    return Page(
        items=[out.model_validate(r, from_attributes=True) for r in page],
        next_before_id=next_id,
        counts=counts,
    )
