"""The photo library's use cases for front ends: status, the suggestions queue (accept,
reject), people (name, merge, split, not this person), face crops; and forgetting a subject
everywhere (the gallery and the library).

Each call opens the library (one SQLite file; cheap) and, when it needs one, the gallery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidArgument
from ..gallery import ForgetResult
from ..library import IndexSummary, Library, LibraryStatus, NameResult, Person, ReclusterSummary, SuggestSummary, Suggestion
from .enrolment import ConsentOptions, make_consent
from .gallery import open_gallery
from .options import GalleryOptions, PipelineFactory, PipelineOptions, build_pipeline

__all__ = [
    "LibraryOptions",
    "library_status",
    "list_suggestions",
    "accept_suggestion",
    "reject_suggestion",
    "list_people",
    "face_crop",
    "name_person",
    "merge_people",
    "split_person",
    "not_this_person",
    "forget_everywhere",
    "LibraryRefresh",
    "refresh_library",
    "SUGGESTION_STATES",
]

SUGGESTION_STATES = ("open", "accepted", "rejected")


@dataclass(frozen=True)
class LibraryOptions:
    """Which library folder, and the gallery its suggestions and names refer to."""

    folder: Path
    gallery: GalleryOptions = field(default_factory=GalleryOptions)


def _open(options: LibraryOptions) -> Library:
    return Library.open(options.folder, create=False)


def library_status(options: LibraryOptions) -> LibraryStatus:
    """Photos, faces, people and open suggestions counted."""
    with _open(options) as library:
        return library.status()


def list_suggestions(options: LibraryOptions, state: str = "open") -> tuple[Suggestion, ...]:
    """Suggestions in ``state`` (open, accepted, rejected), each an enrolled subject for a face."""
    if state not in SUGGESTION_STATES:
        raise InvalidArgument(f"state must be one of {', '.join(SUGGESTION_STATES)}, got {state!r}")
    with _open(options) as library:
        return tuple(library.suggestions(state=state))


def accept_suggestion(options: LibraryOptions, face_id: int, subject: str | None = None) -> int:
    """The face is confirmed as the person named after the subject; returns that person's id."""
    with _open(options) as library:
        return library.accept(face_id, subject)


def reject_suggestion(options: LibraryOptions, face_id: int, subject: str | None = None) -> None:
    """Never suggest this subject for this face again (and never cluster it into them)."""
    with _open(options) as library:
        library.reject(face_id, subject)


def list_people(options: LibraryOptions, *, include_hidden: bool = False) -> tuple[Person, ...]:
    """People found in the library, largest first."""
    with _open(options) as library:
        return tuple(library.people(include_hidden=include_hidden))


def face_crop(options: LibraryOptions, face_id: int) -> bytes:
    """A JPEG of one face of the library (at most 160 px), for review screens."""
    with _open(options) as library:
        return library.crop(face_id)


def name_person(
    options: LibraryOptions,
    person_id: int,
    name: str,
    *,
    consent: ConsentOptions | None = None,
    enrol: bool = True,
    pipeline: PipelineOptions | None = None,
    pipelines: PipelineFactory = build_pipeline,
) -> NameResult:
    """Name a person; with ``enrol``, also enrol their best faces in the gallery under ``name``
    with ``consent`` (ConsentRequired when the gallery's policy needs it and none is given)."""
    record = make_consent(consent) if consent is not None else None
    with _open(options) as library:
        if not enrol:
            return library.name(person_id, name)
        with open_gallery(options.gallery, pipeline or PipelineOptions(), pipelines=pipelines) as gallery:
            return library.name(person_id, name, gallery=gallery, consent=record)


def merge_people(options: LibraryOptions, target: int, sources: list[int]) -> Person:
    """Merge ``sources`` into ``target`` (the user says they are one person)."""
    if not sources or target in sources:
        raise InvalidArgument("merge needs other people than the target")
    with _open(options) as library:
        return library.merge(target, list(sources))


def split_person(options: LibraryOptions, person_id: int, face_ids: list[int] | None = None) -> tuple[int, ...]:
    """Split ``face_ids`` off a person (None: re-cluster the person's faces); the new people's ids."""
    with _open(options) as library:
        return tuple(library.split(person_id, face_ids))


def not_this_person(options: LibraryOptions, face_id: int) -> int:
    """The face is not the person it was put in (never again); returns that person's id."""
    with _open(options) as library:
        return library.not_this_person(face_id)


def forget_everywhere(options: LibraryOptions, name: str) -> ForgetResult:
    """Forget a subject in the gallery (templates, crops, consent, erased) and then in the
    library (the person of that name, its confirmations and every suggestion of the name)."""
    with open_gallery(options.gallery) as gallery:
        result = gallery.forget(name)  # NotEnrolled before anything is deleted
    with _open(options) as library:
        library.forget(name)
    return result


@dataclass(frozen=True)
class LibraryRefresh:
    """What one refresh did: photos indexed, people re-clustered, suggestions made."""

    indexed: IndexSummary
    clustered: ReclusterSummary
    suggested: SuggestSummary


def refresh_library(options: LibraryOptions, roots: Sequence[Path], *, workers: int = 2,
                    pipeline: PipelineOptions | None = None) -> LibraryRefresh:
    """Index the photos under ``roots`` (new and changed ones; the library is created if
    missing), re-cluster people and suggest the gallery's subjects for unconfirmed faces."""
    pipeline_options = None
    if pipeline is not None:
        pipeline_options = {"detector": pipeline.detector, "embedder": pipeline.embedder}
    with Library.open(options.folder) as library:
        indexed = library.index(list(roots), workers=workers, pipeline_options=pipeline_options)
        clustered = library.recluster()
        with open_gallery(options.gallery) as gallery:
            suggested = library.suggest(gallery)
    return LibraryRefresh(indexed, clustered, suggested)
