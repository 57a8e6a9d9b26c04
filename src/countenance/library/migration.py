"""Move a photo library to another recogniser: re-embed every stored face, cut over, roll back.

Each face is re-embedded from its photo (when the file's sha256 is still the stored one) at
its stored box and landmarks (placed by the pipeline's landmarker when none were stored), not
re-detected, through the batch-embedding layer (:class:`~countenance.ingest.GivenFaces`: the
faces of a batch's photos in one network batch, in worker processes started once and reused
for every batch). The face keeps its id, so people, names, confirmations, rejections, manual faces,
suggestions answered and the undo log still point at it. The new templates go beside the old
(``model_templates``), a committed batch at a time, so the library stays usable meanwhile and a
killed run resumes where it stopped. One transaction then switches every face: the old
template is kept for :func:`rollback` until :func:`prune`; a face that could not be re-embedded
keeps its old template and is gated ``not-migrated`` (out of clustering and suggestions). The
open suggestions (distances of the old model) are dropped and the next clustering starts over
under the new model (confirmed faces stay must-links).
"""

from __future__ import annotations

import os
from contextlib import closing
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..calibration.store import load_calibration
from ..embedding import template_model, template_spec
from ..errors import CalibrationMissing
from ..faces import ModelRecord
from ..gallery.migration import MigrationReport, NotReembedded
from ..hashing import sha256_file
from ..ingest import BatchEmbedder, GivenFace, GivenFaces
from ..pipeline import PipelineConfig
from .model import NOT_MIGRATED, switch_model
from .store import DB_NAME, LibraryError, LibraryStore

__all__ = ["NOT_MIGRATED", "migrate", "rollback", "prune", "status"]

_TARGET, _PREVIOUS = "migration.target", "migration.previous"
_THEN = "kept with its {model} template, gated not-migrated (no clustering, no suggestions)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_templates (
    model TEXT NOT NULL, face_id INTEGER NOT NULL, template BLOB NOT NULL, gate TEXT, PRIMARY KEY (model, face_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS migration_outcomes (
    model TEXT NOT NULL, face_id INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (model, face_id)
) WITHOUT ROWID
"""
# A face deleted (its photo dropped from the library) takes its other-model copies with it.
_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS faces_copies_go AFTER DELETE ON faces BEGIN
    DELETE FROM model_templates WHERE face_id = OLD.id;
    DELETE FROM migration_outcomes WHERE face_id = OLD.id;
END;
"""
_PENDING = """
SELECT f.id, p.path, p.sha256, f.left_px, f.top_px, f.right_px, f.bottom_px, f.detection_score, f.rotation,
       f.landmarks, f.gate
FROM faces f JOIN photos p ON p.id = f.photo_id
WHERE NOT EXISTS (SELECT 1 FROM model_templates m WHERE m.model = ? AND m.face_id = f.id)
  AND NOT EXISTS (SELECT 1 FROM migration_outcomes o WHERE o.model = ? AND o.face_id = f.id)
ORDER BY f.photo_id, f.id LIMIT ?
"""


def _open(folder: str | os.PathLike[str]) -> LibraryStore:
    return LibraryStore.open(Path(folder).expanduser() / DB_NAME, create=False)


def _active_model(db: sqlite3.Connection) -> str | None:
    models = [r[0] for r in db.execute("SELECT DISTINCT model FROM faces WHERE gate IS NOT ?", (NOT_MIGRATED,))]
    if len(models) > 1:
        raise LibraryError(f"this library holds templates of several models ({', '.join(sorted(models))}): "
                           "re-index it with one (library index --full)")
    return models[0] if models else None


def migrate(folder: str | os.PathLike[str], pipeline: PipelineConfig, *, workers: int = 1, batch_size: int = 32,
            on_batch: Callable[[int, int], None] | None = None) -> MigrationReport:
    """Re-embed the library in ``folder`` with ``pipeline``'s model and cut over (see the
    module), in ``workers`` processes started once (the models load on the first batch)."""
    target = template_model(pipeline.embedder)
    with closing(_open(folder)) as store, BatchEmbedder(pipeline, workers=workers, lazy=True) as embedder:
        with store.transaction() as db:
            _ensure(db)
            active = _active_model(db)
            if active is None or active == target:
                return MigrationReport("none", active, target, message=f"the library's model is already {target}: nothing "
                                       "to migrate" if active else "the library holds no faces: nothing to migrate")
            if load_calibration(target) is None:  # else the next clustering fails, after all the work
                raise CalibrationMissing(target, embedder=pipeline.embedder,
                                         needed_for=" (a library clusters by it): the library cannot move to it yet")
            underway = store.meta(_TARGET)
            if underway is not None and underway != target:
                raise LibraryError(f"a migration to {underway} is under way: finish it (models migrate --to that model) "
                                   "or drop it (models migrate --prune)")
            store.set_meta(_TARGET, target)
        already = _count(store.connection, "model_templates", target)
        embedded = 0
        while True:
            embedded += _embed_pending(store, embedder, target, batch_size, on_batch)
            with store.transaction() as db:
                if _active_model(db) != active or store.meta(_TARGET) != target:
                    raise LibraryError("another run cut over, rolled back or pruned this migration meanwhile: "
                                       "see models migrate --status")
                if db.execute(_PENDING, (target, target, 1)).fetchone() is not None:
                    continue  # faces indexed meanwhile
                failed = tuple(NotReembedded("faces", i, o, d, _THEN.format(model=active)) for i, o, d in db.execute(
                    "SELECT face_id, outcome, detail FROM migration_outcomes WHERE model = ? ORDER BY face_id", (target,)))
                parked = _switch(store, active, target, ModelRecord.of(template_spec(pipeline.embedder)))
                (faces,) = db.execute("SELECT count(*) FROM faces").fetchone()
            return MigrationReport("migrate", active, target, cut_over=True, templates=faces, embedded=embedded,
                                   already=already, parked=parked, rollback_to=active, not_reembedded=failed,
                                   message=f"cut over to {target}; `models migrate --rollback` returns to {active} until "
                                           "`models migrate --prune`; index new photos with this model from now on")


def _ensure(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(_TRIGGER)


def _count(db: sqlite3.Connection, table: str, model: str) -> int:
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is None:
        return 0
    return int(db.execute(f"SELECT count(*) FROM {table} WHERE model = ?", (model,)).fetchone()[0])


def _held(db: sqlite3.Connection) -> bool:
    """Whether any template of a model other than the library's is held."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'model_templates'").fetchone() is None:
        return False
    return db.execute("SELECT 1 FROM model_templates LIMIT 1").fetchone() is not None


def _embed_pending(store: LibraryStore, embedder: BatchEmbedder, model: str, batch_size: int,
                   on_batch: Callable[[int, int], None] | None) -> int:
    """Re-embed every face still without a template or outcome for ``model``, a committed batch
    at a time; the faces of all the batch's photos go through ``embedder`` together."""
    embedded = 0
    while rows := store.connection.execute(_PENDING, (model, model, batch_size)).fetchall():
        results: list[tuple[int, bytes | None, str | None, str, str]] = []
        by_photo: dict[tuple[str, str], list[tuple]] = {}
        for row in rows:
            by_photo.setdefault((row[1], row[2]), []).append(row)
        photos = []
        for (path, sha256), faces in by_photo.items():
            outcome, detail = _check(path, sha256)
            if outcome:
                results += [(row[0], None, None, outcome, detail) for row in faces]
            else:
                photos.append((path, faces))
        records = embedder.embed_images([path for path, _ in photos], choice=GivenFaces(),
                                        contexts=[tuple(_given(row) for row in faces) for _, faces in photos])
        for (_, faces), record in zip(photos, records):
            if record.error is not None:
                results += [(row[0], None, None, "unreadable", record.error) for row in faces]
                continue
            for row, face in zip(faces, record.faces, strict=True):
                vector = np.ascontiguousarray(face.vector, dtype=np.float32).tobytes()
                results.append((row[0], vector, None if row[10] == NOT_MIGRATED else row[10], "", ""))
        with store.transaction() as db:
            for face_id, vector, gate, outcome, detail in results:
                # Only for a face still there: a photo dropped meanwhile must leave no copy.
                if vector is not None:
                    db.execute("INSERT OR REPLACE INTO model_templates(model, face_id, template, gate) SELECT ?, ?, ?, ? "
                               "WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?)", (model, face_id, vector, gate, face_id))
                else:
                    db.execute("INSERT OR REPLACE INTO migration_outcomes(model, face_id, outcome, detail) SELECT ?, ?, ?, ? "
                               "WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?)", (model, face_id, outcome, detail, face_id))
        embedded += sum(r[1] is not None for r in results)
        if on_batch is not None:
            (total,) = store.connection.execute("SELECT count(*) FROM faces").fetchone()
            on_batch(_count(store.connection, "model_templates", model)
                     + _count(store.connection, "migration_outcomes", model), int(total))
    return embedded


def _check(path: str, sha256: str) -> tuple[str, str]:
    """``("", "")`` when the photo is there as it was indexed, else the outcome and detail."""
    if not Path(path).is_file():
        return "missing-file", f"photo missing: {path}"
    if sha256_file(path) != sha256:
        return "changed-hash", f"photo changed since it was indexed: {path}"
    return "", ""


def _given(row: tuple) -> GivenFace:
    """The stored face (box, score, rotation, landmarks: placed by the landmarker when none
    were stored, as for a face added by hand), to be embedded where it is."""
    landmarks = None if row[9] is None else np.frombuffer(row[9], dtype=np.float32).reshape(5, 2)
    return GivenFace(tuple(float(v) for v in row[3:7]), landmarks, "stored", float(row[7]), int(row[8]))


def _switch(store: LibraryStore, old: str, new: str, record: ModelRecord | None = None) -> int:
    """Make ``new`` the library's model (inside a write transaction; ``record`` its record, None
    on a rollback: the one kept); returns how many faces were gated not-migrated (those
    without a ``new`` template)."""
    db = store.connection
    db.execute("INSERT OR REPLACE INTO model_templates(model, face_id, template, gate) "
               "SELECT model, id, template, gate FROM faces WHERE model = ?", (old,))
    has_new = "SELECT face_id FROM model_templates WHERE model = ?"
    parked = db.execute(f"UPDATE faces SET gate = ? WHERE id NOT IN ({has_new})", (NOT_MIGRATED, new)).rowcount
    db.execute("UPDATE faces SET model = ?, template = (SELECT template FROM model_templates m WHERE m.model = ? AND "
               f"m.face_id = faces.id), gate = (SELECT gate FROM model_templates m WHERE m.model = ? AND m.face_id = faces.id) "
               f"WHERE id IN ({has_new})", (new, new, new, new))
    db.execute("DELETE FROM model_templates WHERE model = ?", (new,))
    store.clear_open_suggestions()  # their distances are the old model's
    db.execute("DELETE FROM meta WHERE key IN (?, 'cluster_rule')", (_TARGET,))  # the next clustering starts over
    store.set_meta(_PREVIOUS, old)
    switch_model(store, record, new)
    return parked


def rollback(folder: str | os.PathLike[str]) -> MigrationReport:
    """Switch back to the model migrated away from (faces indexed since are gated not-migrated)."""
    with closing(_open(folder)) as store:
        with store.transaction() as db:
            previous = store.meta(_PREVIOUS)
            if previous is None:
                raise LibraryError(f"{folder}: no previous model to roll back to (none migrated from, or it was pruned)")
            active = _active_model(db)
            parked = _switch(store, active, previous)
            (faces,) = db.execute("SELECT count(*) FROM faces").fetchone()
        return MigrationReport("rollback", active, previous, cut_over=True, templates=faces, parked=parked,
                               rollback_to=active, message=f"back to {previous}; {parked} face(s) without a {previous} "
                                                           "template gated not-migrated")


def prune(folder: str | os.PathLike[str]) -> MigrationReport:
    """Erase every other model's templates (no rollback after this) and a migration under way."""
    with closing(_open(folder)) as store:
        with store.transaction() as db:
            active = _active_model(db)
            vectors = 0
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'model_templates'").fetchone() is not None:
                vectors = db.execute("DELETE FROM model_templates").rowcount
                db.execute("DELETE FROM migration_outcomes")
            db.execute("DELETE FROM meta WHERE key IN (?, ?)", (_TARGET, _PREVIOUS))
        store.erase_freed()
        return MigrationReport("prune", active, active, pruned_vectors=vectors,
                               message=f"erased {vectors} template(s) of other models")


def status(folder: str | os.PathLike[str]) -> dict:
    """The library's model, a migration under way (progress) and the model a rollback returns to."""
    with closing(_open(folder)) as store:
        db = store.connection
        target = store.meta(_TARGET)
        progress = None
        if target is not None:
            (faces,) = db.execute("SELECT count(*) FROM faces").fetchone()
            progress = {"faces": {"rows": int(faces), "done": _count(db, "model_templates", target),
                                  "failed": _count(db, "migration_outcomes", target)}}
        active = _active_model(db)
        uncalibrated = [m for m in (active, target) if m is not None and load_calibration(m) is None]
        return {"model": active, "migrating_to": target, "progress": progress,
                "rollback_to": store.meta(_PREVIOUS), "other_models_held": _held(db),
                "calibration_missing": str(CalibrationMissing(uncalibrated[0])) if uncalibrated else None}
