"""The photo library's source of truth: one SQLite database (WAL) of photos, faces, people,
the user's decisions and suggestions.

Tables (every change is one transaction; the indexer commits one batch of photos at a time):

- ``photos``: one row per file (path, sha256, size, mtime, pixel size, EXIF orientation, or
  the error that made it unreadable, kept so the file is not retried until it changes).
- ``faces``: box, 5-point landmarks, detection score, sharpness, template of each face;
  ``gate`` names the quality rule a face failed (NULL: eligible for clustering/suggestions).
- ``persons``: people found by clustering or made by the user (``name`` set once named).
  ``kept``: made or touched by the user, so re-clustering never deletes it.
- ``assignments``: which person each face belongs to; ``confirmed`` = the user said so
  (a must-link that clustering never changes), else clustering put it there.
- ``rejections``: (face, person) pairs the user said are not that person (cannot-link).
- ``person_links``: pairs of people the user said are not one person (a rejected merge
  suggestion; never suggested again).
- ``face_origins``: faces not found by the detector alone: ``added`` by hand, or named from
  the photo's XMP (``xmp-sidecar``, ``xmp-embedded``).
- ``operations``, ``operation_changes``: the log of the user's decisions, row by row, for
  undo (:mod:`countenance.library.oplog`).
- ``suggestions``: the enrolled subject suggested for a face, its distance and false-match
  rate, and its state (``open``, ``accepted``, ``rejected``); a rejected pair is never
  suggested again.

Face ids are stable across re-indexing: a re-detected face takes the id of the stored face of
the same photo whose box it overlaps most (see :mod:`countenance.library.indexer`), so
decisions keyed by face id survive a full re-index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CountenanceError
from .tracking import TRACKED, trigger_sql
from ..paths import private_file, private_folder

__all__ = ["LibraryStore", "PhotoRow", "FaceRow", "LibraryError", "DB_NAME", "TRACKED"]

DB_NAME = "library.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    width_px INTEGER NOT NULL DEFAULT 0,
    height_px INTEGER NOT NULL DEFAULT 0,
    orientation INTEGER NOT NULL DEFAULT 1,
    error TEXT,
    indexed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS photos_sha ON photos(sha256);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    left_px REAL NOT NULL, top_px REAL NOT NULL, right_px REAL NOT NULL, bottom_px REAL NOT NULL,
    detection_score REAL NOT NULL,
    sharpness REAL NOT NULL,
    rotation INTEGER NOT NULL DEFAULT 0,
    landmarks BLOB,
    template BLOB NOT NULL,
    model TEXT NOT NULL,
    gate TEXT
);
CREATE INDEX IF NOT EXISTS faces_photo ON faces(photo_id);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE,
    hidden INTEGER NOT NULL DEFAULT 0,
    kept INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS assignments (
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    confirmed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS assignments_person ON assignments(person_id);
CREATE TABLE IF NOT EXISTS rejections (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    PRIMARY KEY (face_id, person_id)
);
CREATE TABLE IF NOT EXISTS suggestions (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    distance REAL NOT NULL,
    false_match_rate REAL,
    state TEXT NOT NULL DEFAULT 'open',
    PRIMARY KEY (face_id, subject)
);
CREATE TABLE IF NOT EXISTS xmp_written (photo_id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (photo_id, name));
CREATE TABLE IF NOT EXISTS person_links (
    person_a INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    person_b INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    PRIMARY KEY (person_a, person_b)
);
CREATE TABLE IF NOT EXISTS face_origins (
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS xmp_checked (
    photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
    version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS operation_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    operation_id INTEGER NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
    tbl TEXT NOT NULL, action TEXT NOT NULL, c0, c1, c2, c3, c4
);
CREATE INDEX IF NOT EXISTS operation_changes_op ON operation_changes(operation_id);
"""

class LibraryError(CountenanceError):
    """A library cannot be opened or used as asked (not a library, unknown person or face)."""


@dataclass(frozen=True)
class PhotoRow:
    """A photo as stored: ``error`` is set (and there are no faces) when it could not be read."""

    id: int
    path: str
    sha256: str
    size_bytes: int
    mtime_ns: int
    width_px: int
    height_px: int
    orientation: int
    error: str | None


@dataclass(frozen=True, eq=False)
class FaceRow:
    """A stored face: box ``(left, top, right, bottom)`` in pixels of the upright photo,
    ``landmarks_5x2`` float32 or None, ``template`` ``(D,) float32``, ``gate`` the quality rule
    it failed (None: eligible)."""

    id: int
    photo_id: int
    box_ltrb_px: tuple[float, float, float, float]
    detection_score: float
    sharpness: float
    rotation: int
    landmarks_5x2: np.ndarray | None
    template: np.ndarray
    model: str
    gate: str | None


_FACE_COLUMNS = ("id, photo_id, left_px, top_px, right_px, bottom_px, detection_score, sharpness, rotation, "
                 "landmarks, template, model, gate")


def _face(row: sqlite3.Row | tuple) -> FaceRow:
    landmarks = None if row[9] is None else np.frombuffer(row[9], dtype=np.float32).reshape(5, 2)
    return FaceRow(int(row[0]), int(row[1]), (row[2], row[3], row[4], row[5]), float(row[6]), float(row[7]),
                   int(row[8]), landmarks, np.frombuffer(row[10], dtype=np.float32), row[11], row[12])


class LibraryStore:
    """An open library database. Not thread-safe; one writer process at a time (SQLite locks)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> LibraryStore:
        """Open (and with ``create``, create) the database at ``path``."""
        path = Path(path)
        if not create and not path.is_file():
            raise LibraryError(f"{path}: no library here (index a folder first)")
        private_folder(path.parent)  # 0700 and 0600: who is in which photo is its owner's only
        private_file(path)
        connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten with zeros, so a forgotten name leaves no bytes behind
        # (see erase_freed).
        connection.execute("PRAGMA secure_delete=ON")
        # A REPLACE fires the delete triggers too, so the operation log sees the row it replaced.
        connection.execute("PRAGMA recursive_triggers=ON")
        connection.executescript(_SCHEMA)
        connection.executescript(trigger_sql())
        version = connection.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if version is None:
            connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(version[0]) != SCHEMA_VERSION:
            connection.close()
            raise LibraryError(f"{path}: library schema {version[0]}, this version reads {SCHEMA_VERSION}")
        return cls(connection, path)

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    @contextmanager
    def recording(self, kind: str, summary: str = "") -> Iterator[int]:
        """One user decision: a write transaction whose every change to the decision tables
        is logged under a new operation (see :mod:`countenance.library.oplog`); yields its id."""
        with self.transaction() as connection:
            op_id = int(connection.execute("INSERT INTO operations (kind, summary) VALUES (?, ?)", (kind, summary)).lastrowid)
            connection.execute("INSERT INTO op_current VALUES (?)", (op_id,))
            try:
                yield op_id
            finally:
                connection.execute("DELETE FROM op_current")

    def set_operation_summary(self, op_id: int, summary: str) -> None:
        self.connection.execute("UPDATE operations SET summary=? WHERE id=?", (summary, op_id))

    def erase_freed(self) -> bool:
        """Make committed deletions final on disk: ``secure_delete`` zeroed them in the new page
        versions; ``wal_checkpoint(TRUNCATE)`` copies those into the database file and empties
        the WAL, which still holds the old versions. False if another connection's open read
        kept the WAL from being emptied (the next completed checkpoint finishes the job)."""
        busy, _, _ = self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0

    def meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.connection.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------ photos

    def photos(self) -> list[PhotoRow]:
        rows = self.connection.execute(
            "SELECT id, path, sha256, size_bytes, mtime_ns, width_px, height_px, orientation, error FROM photos ORDER BY path"
        ).fetchall()
        return [PhotoRow(*row) for row in rows]

    def photo(self, photo_id: int) -> PhotoRow | None:
        row = self.connection.execute(
            "SELECT id, path, sha256, size_bytes, mtime_ns, width_px, height_px, orientation, error FROM photos WHERE id=?",
            (photo_id,),
        ).fetchone()
        return None if row is None else PhotoRow(*row)

    def upsert_photo(self, path: str, sha256: str, size_bytes: int, mtime_ns: int, width_px: int, height_px: int,
                     orientation: int, error: str | None) -> int:
        """Insert or update the photo at ``path``; returns its id (kept when the path was known)."""
        self.connection.execute(
            "INSERT INTO photos (path, sha256, size_bytes, mtime_ns, width_px, height_px, orientation, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET sha256=excluded.sha256, "
            "size_bytes=excluded.size_bytes, mtime_ns=excluded.mtime_ns, width_px=excluded.width_px, "
            "height_px=excluded.height_px, orientation=excluded.orientation, error=excluded.error, "
            "indexed_at=strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (path, sha256, size_bytes, mtime_ns, width_px, height_px, orientation, error),
        )
        return int(self.connection.execute("SELECT id FROM photos WHERE path=?", (path,)).fetchone()[0])

    def move_photo(self, photo_id: int, path: str, mtime_ns: int) -> None:
        self.connection.execute("UPDATE photos SET path=?, mtime_ns=? WHERE id=?", (path, mtime_ns, photo_id))

    def delete_photos(self, photo_ids: list[int]) -> None:
        self.connection.executemany("DELETE FROM photos WHERE id=?", [(i,) for i in photo_ids])

    # ------------------------------------------------------------ faces

    def faces(self, *, photo_id: int | None = None, eligible_only: bool = False) -> list[FaceRow]:
        """Stored faces in id order (of one photo, or only those that passed the quality gate)."""
        where, args = [], []
        if photo_id is not None:
            where.append("photo_id=?")
            args.append(photo_id)
        if eligible_only:
            where.append("gate IS NULL")
        sql = f"SELECT {_FACE_COLUMNS} FROM faces" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [_face(r) for r in self.connection.execute(sql, args)]

    def face(self, face_id: int) -> FaceRow:
        row = self.connection.execute(f"SELECT {_FACE_COLUMNS} FROM faces WHERE id=?", (face_id,)).fetchone()
        if row is None:
            raise LibraryError(f"no face {face_id} in the library")
        return _face(row)

    def face_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every eligible face as arrays: ``(ids (N,) int64, photo_ids (N,) int64, templates (N, D) float32)``."""
        rows = self.connection.execute("SELECT id, photo_id, template FROM faces WHERE gate IS NULL ORDER BY id").fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        photos = np.array([r[1] for r in rows], dtype=np.int64)
        sizes = {len(r[2]) for r in rows}
        if len(sizes) == 1:  # one model: one buffer, read at once
            templates = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        else:
            templates = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
        return ids, photos, templates

    def write_face(self, face_id: int | None, photo_id: int, box: tuple[float, float, float, float], score: float,
                   sharpness: float, rotation: int, landmarks: np.ndarray | None, template: np.ndarray, model: str,
                   gate: str | None) -> int:
        """Insert a face (``face_id`` None) or overwrite the stored face ``face_id``; returns its id."""
        values = (photo_id, *map(float, box), float(score), float(sharpness), int(rotation),
                  None if landmarks is None else np.asarray(landmarks, np.float32).tobytes(),
                  np.asarray(template, np.float32).tobytes(), model, gate)
        if face_id is None:
            cursor = self.connection.execute(
                "INSERT INTO faces (photo_id, left_px, top_px, right_px, bottom_px, detection_score, sharpness, "
                "rotation, landmarks, template, model, gate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            return int(cursor.lastrowid)
        self.connection.execute(
            "UPDATE faces SET photo_id=?, left_px=?, top_px=?, right_px=?, bottom_px=?, detection_score=?, "
            "sharpness=?, rotation=?, landmarks=?, template=?, model=?, gate=? WHERE id=?", (*values, face_id))
        return face_id

    def delete_faces(self, face_ids: list[int]) -> None:
        self.connection.executemany("DELETE FROM faces WHERE id=?", [(i,) for i in face_ids])

    def set_gates(self, gates: dict[int, str | None]) -> None:
        self.connection.executemany("UPDATE faces SET gate=? WHERE id=?", [(g, i) for i, g in gates.items()])

    # ------------------------------------------------------------ people

    def persons(self) -> list[tuple[int, str | None, bool, bool]]:
        """``(id, name, hidden, kept)`` of every person."""
        return [(r[0], r[1], bool(r[2]), bool(r[3])) for r in
                self.connection.execute("SELECT id, name, hidden, kept FROM persons ORDER BY id")]

    def person(self, person_id: int) -> tuple[int, str | None, bool, bool]:
        row = self.connection.execute("SELECT id, name, hidden, kept FROM persons WHERE id=?", (person_id,)).fetchone()
        if row is None:
            raise LibraryError(f"no person {person_id} in the library")
        return row[0], row[1], bool(row[2]), bool(row[3])

    def person_by_name(self, name: str) -> int | None:
        row = self.connection.execute("SELECT id FROM persons WHERE name=?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def new_person(self, *, name: str | None = None, kept: bool = False) -> int:
        cursor = self.connection.execute("INSERT INTO persons (name, kept) VALUES (?, ?)", (name, int(kept)))
        return int(cursor.lastrowid)

    def update_person(self, person_id: int, **values: object) -> None:
        allowed = {"name", "hidden", "kept"}
        if not values or set(values) - allowed:
            raise LibraryError(f"cannot update person fields {sorted(set(values) - allowed)}")
        columns = ", ".join(f"{k}=?" for k in values)
        self.connection.execute(f"UPDATE persons SET {columns} WHERE id=?", (*values.values(), person_id))

    def delete_persons(self, person_ids: list[int]) -> None:
        self.connection.executemany("DELETE FROM persons WHERE id=?", [(i,) for i in person_ids])

    def assignments(self) -> dict[int, tuple[int, bool]]:
        """``face_id -> (person_id, confirmed)``."""
        return {r[0]: (r[1], bool(r[2])) for r in self.connection.execute("SELECT face_id, person_id, confirmed FROM assignments")}

    def assignment_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every assignment as arrays, by face id: ``(face_ids, person_ids (N,) int64, confirmed (N,) bool)``."""
        rows = self.connection.execute("SELECT face_id, person_id, confirmed FROM assignments ORDER BY face_id").fetchall()
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        return table[:, 0], table[:, 1], table[:, 2].astype(bool)

    def assign(self, face_id: int, person_id: int, *, confirmed: bool) -> None:
        self.connection.execute("INSERT OR REPLACE INTO assignments VALUES (?, ?, ?)", (face_id, person_id, int(confirmed)))

    def unassign(self, face_ids: list[int]) -> None:
        self.connection.executemany("DELETE FROM assignments WHERE face_id=?", [(i,) for i in face_ids])

    def person_faces(self, person_id: int) -> list[tuple[int, bool]]:
        """``(face_id, confirmed)`` of the faces assigned to ``person_id``."""
        return [(r[0], bool(r[1])) for r in self.connection.execute(
            "SELECT face_id, confirmed FROM assignments WHERE person_id=? ORDER BY face_id", (person_id,))]

    def reject(self, face_id: int, person_id: int) -> None:
        self.connection.execute("INSERT OR IGNORE INTO rejections VALUES (?, ?)", (face_id, person_id))

    def rejections(self) -> set[tuple[int, int]]:
        """``(face_id, person_id)`` cannot-link pairs."""
        return {(r[0], r[1]) for r in self.connection.execute("SELECT face_id, person_id FROM rejections")}

    def move_person_links(self, source: int, target: int) -> None:
        """Point the rejections of person ``source`` at ``target`` (a merge keeps them)."""
        self.connection.execute("INSERT OR IGNORE INTO rejections SELECT face_id, ? FROM rejections WHERE person_id=?",
                                (target, source))
        self.connection.execute("DELETE FROM rejections WHERE person_id=?", (source,))

    def link_apart(self, a: int, b: int) -> None:
        """Record that people ``a`` and ``b`` are not one person (a rejected merge suggestion)."""
        self.connection.execute("INSERT OR IGNORE INTO person_links VALUES (?, ?)", (min(a, b), max(a, b)))

    def apart(self) -> set[tuple[int, int]]:
        """``(a, b)`` pairs of people (``a < b``) the user said are not one person."""
        return {(r[0], r[1]) for r in self.connection.execute("SELECT person_a, person_b FROM person_links")}

    # ------------------------------------------------------------ suggestions

    def suggestions(self, *, state: str | None = None) -> list[tuple[int, str, float, float | None, str]]:
        """``(face_id, subject, distance, false_match_rate, state)``, by face id."""
        sql = "SELECT face_id, subject, distance, false_match_rate, state FROM suggestions"
        rows = self.connection.execute(sql + (" WHERE state=?" if state else "") + " ORDER BY face_id",
                                       (state,) if state else ())
        return [tuple(r) for r in rows]

    def put_suggestion(self, face_id: int, subject: str, distance: float, fmr: float | None) -> None:
        """Record an open suggestion; a pair already accepted or rejected keeps its state."""
        self.connection.execute(
            "INSERT INTO suggestions VALUES (?, ?, ?, ?, 'open') ON CONFLICT(face_id, subject) DO UPDATE SET "
            "distance=excluded.distance, false_match_rate=excluded.false_match_rate", (face_id, subject, distance, fmr))

    def set_suggestion_state(self, face_id: int, subject: str, state: str) -> None:
        self.connection.execute("UPDATE suggestions SET state=? WHERE face_id=? AND subject=?", (state, face_id, subject))

    def clear_open_suggestions(self, face_ids: list[int] | None = None) -> None:
        if face_ids is None:
            self.connection.execute("DELETE FROM suggestions WHERE state='open'")
        else:
            self.connection.executemany("DELETE FROM suggestions WHERE state='open' AND face_id=?", [(i,) for i in face_ids])

    def counts(self) -> dict[str, int]:
        """Row counts for ``status``."""
        one = lambda sql: int(self.connection.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "photos": one("SELECT COUNT(*) FROM photos WHERE error IS NULL"),
            "unreadable": one("SELECT COUNT(*) FROM photos WHERE error IS NOT NULL"),
            "faces": one("SELECT COUNT(*) FROM faces"),
            "gated": one("SELECT COUNT(*) FROM faces WHERE gate IS NOT NULL"),
            "assigned": one("SELECT COUNT(*) FROM assignments"),
            "confirmed": one("SELECT COUNT(*) FROM assignments WHERE confirmed=1"),
            "persons": one("SELECT COUNT(*) FROM persons"),
            "named": one("SELECT COUNT(*) FROM persons WHERE name IS NOT NULL"),
            "open_suggestions": one("SELECT COUNT(*) FROM suggestions WHERE state='open'"),
            "xmp_named": one("SELECT COUNT(*) FROM face_origins WHERE source LIKE 'xmp%'"),
            "faces_added": one("SELECT COUNT(*) FROM face_origins WHERE source='added'"),
            "operations": one("SELECT COUNT(*) FROM operations"),
        }
