"""The library's review loop: every person's faces, corrections that name people, the undo
log, merge suggestions, faces added by hand. Over :mod:`countenance.library`; results are the
library's frozen dataclasses or the small ones declared here (:func:`.library.to_document`
turns them into JSON for the CLI and the REST app alike).

Paging: every list takes ``limit`` (1..1000) and ``offset`` (>= 0) and returns a :class:`Page`
with the ``total`` and the ``next_offset`` (None on the last page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..errors import InvalidArgument
from ..library import AddedFace, MergeSuggestion, Operation, Person, PersonFace
from ..library.merges import DEFAULT_MERGE_DISTANCE
from .library import LibraryOptions, open_library, to_document
from .options import PipelineFactory, PipelineOptions, build_pipeline
from .path_args import writable_folder, writing

__all__ = ["Page", "page_of", "PersonDetail", "person_detail", "people_with_faces", "write_contact_sheet", "Decision",
           "not_this_person", "accept_suggestion", "confirm_faces", "undo", "list_operations", "list_merge_suggestions",
           "accept_merge", "reject_merge", "AddFaceOptions", "add_face", "parse_box", "face_thumbnail", "not_these_faces",
           "check_page", "PhotoFace", "PhotoDetail", "photo_detail", "photo_image", "add_face_to_photo",
           "DEFAULT_MERGE_DISTANCE", "MAX_PAGE"]

T = TypeVar("T")
MAX_PAGE = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    """``items`` from ``offset``, of ``total``; ``next_offset`` None on the last page."""

    items: tuple[T, ...]
    total: int
    offset: int
    limit: int
    next_offset: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"items": to_document(self.items), "total": self.total, "offset": self.offset, "limit": self.limit,
                "next_offset": self.next_offset}


def check_page(limit: int, offset: int) -> None:
    """InvalidArgument unless ``1 <= limit <= MAX_PAGE`` and ``offset >= 0``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument(f"limit must be 1..{MAX_PAGE}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidArgument(f"offset must be >= 0, got {offset!r}")


def page_of(items: list[T] | tuple[T, ...], limit: int, offset: int, total: int | None = None) -> Page[T]:
    """A page of ``items`` (all of them, or the page already cut when ``total`` is given)."""
    check_page(limit, offset)
    if total is None:
        total, items = len(items), items[offset:offset + limit]
    end = offset + len(items)
    return Page(tuple(items), total, offset, limit, end if end < total else None)


@dataclass(frozen=True)
class PersonDetail:
    """One person with a page of its faces (farthest from the person first) and how many
    photos hold them."""

    person: Person
    photos: int
    faces: Page[PersonFace]

    def to_dict(self) -> dict[str, Any]:
        return {"person": to_document(self.person), "photos": self.photos, "faces": self.faces.to_dict()}


def person_detail(options: LibraryOptions, person_id: int, *, limit: int = 100, offset: int = 0) -> PersonDetail:
    """A person and a page of its faces (LibraryError for an unknown person)."""
    check_page(limit, offset)
    with open_library(options) as library:
        person = library.person(person_id)
        faces, total = library.person_faces(person_id, limit=limit, offset=offset)
        everything, _ = library.person_faces(person_id)
        return PersonDetail(person, len({f.photo_id for f in everything}), page_of(faces, limit, offset, total))


def people_with_faces(options: LibraryOptions, *, include_hidden: bool = False) -> tuple[tuple[Person, tuple[PersonFace, ...]], ...]:
    """Every person with all its faces (``library people --faces``)."""
    with open_library(options) as library:
        return tuple((p, tuple(library.person_faces(p.id)[0])) for p in library.people(include_hidden=include_hidden))


def write_contact_sheet(options: LibraryOptions, person_id: int, out: Path) -> Path:
    """Write a JPEG of the person's face crops, numbered by face id, to ``out``; the path."""
    out = Path(out)
    if out.is_dir():
        raise InvalidArgument(f"--sheet {out}: is a folder; give a file name such as person.jpg")
    writable_folder(out.parent, "--sheet", create=True)
    with open_library(options) as library:
        data = library.contact_sheet(person_id)
    with writing(out, "--sheet"):
        out.write_bytes(data)
    return out


@dataclass(frozen=True)
class Decision:
    """A decision made: ``face_id`` and/or ``person_id`` it touched, the person's ``name`` (None
    while unnamed), and ``message``, which names people by name when they have one."""

    message: str
    person_id: int | None = None
    name: str | None = None
    face_id: int | None = None


def not_this_person(options: LibraryOptions, face_id: int) -> Decision:
    """Take the face out of its person (named or not) and never put it back there."""
    with open_library(options) as library:
        person_id = library.not_this_person(face_id)
        name = library.store.person(person_id)[1]
        return Decision(f"face {face_id} is no longer in {library.label(person_id)}", person_id, name, face_id)


def accept_suggestion(options: LibraryOptions, face_id: int, subject: str | None = None) -> Decision:
    """Accept the suggestion for the face: confirmed as the person of that name."""
    with open_library(options) as library:
        person_id = library.accept(face_id, subject)
        name = library.store.person(person_id)[1]
        return Decision(f"face {face_id} confirmed as {library.label(person_id)}", person_id, name, face_id)


def confirm_faces(options: LibraryOptions, person_id: int, face_ids: tuple[int, ...]) -> Decision:
    """Confirm the picked faces of a person (re-clustering never moves them)."""
    with open_library(options) as library:
        done = library.confirm(person_id, list(face_ids))
        return Decision(f"{len(done)} face(s) of {library.label(person_id)} confirmed", person_id,
                        library.store.person(person_id)[1])


def undo(options: LibraryOptions, count: int = 1) -> tuple[Operation, ...]:
    """Reverse the last ``count`` decisions; the operations undone, newest first."""
    with open_library(options) as library:
        return tuple(library.undo(count))


def list_operations(options: LibraryOptions, *, limit: int = 100, offset: int = 0) -> Page[Operation]:
    """The decisions that can be undone, newest first."""
    check_page(limit, offset)
    with open_library(options) as library:
        total = int(library.store.connection.execute("SELECT COUNT(*) FROM operations").fetchone()[0])
        return page_of(library.operations(limit=limit, offset=offset), limit, offset, total)


def list_merge_suggestions(options: LibraryOptions, *, limit: int = 100, offset: int = 0,
                           max_distance: float | None = None) -> Page[MergeSuggestion]:
    """Pairs of people that may be one person, nearest first (``max_distance`` None: the
    library's default, carried to its model)."""
    check_page(limit, offset)
    with open_library(options) as library:
        return page_of(library.merge_suggestions(max_distance=max_distance), limit, offset)


def accept_merge(options: LibraryOptions, a: int, b: int) -> Decision:
    """Merge the two people of a merge suggestion (the smaller, or the unnamed, into the other)."""
    with open_library(options) as library:
        labels = {p: library.label(p) for p in (a, b)}
        merged = library.accept_merge(a, b)
        other = b if merged.id == a else a
        return Decision(f"merged {labels[other]} into {library.label(merged.id)}: {merged.faces} face(s)", merged.id, merged.name)


def reject_merge(options: LibraryOptions, a: int, b: int) -> Decision:
    """Keep two people apart: never suggested again, never clustered together."""
    with open_library(options) as library:
        library.reject_merge(a, b)
        return Decision(f"{library.label(a)} and {library.label(b)} are kept apart", a)


@dataclass(frozen=True)
class AddFaceOptions:
    """Add a face the detector missed: ``photo`` (indexed), ``box_ltrb_px`` in pixels of the
    upright photo, ``name`` to confirm it as (None: clustering places it)."""

    photo: Path
    box_ltrb_px: tuple[float, float, float, float]
    name: str | None = None
    library: LibraryOptions = field(default_factory=LibraryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)

    def __post_init__(self) -> None:
        if len(self.box_ltrb_px) != 4:
            raise InvalidArgument(f"a box is left,top,right,bottom (4 numbers), got {self.box_ltrb_px!r}")


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"l,t,r,b"`` (pixels) as four floats; InvalidArgument otherwise."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InvalidArgument(f"--box takes left,top,right,bottom in pixels, got {text!r}")
    return values  # type: ignore[return-value]


def add_face(options: AddFaceOptions, *, pipelines: PipelineFactory = build_pipeline) -> AddedFace:
    """Store the face (landmarks and template by the pipeline), confirmed when named."""
    with open_library(options.library) as library:
        return library.add_face(options.photo, options.box_ltrb_px, pipelines(options.pipeline), name=options.name)


def face_thumbnail(options: LibraryOptions, face_id: int, cache: Any = None, *, max_side_px: int = 160) -> bytes:
    """A JPEG crop of one face, from ``cache`` (an object with ``get(key)`` and ``put(key,
    data)``) when it holds this face's crop for the same photo version and box; cheap to ask
    again. LibraryError for an unknown face."""
    with open_library(options) as library:
        face = library.store.face(face_id)
        photo = library.store.photo(face.photo_id)
        key = (str(library.store.path), face_id, photo.sha256, face.box_ltrb_px, max_side_px)
        data = cache.get(key) if cache is not None else None
        if data is None:
            data = library.crop(face_id, max_side_px=max_side_px)
            if cache is not None:
                cache.put(key, data)
        return data


def not_these_faces(options: LibraryOptions, face_ids: tuple[int, ...]) -> Decision:
    """Take each face out of its person (one decision: one undo puts them all back)."""
    with open_library(options) as library:
        left = library.not_this_person_many(list(face_ids))
        people = ", ".join(library.label(p) for p in dict.fromkeys(left))
        return Decision(f"{len(face_ids)} face(s) taken out of {people}", left[0] if left else None)


@dataclass(frozen=True)
class PhotoFace:
    """A face of a photo: its id, box (pixels, upright photo), and its person (None: none)."""

    face_id: int
    box_ltrb_px: tuple[float, float, float, float]
    person_id: int | None
    name: str | None


@dataclass(frozen=True)
class PhotoDetail:
    """One indexed photo: its id, upright size in pixels, and its faces."""

    photo_id: int
    width_px: int
    height_px: int
    faces: tuple[PhotoFace, ...]


def photo_detail(options: LibraryOptions, photo_id: int) -> PhotoDetail:
    """An indexed photo's size and faces (LibraryError for an unknown photo)."""
    from ..library import LibraryError

    with open_library(options) as library:
        photo = library.store.photo(photo_id)
        if photo is None:
            raise LibraryError(f"no photo {photo_id} in the library")
        assignments = library.store.assignments()
        names = {pid: name for pid, name, _, _ in library.store.persons()}
        faces = []
        for face in library.store.faces(photo_id=photo_id):
            person = assignments.get(face.id, (None, False))[0]
            faces.append(PhotoFace(face.id, face.box_ltrb_px, person, names.get(person)))
        return PhotoDetail(photo.id, photo.width_px, photo.height_px, tuple(faces))


def photo_image(options: LibraryOptions, photo_id: int, *, max_side_px: int = 1600) -> bytes:
    """A JPEG of the upright photo, at most ``max_side_px`` on its longer side."""
    import io

    from PIL import Image

    from ..image import load_image
    from ..library import LibraryError

    with open_library(options) as library:
        photo = library.store.photo(photo_id)
        if photo is None or photo.error is not None:
            raise LibraryError(f"no readable photo {photo_id} in the library")
        image = Image.fromarray(load_image(photo.path))
    image.thumbnail((max_side_px, max_side_px))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88)
    return out.getvalue()


def add_face_to_photo(options: LibraryOptions, photo_id: int, box_ltrb_px: tuple[float, float, float, float],
                      name: str | None, pipeline: PipelineOptions, *, pipelines: PipelineFactory = build_pipeline) -> AddedFace:
    """:func:`add_face` for the photo of id ``photo_id`` (the page draws on the photo by id)."""
    with open_library(options) as library:
        return library.add_face(photo_id, tuple(box_ltrb_px), pipelines(pipeline), name=name)
