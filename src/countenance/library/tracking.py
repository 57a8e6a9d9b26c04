"""Which rows of the library's decision tables the operation log records, and the temporary
triggers (one set per connection) that record them; see :mod:`countenance.library.oplog`."""

from __future__ import annotations

__all__ = ["TRACKED", "trigger_sql"]

# The tables a user's decision changes, with their key columns and all columns: while an
# operation is recorded (LibraryStore.recording), temporary triggers copy every row it
# inserts, updates or deletes (cascades and REPLACE included) into operation_changes, so
# countenance.library.oplog can put each row back exactly.
TRACKED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "persons": (("id",), ("id", "name", "hidden", "kept")),
    "assignments": (("face_id",), ("face_id", "person_id", "confirmed")),
    "rejections": (("face_id", "person_id"), ("face_id", "person_id")),
    "suggestions": (("face_id", "subject"), ("face_id", "subject", "distance", "false_match_rate", "state")),
    "person_links": (("person_a", "person_b"), ("person_a", "person_b")),
    "faces": (("id",), ("id",)),
    "face_origins": (("face_id",), ("face_id", "source")),
}


def trigger_sql() -> str:
    """The temporary table and triggers, for one connection (``executescript``)."""
    statements = ["CREATE TEMP TABLE IF NOT EXISTS op_current (id INTEGER NOT NULL);"]
    for table, (keys, columns) in TRACKED.items():
        events = [("insert", "new", keys)] + ([] if table == "faces" else [("update", "old", columns), ("delete", "old", columns)])
        for action, row, values in events:
            slots = ", ".join(f"c{i}" for i in range(len(values)))
            picked = ", ".join(f"{row}.{c}" for c in values)
            statements.append(
                f"CREATE TEMP TRIGGER IF NOT EXISTS log_{table}_{action} AFTER {action.upper()} ON main.{table} "
                "WHEN (SELECT id FROM op_current) IS NOT NULL BEGIN "
                f"INSERT INTO operation_changes (operation_id, tbl, action, {slots}) "
                f"SELECT id, '{table}', '{action}', {picked} FROM op_current; END;")
    return "\n".join(statements)
