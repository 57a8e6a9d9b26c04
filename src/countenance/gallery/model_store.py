"""The SQL of a model migration (:mod:`.migration`): other models' vectors beside the active
ones, rows parked at a cut-over, what could not be re-embedded.

Tables (created on the first migration, never by a gallery that has none):

- ``model_vectors``: one vector per ``(model, vector table, row id)`` for a model that is not
  the active one: the target's while a migration runs, the previous model's after a cut-over
  (what ``--rollback`` switches back to, until pruned).
- ``parked_templates`` / ``parked_optouts``: rows moved out of the active table at a switch
  because they have no vector of the model switched to; they keep their own vector and model.
  A parked template belongs to its subject (deleted with it: ``ON DELETE CASCADE``).
- ``migration_outcomes``: per ``(model, table, id)``, why a row could not be re-embedded.

Triggers delete a row's other-model vectors and outcomes with the row, so a forget or a
removal made by any process, during or after a migration, leaves none of its copies.
"""

from __future__ import annotations

import sqlite3

__all__ = ["VECTOR_TABLES", "ensure", "pending", "record_vector", "record_outcome", "switch", "counts",
           "outcomes", "has_other_models", "drop_other_models", "parked_sources", "drop_parked_before", "make_stale",
           "template_tables"]

VECTOR_TABLES = ("templates", "optouts")
_COLUMNS = {
    "templates": "id, subject_id, consent_id, model, vector, source_path, source_sha256, box, crop, created_at, enrolled_by",
    "optouts": "id, model, vector, source_sha256, box, note, created_at, recorded_by",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_vectors (
    model TEXT NOT NULL, vector_table TEXT NOT NULL, id INTEGER NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (model, vector_table, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS migration_outcomes (
    model TEXT NOT NULL, vector_table TEXT NOT NULL, id INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (model, vector_table, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parked_templates (
    id INTEGER PRIMARY KEY,
    subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    consent_id INTEGER, model TEXT NOT NULL, vector BLOB NOT NULL, source_path TEXT, source_sha256 TEXT NOT NULL,
    box TEXT NOT NULL, crop BLOB, created_at TEXT NOT NULL, enrolled_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parked_optouts (
    id INTEGER PRIMARY KEY, model TEXT NOT NULL, vector BLOB NOT NULL, source_sha256 TEXT NOT NULL, box TEXT NOT NULL,
    note TEXT NOT NULL, created_at TEXT NOT NULL, recorded_by TEXT NOT NULL
);
"""
_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS {table}_copies_go AFTER DELETE ON {table} BEGIN
    DELETE FROM model_vectors WHERE vector_table = '{table}' AND id = OLD.id;
    DELETE FROM migration_outcomes WHERE vector_table = '{table}' AND id = OLD.id;
END
"""


def ensure(db: sqlite3.Connection) -> None:
    """Create the migration tables and triggers if missing (inside a write transaction)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    for table in VECTOR_TABLES:
        db.execute(_TRIGGER.format(table=table))


def _exists(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def pending(db: sqlite3.Connection, model: str, table: str, limit: int) -> list[tuple]:
    """Up to ``limit`` rows of ``table`` with neither a vector nor an outcome for ``model``:
    ``(id, source_path, source_sha256, box JSON, has crop)``, in id order."""
    path, crop = ("source_path", "crop IS NOT NULL") if table == "templates" else ("NULL", "0")
    return db.execute(
        f"SELECT id, {path}, source_sha256, box, {crop} FROM {table} t WHERE NOT EXISTS "
        "(SELECT 1 FROM model_vectors v WHERE v.model = ? AND v.vector_table = ? AND v.id = t.id) AND NOT EXISTS "
        "(SELECT 1 FROM migration_outcomes o WHERE o.model = ? AND o.vector_table = ? AND o.id = t.id) "
        "ORDER BY id LIMIT ?", (model, table, model, table, limit)).fetchall()


def crop(db: sqlite3.Connection, template_id: int) -> bytes | None:
    row = db.execute("SELECT crop FROM templates WHERE id = ?", (template_id,)).fetchone()
    return row[0] if row else None


def record_vector(db: sqlite3.Connection, model: str, table: str, row_id: int, vector: bytes) -> None:
    """Store ``model``'s vector of a row, unless the row was deleted meanwhile (a forget that
    committed while it was being embedded must leave no copy)."""
    db.execute(f"INSERT OR REPLACE INTO model_vectors(model, vector_table, id, vector) SELECT ?, ?, ?, ? "
               f"WHERE EXISTS (SELECT 1 FROM {table} WHERE id = ?)", (model, table, row_id, vector, row_id))


def record_outcome(db: sqlite3.Connection, model: str, table: str, row_id: int, outcome: str, detail: str) -> None:
    db.execute(f"INSERT OR REPLACE INTO migration_outcomes(model, vector_table, id, outcome, detail) SELECT ?, ?, ?, ?, ? "
               f"WHERE EXISTS (SELECT 1 FROM {table} WHERE id = ?)", (model, table, row_id, outcome, detail, row_id))


def switch(db: sqlite3.Connection, table: str, old: str, new: str) -> tuple[int, int, int]:
    """Make ``new`` the model of ``table`` (inside a write transaction): each row with a
    ``new`` vector takes it (its ``old`` vector is kept in ``model_vectors``), each row without
    one is parked, and rows parked under ``new`` come back. Returns (switched, parked, unparked)."""
    parked_table, columns = f"parked_{table}", _COLUMNS[table]
    marks = "(SELECT id FROM model_vectors WHERE model = ? AND vector_table = ?)"
    parked = db.execute(f"INSERT INTO {parked_table}({columns}) SELECT {columns} FROM {table} WHERE id NOT IN {marks}",
                        (new, table)).rowcount
    db.execute(f"DELETE FROM {table} WHERE id NOT IN {marks}", (new, table))
    db.execute("INSERT OR REPLACE INTO model_vectors(model, vector_table, id, vector) "
               f"SELECT ?, ?, id, vector FROM {table}", (old, table))
    switched = db.execute(
        f"UPDATE {table} SET model = ?, vector = (SELECT vector FROM model_vectors v WHERE v.model = ? AND "
        f"v.vector_table = ? AND v.id = {table}.id)", (new, new, table)).rowcount
    db.execute("DELETE FROM model_vectors WHERE model = ? AND vector_table = ?", (new, table))
    unparked = db.execute(f"INSERT INTO {table}({columns}) SELECT {columns} FROM {parked_table} WHERE model = ?",
                          (new,)).rowcount
    db.execute(f"DELETE FROM {parked_table} WHERE model = ?", (new,))
    return switched, parked, unparked


def counts(db: sqlite3.Connection, model: str, table: str) -> tuple[int, int, int]:
    """``(rows, re-embedded for model, not re-embeddable for model)`` of ``table``."""
    (rows,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    (done,) = db.execute("SELECT count(*) FROM model_vectors WHERE model = ? AND vector_table = ?", (model, table)).fetchone()
    (failed,) = db.execute("SELECT count(*) FROM migration_outcomes WHERE model = ? AND vector_table = ?",
                           (model, table)).fetchone()
    return int(rows), int(done), int(failed)


def outcomes(db: sqlite3.Connection, model: str) -> list[tuple[str, int, str, str]]:
    """``(table, id, outcome, detail)`` of every row that could not be re-embedded for ``model``."""
    return db.execute("SELECT vector_table, id, outcome, detail FROM migration_outcomes WHERE model = ? "
                      "ORDER BY vector_table DESC, id", (model,)).fetchall()


def has_other_models(db: sqlite3.Connection) -> bool:
    """Whether any vector of a model other than the active one, or any parked row, is held."""
    if not _exists(db, "model_vectors"):
        return False
    return any(db.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone()
               for name in ("model_vectors", "parked_templates", "parked_optouts"))


def drop_other_models(db: sqlite3.Connection) -> tuple[int, int]:
    """Delete every other-model vector, parked row and outcome (inside a write transaction).
    Returns (vectors deleted, parked rows deleted)."""
    if not _exists(db, "model_vectors"):
        return 0, 0
    vectors = db.execute("DELETE FROM model_vectors").rowcount
    parked = sum(db.execute(f"DELETE FROM parked_{table}").rowcount for table in VECTOR_TABLES)
    db.execute("DELETE FROM migration_outcomes")
    return vectors, parked


def template_tables(db: sqlite3.Connection) -> tuple[str, ...]:
    """The tables a subject's templates may be in: ``templates``, and ``parked_templates`` once
    a migration made it (a subject with parked templates only is still enrolled)."""
    return ("templates", "parked_templates") if _exists(db, "parked_templates") else ("templates",)


def parked_sources(db: sqlite3.Connection, subject_id: int | None = None) -> set[str]:
    """Source paths and photo hashes of parked templates (of one subject, or all): what an
    erasure must remove from the audit log with them."""
    if not _exists(db, "parked_templates"):
        return set()
    where, args = ("WHERE subject_id = ?", (subject_id,)) if subject_id is not None else ("", ())
    rows = db.execute(f"SELECT source_path, source_sha256 FROM parked_templates {where}", args)
    return {value for row in rows for value in row if value}


def drop_parked_before(db: sqlite3.Connection, cutoff: str, *, dry_run: bool = False) -> set[str]:
    """Delete the parked templates enrolled before ``cutoff`` (retention reaches them too);
    returns their source paths and photo hashes, never empty when there were some (``dry_run``:
    only those, nothing deleted)."""
    if not _exists(db, "parked_templates"):
        return set()
    rows = db.execute("SELECT source_path, source_sha256 FROM parked_templates WHERE created_at < ?", (cutoff,)).fetchall()
    if not dry_run:
        db.execute("DELETE FROM parked_templates WHERE created_at < ?", (cutoff,))
    return {value for row in rows for value in row if value}


def make_stale(db: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Count one change and one deletion of ``table`` whose ids the deletion log does not hold
    (inside a write transaction): every index saved before is then rebuilt from the store, and
    an index saved with the returned ``(generation, deletions)`` is current."""
    for key in (f"{table}.generation", f"{table}.deletions"):
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", (key,))
    rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)",
                           (f"{table}.generation", f"{table}.deletions")).fetchall())
    generation, deletions = int(rows[f"{table}.generation"]), int(rows[f"{table}.deletions"])
    db.execute("DELETE FROM deleted_ids WHERE vector_table = ?", (table,))
    db.execute("UPDATE meta SET value = ? WHERE key = ?", (str(deletions), f"{table}.deletions_logged_after"))
    return generation, deletions
