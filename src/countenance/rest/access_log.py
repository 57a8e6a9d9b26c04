"""The access log, without names: each request logged by its route's template
(``DELETE /v1/subjects/{name}``), never the path as sent (which holds the subject's name) nor
the query string (``?subject=...``). uvicorn's own access log is off (``countenance serve``
passes :func:`countenance.service.server.uvicorn_log_config`), so this is the only one."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request

__all__ = ["ACCESS_LOGGER", "route_of", "install"]

#: The logger of the access lines (INFO) and of internal errors (``countenance.rest``).
ACCESS_LOGGER = "countenance.rest.access"

_log = logging.getLogger(ACCESS_LOGGER)


def route_of(request: Request) -> str:
    """The template of the route that answered ``request`` (``/v1/subjects/{name}``), or
    ``"(no route)"`` when none matched: a path that matched nothing is not logged either."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(no route)"


def install(app: FastAPI) -> None:
    """Log one line per request to :data:`ACCESS_LOGGER`: client, method, route template, status."""

    @app.middleware("http")
    async def access_log(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        client = request.client.host if request.client else "-"
        _log.info('%s "%s %s" %d', client, request.method, route_of(request), response.status_code)
        return response
