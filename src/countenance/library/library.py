"""The :class:`Library` facade: one object per library folder, one method per user command.

``countenance library index|status|people|person|name|merge|split|not-this-person|hide|
confirm|accept|reject|merges|undo|add-face|find`` are thin shells over these methods; each returns a frozen dataclass.

    >>> from countenance.library import Library
    >>> with Library.open("~/Pictures/.countenance") as library:
    ...     library.index(["~/Pictures"])
    ...     library.recluster()
    ...     for person in library.people():
    ...         print(person.id, person.name, person.faces)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..faces import Box
from .cluster import ClusterOptions
from ..pipeline import PipelineConfig
from .indexer import IndexProgress, IndexSummary, index_folders
from .manual import AddedFace, XmpNames, add_face, names_from_xmp
from .merges import DEFAULT_MERGE_DISTANCE, MergeSuggestion, keep_apart, merge_suggestions
from .model import carried_distance, cluster_options
from .oplog import Operation, operations, undo
from .people import (ReclusterSummary, check_name_free, confirm_faces, forget_name, merge_persons, name_person, not_these_persons,
                     not_this_person,
                     person_label, recluster, set_hidden, split_person)
from .review import PersonFace, contact_sheet, face_crop, person_faces
from .placement import place_new
from .quality import QualityGate
from .store import DB_NAME, LibraryError, LibraryStore
from .suggest import SuggestOptions, SuggestSummary, suggest
from .xmp import XmpReadSummary, XmpWriteSummary, read_sidecars, write_sidecars

__all__ = ["Library", "Person", "FoundPhoto", "LibraryStatus", "NameResult", "Suggestion"]


@dataclass(frozen=True)
class Person:
    """A person: ``faces`` assigned (``confirmed`` of them by the user); ``representative_face``
    is the id of its sharpest large face (for a crop), None when it has no face."""

    id: int
    name: str | None
    faces: int
    confirmed: int
    hidden: bool
    representative_face: int | None


@dataclass(frozen=True)
class FoundPhoto:
    """A photo of a person: its path and the person's face boxes in it (pixels, upright photo);
    ``confirmed``: per face, whether the user confirmed it (False: clustering placed it)."""

    path: str
    face_ids: tuple[int, ...]
    boxes: tuple[Box, ...]
    confirmed: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Suggestion:
    """An enrolled subject suggested for a face: distance, calibrated false-match rate, state."""

    face_id: int
    subject: str
    distance: float
    false_match_rate: float | None
    state: str


@dataclass(frozen=True)
class NameResult:
    """A person named: the faces now confirmed and the templates enrolled in the gallery (if any)."""

    person_id: int
    name: str
    confirmed_faces: tuple[int, ...]
    enrolled_templates: int


@dataclass(frozen=True)
class LibraryStatus:
    """Counts for ``library status``."""

    photos: int
    unreadable: int
    faces: int
    gated: int
    assigned: int
    confirmed: int
    persons: int
    named: int
    open_suggestions: int
    xmp_named: int = 0
    faces_added: int = 0
    operations: int = 0


class Library:
    """An open library folder (``library.sqlite3`` inside). Not thread-safe.

    ``cluster_options``, ``gate``: clustering and quality-gate settings (defaults measured on LFW
    with dlib's model; without ``cluster_options``, the defaults carried to the library's model
    through its calibration, see :mod:`countenance.calibration.cuts`).
    """

    def __init__(self, store: LibraryStore, *, cluster_options: ClusterOptions | None = None,
                 gate: QualityGate | None = None) -> None:
        self.store = store
        self._cluster_options = cluster_options
        self.gate = gate or QualityGate()

    @property
    def cluster_options(self) -> ClusterOptions:
        """The given options, else the defaults for the library's model (read at each use: the
        first index records the model). CalibrationMissing for a model without a table."""
        return self._cluster_options or cluster_options(self.store)

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, create: bool = True, **options: Any) -> Library:
        """Open the library in ``folder`` (created with ``create``)."""
        return cls(LibraryStore.open(Path(folder).expanduser() / DB_NAME, create=create), **options)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ indexing and clustering

    def index(self, roots: Iterable[str | os.PathLike[str]], *, workers: int = 2, full: bool = False,
              pipeline: PipelineConfig | None = None,
              on_progress: Callable[[IndexProgress], None] | None = None) -> IndexSummary:
        """Index the photos under ``roots`` (see :func:`~countenance.library.index_folders`)."""
        return index_folders(self.store, roots, workers=workers, full=full, gate=self.gate,
                             pipeline=pipeline, on_progress=on_progress)

    def recluster(self) -> ReclusterSummary:
        """Group the faces not confirmed by the user into people (keeps every decision)."""
        return recluster(self.store, self.cluster_options)

    def place_new(self) -> ReclusterSummary:
        """Place the faces indexed since the last clustering by the same rule, without
        re-clustering the library (a full re-cluster when the rule changed): see :mod:`.placement`."""
        return place_new(self.store, self.cluster_options)

    def suggest(self, gallery: Any, options: SuggestOptions | None = None) -> SuggestSummary:
        """Suggest enrolled subjects of ``gallery`` for unconfirmed faces (see :mod:`.suggest`)."""
        return suggest(self.store, gallery, options)

    # ------------------------------------------------------------ reading

    def status(self) -> LibraryStatus:
        return LibraryStatus(**self.store.counts())

    def people(self, *, include_hidden: bool = False) -> list[Person]:
        """People by number of faces, largest first (hidden ones only with ``include_hidden``)."""
        faces: dict[int, list[tuple[int, bool]]] = {}
        for face_id, (person_id, confirmed) in self.store.assignments().items():
            faces.setdefault(person_id, []).append((face_id, confirmed))
        out = []
        for pid, name, hidden, _ in self.store.persons():
            if hidden and not include_hidden:
                continue
            members = faces.get(pid, [])
            out.append(Person(pid, name, len(members), sum(c for _, c in members), hidden,
                              self._representative([f for f, _ in members])))
        return sorted(out, key=lambda p: (-p.faces, p.id))

    def _representative(self, face_ids: list[int]) -> int | None:
        if not face_ids:
            return None
        marks = ",".join("?" * len(face_ids))
        row = self.store.connection.execute(
            f"SELECT id FROM faces WHERE id IN ({marks}) ORDER BY gate IS NOT NULL, "
            "MIN(right_px - left_px, bottom_px - top_px) * MIN(sharpness, 400) DESC, id LIMIT 1", face_ids).fetchone()
        return int(row[0])

    def crop(self, face_id: int, *, margin: float = 0.25, max_side_px: int = 160) -> bytes:
        """A JPEG crop of the face (``margin`` of the box added on each side), for ``people``."""
        import io

        out = io.BytesIO()
        face_crop(self.store, face_id, margin=margin, max_side_px=max_side_px).save(out, format="JPEG", quality=85)
        return out.getvalue()

    def person_faces(self, person_id: int, *, limit: int | None = None, offset: int = 0) -> tuple[list[PersonFace], int]:
        """A person's faces, farthest from the person first (``limit`` after ``offset``), and the total."""
        return person_faces(self.store, person_id, limit=limit, offset=offset)

    def contact_sheet(self, person_id: int) -> bytes:
        """A JPEG of every face crop of the person, numbered by face id (in face id order)."""
        faces, _ = person_faces(self.store, person_id)
        if not faces:
            raise LibraryError(f"{person_label(self.store, person_id)} has no faces")
        return contact_sheet(self.store, sorted(f.face_id for f in faces))

    def label(self, person_id: int) -> str:
        """How messages name a person: its name and id, or ``person N``."""
        return person_label(self.store, person_id)

    def find(self, name: str) -> list[FoundPhoto]:
        """Every photo of the person named ``name`` (confirmed or clustered faces), by path."""
        person_id = self.store.person_by_name(name)
        if person_id is None:
            raise LibraryError(f"nobody is named {name!r} in this library")
        by_photo: dict[int, list[tuple[int, bool]]] = {}
        for face_id, confirmed in self.store.person_faces(person_id):
            by_photo.setdefault(self.store.face(face_id).photo_id, []).append((face_id, confirmed))
        out = []
        for photo_id, faces in by_photo.items():
            boxes = tuple(Box(*self.store.face(f).box_ltrb_px) for f, _ in faces)
            out.append(FoundPhoto(self.store.photo(photo_id).path, tuple(f for f, _ in faces), boxes,
                                  tuple(c for _, c in faces)))
        return sorted(out, key=lambda p: p.path)

    def suggestions(self, *, state: str | None = "open") -> list[Suggestion]:
        return [Suggestion(*row) for row in self.store.suggestions(state=state)]

    # ------------------------------------------------------------ the user's decisions

    def name(self, person_id: int, name: str, *, gallery: Any = None, consent: Any = None,
             max_templates: int = 5, allow_duplicate: bool = False, confirm_all: bool = False) -> NameResult:
        """Name a person; its faces become confirmed only with ``confirm_all`` (the user saw
        them all), else only the ones already confirmed count (XMP, must-links). With ``gallery``, also enrol the person
        there under ``name`` (up to ``max_templates`` of the best faces the user saw, as crops) with
        ``consent``, as the gallery's policy requires (ConsentRequired otherwise). The gallery
        enrols first: when it refuses (no consent, a face already enrolled as someone else
        without ``allow_duplicate``, a forgotten subject), nothing is named."""
        if gallery is not None and consent is None and gallery.policy.consent_required and not any(
                s.name == name for s in gallery.subjects()):
            from ..errors import ConsentRequired

            raise ConsentRequired(f"naming person {person_id} {name!r} enrols them in the gallery, whose policy "
                                  "requires a consent record")
        check_name_free(self.store, person_id, name)  # before the gallery enrols anyone
        enrolled = 0
        if gallery is not None:
            members = self.store.person_faces(person_id)
            # Only faces the user saw are enrolled: the confirmed ones (all with confirm_all) and
            # the one `people` shows for the person.
            faces = [face_id for face_id, confirmed in members if confirmed or confirm_all]
            shown = self._representative([face_id for face_id, _ in members])
            if shown is not None and shown not in faces:
                faces.append(shown)
            best = sorted(faces, key=lambda f: self._quality(f), reverse=True)[:max_templates]
            crops = [self._crop_array(f) for f in best]
            # Each crop is centred on its face; a neighbour's face at its edge is smaller.
            enrolled = len(gallery.enroll(name.strip(), crops, consent=consent, largest=True,
                                          allow_duplicate=allow_duplicate, skip_faceless=True).templates)
        faces = name_person(self.store, person_id, name, confirm_all=confirm_all)
        return NameResult(person_id, name.strip(), tuple(faces), enrolled)

    def _quality(self, face_id: int) -> float:
        face = self.store.face(face_id)
        left, top, right, bottom = face.box_ltrb_px
        return min(right - left, bottom - top) * min(face.sharpness, 400.0) * (face.gate is None)

    def _crop_array(self, face_id: int) -> np.ndarray:
        import io

        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(self.crop(face_id, margin=0.6, max_side_px=400))).convert("RGB"))

    def merge(self, target: int, sources: list[int]) -> Person:
        merge_persons(self.store, target, list(sources))
        return self._person(target)

    def split(self, person_id: int, face_ids: list[int] | None = None) -> list[int]:
        return split_person(self.store, person_id, face_ids, self.cluster_options)

    def confirm(self, person_id: int, face_ids: list[int]) -> list[int]:
        """Confirm the picked faces of a person (re-clustering never moves them)."""
        return confirm_faces(self.store, person_id, face_ids)

    def undo(self, count: int = 1) -> list[Operation]:
        """Reverse the last ``count`` decisions (see :mod:`.oplog`); the operations undone."""
        return undo(self.store, count)

    def operations(self, *, limit: int | None = None, offset: int = 0) -> list[Operation]:
        """The decisions that can be undone, newest first."""
        return operations(self.store, limit=limit, offset=offset)

    def merge_suggestions(self, *, max_distance: float | None = None) -> list[MergeSuggestion]:
        """Pairs of people that may be one, nearest first (see :mod:`.merges`); ``max_distance``
        None: :data:`~.merges.DEFAULT_MERGE_DISTANCE` carried to the library's model."""
        if max_distance is None:
            max_distance = carried_distance(self.store, DEFAULT_MERGE_DISTANCE)
        return merge_suggestions(self.store, max_distance=max_distance)

    def accept_merge(self, a: int, b: int) -> Person:
        """Accept a merge suggestion: the smaller person (or the unnamed one) joins the other."""
        if a == b:
            raise InvalidArgument(f"cannot merge person {a} into itself")
        sizes = {p: len(self.store.person_faces(p)) for p in (a, b)}
        named = {p for p in (a, b) if self.store.person(p)[1] is not None}
        target = next(iter(named)) if len(named) == 1 else max((a, b), key=lambda p: (sizes[p], -p))
        merge_persons(self.store, target, [b if target == a else a], kind="accept-merge")
        return self._person(target)

    def reject_merge(self, a: int, b: int) -> None:
        """Reject a merge suggestion: the two are kept apart by re-clustering and never suggested again."""
        keep_apart(self.store, a, b)

    def add_face(self, photo: str | os.PathLike[str] | int, box_ltrb_px: tuple[float, float, float, float], pipeline: Any,
                 *, name: str | None = None) -> AddedFace:
        """Store a face the detector missed (see :func:`~.manual.add_face`)."""
        return add_face(self.store, photo, box_ltrb_px, pipeline, name=name)

    def names_from_xmp(self) -> XmpNames:
        """Named XMP regions (sidecar or embedded) become confirmed names (see :mod:`.manual`)."""
        return names_from_xmp(self.store)

    def not_this_person(self, face_id: int) -> int:
        return not_this_person(self.store, face_id)

    def not_this_person_many(self, face_ids: list[int]) -> list[int]:
        """Several faces out of their persons, as one decision; the persons they left."""
        return not_these_persons(self.store, face_ids)

    def hide(self, person_id: int, hidden: bool = True) -> None:
        set_hidden(self.store, person_id, hidden)

    def forget(self, name: str) -> int:
        """Remove the name ``name`` and everything the user decided about it (call it when the
        subject is deleted from the gallery); returns how many faces the person had."""
        return forget_name(self.store, name)

    def write_xmp(self, *, include_unconfirmed: bool = False) -> XmpWriteSummary:
        """``library xmp write``: face regions of named, confirmed faces into ``photo.ext.xmp``
        (named faces the user has not confirmed too, with ``include_unconfirmed``)."""
        return write_sidecars(self.store, include_unconfirmed=include_unconfirmed)

    def read_xmp(self) -> XmpReadSummary:
        """``library xmp read``: named regions of existing sidecars become confirmed faces."""
        return read_sidecars(self.store)

    def accept(self, face_id: int, subject: str | None = None) -> int:
        """Accept the suggestion for ``face_id`` (of ``subject``, or its only open one): the face
        is confirmed as the person named after the subject (made when missing). Returns the person."""
        subject = self._suggested(face_id, subject)
        with self.store.recording("accept", f"face {face_id} is {subject!r}"):
            person_id = self.store.person_by_name(subject)
            if person_id is None:
                person_id = self.store.new_person(name=subject, kept=True)
            self.store.assign(face_id, person_id, confirmed=True)
            self.store.set_suggestion_state(face_id, subject, "accepted")
        return person_id

    def reject(self, face_id: int, subject: str | None = None) -> None:
        """Reject the suggestion for ``face_id``: never suggested again, and the face is never
        put in the person of that name (cannot-link)."""
        subject = self._suggested(face_id, subject)
        with self.store.recording("reject", f"face {face_id} is not {subject!r}"):
            self.store.set_suggestion_state(face_id, subject, "rejected")
            person_id = self.store.person_by_name(subject)
            if person_id is not None:
                self.store.reject(face_id, person_id)
                current = self.store.assignments().get(face_id)
                if current is not None and current[0] == person_id:
                    self.store.unassign([face_id])

    def _suggested(self, face_id: int, subject: str | None) -> str:
        self.store.face(face_id)
        open_ = [s for f, s, _, _, state in self.store.suggestions(state="open") if f == face_id]
        if subject is None:
            if len(open_) != 1:
                raise InvalidArgument(f"face {face_id} has {len(open_)} open suggestions; name the subject")
            return open_[0]
        if subject not in open_:
            raise InvalidArgument(f"face {face_id} has no open suggestion of {subject!r}")
        return subject

    def person(self, person_id: int) -> Person:
        """One person (hidden or not); LibraryError for an unknown id."""
        return self._person(person_id)

    def _person(self, person_id: int) -> Person:
        for person in self.people(include_hidden=True):
            if person.id == person_id:
                return person
        raise LibraryError(f"no person {person_id} in the library")
