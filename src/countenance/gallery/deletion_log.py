"""The deletion log: which ids each deletion from a vector table removed, so that a stale
vector index removes exactly those instead of being rebuilt (:class:`.mirror.IndexMirror`).

Each deletion bumps ``<table>.deletions`` and, in the same transaction, records the ids of
the rows it deleted under the new counter value in ``deleted_ids`` (see :mod:`.schema`), with
a marker row (id -1) so that a deletion that removed nothing is told from one that was never
logged (by an older Countenance writing to the same gallery): the latter forces a rebuild. Only integer row ids are
kept, never a name, path, hash or vector (erasure is proven by scanning the files for those).
The log keeps the last :data:`KEEP_EVENTS` deletions of each table: ``<table>.deletions_logged_after``
in ``meta`` says that every deletion numbered above it is complete in the log; an index whose
state is older than that is rebuilt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import numpy as np

__all__ = ["KEEP_EVENTS", "logged_after_key", "record", "deleted_ids"]

#: Deletions kept per table (a forget is one, a prune one however many rows it removes).
KEEP_EVENTS = 10_000
_MARKER = -1  # one per logged deletion; row ids are positive

def logged_after_key(table: str) -> str:
    """The ``meta`` key below which deletions of ``table`` are no longer (or never were) logged."""
    return f"{table}.deletions_logged_after"


def _logged_after(db: sqlite3.Connection, table: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (logged_after_key(table),)).fetchone()
    return int(row[0])


def record(db: sqlite3.Connection, table: str, deletion: int, ids: Iterable[int], keep_events: int = KEEP_EVENTS) -> None:
    """Log ``ids`` as deleted from ``table`` by deletion number ``deletion``, and forget the
    deletions older than the last ``keep_events`` (call in the deleting transaction)."""
    db.executemany("INSERT OR IGNORE INTO deleted_ids(vector_table, deletion, id) VALUES (?, ?, ?)",
                   ((table, deletion, int(i)) for i in (_MARKER, *ids)))
    floor = deletion - keep_events
    if floor > _logged_after(db, table):
        db.execute("DELETE FROM deleted_ids WHERE vector_table = ? AND deletion <= ?", (table, floor))
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (str(floor), logged_after_key(table)))


def deleted_ids(db: sqlite3.Connection, table: str, after: int, upto: int) -> np.ndarray | None:
    """Ids deleted from ``table`` by deletions numbered ``after < n <= upto`` (int64, sorted),
    or None when the log does not hold them all (trimmed, older than the log, or ``after > upto``)."""
    if after == upto:
        return np.zeros(0, dtype=np.int64)
    if after > upto or after < _logged_after(db, table):
        return None
    (marked,) = db.execute("SELECT count(*) FROM deleted_ids WHERE vector_table = ? AND deletion > ? AND deletion <= ? "
                           "AND id = ?", (table, after, upto, _MARKER)).fetchone()
    if marked != upto - after:  # a deletion was counted but not logged
        return None
    rows = db.execute("SELECT id FROM deleted_ids WHERE vector_table = ? AND deletion > ? AND deletion <= ? AND id >= 0 "
                      "ORDER BY id", (table, after, upto))
    return np.fromiter((r[0] for r in rows), dtype=np.int64)
