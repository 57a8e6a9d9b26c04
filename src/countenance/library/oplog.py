"""The operation log: every user decision can be undone, row for row.

Each decision (name, merge, split, not-this-person, hide, accept, reject, confirm, add-face,
a merge suggestion accepted or rejected) runs inside :meth:`LibraryStore.recording`, which
opens one transaction and one ``operations`` row; while it runs, temporary triggers copy
each row it inserts, updates or deletes in the decision tables (``store.TRACKED``; cascades
and REPLACE included) into ``operation_changes``. :func:`undo` walks those changes backwards
and puts every row back as it was: assignments, confirmations, rejections, suggestion states
and people are restored exactly, then the operation is dropped from the log.

What happened between the decision and its undo is kept where it can be: a face deleted since
(its photo removed) is not put back; a person whose name another person took since cannot be
restored, and the undo is refused (LibraryError) with nothing changed. Undo is not itself
recorded (there is no redo). Forgetting a name clears the log: it must hold no copy of it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..errors import InvalidArgument
from .store import LibraryError, LibraryStore
from .tracking import TRACKED

__all__ = ["Operation", "operations", "undo", "clear_log"]


@dataclass(frozen=True)
class Operation:
    """A recorded decision: ``kind`` (name, merge, split, ...), a one-line ``summary``, when
    (UTC, ISO 8601) and how many rows it changed."""

    id: int
    kind: str
    summary: str
    at: str
    changes: int


def operations(store: LibraryStore, *, limit: int | None = None, offset: int = 0) -> list[Operation]:
    """The recorded decisions, newest first (``limit`` of them after ``offset``)."""
    rows = store.connection.execute(
        "SELECT o.id, o.kind, o.summary, o.at, (SELECT COUNT(*) FROM operation_changes c WHERE c.operation_id=o.id) "
        "FROM operations o ORDER BY o.id DESC LIMIT ? OFFSET ?", (-1 if limit is None else limit, offset)).fetchall()
    return [Operation(*row) for row in rows]


def _exists(store: LibraryStore, table: str, key: int) -> bool:
    return store.connection.execute(f"SELECT 1 FROM {table} WHERE id=?", (key,)).fetchone() is not None


def _restore(store: LibraryStore, table: str, action: str, values: tuple) -> None:
    keys, columns = TRACKED[table]
    db = store.connection
    where = " AND ".join(f"{k}=?" for k in keys)
    if action == "insert":
        db.execute(f"DELETE FROM {table} WHERE {where}", values[:len(keys)])
        return
    row = dict(zip(columns, values[:len(columns)], strict=True))
    if action == "update":
        sets = ", ".join(f"{c}=?" for c in columns)
        db.execute(f"UPDATE {table} SET {sets} WHERE {where}", (*row.values(), *(row[k] for k in keys)))
        return
    # A deleted row comes back, unless what it points at is gone since.
    parents = {"face_id": "faces", "person_id": "persons", "person_a": "persons", "person_b": "persons"}
    if any(column in row and not _exists(store, parent, row[column]) for column, parent in parents.items()):
        return
    marks = ", ".join("?" * len(columns))
    verb = "INSERT" if table == "persons" else "INSERT OR REPLACE"
    db.execute(f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({marks})", tuple(row.values()))


def undo(store: LibraryStore, count: int = 1) -> list[Operation]:
    """Reverse the last ``count`` decisions, newest first, in one transaction; the operations
    undone (fewer when the log is shorter). LibraryError, and nothing changed, when one of
    them cannot be put back."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgument(f"undo takes a number of operations >= 1, got {count!r}")
    with store.transaction() as db:
        chosen = operations(store, limit=count)
        for operation in chosen:
            changes = db.execute("SELECT tbl, action, c0, c1, c2, c3, c4 FROM operation_changes WHERE operation_id=? "
                                 "ORDER BY seq DESC", (operation.id,)).fetchall()
            for table, action, *values in changes:
                try:
                    _restore(store, table, action, tuple(values))
                except sqlite3.IntegrityError as error:  # e.g. a name another person took since
                    raise LibraryError(f"cannot undo operation {operation.id} ({operation.summary or operation.kind}): "
                                       f"the library changed since ({error})") from None
            db.execute("DELETE FROM operations WHERE id=?", (operation.id,))
    return chosen


def clear_log(store: LibraryStore) -> None:
    """Drop the whole log (inside the caller's transaction): what forgetting a name does."""
    store.connection.execute("DELETE FROM operation_changes")
    store.connection.execute("DELETE FROM operations")
