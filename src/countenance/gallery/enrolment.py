"""Enrolment: a subject's templates from images (or faces already embedded), with consent.

One face, one person: a photo with several faces needs the face chosen (``face=N`` or
``largest=True``), and a face that the gallery would already name as another subject is
refused (:class:`~countenance.errors.DuplicateIdentity`) unless ``allow_duplicate`` says
otherwise, which the audit entry records. Forget wins: a subject forgotten after this
enrolment began, or after its consent was given, is not re-created (checked in the same
transaction as the insert, so a concurrent forget cannot slip between check and insert).

Each image is one transaction (subject, consent record, template, audit entry), so a run that
stops midway keeps what it committed and a rerun skips images already enrolled (same path and
content) before embedding them again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import (
    AlreadyExists,
    ConsentRequired,
    DuplicateIdentity,
    GalleryError,
    ImageError,
    InvalidArgument,
    MultipleFaces,
    NoFaceFound,
    OptedOut,
    SubjectForgotten,
)
from ..faces import Face
from .core import GalleryCore
from .identify import Candidate
from .images import EmbeddedImage, GalleryImage, crop_jpeg, source_of
from .policy import Consent, check_name, parse_moment, timestamp
from .records import ConsentRecord, EnrolResult, SubjectRecord, TemplateRecord
from .search import candidates, duplicate_distance, optout_distance, suppressed

__all__ = ["enroll", "enroll_folder", "require_consent", "check_not_forgotten", "add_subject"]


def enroll(
    g: GalleryCore,
    name: str,
    images: Iterable[GalleryImage],
    *,
    consent: Consent | None = None,
    face: int | None = None,
    largest: bool = False,
    allow_duplicate: bool = False,
    started_at: str | None = None,
    skip_refusals: bool = False,
) -> EnrolResult:
    """Enrol one face of each image as a template of ``name``; see
    :meth:`countenance.gallery.Gallery.enroll`.

    ``started_at``: when the enrolment began (default: now; :func:`enroll_folder` passes its
    own start), checked against a forget of ``name``. ``skip_refusals``: report a refused photo
    (several faces, a duplicate identity, a forgotten subject) in ``failed`` instead of raising.
    """
    name = check_name(name)
    started_at = started_at or g.log.now()
    if face is not None and largest:
        raise InvalidArgument("choose the face with face=N or largest=True, not both")
    if face is not None:
        if isinstance(face, bool) or not isinstance(face, int) or face < 1:
            raise InvalidArgument(f"face must be a face number >= 1 (as `countenance detect` lists them), got {face!r}")
        images = list(images)
        if len(images) != 1:
            raise InvalidArgument(f"face={face} picks a face of one photo; got {len(images)} photos")
    require_consent(g, name, consent)
    check_not_forgotten(g, name, consent, started_at)
    choice = _Choice(face, largest, allow_duplicate, started_at)
    templates, already, failed = [], [], []
    try:
        for image in images:
            label = _label(image)
            try:
                record = _enrol_one(g, name, image, consent, choice)
            except (NoFaceFound, OptedOut, ImageError) as error:
                failed.append((label, str(error)))
                continue
            except (MultipleFaces, DuplicateIdentity, SubjectForgotten) as error:
                if not skip_refusals:
                    raise
                failed.append((label, str(error)))
                continue
            if record is None:
                already.append(label)
            else:
                templates.append(record)
    finally:
        g.flush()
    return EnrolResult(name, tuple(templates), tuple(already), tuple(failed))


def add_subject(g: GalleryCore, name: str, consent: Consent | None) -> SubjectRecord:
    """A new subject without templates yet, with its consent record (needed when the policy
    requires consent); AlreadyExists if the name is taken. Audited."""
    name = check_name(name)
    require_consent(g, name, consent)
    now = g.log.now()
    with g.store.transaction():
        if g.store.subject(name) is not None:
            raise AlreadyExists(f"subject {name!r} already exists")
        linked = _consent_to_link(g, None, name, consent, now)
        _refuse_if_forgotten(name, g.store.forgotten_at(name), now, linked.given_at if linked else None)
        subject_id = g.store.add_subject(name, now)
        consent_id = g.store.add_consent(subject_id, linked) if linked is not None else None
        g.log.record("create", {"subject": name}, {"consent_id": consent_id}, [name])
    return SubjectRecord(subject_id, name, now, 0)


@dataclass(frozen=True)
class _Choice:
    """How one enrolment call picks faces and what it allows (see :func:`enroll`)."""

    face: int | None
    largest: bool
    allow_duplicate: bool
    started_at: str


def _label(image: GalleryImage) -> str:
    """How a failed or skipped image is named in the result: as given, or ``"<image>"``."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, EmbeddedImage):
        return image.label
    return "<image>"


def require_consent(g: GalleryCore, name: str, consent: Consent | None) -> None:
    """Raise ConsentRequired when the policy needs consent, none is given and ``name`` has no
    consent record from an earlier enrolment."""
    if consent is not None or not g.policy.consent_required:
        return
    subject = g.store.subject(name)
    if subject is None or not g.store.consents(subject.id):
        raise ConsentRequired(
            f"enrolling {name!r} needs a consent record (who consented, when, for what, evidence): "
            "this gallery's policy requires consent"
        )


def check_not_forgotten(g: GalleryCore, name: str, consent: Consent | None, started_at: str) -> None:
    """Raise SubjectForgotten when ``name`` was forgotten and this enrolment (begun at
    ``started_at``, with ``consent`` or else the subject's latest consent record) does not
    come after it. Checked again, for each photo, inside the transaction that would insert it."""
    forgotten = g.store.forgotten_at(name)
    if forgotten is None:
        return
    given = _consent_time(consent, started_at) if consent is not None else None
    if given is None:
        subject = g.store.subject(name)
        existing = g.store.consents(subject.id) if subject is not None else []
        given = existing[-1].given_at if existing else None
    _refuse_if_forgotten(name, forgotten, started_at, given)


def _refuse_if_forgotten(name: str, forgotten: str | None, started_at: str, consent_given_at: str | None) -> None:
    """Forget wins: refuse an enrolment that began, or whose consent was given, before the forget."""
    if forgotten is None:
        return
    if started_at <= forgotten:
        raise SubjectForgotten(name, forgotten, f"this enrolment began before that (at {started_at}) and cannot re-create them")
    if consent_given_at is None or consent_given_at <= forgotten:
        raise SubjectForgotten(name, forgotten, "enrolling them again needs a consent record given after that")


def _consent_time(consent: Consent, default: str) -> str:
    return timestamp(parse_moment(consent.given_at, "consent date")) if consent.given_at else default


def _choose_face(embedded: EmbeddedImage, choice: _Choice) -> tuple[int, Face]:
    """``(number from 1, face)`` of the face to enrol: the one asked for, the only one, or the
    largest when asked to; MultipleFaces when the photo has several and nobody said which."""
    faces = embedded.faces
    if choice.face is not None:
        if choice.face > len(faces):
            raise InvalidArgument(f"{embedded.label}: face {choice.face} asked for, the photo has {len(faces)}")
        return choice.face, faces[choice.face - 1]
    if len(faces) > 1 and not choice.largest:
        raise MultipleFaces(embedded.label, len(faces))
    return 1, faces[0]


def _enrol_one(g: GalleryCore, name: str, image: GalleryImage, consent: Consent | None, choice: _Choice) -> TemplateRecord | None:
    path, sha = source_of(image)
    if sha is not None:
        # Resuming: skip a source this subject already has, before the costly embedding.
        subject = g.store.subject(name)
        if subject is not None and g.store.has_source(subject.id, path, sha):
            return None
    embedded = g.read(image, sha256=sha)
    if not embedded.faces:
        raise NoFaceFound(embedded.label)
    number, face = _choose_face(embedded, choice)
    vector = face.template.vector
    g.sync("optouts")
    if suppressed(g, vector, optout_distance(g)):
        raise OptedOut(f"{embedded.label}: this face matches a person who opted out of recognition")
    box = [round(v, 1) for v in face.box.to_list()]
    crop = crop_jpeg(embedded.pixels, face.box) if g.policy.keep_crops and embedded.pixels is not None else None
    now = g.log.now()
    with g.store.transaction():  # every check below sees the state the insert commits on
        subject = g.store.subject(name)
        if subject is not None and g.store.has_source(subject.id, embedded.path, embedded.sha256):
            return None
        linked = _consent_to_link(g, subject, name, consent, now)
        _refuse_if_forgotten(name, g.store.forgotten_at(name), choice.started_at, linked.given_at if linked else None)
        duplicate = _same_face_as_another(g, name, vector)
        if duplicate is not None and not choice.allow_duplicate:
            raise DuplicateIdentity(embedded.label, name, duplicate.subject, duplicate.distance, duplicate_distance(g))
        subject_id = subject.id if subject is not None else g.store.add_subject(name, now)
        if linked is None or linked.id is not None:
            consent_id = linked.id if linked is not None else None
        else:
            consent_id = g.store.add_consent(subject_id, linked)
        template_id = g.store.add_template(
            subject_id, consent_id, g.model, vector, source_path=embedded.path, source_sha256=embedded.sha256,
            box=box, crop=crop, now=now, actor=g.actor,
        )
        result: dict = {"subject": name, "template_id": template_id, "box": box}
        if len(embedded.faces) > 1:
            result["face"] = {"number": number, "of": len(embedded.faces), "chosen": "face" if choice.face else "largest"}
        if duplicate is not None:  # the override is on the record, with whom it overrode
            result["duplicate_override"] = {"subject": duplicate.subject, "distance": round(duplicate.distance, 6)}
        g.log.record("enrol", {"sha256": embedded.sha256, "path": embedded.path}, result,
                     [name] + ([duplicate.subject] if duplicate is not None else []))
    g.sync("templates")
    return g.store.templates(ids=[template_id])[0]


def _same_face_as_another(g: GalleryCore, name: str, vector: np.ndarray) -> Candidate | None:
    """The nearest *other* enrolled subject when ``vector`` is within :func:`duplicate_distance`
    of them (call inside the write transaction: the index is caught up with the store first)."""
    g.sync("templates")
    n = g.index("templates").count()
    if n == 0:
        return None
    others = [c for c in candidates(g, vector, 2, n) if c.subject != name]
    if others and others[0].distance <= duplicate_distance(g, templates=n):
        return others[0]
    return None


def _consent_to_link(g: GalleryCore, subject: SubjectRecord | None, name: str, consent: Consent | None, now: str) -> ConsentRecord | None:
    """The consent record the new template links to: a stored one (with its ``id``), a new one
    to store (``id`` None), or None when the policy needs none and none was given."""
    existing = g.store.consents(subject.id) if subject is not None else []
    if consent is None:
        if existing:
            return existing[-1]
        if g.policy.consent_required:
            raise ConsentRequired(f"enrolling {name!r} needs a consent record: this gallery's policy requires consent")
        return None
    record = ConsentRecord(
        text=consent.text.strip(),
        consenter=consent.consenter or name,
        purpose=consent.purpose,
        evidence=consent.evidence,
        given_at=_consent_time(consent, now),
    )
    for old in existing:  # the same record again (a resumed run): reuse it
        if (old.text, old.consenter, old.purpose, old.evidence) == (record.text, record.consenter, record.purpose, record.evidence) and (
            consent.given_at is None or old.given_at == record.given_at
        ):
            return old
    return replace(record, recorded_at=now, recorded_by=g.actor)


def enroll_folder(
    g: GalleryCore,
    root: str | os.PathLike[str],
    consents: Mapping[str, Consent] | None = None,
    *,
    on_start: Callable[[int], None] | None = None,
    on_image: Callable[[Path], None] | None = None,
) -> dict[str, EnrolResult]:
    """Enrol ``root/<name>/*`` (one folder per person), resumably; see
    :meth:`countenance.gallery.Gallery.enroll_folder`."""
    from ..image import iter_image_files

    root = Path(root)
    if not root.is_dir():
        raise GalleryError(f"{root}: no such folder")
    started_at = g.log.now()  # a forget after this moment wins over the whole run
    consents = consents or {}
    people = [(p, list(iter_image_files(p))) for p in sorted(root.iterdir()) if p.is_dir()]
    if on_start:
        on_start(sum(len(files) for _, files in people))
    results = {}
    try:
        for folder, files in people:
            name = check_name(folder.name)
            consent = consents.get(folder.name, consents.get("*"))
            try:
                require_consent(g, name, consent)
                check_not_forgotten(g, name, consent, started_at)
            except (ConsentRequired, SubjectForgotten) as error:
                results[name] = EnrolResult(name, (), (), tuple((str(f), str(error)) for f in files))
                for f in files:
                    if on_image:
                        on_image(f)
                continue
            results[name] = enroll(g, name, _reporting(files, on_image), consent=consent,
                                   started_at=started_at, skip_refusals=True)
    finally:
        g.flush()
    return results


def _reporting(files: list[Path], on_image: Callable[[Path], None] | None) -> Iterator[Path]:
    """``files``, calling ``on_image`` after each one has been handled."""
    for path in files:
        yield path
        if on_image:
            on_image(path)
