"""Move a gallery to another recogniser: re-embed from the stored sources, cut over, roll back.

:func:`migrate` re-embeds every template from its enrolment photo (the file at ``source_path``
while its sha256 is still ``source_sha256``, else a file of the same content found under
``sources``, else the stored face crop) and every opt-out from a photo of the same content
under ``sources``. The face is the one at the stored box, found by the pipeline's detector;
the photos of a batch of rows are embedded together (:class:`BatchFaces`). The new vectors are written beside
the old ones (:mod:`.model_store`), a batch per transaction, so the gallery stays fully usable
under its model meanwhile and a run that was killed continues where it stopped. When every
row has a new vector or a recorded reason why not, one transaction switches the model: the
vectors, the model's meta (threshold, metric, ...), and the index files (written in that
transaction, renamed into place before it commits; one left from before is rebuilt). Rows
without a new vector are parked (kept under the old model, not searched) and reported.
:func:`rollback` switches back; :func:`prune` drops the other model's vectors and parked rows.

Subjects, names, consents, the audit log, tombstones and row ids are never touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import GalleryError
from ..faces import Box, ModelSpec
from ..hashing import sha256_file
from . import model_store
from .core import DB_NAME, INDEX_FILES
from .index import make_index
from .index_base import IndexState
from .store import Store

__all__ = ["BatchFaces", "MODEL_KEYS", "NotReembedded", "MigrationReport", "model_meta", "migrate", "rollback", "prune", "status"]

#: The ``meta`` entries that describe a gallery's model (written by ``GalleryCore.create``).
MODEL_KEYS = ("model", "metric", "embedding_size", "model_threshold", "tie_margin", "min_interocular_px")
_TARGET, _PREVIOUS = "migration.target", "migration.previous"
#: A re-detected face is the stored one when their boxes overlap at least this much (IoU).
MIN_BOX_IOU = 0.3
_PARKED = "parked: kept under {model}, not searched; erased by --prune (re-enrol or re-record it with a new photo)"


class BatchFaces(Protocol):
    """Every face of many images found and embedded at once: a
    :class:`countenance.ingest.BatchEmbedder` (workers started once, the faces of many photos
    in one network batch), which the service passes in (this layer does not import it)."""

    def embed_images(self, images: Sequence[str | bytes]) -> list[Any]:
        """A record per image (a path, or a crop's bytes), in order: ``error`` (None when it
        was read) and ``faces``, each with its ``box`` and template ``vector``."""
        ...


def model_meta(spec: ModelSpec) -> dict[str, str]:
    """The ``meta`` entries of a gallery of ``spec``'s templates (as ``GalleryCore.create`` writes them)."""
    return {
        "model": spec.name,
        "metric": str(spec.metric),
        "embedding_size": str(spec.embedding_size),
        "model_threshold": repr(float(spec.thresholds[spec.default_threshold])),
        "tie_margin": repr(float(spec.tie_margin)),
        "min_interocular_px": "none" if spec.min_interocular_px is None else repr(float(spec.min_interocular_px)),
    }


@dataclass(frozen=True)
class NotReembedded:
    """A row that could not be re-embedded: ``outcome`` is one of ``missing-file``,
    ``changed-hash``, ``no-source``, ``unreadable``, ``no-face``, ``several-faces``,
    ``face-not-matched``; ``detail`` says what was tried; ``then``: what happens to it."""

    table: str
    id: int
    outcome: str
    detail: str
    then: str


@dataclass(frozen=True)
class MigrationReport:
    """What a migration step did. ``action``: ``migrate``, ``rollback``, ``prune`` or ``none``."""

    action: str
    from_model: str | None
    to_model: str | None
    cut_over: bool = False
    templates: int = 0
    optouts: int = 0
    embedded: int = 0  # re-embedded by this run
    already: int = 0  # re-embedded by an earlier run (or kept from a model migrated away from)
    parked: int = 0
    unparked: int = 0
    pruned_vectors: int = 0
    pruned_rows: int = 0
    rollback_to: str | None = None
    not_reembedded: tuple[NotReembedded, ...] = field(default_factory=tuple)
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _open(path: Path) -> Store:
    store = Store.open(Path(path) / DB_NAME)
    if store.meta("index_backend") != "faiss":
        store.close()
        raise GalleryError(f"{path}: migration supports the embedded faiss index, this gallery uses "
                           f"{store.meta('index_backend')!r} (export and re-enrol instead)")
    return store


def _active(store: Store) -> dict[str, str]:
    return {key: store.meta(key) for key in MODEL_KEYS}


def migrate(path: str | os.PathLike[str], embedder: BatchFaces, spec: ModelSpec, *,
            sources: str | os.PathLike[str] | None = None, batch_size: int = 32,
            on_batch: Callable[[int, int], None] | None = None) -> MigrationReport:
    """Re-embed the gallery in ``path`` with ``embedder`` (whose templates are ``spec``'s) and
    cut over (see the module). ``on_batch(done, total)`` after each committed batch."""
    target = model_meta(spec)
    with closing(_open(Path(path))) as store:
        with store.transaction() as db:
            active = _active(store)
            if active["model"] == target["model"]:
                return MigrationReport("none", active["model"], target["model"],
                                       message=f"the gallery's model is already {target['model']}: nothing to migrate")
            underway = store.meta_json(_TARGET)
            if underway is not None and underway["model"] != target["model"]:
                raise GalleryError(f"a migration to {underway['model']} is under way: finish it (models migrate --to "
                                   "that model) or drop it (models migrate --prune)")
            model_store.ensure(db)
            store.set_meta({_TARGET: json.dumps(target)})
        already = sum(model_store.counts(store.connection, target["model"], t)[1] for t in model_store.VECTOR_TABLES)
        finder = _SourceFinder(sources)
        embedded = 0
        while True:
            embedded += _embed_pending(store, embedder, target["model"], finder, batch_size, on_batch)
            report = _cut_over(store, Path(path), active, target)
            if report is not None:
                return replace(report, embedded=embedded, already=already)


def _embed_pending(store: Store, embedder: BatchFaces, model: str, finder: _SourceFinder, batch_size: int,
                   on_batch: Callable[[int, int], None] | None) -> int:
    """Re-embed every row still without a vector or outcome for ``model``, a committed batch at a time."""
    embedded = 0
    for table in model_store.VECTOR_TABLES:
        while rows := model_store.pending(store.connection, model, table, batch_size):
            results = _reembed(store, embedder, rows, finder)
            with store.transaction() as db:
                for row_id, vector, outcome, detail in results:
                    if vector is not None:
                        model_store.record_vector(db, model, table, row_id, np.ascontiguousarray(vector, "<f4").tobytes())
                    else:
                        model_store.record_outcome(db, model, table, row_id, outcome, detail)
            embedded += sum(vector is not None for _, vector, _, _ in results)
            if on_batch is not None:
                rows_total, done, failed = model_store.counts(store.connection, model, table)
                on_batch(done + failed, rows_total)
    return embedded


@dataclass
class _Row:
    """One stored row on its way: where its face may be found, what was tried, the result."""

    id: int
    box: Box
    has_crop: bool
    photo: str | None = None
    outcome: str = "no-source"
    tried: list[str] = field(default_factory=list)
    vector: np.ndarray | None = None


def _reembed(store: Store, embedder: BatchFaces, rows: list[tuple],
             finder: _SourceFinder) -> list[tuple[int, np.ndarray | None, str, str]]:
    """``(id, vector, "", "")`` or ``(id, None, outcome, detail)`` for each stored row: the face
    at its box in its photo, else the one face of its stored crop (the photos of all the rows
    in one call of ``embedder``, then the crops)."""
    todo = []
    for row_id, path, sha256, box_json, has_crop in rows:
        row = _Row(row_id, Box(*json.loads(box_json)), bool(has_crop))
        if path is not None:
            if not Path(path).is_file():
                row.outcome = "missing-file"
                row.tried.append(f"photo missing: {path}")
            elif sha256_file(path) != sha256:
                row.outcome = "changed-hash"
                row.tried.append(f"photo changed since enrolment: {path}")
            else:
                row.photo = path
        row.photo = row.photo or finder.find(sha256)
        if row.photo is None and path is None and not row.has_crop:
            row.tried.append("no photo path stored and none of this content under --sources")
        todo.append(row)
    with_photo = [row for row in todo if row.photo is not None]
    for row, record in zip(with_photo, embedder.embed_images([row.photo for row in with_photo])):
        row.vector, outcome, why = _face_at(record, row.box)
        if row.vector is None:
            row.outcome = outcome
            row.tried.append(f"{row.photo}: {why}")
    from_crop = [row for row in todo if row.vector is None and row.has_crop]
    crops = [model_store.crop(store.connection, row.id) for row in from_crop]
    for row, record in zip(from_crop, embedder.embed_images(crops)):
        row.vector, outcome, why = _face_at(record, None)
        if row.vector is None:
            row.outcome = outcome
            row.tried.append(f"stored crop: {why}")
    return [(row.id, row.vector, "", "") if row.vector is not None else (row.id, None, row.outcome, "; ".join(row.tried))
            for row in todo]


def _face_at(record: Any, box: Box | None) -> tuple[np.ndarray | None, str, str]:
    """The template of the face at ``box`` among the faces of ``record`` (an image's faces, all
    found and embedded; None: the one face of a crop)."""
    if record.error is not None:
        return None, "unreadable", record.error
    faces = record.faces
    if not faces:
        return None, "no-face", "no face found"
    if box is None:
        if len(faces) > 1:
            return None, "several-faces", f"{len(faces)} faces in the crop"
        return faces[0].vector, "", ""
    overlaps = [face.box.iou(box) for face in faces]
    best = int(np.argmax(overlaps))
    if overlaps[best] < MIN_BOX_IOU:
        return None, "face-not-matched", f"{len(faces)} face(s), none at the stored box (best IoU {overlaps[best]:.2f})"
    return faces[best].vector, "", ""


class _SourceFinder:
    """Photos under a folder by content (sha256), hashed once on first need."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = Path(root) if root is not None else None
        self._by_hash: dict[str, str] | None = None

    def find(self, sha256: str) -> str | None:
        if self.root is None:
            return None
        if self._by_hash is None:
            self._by_hash = {sha256_file(p): str(p) for p in sorted(self.root.rglob("*")) if p.is_file()}
        return self._by_hash.get(sha256)


def _switch(store: Store, path: Path, old: dict[str, str], new: dict[str, str]) -> tuple[int, int]:
    """Switch the gallery from model ``old`` to ``new`` (inside a write transaction): vectors,
    meta and index files. Returns (parked, unparked)."""
    db = store.connection
    parked = unparked = 0
    for table in model_store.VECTOR_TABLES:
        _, moved_out, moved_in = model_store.switch(db, table, old["model"], new["model"])
        parked, unparked = parked + moved_out, unparked + moved_in
    store.set_meta({**new, _PREVIOUS: json.dumps(old)})
    db.execute("DELETE FROM meta WHERE key = ?", (_TARGET,))
    for table, filename in INDEX_FILES.items():
        generation, deletions = model_store.make_stale(db, table)
        index = make_index("faiss", path / filename, dimension=int(new["embedding_size"]), metric=new["metric"])
        for ids, vectors in store.iter_vectors(table):
            index.add(ids, vectors)
        _, last = store.vector_stats(table)
        # Written to a temporary file and renamed before the commit: a crash in between leaves
        # an index ahead of the store, which the next opener rebuilds.
        index.save(IndexState(last_id=last, count=index.count(), deletions=deletions, generation=generation))
    return parked, unparked


def _cut_over(store: Store, path: Path, active: dict[str, str], target: dict[str, str]) -> MigrationReport | None:
    """Switch to ``target`` if every row has its vector or outcome (None: rows came meanwhile)."""
    with store.transaction() as db:
        if store.meta("model") != active["model"] or store.meta_json(_TARGET) != target:
            raise GalleryError("another run cut over, rolled back or pruned this migration meanwhile: see models migrate --status")
        if any(model_store.pending(db, target["model"], t, 1) for t in model_store.VECTOR_TABLES):
            return None
        failed = tuple(NotReembedded(t, i, o, d, _PARKED.format(model=active["model"]))
                       for t, i, o, d in model_store.outcomes(db, target["model"]))
        parked, unparked = _switch(store, path, active, target)
        templates, optouts = (model_store.counts(db, target["model"], t)[0] for t in model_store.VECTOR_TABLES)
    return MigrationReport("migrate", active["model"], target["model"], cut_over=True, templates=templates, optouts=optouts,
                           parked=parked, unparked=unparked, rollback_to=active["model"], not_reembedded=failed,
                           message=f"cut over to {target['model']}; `models migrate --rollback` returns to "
                                   f"{active['model']} until `models migrate --prune`")


def rollback(path: str | os.PathLike[str]) -> MigrationReport:
    """Switch back to the model migrated away from (rows enrolled since are parked)."""
    with closing(_open(Path(path))) as store:
        with store.transaction() as db:
            previous = store.meta_json(_PREVIOUS)
            if previous is None:
                raise GalleryError(f"{path}: no previous model to roll back to (none migrated from, or it was pruned)")
            active = _active(store)
            parked, unparked = _switch(store, Path(path), active, previous)
            templates, optouts = (model_store.counts(db, previous["model"], t)[0] for t in model_store.VECTOR_TABLES)
        return MigrationReport("rollback", active["model"], previous["model"], cut_over=True, templates=templates,
                               optouts=optouts, parked=parked, unparked=unparked, rollback_to=active["model"],
                               message=f"back to {previous['model']}; {parked} row(s) enrolled under {active['model']} parked")


def prune(path: str | os.PathLike[str]) -> MigrationReport:
    """Erase every other model's vectors and every parked row (no rollback after this), and a
    migration under way; the parked templates' photo paths and hashes leave the audit log."""
    with closing(_open(Path(path))) as store:
        with store.transaction() as db:
            active = store.meta("model")
            sources = model_store.parked_sources(db)
            vectors, rows = model_store.drop_other_models(db)
            db.execute("DELETE FROM meta WHERE key IN (?, ?)", (_TARGET, _PREVIOUS))
            erase = sources - store.sources_in_use(sources)
            if erase:
                store.rewrite_audit({}, erase)
        store.erase_freed()
        return MigrationReport("prune", active, active, pruned_vectors=vectors, pruned_rows=rows,
                               message=f"erased {vectors} vector(s) of other models and {rows} parked row(s)")


def status(path: str | os.PathLike[str]) -> dict:
    """The gallery's model, a migration under way (progress) and the model a rollback returns to."""
    with closing(_open(Path(path))) as store:
        with store.snapshot():
            target, previous = store.meta_json(_TARGET), store.meta_json(_PREVIOUS)
            progress = None
            if target is not None:
                progress = {t: dict(zip(("rows", "done", "failed"), model_store.counts(store.connection, target["model"], t)))
                            for t in model_store.VECTOR_TABLES}
            return {"model": store.meta("model"), "migrating_to": target and target["model"], "progress": progress,
                    "rollback_to": previous and previous["model"], "other_models_held": model_store.has_other_models(store.connection)}
