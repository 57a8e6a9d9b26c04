"""What every process of one server shares: rate-limit buckets and the outcomes of timed-out
requests, in ``server.sqlite3`` beside the gallery's ``keys.sqlite3``.

Rate limits are token buckets keyed by a string (``key:<id>`` for an API key, ``address:<ip>``
for a client without a valid key); each take is one SQLite write transaction, so all uvicorn
worker processes (``serve --workers N``) spend from the same bucket. The clock is wall time
(shared by processes), not a per-process monotonic clock.

An outcome is what became of a request that was answered 503 while its work went on: its id
is in the 503, ``GET /v1/outcomes/{id}`` reads ``running``, ``succeeded`` or ``failed`` (with
the error's title). Outcomes hold no names and no results, only the state; they are kept a day.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GalleryError, InvalidArgument

__all__ = ["STATE_FILE", "SharedRateLimiter", "Outcome", "OutcomeStore"]

STATE_FILE = "server.sqlite3"
_OUTCOME_KEEP_S = 24 * 3600.0
_SWEEP_EVERY = 512

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (id TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (
    id TEXT PRIMARY KEY, created_s REAL NOT NULL, state TEXT NOT NULL, status INTEGER, title TEXT
);
"""


def _connect(folder: Path) -> sqlite3.Connection:
    folder = Path(folder)
    if not folder.is_dir():
        raise GalleryError(f"{folder}: no gallery here (create one with: countenance gallery init)")
    path = folder / STATE_FILE
    try:
        # Created private (0600) whatever the umask: it names the keys that call.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        db = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
    except (sqlite3.DatabaseError, OSError) as error:
        raise GalleryError(f"{path}: not a server state file ({error})") from None
    return db


class _Store:
    def __init__(self, folder: Path) -> None:
        self._db = _connect(folder)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result


class SharedRateLimiter(_Store):
    """Each bucket may make ``burst`` requests at once, refilled at ``rate_per_s`` per second,
    shared by every process that opens the same gallery folder.

    ``clock`` returns seconds of wall time (every process must read the same clock); tests pass
    their own.
    """

    def __init__(self, folder: Path, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.time) -> None:
        if not rate_per_s > 0 or int(burst) < 1:
            raise InvalidArgument(f"a rate limit needs a positive rate and a burst >= 1, got {rate_per_s!r}, {burst!r}")
        super().__init__(folder)
        self.rate_per_s = float(rate_per_s)
        self.burst = int(burst)
        self.clock = clock
        self._takes = 0

    def take(self, bucket: str) -> float | None:
        """Spend one token of ``bucket``: None when allowed, else the seconds until one is
        available (the request is refused and spends nothing)."""
        now = self.clock()

        def work(db: sqlite3.Connection) -> float | None:
            row = db.execute("SELECT tokens, updated_s FROM buckets WHERE id = ?", (bucket,)).fetchone()
            tokens = float(self.burst) if row is None else min(float(self.burst), row[0] + max(0.0, now - row[1]) * self.rate_per_s)
            wait = None
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate_per_s
            db.execute("INSERT OR REPLACE INTO buckets(id, tokens, updated_s) VALUES (?, ?, ?)", (bucket, tokens, now))
            self._takes += 1
            if self._takes % _SWEEP_EVERY == 0:  # a bucket full again is the same as none
                db.execute("DELETE FROM buckets WHERE updated_s < ?", (now - self.burst / self.rate_per_s,))
            return wait

        return self._transaction(work)


@dataclass(frozen=True)
class Outcome:
    """What became of a request answered 503 while its work went on."""

    id: str
    state: str  # "running", "succeeded" or "failed"
    status: int | None = None  # for "failed": the HTTP status the error would have had
    title: str | None = None  # for "failed": the error's title (never its message: it may hold a name)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "status": self.status, "title": self.title}


class OutcomeStore(_Store):
    """The outcomes of timed-out requests, shared by every process of one server."""

    def __init__(self, folder: Path, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(folder)
        self.clock = clock

    def start(self) -> str:
        """A new outcome, ``running``; its id (unguessable: it is what lets a caller read it)."""
        outcome_id = secrets.token_urlsafe(12)
        now = self.clock()

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM outcomes WHERE created_s < ?", (now - _OUTCOME_KEEP_S,))
            db.execute("INSERT INTO outcomes(id, created_s, state) VALUES (?, ?, 'running')", (outcome_id, now))

        self._transaction(work)
        return outcome_id

    def finish(self, outcome_id: str, status: int | None = None, title: str | None = None) -> None:
        """Mark an outcome done: ``succeeded`` without a status, else ``failed`` with it."""
        state = "succeeded" if status is None else "failed"
        self._transaction(lambda db: db.execute("UPDATE outcomes SET state = ?, status = ?, title = ? WHERE id = ?",
                                                (state, status, title, outcome_id)))

    def get(self, outcome_id: str) -> Outcome | None:
        with self._lock:
            row = self._db.execute("SELECT id, state, status, title FROM outcomes WHERE id = ?", (outcome_id,)).fetchone()
        return None if row is None else Outcome(row[0], row[1], row[2], row[3])
