"""The model of a library's templates: recorded by the first index, checked on every later one.

A library stacks, clusters and compares its faces' templates, so they must all come from one
model: indexing with another one is refused (:class:`~countenance.errors.TemplateMismatch`
naming both models and ``countenance models migrate``, which moves a library to a new model),
and so is clustering a library whose faces somehow hold two. The record (a
:class:`~countenance.faces.ModelRecord`, JSON in the ``model`` meta entry) also says how the
templates are compared, which the model's cuts (:func:`cluster_options`) depend on.
"""

from __future__ import annotations

import json

from ..calibration.cuts import REFERENCE_MODEL, cuts_for
from ..errors import TemplateMismatch
from ..faces import Metric, ModelRecord
from .cluster import ClusterOptions
from .store import LibraryError, LibraryStore

__all__ = ["MODEL_META", "NOT_MIGRATED", "library_model", "record_model", "switch_model", "cluster_options",
           "carried_distance"]

MODEL_META = "model"
#: The gate of a face that has no template of the library's model (left behind by ``models
#: migrate``: kept with its old template, never clustered, compared or suggested).
NOT_MIGRATED = "not-migrated"


def _mismatch(held: str, given: str) -> TemplateMismatch:
    return TemplateMismatch(f"this library holds templates of {held!r}, not {given!r}: index it with its own model, "
                            f"or move it to the new one with: countenance models migrate --to {given}")


def library_model(store: LibraryStore) -> ModelRecord | None:
    """The library's model, None while it holds no face. Raises TemplateMismatch when its faces
    hold templates of several models, LibraryError for a library of a non-reference model made
    before the model was recorded (re-index it with ``--full``)."""
    text = store.meta(MODEL_META)
    record = ModelRecord.from_dict(json.loads(text)) if text is not None else None
    # Every writer of faces (the indexer, faces added by hand) checks the record first, so a
    # library that has one holds no other model's faces: only its first face is read.
    # Faces a migration left behind (gated not-migrated) keep their old model and never count.
    query = ("SELECT model FROM faces WHERE gate IS NOT ? LIMIT 1" if record is not None
             else "SELECT DISTINCT model FROM faces WHERE gate IS NOT ? ORDER BY model")
    held = [row[0] for row in store.connection.execute(query, (NOT_MIGRATED,))]
    names = set(held) | ({record.name} if record is not None else set())
    if len(names) > 1:
        held_name = record.name if record is not None else sorted(names)[0]
        raise _mismatch(held_name, sorted(names - {held_name})[0])
    if record is None and held:
        if held != [REFERENCE_MODEL]:
            raise LibraryError(f"this library's templates ({held[0]}) were indexed before libraries recorded their "
                               "model: re-index it with --full")
        return ModelRecord(REFERENCE_MODEL, Metric.EUCLIDEAN, 128, 0.6)  # dlib's, the only model before then
    return record


def record_model(store: LibraryStore, record: ModelRecord) -> None:
    """Record ``record`` as the library's model (the first index), or check it is the one held:
    TemplateMismatch naming both models otherwise."""
    text = store.meta(MODEL_META)
    held = ModelRecord.from_dict(json.loads(text)) if text is not None else library_model(store)
    if held is not None and held.name != record.name:
        raise _mismatch(held.name, record.name)
    if text is None:
        store.set_meta(MODEL_META, json.dumps(record.to_dict()))


def switch_model(store: LibraryStore, record: ModelRecord | None, name: str) -> None:
    """Make model ``name`` the library's (a migration's cut-over or rollback, inside its
    transaction): ``record``, else the record kept when the library moved away from it, else
    none (a library from before records: read from its faces). The record left is kept for a
    rollback."""
    old = store.meta(MODEL_META)
    if old is not None:
        store.set_meta(f"{MODEL_META}:{json.loads(old)['name']}", old)
    kept = store.meta(f"{MODEL_META}:{name}")
    text = json.dumps(record.to_dict()) if record is not None else kept
    if text is None:
        store.connection.execute("DELETE FROM meta WHERE key = ?", (MODEL_META,))
    else:
        store.set_meta(MODEL_META, text)


def carried_distance(store: LibraryStore, reference_distance: float) -> float:
    """``reference_distance`` (in the reference model's units) as a Euclidean distance between
    the library's templates (:meth:`~countenance.calibration.cuts.Cuts.euclidean`)."""
    model = library_model(store)
    return reference_distance if model is None else cuts_for(model.name, model.metric).euclidean(reference_distance)


def cluster_options(store: LibraryStore, base: ClusterOptions | None = None) -> ClusterOptions:
    """``base`` (default :class:`ClusterOptions`) carried to the library's model through its
    calibration (:meth:`ClusterOptions.for_model`); ``base`` itself while the library is empty."""
    model = library_model(store)
    base = base or ClusterOptions()
    return base if model is None else ClusterOptions.for_model(model, base=base)
