"""The server's HTTP connections: uvicorn's h11 protocol with a deadline for a request's headers.

uvicorn closes an idle keep-alive connection, but a client that opens a connection and sends
nothing, or sends its headers a byte at a time, is held for as long as it likes: before the
headers are in, no middleware runs. Here a connection whose request headers are not all in
``body_timeout_s`` after it opened (or after its previous answer) is closed. (The body has
its own deadline, in the REST app's gate.) ``countenance serve`` passes this class to uvicorn.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .server import SETTINGS_ENV, ServerSettings

__all__ = ["DeadlineH11Protocol"]


@functools.lru_cache(maxsize=4)
def _deadline_s(settings_json: str | None) -> float:
    return ServerSettings.from_env({SETTINGS_ENV: settings_json} if settings_json else {}).body_timeout_s


class DeadlineH11Protocol(H11Protocol):
    """h11, and a connection that has not sent a whole request head within the server's
    ``body_timeout_s`` (from the settings ``serve`` put in the environment) is closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_deadline_s = _deadline_s(os.environ.get(SETTINGS_ENV))
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_deadline_s, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no request under way: nothing to answer

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is in; the body's deadline is the app's

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request's head

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
