"""The gate every request passes before the app reads a byte of its body (a pure ASGI
middleware, so nothing is parsed or spooled first):

1. a declared ``Content-Length`` over the request limit: 413;
2. no valid API key: the client's address spends from its own bucket of the shared rate limit
   (429 when empty), and anything but the public routes is refused 401 at once;
3. the body, as the app reads it, is counted (a chunked body has no declared length) and timed:
   past the limit 413, not all there after ``body_timeout_s`` 408; the connection is closed;
4. every response carries the security headers (CSP, no framing, no sniffing, no referrer).

The key's scope and its own rate are checked by the route (``auth.require``).
"""

from __future__ import annotations

import asyncio
import json
import math
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..service.server import ServerSettings

__all__ = ["RequestGate", "SECURITY_HEADERS", "PUBLIC_PATHS", "token_of"]

#: Routes that need no key (health, version, the page and its files, the API docs).
PUBLIC_PATHS = frozenset({"/", "/v1/health", "/v1/version", "/docs", "/openapi.json"})
_PUBLIC_PREFIXES = ("/static/",)

#: On every response. The page's scripts and styles come from the server itself ('self'); its
#: face crops and exports are blob: URLs; nothing may frame it.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_RAW_SECURITY_HEADERS = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]


def token_of(headers: Headers) -> str | None:
    """The API key a request carries: ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key") or None


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(_PUBLIC_PREFIXES)


def _with_security_headers(message: Message) -> Message:
    present = {name.lower() for name, _ in message.get("headers", [])}
    extra = [(k, v) for k, v in _RAW_SECURITY_HEADERS if k not in present]
    return {**message, "headers": [*message.get("headers", []), *extra]}


class _Refusal(Exception):
    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


async def _send_refusal(send: Send, refusal: _Refusal, *, close: bool) -> None:
    body = json.dumps({"status": refusal.status, "title": refusal.title, "detail": refusal.detail}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("latin-1"))]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in refusal.headers.items()]
    if close:
        headers.append((b"connection", b"close"))
    await send(_with_security_headers({"type": "http.response.start", "status": refusal.status, "headers": headers}))
    await send({"type": "http.response.body", "body": body})


class RequestGate:
    """The middleware; ``settings`` gives the limits, the app's runtime the keys and buckets."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings
        self.limit_bytes = settings.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_head(scope)
        except _Refusal as refusal:
            await _send_refusal(send, refusal, close=True)
            return
        await self._pass(scope, receive, send)

    def _check_head(self, scope: Scope) -> None:
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit_bytes):
            raise _Refusal(413, "request too large", f"requests are limited to {self.limit_bytes:,} bytes")
        runtime = scope["app"].state.runtime
        token = token_of(headers)
        if token is not None and runtime.keys.authenticate(token) is not None:
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait_s = runtime.limiter.take(f"address:{address}")
        if wait_s is not None:
            raise _Refusal(429, "too many requests", f"rate limit of {runtime.limiter.rate_per_s:g} requests/s for "
                           "clients without a valid key exceeded", {"Retry-After": str(max(1, math.ceil(wait_s)))})
        if not _is_public(scope["path"]):
            raise _Refusal(401, "not authenticated", "a valid API key is needed (Authorization: Bearer <key>, or X-API-Key)",
                           {"WWW-Authenticate": "Bearer"})

    async def _pass(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline: float | None = time.monotonic() + self.settings.body_timeout_s
        received = 0
        cut = False  # the body was refused: the app reads a disconnect from now on
        answered = False  # ... and the client had the refusal: the app's own answer is dropped
        started = False

        async def refuse(refusal: _Refusal) -> Message:
            nonlocal cut, answered
            cut = True
            if not started:  # else the app's answer is under way: it ends it, on a disconnect
                answered = True
                await _send_refusal(send, refusal, close=True)
            return {"type": "http.disconnect"}

        async def gated_receive() -> Message:
            nonlocal received, deadline
            if cut:
                return {"type": "http.disconnect"}
            try:
                wait_s = None if deadline is None else max(0.0, deadline - time.monotonic())
                message = await asyncio.wait_for(receive(), wait_s)
            except asyncio.TimeoutError:
                return await refuse(_Refusal(408, "request timeout", f"the request body did not arrive within "
                                                 f"{self.settings.body_timeout_s:g} s"))
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit_bytes:
                    return await refuse(_Refusal(413, "request too large", f"requests are limited to {self.limit_bytes:,} bytes"))
                if not message.get("more_body", False):
                    deadline = None  # the whole body is in: later waits are for a disconnect
            return message

        async def gated_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the client was answered already
            if message["type"] == "http.response.start":
                started = True
                message = _with_security_headers(message)
            await send(message)

        try:
            await self.app(scope, gated_receive, gated_send)
        except Exception:
            if not cut:
                raise
            # The app failed on the body it was denied: the client has its answer.
