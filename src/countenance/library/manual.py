"""Faces and names the detector and clustering did not supply: a face drawn by hand
(:func:`add_face`) and the owner's own names already in the photos' XMP (:func:`names_from_xmp`).

Named regions written by digiKam, Lightroom, Picasa or this library (MWG ``mwg-rs:Regions``,
else Microsoft's ``MP:RegionInfo``), in a ``photo.ext.xmp`` sidecar or embedded in the photo,
become confirmed names of the library faces they overlap (IoU >= 0.5). They are the owner's
labels for their own photos: they name people in the library only and enrol nobody in a
gallery. A face the user already confirmed as someone else keeps the user's decision. Each
photo is read once per version of the photo and of its sidecar (``xmp_checked``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidArgument
from ..faces import Box, Face, ModelRecord
from .model import record_model
from .people import person_label
from .store import LibraryError, LibraryStore
from .xmp import face_under, read_regions, sidecar_path

__all__ = ["AddedFace", "add_face", "XmpNames", "names_from_xmp", "XMP_MATCH_IOU"]

XMP_MATCH_IOU = 0.5


@dataclass(frozen=True)
class AddedFace:
    """A face added by hand: its id, photo, box (pixels, upright photo), and the person it was
    confirmed in (None when no name was given: clustering places it)."""

    face_id: int
    path: str
    box_ltrb_px: tuple[float, float, float, float]
    person_id: int | None
    name: str | None


def _photo_id(store: LibraryStore, photo: str | os.PathLike[str] | int) -> int:
    if isinstance(photo, int) and not isinstance(photo, bool):
        row = store.connection.execute("SELECT id, error FROM photos WHERE id=?", (photo,)).fetchone()
        if row is None:
            raise LibraryError(f"no photo {photo} in the library")
    else:
        wanted = str(Path(photo).expanduser().resolve())
        row = store.connection.execute("SELECT id, error FROM photos WHERE path=?", (wanted,)).fetchone()
    if row is None:
        raise LibraryError(f"{photo}: not an indexed photo of this library (index it first)")
    if row[1] is not None:
        raise LibraryError(f"{photo}: this photo could not be read when indexed ({row[1]})")
    return int(row[0])


def add_face(store: LibraryStore, photo: str | os.PathLike[str] | int, box_ltrb_px: tuple[float, float, float, float],
             pipeline, *, name: str | None = None) -> AddedFace:
    """Store a face the detector missed at ``box_ltrb_px`` (pixels of the upright photo) in
    the indexed ``photo`` (its path, or its id): landmarks placed by ``pipeline``'s
    landmarker, template by its embedder (the library's model). With ``name`` the face is
    confirmed as that person (made when missing). InvalidArgument for a box outside the photo,
    under 16 px, or over a face the library holds already (IoU >= 0.5)."""
    from ..embedding import embed_faces
    from .quality import face_sharpness

    photo_id = _photo_id(store, photo)
    path = store.photo(photo_id).path
    pixels = pipeline.load(path)
    height, width = pixels.shape[:2]
    left, top, right, bottom = (float(v) for v in box_ltrb_px)
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise InvalidArgument(f"box {left:g},{top:g},{right:g},{bottom:g} is not inside the {width} x {height} photo "
                              "(left,top,right,bottom in pixels of the upright photo)")
    if min(right - left, bottom - top) < 16:
        raise InvalidArgument("a face box must be at least 16 px on each side")
    for other in store.faces(photo_id=photo_id):
        if Box(left, top, right, bottom).iou(Box(*other.box_ltrb_px)) >= XMP_MATCH_IOU:
            raise InvalidArgument(f"the library holds that face already (face {other.id})")
    box = Box(left, top, right, bottom)
    landmarks = np.asarray(pipeline.face_detector.landmarker.landmarks(pixels, box), dtype=np.float32)
    (face,) = embed_faces(pipeline.embedder, pixels, [Face(box, 1.0, landmarks)])
    record_model(store, ModelRecord.of(pipeline.spec))  # TemplateMismatch for another model's templates
    with store.recording("add-face") as op:
        face_id = store.write_face(None, photo_id, (left, top, right, bottom), 1.0,
                                   face_sharpness(pixels, (left, top, right, bottom)), 0, landmarks,
                                   face.template.vector, face.template.model, None)
        store.connection.execute("INSERT OR REPLACE INTO face_origins VALUES (?, 'added')", (face_id,))
        person_id = None
        if name is not None:
            from .people import _check_name

            name = _check_name(name)
            person_id = store.person_by_name(name)
            if person_id is None:
                person_id = store.new_person(name=name, kept=True)
            store.assign(face_id, person_id, confirmed=True)
        where = f", confirmed as {person_label(store, person_id)}" if person_id is not None else ""
        store.set_operation_summary(op, f"added face {face_id} in {Path(path).name}{where}")
    return AddedFace(face_id, path, (left, top, right, bottom), person_id, name)


@dataclass(frozen=True)
class XmpNames:
    """One pass over the photos' XMP: photos read, named regions found, faces named by them,
    regions over no face (IoU < 0.5), regions left because the user named that face otherwise."""

    photos_read: int
    regions: int
    faces_named: int
    unmatched: int
    kept_user_decision: int


def _version(photo, sidecar: Path) -> str:
    stamp = sidecar.stat().st_mtime_ns if sidecar.exists() else 0
    return f"{photo.sha256}:{stamp}"


def names_from_xmp(store: LibraryStore) -> XmpNames:
    """Read the named regions of every photo's sidecar and embedded XMP that changed since the
    last pass (see the module docstring); the counts."""
    checked = dict(store.connection.execute("SELECT photo_id, version FROM xmp_checked").fetchall())
    read = regions = named = unmatched = kept = 0
    for photo in store.photos():
        sidecar = sidecar_path(photo.path)
        version = _version(photo, sidecar)
        if photo.error is not None or checked.get(photo.id) == version:
            continue
        read += 1
        found = []
        for source, where in (("xmp-sidecar", sidecar), ("xmp-embedded", Path(photo.path))):
            if where.exists():
                try:
                    found.extend((source, r) for r in read_regions(where))
                except (RuntimeError, OSError, ValueError, KeyError):  # no XMP, or XMP exiv2 cannot parse
                    continue
        faces = store.faces(photo_id=photo.id)
        assignments = store.assignments()
        with store.transaction():
            for source, region in found:
                regions += 1
                face_id = face_under(region, photo, faces, min_iou=XMP_MATCH_IOU)
                if face_id is None:
                    unmatched += 1
                    continue
                person_id = store.person_by_name(region.name.strip())
                current = assignments.get(face_id)
                if current is not None and current[1] and current[0] != person_id:
                    kept += 1
                    continue
                if person_id is None:
                    person_id = store.new_person(name=region.name.strip(), kept=True)
                store.assign(face_id, person_id, confirmed=True)
                assignments[face_id] = (person_id, True)
                store.connection.execute("INSERT OR REPLACE INTO face_origins VALUES (?, ?)", (face_id, source))
                named += 1
            store.connection.execute("INSERT OR REPLACE INTO xmp_checked VALUES (?, ?)", (photo.id, version))
    return XmpNames(read, regions, named, unmatched, kept)
