"""The gallery's source of truth: one SQLite database (WAL) of subjects, consent records,
templates (vectors, provenance, optional face crops), opt-outs and the audit log.

Every change is one transaction. Deleted rows are overwritten with zeros (``secure_delete``)
and :meth:`Store.erase_freed` checkpoints and empties the WAL and hands freed pages back
(``incremental_vacuum``), so that deleted templates leave no bytes on disk. Timestamps are UTC ISO 8601 strings of fixed width
(``2026-11-22T10:00:00.000000Z``), which sort as they compare.

Two counters per vector table, kept in ``meta`` and bumped in the same transaction as the
change, let a vector index tell whether it is stale: ``<table>.generation`` (every change)
and ``<table>.deletions`` (every deletion); each deletion also logs the ids it removed under
its number (:mod:`.deletion_log`), so that a stale index removes just those.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GalleryError, InvalidArgument
from ..paths import private_file
from . import deletion_log
from .model_store import template_tables
from .policy import lookup_name
from .pseudonyms import pseudonym, scrub
from .records import AuditEntry, ConsentRecord, OptOutRecord, SubjectRecord, TemplateRecord
from .schema import SCHEMA, SCHEMA_VERSION, VECTOR_TABLES, new_pseudonym_key, upgrade

__all__ = ["Store", "VECTOR_TABLES"]

def _vector_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _blob_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


class Store:
    """The SQLite database of a gallery. Open with :meth:`create` or :meth:`open`.

    Not shared between threads; several processes may use one database (SQLite locks it).
    ``deletion_log_events``: how many deletions per vector table the deletion log keeps.
    """

    deletion_log_events = deletion_log.KEEP_EVENTS

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = self.connection = connection  # public for the modules with SQL of their own (model_store)

    # ------------------------------------------------------------ opening

    @classmethod
    def _connect(cls, path: Path) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            # Before anything else: auto_vacuum can only be chosen for a new database. It lets
            # erase_freed hand freed pages back to the file system without a full VACUUM.
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only kill -9
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")  # deleted content is overwritten with zeros
            db.execute("PRAGMA temp_store=MEMORY")  # no temporary copies of rows on disk
        except sqlite3.DatabaseError as error:
            raise GalleryError(f"{path}: not a gallery database ({error})") from None
        return db

    @classmethod
    def create(cls, path: Path, meta: dict[str, str]) -> Store:
        """A new database at ``path`` (which must not exist) with ``meta`` entries."""
        if path.exists():
            raise GalleryError(f"{path}: a gallery already exists here")
        private_file(path)  # 0600 (and so its WAL and shared-memory files), whatever the umask
        db = cls._connect(path)
        store = cls(path, db)
        with store.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            store._set_meta({"schema_version": str(SCHEMA_VERSION), "pseudonym_key": new_pseudonym_key(), **meta})
            for table in VECTOR_TABLES:
                store._set_meta({f"{table}.generation": "0", f"{table}.deletions": "0",
                                 deletion_log.logged_after_key(table): "0"})
        return store

    @classmethod
    def open(cls, path: Path) -> Store:
        if not path.is_file():
            raise GalleryError(f"{path.parent}: no gallery here (create one with: countenance gallery init)")
        db = cls._connect(path)
        store = cls(path, db)
        try:
            version = store.meta("schema_version")
        except sqlite3.DatabaseError as error:
            raise GalleryError(f"{path}: not a gallery database ({error})") from None
        if version != str(SCHEMA_VERSION):
            with store.transaction():
                current = store.meta("schema_version")  # another opener may have upgraded it meanwhile
                upgraded = current == str(SCHEMA_VERSION) or upgrade(db, current)
            if upgraded:
                return store
            store.close()
            raise GalleryError(f"{path}: gallery schema version {version}, this Countenance reads {SCHEMA_VERSION}")
        return store

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """The write transaction already open, or a new one (:meth:`transaction`)."""
        if self._db.in_transaction:
            yield
            return
        with self.transaction():
            yield

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every read inside sees one consistent state of the database
        (inside a write transaction already, nothing more is needed)."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    # ------------------------------------------------------------ meta

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def meta_json(self, key: str) -> Any:
        value = self.meta(key)
        return json.loads(value) if value is not None else None

    def _set_meta(self, entries: dict[str, str]) -> None:
        self._db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(entries.items()),
        )

    def set_meta(self, entries: dict[str, str]) -> None:
        """Set meta entries (call inside :meth:`transaction`)."""
        self._set_meta(entries)

    def _bump(self, table: str, deletion: bool) -> None:
        keys = [f"{table}.generation"] + ([f"{table}.deletions"] if deletion else [])
        for key in keys:
            self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", (key,))

    def _deleted(self, table: str, ids: list[int]) -> None:
        """Count one deletion from ``table`` and log the ``ids`` it removed under its number."""
        self._bump(table, deletion=True)
        deletion_log.record(self._db, table, self.counters(table)[1], ids, self.deletion_log_events)

    def counters(self, table: str) -> tuple[int, int]:
        """``(generation, deletions)`` of a vector table."""
        rows = dict(self._db.execute(
            "SELECT key, value FROM meta WHERE key IN (?, ?)", (f"{table}.generation", f"{table}.deletions")
        ).fetchall())
        return int(rows[f"{table}.generation"]), int(rows[f"{table}.deletions"])

    def deleted_ids(self, table: str, after: int, upto: int) -> np.ndarray | None:
        """Ids deleted from ``table`` by the deletions numbered ``after < n <= upto``, or None
        when the deletion log no longer holds them all (see :mod:`.deletion_log`)."""
        _check_table(table)
        return deletion_log.deleted_ids(self._db, table, after, upto)

    # ------------------------------------------------------------ vectors (for the indexes)

    def vector_stats(self, table: str, upto: int | None = None) -> tuple[int, int]:
        """``(count, max id)`` of rows in a vector table, optionally only ids ``<= upto``."""
        _check_table(table)
        where, args = ("WHERE id <= ?", (upto,)) if upto is not None else ("", ())
        count, top = self._db.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {table} {where}", args).fetchone()
        return int(count), int(top)

    def iter_vectors(self, table: str, after: int = 0, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids (n,) int64, vectors (n, D) float32)`` of rows with ``id > after``, in id order."""
        _check_table(table)
        last = after
        while True:
            rows = self._db.execute(f"SELECT id, vector FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            yield ids, np.stack([_blob_vector(r[1]) for r in rows])
            last = int(ids[-1])

    def vectors(self, table: str, ids: list[int]) -> dict[int, np.ndarray]:
        _check_table(table)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {r[0]: _blob_vector(r[1]) for r in self._db.execute(f"SELECT id, vector FROM {table} WHERE id IN ({marks})", ids)}

    # ------------------------------------------------------------ subjects and consent

    def subject(self, name: str) -> SubjectRecord | None:
        """The subject stored as ``name``, or as its NFC form without surrounding spaces."""
        row = self._db.execute(
            "SELECT s.id, s.name, s.created_at, count(t.id) FROM subjects s LEFT JOIN templates t ON t.subject_id = s.id "
            "WHERE s.name IN (?, ?) GROUP BY s.id ORDER BY s.name = ? DESC LIMIT 1", (name, lookup_name(name), name),
        ).fetchone()
        return SubjectRecord(*row) if row else None

    def subjects(self) -> list[SubjectRecord]:
        rows = self._db.execute(
            "SELECT s.id, s.name, s.created_at, count(t.id) FROM subjects s LEFT JOIN templates t ON t.subject_id = s.id "
            "GROUP BY s.id ORDER BY s.name"
        ).fetchall()
        return [SubjectRecord(*r) for r in rows]

    def templates_per_subject(self) -> dict[int, int]:
        """``{k: number of subjects with k templates}`` (subjects without templates left out)."""
        rows = self._db.execute(
            "SELECT n, count(*) FROM (SELECT count(*) AS n FROM templates GROUP BY subject_id) GROUP BY n"
        ).fetchall()
        return {int(k): int(n) for k, n in rows}

    def add_subject(self, name: str, now: str) -> int:
        return int(self._db.execute("INSERT INTO subjects(name, created_at) VALUES (?, ?)", (name, now)).lastrowid)

    def rename_subject(self, subject_id: int, new_name: str) -> None:
        self._db.execute("UPDATE subjects SET name = ? WHERE id = ?", (new_name, subject_id))

    def add_consent(self, subject_id: int, consent: ConsentRecord) -> int:
        return int(self._db.execute(
            "INSERT INTO consents(subject_id, text, consenter, purpose, evidence, given_at, recorded_at, recorded_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (subject_id, consent.text, consent.consenter, consent.purpose, consent.evidence, consent.given_at,
             consent.recorded_at, consent.recorded_by),
        ).lastrowid)

    def consents(self, subject_id: int) -> list[ConsentRecord]:
        rows = self._db.execute(
            "SELECT text, consenter, purpose, evidence, given_at, recorded_at, recorded_by, id FROM consents "
            "WHERE subject_id = ? ORDER BY id", (subject_id,),
        ).fetchall()
        return [ConsentRecord(*r) for r in rows]

    # ------------------------------------------------------------ templates

    _TEMPLATE_COLUMNS = (
        "t.id, s.name, t.model, t.source_path, t.source_sha256, t.box, t.created_at, t.enrolled_by, t.consent_id, "
        "t.crop IS NOT NULL"
    )

    @staticmethod
    def _template(row: tuple) -> TemplateRecord:
        return TemplateRecord(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7], row[8], bool(row[9]))

    def add_template(
        self, subject_id: int, consent_id: int | None, model: str, vector: np.ndarray, *, source_path: str | None,
        source_sha256: str, box: list[float], crop: bytes | None, now: str, actor: str,
    ) -> int:
        template_id = int(self._db.execute(
            "INSERT INTO templates(subject_id, consent_id, model, vector, source_path, source_sha256, box, crop, created_at, enrolled_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (subject_id, consent_id, model, _vector_blob(vector), source_path, source_sha256, json.dumps(box), crop, now, actor),
        ).lastrowid)
        self._bump("templates", deletion=False)
        return template_id

    def templates(self, subject_id: int | None = None, ids: list[int] | None = None) -> list[TemplateRecord]:
        sql = f"SELECT {self._TEMPLATE_COLUMNS} FROM templates t JOIN subjects s ON s.id = t.subject_id"
        if ids is not None:
            if not ids:
                return []
            rows = self._db.execute(f"{sql} WHERE t.id IN ({','.join('?' * len(ids))}) ORDER BY t.id", ids).fetchall()
        elif subject_id is not None:
            rows = self._db.execute(f"{sql} WHERE t.subject_id = ? ORDER BY t.id", (subject_id,)).fetchall()
        else:
            rows = self._db.execute(f"{sql} ORDER BY t.id").fetchall()
        return [self._template(r) for r in rows]

    def subject_names(self, template_ids: list[int]) -> dict[int, str]:
        """``{template id: subject name}`` for the ids that exist (a deleted id is simply absent)."""
        if not template_ids:
            return {}
        marks = ",".join("?" * len(template_ids))
        return dict(self._db.execute(
            f"SELECT t.id, s.name FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE t.id IN ({marks})",
            template_ids,
        ).fetchall())

    def has_source(self, subject_id: int, source_path: str | None, source_sha256: str) -> bool:
        """Whether this subject already has a template from this file (same path and content)."""
        row = self._db.execute(
            "SELECT 1 FROM templates WHERE subject_id = ? AND source_sha256 = ? AND source_path IS ? LIMIT 1",
            (subject_id, source_sha256, source_path),
        ).fetchone()
        return row is not None

    def crop(self, template_id: int) -> bytes | None:
        row = self._db.execute("SELECT crop FROM templates WHERE id = ?", (template_id,)).fetchone()
        return row[0] if row else None

    def template_ids(self, subject_id: int) -> list[int]:
        return [r[0] for r in self._db.execute("SELECT id FROM templates WHERE subject_id = ? ORDER BY id", (subject_id,))]

    def template_ids_before(self, moment: str) -> list[int]:
        return [r[0] for r in self._db.execute("SELECT id FROM templates WHERE created_at < ? ORDER BY id", (moment,))]

    def delete_templates(self, ids: list[int]) -> int:
        """Delete templates (then subjects left with none, parked ones counted, and their consents)."""
        if not ids:
            return 0
        deleted: list[int] = []
        for start in range(0, len(ids), 500):  # SQLite caps the parameters of one statement
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            # SELECT then DELETE, not DELETE ... RETURNING: that needs SQLite 3.35 (some
            # Python 3.11 builds link an older one); the write transaction keeps them one step.
            deleted += [r[0] for r in self._db.execute(f"SELECT id FROM templates WHERE id IN ({marks})", chunk)]
            self._db.execute(f"DELETE FROM templates WHERE id IN ({marks})", chunk)
        held = " UNION ".join(f"SELECT subject_id FROM {table}" for table in template_tables(self._db))
        self._db.execute(f"DELETE FROM subjects WHERE id NOT IN ({held})")
        self._deleted("templates", deleted)
        return len(deleted)

    def delete_subject(self, subject_id: int) -> int:
        """Delete a subject with its consent records and templates; returns the number of templates."""
        deleted = [r[0] for r in self._db.execute("SELECT id FROM templates WHERE subject_id = ?", (subject_id,))]
        self._db.execute("DELETE FROM templates WHERE subject_id = ?", (subject_id,))
        self._db.execute("DELETE FROM consents WHERE subject_id = ?", (subject_id,))
        self._db.execute("DELETE FROM subjects WHERE id = ?", (subject_id,))
        self._deleted("templates", deleted)
        return len(deleted)

    def sources(self, template_ids: list[int]) -> set[str]:
        """The source paths and photo sha256s of these templates (what erasure must remove)."""
        found: set[str] = set()
        for start in range(0, len(template_ids), 500):
            chunk = template_ids[start:start + 500]
            rows = self._db.execute(
                f"SELECT source_path, source_sha256 FROM templates WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            found.update(value for row in rows for value in row if value)
        return found

    def sources_in_use(self, values: set[str]) -> set[str]:
        """Which of ``values`` are still the source path or sha256 of some template."""
        return {v for v in values if self._db.execute(
            "SELECT 1 FROM templates WHERE source_path = ? OR source_sha256 = ? LIMIT 1", (v, v)).fetchone()}

    # ------------------------------------------------------------ forgotten subjects

    def pseudonym(self, name: str) -> str:
        """``name``'s keyed-hash pseudonym in this gallery (see :mod:`.pseudonyms`)."""
        return pseudonym(self.meta("pseudonym_key"), name)

    def add_tombstone(self, name: str, at: str) -> str:
        """Record that ``name`` was forgotten at ``at`` (by pseudonym only); returns the pseudonym."""
        alias = self.pseudonym(name)
        self._db.execute(
            "INSERT INTO forgotten(pseudonym, forgotten_at) VALUES (?, ?) "
            "ON CONFLICT(pseudonym) DO UPDATE SET forgotten_at = max(forgotten_at, excluded.forgotten_at)", (alias, at))
        return alias

    def forgotten_at(self, name: str) -> str | None:
        """When ``name`` was last forgotten, or None."""
        row = self._db.execute("SELECT forgotten_at FROM forgotten WHERE pseudonym = ?", (self.pseudonym(name),)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------ opt-outs

    def add_optout(self, model: str, vector: np.ndarray, *, source_sha256: str, box: list[float], note: str, now: str, actor: str) -> int:
        optout_id = int(self._db.execute(
            "INSERT INTO optouts(model, vector, source_sha256, box, note, created_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (model, _vector_blob(vector), source_sha256, json.dumps(box), note, now, actor),
        ).lastrowid)
        self._bump("optouts", deletion=False)
        return optout_id

    def optouts(self) -> list[OptOutRecord]:
        rows = self._db.execute(
            "SELECT id, model, source_sha256, box, note, created_at, recorded_by FROM optouts ORDER BY id"
        ).fetchall()
        return [OptOutRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

    def delete_optout(self, optout_id: int) -> bool:
        removed = [r[0] for r in self._db.execute("SELECT id FROM optouts WHERE id = ?", (optout_id,))]
        self._db.execute("DELETE FROM optouts WHERE id = ?", (optout_id,))
        if removed:
            self._deleted("optouts", removed)
        return bool(removed)

    # ------------------------------------------------------------ audit

    def add_audit(self, *, at: str, actor: str, action: str, query: Any, result: Any, subjects: list[str]) -> int:
        return int(self._db.execute(
            "INSERT INTO audit(at, actor, action, query, result, subjects) VALUES (?, ?, ?, ?, ?, ?)",
            (at, actor, action, json.dumps(query, sort_keys=True), json.dumps(result, sort_keys=True), json.dumps(sorted(set(subjects)))),
        ).lastrowid)

    def audit(self, *, since: str | None = None, action: str | None = None, subject: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        clauses, args = [], []
        if since is not None:
            clauses.append("at >= ?")
            args.append(since)
        if action is not None:
            clauses.append("action = ?")
            args.append(action)
        if subject is not None:  # by name, or by the pseudonym it was given when forgotten
            clauses.append("EXISTS (SELECT 1 FROM json_each(audit.subjects) WHERE value IN (?, ?, ?))")
            args.extend([subject, lookup_name(subject), self.pseudonym(subject)])
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f"LIMIT {int(limit)}" if limit is not None else ""
        rows = self._db.execute(
            f"SELECT id, at, actor, action, query, result FROM (SELECT * FROM audit {where} ORDER BY id DESC {tail}) ORDER BY id",
            args,
        ).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5])) for r in rows]

    def rewrite_audit(self, replace: dict[str, str], erase: set[str], path_names: set[str] = frozenset(),
                      *, first_id: int | None = None, last_id: int | None = None) -> int:
        """Rewrite every audit entry that holds a string of ``replace`` (names: replaced by their
        pseudonyms) or of ``erase`` (source paths, photo hashes: erased), and erase the paths in
        them with a component in ``path_names`` (export folders); returns how many. Only the
        entries with ids from ``first_id`` to ``last_id`` (inclusive; None: no bound) are read.

        Entries are found by their JSON text (a scan of the log), then rewritten field by field
        (:func:`.pseudonyms.scrub`); ``secure_delete`` zeroes the old versions of the rows.
        """
        needles = [json.dumps(s)[1:-1] for s in (*replace, *erase) if s]
        ids: set[int] = set()
        for start in range(0, len(needles), 300):
            chunk = needles[start:start + 300]
            where = " OR ".join("instr(query, ?) OR instr(result, ?) OR instr(subjects, ?)" for _ in chunk)
            bounds = [first_id if first_id is not None else -1, last_id if last_id is not None else 2**62]
            ids.update(r[0] for r in self._db.execute(f"SELECT id FROM audit WHERE id BETWEEN ? AND ? AND ({where})",
                                                      bounds + [n for n in chunk for _ in range(3)]))
        names = set(replace) | set(path_names)
        for audit_id in sorted(ids):
            query, result, subjects = self._db.execute("SELECT query, result, subjects FROM audit WHERE id = ?", (audit_id,)).fetchone()
            self._db.execute(
                "UPDATE audit SET query = ?, result = ?, subjects = ? WHERE id = ?",
                (json.dumps(scrub(json.loads(query), replace, erase, names), sort_keys=True),
                 json.dumps(scrub(json.loads(result), replace, erase, names), sort_keys=True),
                 json.dumps(sorted(set(scrub(json.loads(subjects), replace, erase, names)))), audit_id),
            )
        return len(ids)

    # ------------------------------------------------------------ erasure

    def erase_freed(self) -> bool:
        """Make committed deletions final on disk.

        ``secure_delete`` has already overwritten the deleted content with zeros in the new
        page versions; this copies them into the database file and empties the WAL (which
        still holds the old versions): ``wal_checkpoint(TRUNCATE)``, then ``incremental_vacuum``
        (freed pages are cut off the end of the file), then ``wal_checkpoint(TRUNCATE)``
        again. Unlike a full ``VACUUM`` its cost does not grow with the size of the gallery.

        Returns False if another connection's open read kept the WAL from being emptied (the
        old page versions then stay in the WAL until the next checkpoint that completes).
        """
        complete = self._checkpoint()
        self._db.executescript("PRAGMA incremental_vacuum;")  # executescript steps it to the end
        return self._checkpoint() and complete

    def _checkpoint(self) -> bool:
        busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0

    def files(self) -> list[Path]:
        """The database's files on disk (the database, its WAL and shared-memory index)."""
        return [p for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")) if p.exists()]


def _check_table(table: str) -> None:
    if table not in VECTOR_TABLES:
        raise InvalidArgument(f"not a vector table: {table!r}")

