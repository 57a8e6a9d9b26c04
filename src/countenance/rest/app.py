"""The application factory: lifespan (models load once per worker), limits, errors, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import CountenanceError
from ..service.error_table import describe
from ..service.server import ServerSettings
from . import access_log
from .access_log import route_of
from .gate import RequestGate
from .routes import faces, library, library_review, page, privacy, subjects, system
from .runtime import Runtime, StillRunning
from .uploads import client_message

__all__ = ["create_app", "app_from_environment"]

log = logging.getLogger("countenance.rest")

_DESCRIPTION = """Consent-first face recognition over HTTP. Every route but `/v1/health`,
`/v1/version` and the page needs an API key (`countenance keys create --scope ...`) as
`Authorization: Bearer <key>`; each route names its scope. Errors are
`{"status", "title", "detail"}`; "unknown" is an answer, not an error."""


def problem(status: int, title: str, detail: Any, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """An error response: ``{"status", "title", "detail"}`` (and ``extra`` fields), never a traceback."""
    return JSONResponse({"status": status, "title": title, "detail": detail, **extra}, status_code=status, headers=headers)


async def _countenance_error(request: Request, error: Exception) -> JSONResponse:
    described = describe(error)
    if described is None:  # not in the table: a bug
        return await _internal_error(request, error)
    rule, message = described
    return problem(rule.http_status, rule.title, client_message(message, request.app.state.settings))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)  # registered for this type only
    titles = {401: "not authenticated", 403: "not authorised", 404: "not found", 405: "method not allowed",
              408: "request timeout", 413: "request too large", 429: "too many requests", 503: "unavailable"}
    extra = {"outcome": error.outcome} if isinstance(error, StillRunning) else {}  # the id of the work that goes on
    return problem(error.status_code, titles.get(error.status_code, "error"), error.detail, getattr(error, "headers", None),
                   **extra)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in error.errors()]
    return problem(422, "invalid request", detail)


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, route_of(request), exc_info=error)  # no name from the path
    return problem(500, "internal error", "an internal error occurred; it has been logged")


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The app for ``settings`` (default: :class:`ServerSettings`'s defaults). Models load and
    the key store opens when the app starts (its lifespan), not here."""
    settings = settings if settings is not None else ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        try:
            runtime.start()
            app.state.runtime = runtime
            yield
        finally:
            runtime.close()

    app = FastAPI(title="Countenance", version=__version__, description=_DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.settings = settings
    app.add_exception_handler(CountenanceError, _countenance_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)

    # Key, size, time and address limits before a body is read; security headers on all.
    app.add_middleware(RequestGate, settings=settings)

    access_log.install(app)
    for module in (system, faces, subjects, privacy, library, library_review, page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(resources.files(__package__) / "static")), name="static")
    return app


def app_from_environment() -> FastAPI:
    """The app for the settings ``countenance serve`` put in the environment (uvicorn workers)."""
    return create_app(ServerSettings.from_env())
