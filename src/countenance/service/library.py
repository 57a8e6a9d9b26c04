"""The photo library's use cases: index folders, people, names, suggestions, find, XMP sidecars.

Each takes typed options (the library folder in :class:`LibraryOptions`; pipeline and gallery
in the shared :mod:`.options`) and returns the library's own frozen results
(:mod:`countenance.library`) or the small ones declared here. :func:`to_document` turns any of
them into a JSON document, for the CLI's ``--json`` and the REST app alike.

Which gallery a library names people into: the one given, else the one the library recorded
the last time it used one, else the default gallery when it exists. Using a gallery attaches
the library to it (:mod:`.library_links`), so forgetting a subject in the gallery forgets the
name in the library too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..paths import open_private, private_folder
from ..errors import GalleryError, InvalidArgument
from ..faces import Box
from ..gallery.gallery import DB_NAME as GALLERY_DB
from ..gallery import Gallery
from ..library import (FoundPhoto, IndexProgress, IndexSummary, Library, LibraryStatus, NameResult, Person,
                       ReclusterSummary, SuggestOptions, SuggestSummary, XmpNames, XmpReadSummary, XmpWriteSummary)
from .enrolment import ConsentOptions, make_consent
from .gallery import open_gallery
from .library_links import attach_library
from .aligned_input import AlignedInput, resolve_aligned
from .options import GalleryOptions, PipelineFactory, PipelineOptions, build_pipeline

__all__ = [
    "LibraryOptions", "open_library", "to_document",
    "IndexLibraryOptions", "IndexedLibrary", "index_library", "recluster_library", "library_status", "list_people", "face_crop",
    "write_person_crops", "NameOptions", "NamedPerson", "name_person", "disagreeing_faces", "merge_people", "split_person",
    "hide_person", "SuggestRunOptions", "SuggestionItem", "SuggestRun", "suggest_names",
    "list_suggestions", "reject_suggestion", "find_person", "write_xmp", "read_xmp",
    # re-exported for the front ends, which may not import countenance.library
    "IndexProgress", "SuggestOptions",
]

GALLERY_META = "gallery"


@dataclass(frozen=True)
class LibraryOptions:
    """Which library: ``path`` None is :func:`countenance.paths.library_dir`
    (``$COUNTENANCE_LIBRARY``, else the user's data folder)."""

    path: Path | None = None

    @property
    def resolved_path(self) -> Path:
        return Path(self.path).expanduser() if self.path is not None else paths.library_dir()


@contextmanager
def open_library(options: LibraryOptions, *, create: bool = False) -> Iterator[Library]:
    """The library of ``options``, closed on exit; LibraryError when there is none (unless ``create``)."""
    with Library.open(options.resolved_path, create=create) as library:
        yield library


def to_document(value: Any) -> Any:
    """A result as JSON-ready values: dataclasses become objects (their ``to_dict`` when they
    have one), tuples lists, paths strings. Faces have the one shape of every JSON output: a
    box is ``[left, top, right, bottom]`` in pixels, under the key ``box``."""
    if isinstance(value, Box):
        return [round(float(v), 1) for v in value.to_list()]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_KEYS.get(f.name, f.name): to_document(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_document(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_document(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


#: Field names shown under the name every JSON output uses.
_KEYS = {"box_ltrb_px": "box"}


def _gallery_path(library: Library, options: GalleryOptions) -> Path | None:
    if options.path is not None:
        return Path(options.path).expanduser()
    recorded = library.store.meta(GALLERY_META)
    if recorded:
        return Path(recorded)
    default = paths.gallery_dir()
    return default if (default / GALLERY_DB).is_file() else None


def _attach(library: Library, gallery: Gallery) -> None:
    """Record the gallery in the library and the library in the gallery (see the module docstring)."""
    library.store.set_meta(GALLERY_META, str(Path(gallery.path).resolve()))
    attach_library(Path(gallery.path), library.store.path.parent)


def _suggest(library: Library, gallery: GalleryOptions, suggest: SuggestOptions, *,
             required: bool) -> SuggestSummary | None:
    where = _gallery_path(library, gallery)
    if where is None:
        if required:
            raise GalleryError("no gallery to suggest names from: give --gallery (or create the default one "
                               "with: countenance gallery init)")
        return None
    with open_gallery(GalleryOptions(where, gallery.actor)) as opened:
        _attach(library, opened)
        return library.suggest(opened, suggest)


# ------------------------------------------------------------ indexing


@dataclass(frozen=True)
class IndexLibraryOptions:
    """Index ``roots`` (folders or files) into the library, then group unknown faces into
    people; with ``gallery`` given (a path), suggest its enrolled people too. ``workers``:
    detection processes; ``full``: re-detect unchanged files."""

    roots: tuple[Path, ...]
    library: LibraryOptions = field(default_factory=LibraryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    gallery: GalleryOptions | None = None
    suggest: SuggestOptions = field(default_factory=SuggestOptions)
    workers: int = 2
    full: bool = False

    def __post_init__(self) -> None:
        if not self.roots:
            raise InvalidArgument("give at least one folder or photo to index")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise InvalidArgument(f"workers must be an integer >= 1, got {self.workers!r}")


@dataclass(frozen=True)
class IndexedLibrary:
    """One ``library index`` run: what indexing did, the re-clustering, and the suggestions
    (None when no gallery was given)."""

    index: IndexSummary
    clustering: ReclusterSummary
    suggestions: SuggestSummary | None
    xmp: XmpNames | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index.to_dict(), "clustering": to_document(dataclasses.asdict(self.clustering)),
                "suggestions": None if self.suggestions is None else dataclasses.asdict(self.suggestions),
                "xmp": None if self.xmp is None else dataclasses.asdict(self.xmp)}


def index_library(options: IndexLibraryOptions, *,
                  on_progress: Callable[[IndexProgress], None] | None = None,
                  on_aligned: Callable[[AlignedInput], None] | None = None) -> IndexedLibrary:
    """Index, name the faces the photos' own XMP regions name (sidecar or embedded, IoU >=
    0.5; library names only), place the new faces in people (incrementally; in full when the
    clustering rule changed; every decision kept) and, with a gallery, suggest names.

    ``on_progress`` gets an :class:`~countenance.library.IndexProgress` after each photo
    detected (files done and to do, faces, rate and ETA); ``on_aligned`` is told whether the
    photos are taken as aligned face crops (``--aligned``)."""
    from ..image import iter_image_files

    aligned = resolve_aligned(options.pipeline, (p for root in options.roots for p in iter_image_files(root)))
    if on_aligned:
        on_aligned(aligned)
    with open_library(options.library, create=True) as library:
        summary = library.index(options.roots, workers=options.workers, full=options.full,
                                pipeline=aligned.pipeline.config(), on_progress=on_progress)
        xmp = library.names_from_xmp()
        clustering = library.place_new()
        suggestions = None
        if options.gallery is not None:
            suggestions = _suggest(library, options.gallery, options.suggest, required=True)
        return IndexedLibrary(summary, clustering, suggestions, xmp)


def recluster_library(options: LibraryOptions) -> ReclusterSummary:
    """Re-cluster the whole library (the rule or its settings changed, or on demand); every
    decision of the user is kept."""
    with open_library(options) as library:
        return library.recluster()


def library_status(options: LibraryOptions) -> LibraryStatus:
    """Counts of photos, faces, people, names and open suggestions."""
    with open_library(options) as library:
        return library.status()


# ------------------------------------------------------------ people


def list_people(options: LibraryOptions, *, include_hidden: bool = False) -> tuple[Person, ...]:
    """People by number of faces, largest first (hidden ones only with ``include_hidden``)."""
    with open_library(options) as library:
        return tuple(library.people(include_hidden=include_hidden))


def face_crop(options: LibraryOptions, face_id: int, *, max_side_px: int = 160) -> bytes:
    """A JPEG crop of one face (a person's ``representative_face``, for review)."""
    with open_library(options) as library:
        return library.crop(face_id, max_side_px=max_side_px)


def write_person_crops(options: LibraryOptions, out_dir: Path, *, include_hidden: bool = False) -> tuple[Path, ...]:
    """Write each person's representative face as ``out_dir/person-<id>.jpg``; the paths written."""
    out = private_folder(out_dir)  # faces of people: readable by their owner only (0700 / 0600)
    written = []
    with open_library(options) as library:
        for person in library.people(include_hidden=include_hidden):
            if person.representative_face is not None:
                path = out / f"person-{person.id}.jpg"
                with open_private(path) as handle:
                    handle.write(library.crop(person.representative_face))
                written.append(path)
    return tuple(written)


@dataclass(frozen=True)
class NameOptions:
    """Name person ``person_id`` ``name``. The person is enrolled in the gallery (see the module
    docstring for which) under ``name``, with ``consent`` when the gallery's policy asks for
    one; without any gallery it is named in the library only. ``gallery.path`` None: the
    library's gallery, else the default one when it exists."""

    person_id: int
    name: str
    consent: ConsentOptions | None = None
    library: LibraryOptions = field(default_factory=LibraryOptions)
    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    enrol: bool = True  # False: name the person in the library only, whatever gallery there is
    allow_duplicate: bool = False  # enrol faces the gallery already names as someone else (audited)
    confirm_all: bool = False  # the user saw every face of the person: confirm them all


@dataclass(frozen=True)
class NamedPerson:
    """A person named, the gallery it was enrolled in (None: named in the library only), and
    the faces the identity checks found disagree with the rest of the person (to review)."""

    result: NameResult
    gallery: Path | None
    disagreeing_faces: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**to_document(dataclasses.asdict(self.result)), "gallery": None if self.gallery is None else str(self.gallery),
                "disagreeing_faces": list(self.disagreeing_faces)}


def name_person(options: NameOptions, *, pipelines: PipelineFactory = build_pipeline) -> NamedPerson:
    """Name a person: its faces become confirmed only with ``confirm_all``; enrolled in the
    gallery with the consent record (ConsentRequired, and nothing named, when the policy needs
    one and none is given). The person's faces are checked first: when some disagree with the
    rest (:func:`disagreeing_faces`), ``confirm_all`` is refused
    (InvalidArgument naming them: split or not-this-person them first) and a plain naming
    reports them in ``disagreeing_faces``."""
    consent = make_consent(options.consent) if options.consent is not None else None
    with open_library(options.library) as library:
        flagged = disagreeing_faces(library, options.person_id)
    if flagged and options.confirm_all:
        raise InvalidArgument(f"faces {', '.join(map(str, flagged))} of person {options.person_id} disagree with the "
                              "rest of the person: review them (library split / not-this-person) before confirming all")
    with open_library(options.library) as library:
        where = _gallery_path(library, options.gallery) if options.enrol else None
        if where is None:
            return NamedPerson(library.name(options.person_id, options.name, confirm_all=options.confirm_all), None,
                               flagged)
        with open_gallery(GalleryOptions(where, options.gallery.actor), options.pipeline, pipelines=pipelines) as gallery:
            result = library.name(options.person_id, options.name, gallery=gallery, consent=consent,
                                  allow_duplicate=options.allow_duplicate, confirm_all=options.confirm_all)
            _attach(library, gallery)
            return NamedPerson(result, Path(gallery.path), flagged)


def disagreeing_faces(library: Library, person_id: int, *, cut_fmr: float = 0.01) -> tuple[int, ...]:
    """The faces of person ``person_id`` that the dataset-cleaning identity checks
    (:func:`countenance.clean.check_identities`, pair cut at stranger false-match rate
    ``cut_fmr`` in the model's calibration, installed or shipped) find disagree with the rest of the person:
    a stranger clustering put there. Empty when the person has under 3 faces, or when the model
    has no calibration (nothing to judge by)."""
    from ..clean import IdentityOptions, check_identities, cut_from_calibration
    from ..calibration import load_calibration
    from ..calibration.cuts import cuts_for

    library.store.person(person_id)
    faces = [library.store.face(face_id) for face_id, _ in library.store.person_faces(person_id)]
    models = {face.model for face in faces}
    calibration = load_calibration(next(iter(models))) if len(models) == 1 else None
    if calibration is None:
        return ()
    options = IdentityOptions(cut_distance=cut_from_calibration(faces[0].model, cut_fmr), metric=calibration.metric)
    options = options.carried(cuts_for(faces[0].model, calibration.metric, calibration))  # dlib's margins, carried
    found = check_identities({"person": {f"face:{face.id}": face.template for face in faces}}, options).findings
    return tuple(sorted(int(item.split(":")[1]) for finding in found for item in finding.items if item.startswith("face:")))


def merge_people(options: LibraryOptions, target: int, sources: tuple[int, ...]) -> Person:
    """Merge ``sources`` into ``target`` (names and confirmations kept; refused when names differ)."""
    if not sources:
        raise InvalidArgument("give at least one person to merge into the first")
    with open_library(options) as library:
        return library.merge(target, list(sources))


def split_person(options: LibraryOptions, person_id: int, face_ids: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Split the picked faces (confirmed there), or without them the most separable
    sub-group (unconfirmed), off into one new person; its id (none when there is one group)."""
    with open_library(options) as library:
        return tuple(library.split(person_id, list(face_ids) if face_ids else None))


def hide_person(options: LibraryOptions, person_id: int, *, hidden: bool = True) -> Person:
    """Hide (or show again) a person in ``people``."""
    with open_library(options) as library:
        library.hide(person_id, hidden)
        return next(p for p in library.people(include_hidden=True) if p.id == person_id)


# ------------------------------------------------------------ suggestions


@dataclass(frozen=True)
class SuggestRunOptions:
    """Suggest the enrolled people of the gallery (``gallery.path`` None: the library's, else
    the default one) for the library's unconfirmed faces, at ``suggest``'s threshold."""

    library: LibraryOptions = field(default_factory=LibraryOptions)
    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    suggest: SuggestOptions = field(default_factory=SuggestOptions)


@dataclass(frozen=True)
class SuggestionItem:
    """A suggestion to review: the face, its photo and box (pixels, upright photo), the
    subject, distance, calibrated false-match rate and state."""

    face_id: int
    path: str
    box_ltrb_px: tuple[float, float, float, float]
    subject: str
    distance: float
    false_match_rate: float | None
    state: str


@dataclass(frozen=True)
class SuggestRun:
    summary: SuggestSummary
    suggestions: tuple[SuggestionItem, ...]


def _items(library: Library, state: str | None) -> tuple[SuggestionItem, ...]:
    out = []
    for s in library.suggestions(state=state):
        face = library.store.face(s.face_id)
        photo = library.store.photo(face.photo_id)
        out.append(SuggestionItem(s.face_id, photo.path if photo else "", face.box_ltrb_px, s.subject, s.distance,
                                  s.false_match_rate, s.state))
    return tuple(sorted(out, key=lambda i: (i.path, i.face_id, i.subject)))


def suggest_names(options: SuggestRunOptions) -> SuggestRun:
    """Make the open suggestions again (accepted and rejected ones stay decided) and list them."""
    with open_library(options.library) as library:
        summary = _suggest(library, options.gallery, options.suggest, required=True)
        return SuggestRun(summary, _items(library, "open"))


def list_suggestions(options: LibraryOptions, *, state: str | None = "open") -> tuple[SuggestionItem, ...]:
    """The suggestions in ``state`` (``open``, ``accepted``, ``rejected``; None: all)."""
    if state not in (None, "open", "accepted", "rejected"):
        raise InvalidArgument(f"state must be open, accepted or rejected, got {state!r}")
    with open_library(options) as library:
        return _items(library, state)


def reject_suggestion(options: LibraryOptions, face_id: int, subject: str | None = None) -> str:
    """Reject the suggestion for the face: never suggested again; returns the subject rejected."""
    with open_library(options) as library:
        chosen = subject
        if chosen is None:
            open_ = [s.subject for s in library.suggestions(state="open") if s.face_id == face_id]
            chosen = open_[0] if len(open_) == 1 else None
        library.reject(face_id, chosen)
        return chosen if chosen is not None else ""


# ------------------------------------------------------------ finding and XMP


def find_person(options: LibraryOptions, name: str) -> tuple[FoundPhoto, ...]:
    """Every photo of the person named ``name``, with the person's face boxes."""
    with open_library(options) as library:
        return tuple(library.find(name))


def write_xmp(options: LibraryOptions, *, include_unconfirmed: bool = False) -> XmpWriteSummary:
    """Write the named, confirmed faces into ``photo.ext.xmp`` sidecars (MWG and Microsoft
    regions, merged into what is there; regions of forgotten names removed); named faces the
    user has not confirmed only with ``include_unconfirmed``."""
    with open_library(options) as library:
        return library.write_xmp(include_unconfirmed=include_unconfirmed)


def read_xmp(options: LibraryOptions) -> XmpReadSummary:
    """Import the named regions of existing sidecars as confirmed faces."""
    with open_library(options) as library:
        return library.read_xmp()
