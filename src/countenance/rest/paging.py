"""Paging for every list route: ``limit`` (1..1000, default 100) and ``offset`` in, and the
page out as ``{<items>: [...], "total", "offset", "limit", "next_offset"}`` (``next_offset``
null on the last page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from ..service.library_review import MAX_PAGE, Page, page_of
from ..service.library import to_document

__all__ = ["Limit", "Offset", "paged", "page_document"]

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, description="Skip this many (the answer's next_offset gives the next page).")]


def paged(items: list[Any], limit: int, offset: int, key: str) -> dict[str, Any]:
    """A page of ``items`` as ``{key: [...], "total", "offset", "limit", "next_offset"}``."""
    page = page_of(items, limit, offset)
    return {key: list(page.items), "total": page.total, "offset": page.offset, "limit": page.limit,
            "next_offset": page.next_offset}


def page_document(page: Page, key: str) -> dict[str, Any]:
    """A service :class:`Page` as ``{key: [...], "total", "offset", "limit", "next_offset"}``."""
    return {key: to_document(list(page.items)), "total": page.total, "offset": page.offset, "limit": page.limit,
            "next_offset": page.next_offset}
