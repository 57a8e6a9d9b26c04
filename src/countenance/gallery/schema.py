"""The gallery database's schema, and the upgrade of an older one.

Version 2 added ``forgotten`` (tombstones: the pseudonym of each forgotten subject and when
they were forgotten) and the per-gallery ``pseudonym_key`` in ``meta`` (see :mod:`.pseudonyms`).
Version 3 added ``deleted_ids`` (the ids each deletion from a vector table removed) and
``<table>.deletions_logged_after`` in ``meta`` (see :mod:`.deletion_log`).
"""

from __future__ import annotations

import secrets
import sqlite3

from .deletion_log import logged_after_key

__all__ = ["SCHEMA_VERSION", "VECTOR_TABLES", "SCHEMA", "new_pseudonym_key", "upgrade"]

SCHEMA_VERSION = 3

#: Tables whose rows carry a vector that a vector index mirrors.
VECTOR_TABLES = ("templates", "optouts")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    consenter TEXT NOT NULL,
    purpose TEXT NOT NULL,
    evidence TEXT NOT NULL,
    given_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    consent_id INTEGER REFERENCES consents(id) ON DELETE SET NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    source_path TEXT,
    source_sha256 TEXT NOT NULL,
    box TEXT NOT NULL,
    crop BLOB,
    created_at TEXT NOT NULL,
    enrolled_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS templates_subject ON templates(subject_id);
CREATE INDEX IF NOT EXISTS templates_source ON templates(source_sha256);
CREATE INDEX IF NOT EXISTS templates_created ON templates(created_at);
CREATE TABLE IF NOT EXISTS optouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    source_sha256 TEXT NOT NULL,
    box TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    query TEXT NOT NULL,
    result TEXT NOT NULL,
    subjects TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE TABLE IF NOT EXISTS forgotten (
    pseudonym TEXT PRIMARY KEY,
    forgotten_at TEXT NOT NULL
);
"""

#: Version 3: the ids each deletion from a vector table removed (see :mod:`.deletion_log`).
DELETION_LOG = """
CREATE TABLE IF NOT EXISTS deleted_ids (
    vector_table TEXT NOT NULL,
    deletion INTEGER NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (vector_table, deletion, id)
) WITHOUT ROWID
"""
SCHEMA += DELETION_LOG + ";"


def new_pseudonym_key() -> str:
    """A new random key for a gallery's pseudonyms: 32 bytes, hex."""
    return secrets.token_hex(32)


def upgrade(db: sqlite3.Connection, version: str | None) -> bool:
    """Bring a database of an older schema ``version`` to :data:`SCHEMA_VERSION` (call inside
    a write transaction). Returns False when ``version`` is not one this code can upgrade."""
    if version not in ("1", "2"):
        return False
    if version == "1":
        db.execute("CREATE TABLE IF NOT EXISTS forgotten (pseudonym TEXT PRIMARY KEY, forgotten_at TEXT NOT NULL)")
        db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('pseudonym_key', ?)", (new_pseudonym_key(),))
    db.execute(DELETION_LOG)
    for table in VECTOR_TABLES:  # the deletions so far were never logged
        db.execute("INSERT OR IGNORE INTO meta(key, value) SELECT ?, value FROM meta WHERE key = ?",
                   (logged_after_key(table), f"{table}.deletions"))
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    return True
