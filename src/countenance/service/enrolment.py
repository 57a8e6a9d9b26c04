"""Enrolment: one person from photos, or a folder of people with a consent file."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import GalleryError, InvalidArgument
from ..gallery import Consent, EnrolResult, SubjectRecord
from ..gallery.policy import check_consent_date
from .gallery import open_gallery
from .consent_check import check_folder_consent
from .aligned_input import AlignedInput, resolve_aligned
from .options import GalleryOptions, ImageInput, PipelineFactory, PipelineOptions, build_pipeline, image_source
from .path_args import existing_file, existing_folder

__all__ = [
    "ConsentOptions",
    "make_consent",
    "read_consent_file",
    "EnrolOptions",
    "enrol",
    "create_subject",
    "EnrolFolderOptions",
    "FolderEnrolment",
    "enrol_folder",
]

_CONSENT_FIELDS = ("text", "consenter", "purpose", "evidence", "given_at")


@dataclass(frozen=True)
class ConsentOptions:
    """A consent record as a user gives it: the statement, who consented (None: the subject),
    the purpose, a reference to the evidence, and when (ISO 8601; None: now)."""

    text: str
    consenter: str | None = None
    purpose: str = "identification"
    evidence: str = ""
    given_at: str | None = None


def make_consent(options: ConsentOptions, where: str = "consent") -> Consent:
    """The gallery's consent record; a bad field is an InvalidArgument naming ``where``."""
    try:
        consent = Consent(options.text, consenter=options.consenter, purpose=options.purpose,
                          evidence=options.evidence, given_at=options.given_at)
        if consent.given_at is not None:
            check_consent_date(consent.given_at, datetime.now(timezone.utc))
        return consent
    except ValueError as error:  # Consent validates its fields with ValueError (or InvalidArgument)
        raise InvalidArgument(f"{where}: {error}") from None


def read_consent_file(path: Path) -> dict[str, Consent]:
    """Consent records per person from a JSON or CSV file.

    JSON: ``{"<folder name>" or "*": {"text": ..., "consenter": ..., "purpose": ..., "evidence": ...,
    "given_at": ...}}``. CSV: columns ``subject,text`` and optionally ``consenter,purpose,evidence,given_at``
    (subject ``*`` applies to everyone without a row of their own).
    """
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise GalleryError(f"{path}: cannot read consent file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise GalleryError(f"{path}: not a text file; give a JSON object per person, or a .csv") from None
    rows: dict[str, dict[str, Any]]
    if Path(path).suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or not {"subject", "text"} <= set(reader.fieldnames):
            raise GalleryError(f"{path}:1: a consent CSV needs the columns subject,text (and optionally consenter,purpose,evidence,given_at)")
        rows = {}
        for line, row in enumerate(reader, start=2):
            subject = (row.pop("subject") or "").strip()
            if subject in rows:
                raise GalleryError(f"{path}:{line}: a second consent row for {subject!r}; give one row per person")
            rows[subject] = {k: v for k, v in row.items() if isinstance(v, str) and v}
    else:
        try:
            rows = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as error:
            raise GalleryError(f"{path}: not JSON ({error}); give a JSON object per person, or a .csv") from None
        except _DuplicateKey as error:
            raise GalleryError(f"{path}: the key {error.args[0]!r} appears twice in one object; give each person "
                               "(and each field) once") from None
        except RecursionError:
            raise GalleryError(f"{path}: JSON nested too deeply; a consent file is one object of person records") from None
        if not isinstance(rows, dict) or not all(isinstance(v, dict) for v in rows.values()):
            raise GalleryError(f"{path}: expected a JSON object mapping person folder names (or \"*\") to consent records")
    consents = {}
    for name, record in rows.items():
        extra = set(record) - set(_CONSENT_FIELDS)
        if extra:
            raise GalleryError(f"{path}: consent record for {name!r} has unknown field(s) {', '.join(sorted(extra))}")
        if not all(isinstance(value, str) for value in record.values()):
            raise GalleryError(f"{path}: consent record for {name!r}: every field must be a string")
        if "text" not in record:
            raise GalleryError(f"{path}: consent record for {name!r}: a consent record needs its text (what the person agreed to)")
        try:
            consents[name] = make_consent(ConsentOptions(**record), f"consent record for {name!r}")
        except InvalidArgument as error:
            raise GalleryError(f"{path}: {error}") from None
    return consents


class _DuplicateKey(Exception):
    """A JSON object named one key twice (json keeps the last one silently)."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


@dataclass(frozen=True)
class EnrolOptions:
    """One person (``name``) from photos, with their consent.

    A photo with several faces needs ``face`` (its number, from 1, as ``countenance detect``
    lists them; one photo only) or ``largest``. ``allow_duplicate`` enrols a face that the
    gallery already names as someone else, ``allow_mixed`` photos whose faces do not agree
    (the overrides are audited). All photos are enrolled or none.
    """

    name: str
    images: tuple[ImageInput, ...]
    consent: ConsentOptions | None = None
    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    face: int | None = None
    largest: bool = False
    allow_duplicate: bool = False
    allow_mixed: bool = False

    def __post_init__(self) -> None:
        if self.face is not None and self.largest:
            raise InvalidArgument("choose the face with --face N or --largest, not both")
        if self.face is not None and (isinstance(self.face, bool) or not isinstance(self.face, int) or self.face < 1):
            raise InvalidArgument(f"--face must be a face number >= 1 (as `countenance detect` lists them), got {self.face!r}")
        if self.face is not None and len(self.images) != 1:
            raise InvalidArgument(f"--face picks a face of one photo; got {len(self.images)} photos")


def enrol(options: EnrolOptions, *, pipelines: PipelineFactory = build_pipeline) -> EnrolResult:
    """Enrol ``options.name`` from all its photos, or from none: a photo that fails (no face,
    unreadable, opted out) or a refusal (MultipleFaces, DuplicateIdentity, MixedIdentities,
    SubjectForgotten) raises and nothing is enrolled."""
    record = make_consent(options.consent) if options.consent is not None else None
    with open_gallery(options.gallery, options.pipeline, pipelines=pipelines) as gallery:
        return gallery.enroll(options.name, [image_source(image) for image in options.images], consent=record,
                              face=options.face, largest=options.largest, allow_duplicate=options.allow_duplicate,
                              allow_mixed=options.allow_mixed)


def create_subject(options: GalleryOptions, name: str, consent: ConsentOptions | None) -> SubjectRecord:
    """A new subject with no faces yet, and their consent record (required when the gallery's
    policy requires consent); AlreadyExists if the name is taken. Audited."""
    record = make_consent(consent) if consent is not None else None
    with open_gallery(options) as gallery:
        return gallery.add_subject(name, consent=record)


@dataclass(frozen=True)
class EnrolFolderOptions:
    """``folder/<name>/*`` (one sub-folder of photos per person) and their consent file (JSON or CSV)."""

    folder: Path
    consent_file: Path | None = None
    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)


@dataclass(frozen=True)
class FolderEnrolment:
    """Each person's enrolment result, and the totals."""

    subjects: Mapping[str, EnrolResult]

    @property
    def enrolled(self) -> int:
        return sum(len(r.templates) for r in self.subjects.values())

    @property
    def already_enrolled(self) -> int:
        return sum(len(r.already_enrolled) for r in self.subjects.values())

    @property
    def failed(self) -> tuple[tuple[str, str, str], ...]:
        """``(subject, path, error)`` of each photo that could not be enrolled."""
        return tuple((r.subject, p, e) for r in self.subjects.values() for p, e in r.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subjects": {name: r.to_dict() for name, r in self.subjects.items()},
            "enrolled": self.enrolled,
            "already_enrolled": self.already_enrolled,
            "failed": [{"subject": s, "path": p, "error": e} for s, p, e in self.failed],
        }


def enrol_folder(
    options: EnrolFolderOptions,
    *,
    pipelines: PipelineFactory = build_pipeline,
    on_start: Callable[[int], None] | None = None,
    on_image: Callable[[Path], None] | None = None,
    on_aligned: Callable[[AlignedInput], None] | None = None,
) -> FolderEnrolment:
    """Enrol every person of ``options.folder``, resumably (photos already enrolled are skipped).

    ``on_start(n_photos)`` and ``on_image(path)`` report progress; ``on_aligned`` is told
    whether the photos are taken as aligned face crops (``--aligned``).
    """
    from ..image import iter_image_files

    folder = existing_folder(options.folder, "folder")
    _require_person_folders(folder)
    consents = read_consent_file(existing_file(options.consent_file, "--consent-file")) if options.consent_file is not None else {}
    aligned = resolve_aligned(options.pipeline, iter_image_files(folder))
    if on_aligned:
        on_aligned(aligned)
    with open_gallery(options.gallery, aligned.pipeline, pipelines=pipelines) as gallery:
        check_folder_consent(gallery, folder, consents)
        results = gallery.enroll_folder(options.folder, consents, on_start=on_start, on_image=on_image)
    return FolderEnrolment(dict(results))


def _require_person_folders(folder: Path) -> None:
    """InvalidArgument unless ``folder`` has a sub-folder holding photos: a folder of loose
    photos would otherwise enrol nobody and look like success."""
    from ..image import iter_image_files

    people = [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if any(next(iter_image_files(p), None) is not None for p in people):
        return
    loose = sum(1 for p in folder.iterdir() if p.is_file() and next(iter_image_files(p), None) is not None)
    what = f"it holds {loose} photo(s) directly and no person folder" if loose else (
        f"its {len(people)} sub-folder(s) hold no photos" if people else "it holds no person folder")
    raise InvalidArgument(
        f"folder {folder}: {what}; enroll-folder expects one sub-folder per person, named after them "
        f"({folder}/<name>/photo.jpg); for one person use `countenance enroll NAME PHOTO...`"
    )
