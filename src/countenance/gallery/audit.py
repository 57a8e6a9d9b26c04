"""The audit log: who did what, when, with which query (image sha256s, never images), what came back.

Every gallery operation that reads or changes what is held about people writes one entry, in
the same transaction as its change, so the log and the data cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .policy import parse_moment, timestamp
from .records import AuditEntry
from .store import Store

__all__ = ["AuditLog"]


class AuditLog:
    """Entries of ``store``'s audit table written as ``actor`` at the times ``clock`` gives."""

    def __init__(self, store: Store, actor: str, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.actor = actor
        self.clock = clock

    def now(self) -> str:
        """The clock's current time as a store timestamp."""
        return timestamp(self.clock())

    def record(self, action: str, query: Any, result: Any, subjects: Iterable[str] = ()) -> None:
        """Write one entry (call inside the store transaction of the change it records).

        ``query`` and ``result`` are JSON-able; ``subjects`` the names it concerns, so that
        :meth:`entries` and an export can find it by subject.
        """
        self.store.add_audit(at=self.now(), actor=self.actor, action=action, query=query, result=result, subjects=list(subjects))

    def entries(self, *, since: datetime | str | None = None, action: str | None = None, subject: str | None = None,
                limit: int | None = None) -> list[AuditEntry]:
        """Entries, oldest first: those at or after ``since`` (a datetime or ISO 8601 text), of
        ``action``, naming ``subject``, the last ``limit``."""
        if isinstance(since, str):
            since = parse_moment(since, "since")
        return self.store.audit(since=timestamp(since) if since is not None else None, action=action, subject=subject, limit=limit)
