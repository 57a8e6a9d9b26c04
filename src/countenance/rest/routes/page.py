"""The review page at ``/`` and the API docs at ``/docs``: plain HTML and a little JavaScript
from the package (no CDN: they work offline, and no third-party script runs on the origin
that holds the key)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    """The page; it asks for a key and keeps it in sessionStorage (this tab only)."""
    page = resources.files("countenance.rest") / "static" / "index.html"
    return HTMLResponse(page.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})


@router.get("/docs", response_class=HTMLResponse)
async def docs() -> HTMLResponse:
    """The API docs: this server's OpenAPI document (``/openapi.json``) as a page."""
    page = resources.files("countenance.rest") / "static" / "docs.html"
    return HTMLResponse(page.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})
