"""Every route but health, version and the page needs an API key with its scope.

The key comes as ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``. A missing,
unknown or revoked key gets 401, a key without the route's scope 403, a key over its rate
429 with ``Retry-After`` (buckets shared by the server's processes). A request without a
valid key is refused by the gate (``gate.RequestGate``) before its body is read. The key's id becomes the actor of the gallery's audit entries.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ..service.keys import SCOPES, ApiKey

__all__ = ["require", "SCOPE_HELP"]

_bearer = HTTPBearer(auto_error=False, description="An API key: `countenance keys create --scope ...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same API key, as a header.")

SCOPE_HELP = {
    "identify": "detect, verify, identify",
    "enroll": "create and rename subjects, enrol faces",
    "library": "the photo library: suggestions and people",
    "read": "list and show subjects, gallery info",
    "admin": "export, forget, opt-outs, the audit log (and every other scope)",
}


def require(scope: str | None, *, budget: str = "limiter") -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that returns the request's key when it has ``scope`` (or ``admin``; None:
    any valid key). ``budget`` names the runtime's rate limiter the request spends from:
    ``limiter`` (every key's requests), or ``thumbnail_limiter`` (face crops of the page's
    lists, cheap and cached, with their own larger budget so a page of faces is never refused)."""
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")  # a programming error in a route, not user input

    async def check_key(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
        header: str | None = Depends(_header),
    ) -> ApiKey:
        token = bearer.credentials if bearer is not None else header
        runtime = request.app.state.runtime
        key = runtime.keys.authenticate(token) if token else None
        if key is None:
            raise HTTPException(401, "a valid API key is needed (Authorization: Bearer <key>, or X-API-Key)",
                                headers={"WWW-Authenticate": "Bearer"})
        if scope is not None and not key.allows(scope):
            raise HTTPException(403, f"this key's scopes ({', '.join(key.scopes)}) do not include {scope!r} ({SCOPE_HELP[scope]})")
        limiter = getattr(runtime, budget)
        # Both budgets live in the shared bucket table: a bucket per budget and key.
        wait_s = limiter.take(f"key:{key.id}" if budget == "limiter" else f"{budget}:key:{key.id}")
        if wait_s is not None:
            raise HTTPException(429, f"rate limit of {limiter.rate_per_s:g} requests/s for this key exceeded",
                                headers={"Retry-After": str(max(1, math.ceil(wait_s)))})
        request.state.key = key
        return key

    check_key.__name__ = f"require_{scope or 'key'}"
    return check_key
