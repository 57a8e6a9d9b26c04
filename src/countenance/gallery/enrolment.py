"""Enrolment: a subject's templates from images (or faces already embedded), with consent.

One face, one person: a photo with several faces needs the face chosen (``face=N`` or
``largest=True``), and a face that the gallery would already name as another subject is
refused (:class:`~countenance.errors.DuplicateIdentity`) unless ``allow_duplicate`` says
otherwise, which the audit entry records. Forget wins: a subject forgotten after this
enrolment began, or after its consent was given, is not re-created (checked in the same
transaction as the insert, so a concurrent forget cannot slip between check and insert).

One enrolment is one transaction (subject, consent record, templates, an audit entry per
photo): it enrols all its photos or none, and its photos must show one person (each within
the model's same-person limit of the others and of the subject's templates, unless
``allow_mixed``, which is audited). A folder run commits each person so: a run that stops
midway keeps the people it committed, and a rerun skips photos already enrolled (same path
and content) before embedding them again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import (
    AlreadyExists,
    ConsentRequired,
    DuplicateIdentity,
    GalleryError,
    ImageError,
    InvalidArgument,
    MixedIdentities,
    MultipleFaces,
    NoFaceFound,
    OptedOut,
    SubjectForgotten,
)
from ..decide import pairwise_distances
from ..faces import Face
from .core import GalleryCore
from .identify import Candidate
from .images import EmbeddedImage, GalleryImage, crop_jpeg, source_of
from .policy import Consent, check_consent_date, check_name, timestamp
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
    allow_mixed: bool = False,
    started_at: str | None = None,
    skip_refusals: bool = False,
    skip_faceless: bool = False,
) -> EnrolResult:
    """Enrol one face of each image as a template of ``name``; see
    :meth:`countenance.gallery.Gallery.enroll`.

    All or nothing: every photo is read and checked first, then all are committed in one
    transaction; a photo that fails (no face, unreadable, several faces, opted out, a
    duplicate identity, a forgotten subject) or photos that do not agree with each other and
    with the subject's templates (:class:`~countenance.errors.MixedIdentities`, unless
    ``allow_mixed``, which the audit entries record) raise, and nothing is enrolled.

    ``started_at``: when the enrolment began (default: now; :func:`enroll_folder` passes its
    own start), checked against a forget of ``name``. ``skip_refusals`` (a folder run): a
    photo that fails is reported in ``failed`` and the others are enrolled (the subject's
    photos that do not agree are all reported); ``skip_faceless``: only photos without a face
    or unreadable are reported so, refusals still raise.
    """
    name = check_name(name)
    started_at = started_at or g.log.now()
    if face is not None and largest:
        raise InvalidArgument("choose the face with face=N or largest=True, not both")
    images = list(images)
    if face is not None:
        if isinstance(face, bool) or not isinstance(face, int) or face < 1:
            raise InvalidArgument(f"face must be a face number >= 1 (as `countenance detect` lists them), got {face!r}")
        if len(images) != 1:
            raise InvalidArgument(f"face={face} picks a face of one photo; got {len(images)} photos")
    require_consent(g, name, consent)
    check_not_forgotten(g, name, consent, started_at)
    choice = _Choice(face, largest, allow_duplicate, started_at, allow_mixed)
    prepared, already, failed = [], [], []
    seen: set[tuple[str | None, str]] = set()
    try:
        for image in images:
            label = _label(image)
            try:
                ready = _prepare(g, name, image, choice)
            except (NoFaceFound, ImageError) as error:
                if not (skip_refusals or skip_faceless):
                    raise _nothing_enrolled(error, len(images))
                failed.append((label, str(error)))
                continue
            except (MultipleFaces, OptedOut, InvalidArgument) as error:
                if not skip_refusals:
                    raise _nothing_enrolled(error, len(images))
                failed.append((label, str(error)))
                continue
            key = (ready.embedded.path, ready.embedded.sha256) if ready is not None else None
            if ready is None or key in seen:
                already.append(label)
            else:
                seen.add(key)
                prepared.append(ready)
        templates, refused = _commit(g, name, consent, prepared, choice, skip_refusals) if prepared else ([], [])
        failed.extend(refused)
    finally:
        g.flush()
    return EnrolResult(name, tuple(templates), tuple(already), tuple(failed))


def _nothing_enrolled(error: Exception, photos: int) -> Exception:
    """``error`` (raised for one photo of several) saying that the request enrolled nothing."""
    if photos > 1:
        error.args = (f"{error}; nothing was enrolled (an enrolment takes all its photos or none)",)
    return error


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
    allow_mixed: bool = False


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
    """When ``consent`` was given as a store timestamp (``default`` when it does not say);
    InvalidArgument when that is after ``default`` (now): a consent not yet given."""
    if not consent.given_at:
        return default
    return timestamp(check_consent_date(consent.given_at, datetime.fromisoformat(default.replace("Z", "+00:00"))))


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


@dataclass(frozen=True)
class _Prepared:
    """One photo read and checked, ready to insert: its face (``number`` of ``faces``), box and crop."""

    label: str
    embedded: EmbeddedImage
    number: int
    face: Face
    box: list[float]
    crop: bytes | None


def _prepare(g: GalleryCore, name: str, image: GalleryImage, choice: _Choice) -> _Prepared | None:
    """``image`` embedded, its face chosen and checked against the opt-outs; None when the
    subject already holds it (same path and content: skipped before the costly embedding)."""
    path, sha = source_of(image)
    if sha is not None:
        subject = g.store.subject(name)
        if subject is not None and g.store.has_source(subject.id, path, sha):
            return None
    embedded = g.read(image, sha256=sha)
    if not embedded.faces:
        raise NoFaceFound(embedded.label)
    number, face = _choose_face(embedded, choice)
    g.sync("optouts")
    if suppressed(g, face.template.vector, optout_distance(g)):
        raise OptedOut(f"{embedded.label}: this face matches a person who opted out of recognition")
    box = [round(v, 1) for v in face.box.to_list()]
    crop = crop_jpeg(embedded.pixels, face.box) if g.policy.keep_crops and embedded.pixels is not None else None
    return _Prepared(_label(image), embedded, number, face, box, crop)


def _commit(g: GalleryCore, name: str, consent: Consent | None, prepared: list[_Prepared], choice: _Choice,
            skip_refusals: bool) -> tuple[list[TemplateRecord], list[tuple[str, str]]]:
    """Insert ``prepared`` as templates of ``name`` in one transaction (subject, consent
    record, templates, an audit entry per photo); ``(templates, refused)``. Every check sees
    the state the insert commits on."""
    now = g.log.now()
    refused: list[tuple[str, str]] = []
    with g.store.transaction():
        subject = g.store.subject(name)
        if subject is not None:
            prepared = [p for p in prepared if not g.store.has_source(subject.id, p.embedded.path, p.embedded.sha256)]
        linked = _consent_to_link(g, subject, name, consent, now)
        try:
            _refuse_if_forgotten(name, g.store.forgotten_at(name), choice.started_at, linked.given_at if linked else None)
        except SubjectForgotten as error:
            if not skip_refusals:
                raise
            return [], [(p.label, str(error)) for p in prepared]
        checked = []
        for p in prepared:
            duplicate = _same_face_as_another(g, name, p.face.template.vector)
            if duplicate is not None and not choice.allow_duplicate:
                error = DuplicateIdentity(p.embedded.label, name, duplicate.subject, duplicate.distance, duplicate_distance(g))
                if not skip_refusals:
                    raise _nothing_enrolled(error, len(prepared))
                refused.append((p.label, str(error)))
                continue
            checked.append((p, duplicate))
        mixed = _disagreement(g, name, subject, [p for p, _ in checked])
        if mixed is not None and not choice.allow_mixed:
            if not skip_refusals:
                raise mixed
            return [], refused + [(p.label, str(mixed)) for p, _ in checked]
        if not checked:
            return [], refused
        subject_id = subject.id if subject is not None else g.store.add_subject(name, now)
        if linked is None or linked.id is not None:
            consent_id = linked.id if linked is not None else None
        else:
            consent_id = g.store.add_consent(subject_id, linked)
        ids = []
        for p, duplicate in checked:
            template_id = g.store.add_template(
                subject_id, consent_id, g.model.name, p.face.template.vector, source_path=p.embedded.path,
                source_sha256=p.embedded.sha256, box=p.box, crop=p.crop, now=now, actor=g.actor,
            )
            ids.append(template_id)
            result: dict = {"subject": name, "template_id": template_id, "box": p.box}
            if len(p.embedded.faces) > 1:
                result["face"] = {"number": p.number, "of": len(p.embedded.faces), "chosen": "face" if choice.face else "largest"}
            if duplicate is not None:  # the override is on the record, with whom it overrode
                result["duplicate_override"] = {"subject": duplicate.subject, "distance": round(duplicate.distance, 6)}
            if mixed is not None:  # so is enrolling photos that do not agree
                result["mixed_override"] = {"distance": round(mixed.distance, 6), "limit": round(mixed.limit, 6)}
            g.log.record("enrol", {"sha256": p.embedded.sha256, "path": p.embedded.path}, result,
                         [name] + ([duplicate.subject] if duplicate is not None else []))
    g.sync("templates")
    return g.store.templates(ids=ids), refused


def _disagreement(g: GalleryCore, name: str, subject: SubjectRecord | None, prepared: list[_Prepared]) -> MixedIdentities | None:
    """MixedIdentities for the new face that agrees least with the others (the photos of this
    enrolment and the subject's templates), when its median distance to them is beyond the
    model's same-person limit (its 1:1 threshold); None when every new face agrees.

    The median, not the largest distance: among many photos of one person one pair may pass
    the limit (about 1 pair in 170 for dlib on LFW), while a face of someone else is far from
    most of them. With two faces it is their distance."""
    vectors = [p.face.template.vector for p in prepared]
    labels = [p.embedded.label for p in prepared]
    if subject is not None:
        ids = g.store.template_ids(subject.id)
        stored = g.store.vectors("templates", ids)
        vectors += [stored[i] for i in ids]
        labels += [f"enrolled template {i}" for i in ids]
    if len(vectors) < 2 or not prepared:
        return None
    distances = pairwise_distances(np.stack(vectors), np.stack(vectors), g.model.metric)
    others = ~np.eye(len(vectors), dtype=bool)
    medians = [float(np.median(distances[i][others[i]])) for i in range(len(prepared))]
    worst = int(np.argmax(medians))
    if medians[worst] <= g.model.threshold:
        return None
    furthest = int(np.argmax(np.where(others[worst], distances[worst], -np.inf)))
    return MixedIdentities(name, labels[worst], labels[furthest], medians[worst], g.model.threshold)


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
            name = folder.name
            consent = consents.get(folder.name, consents.get("*"))
            try:
                name = check_name(folder.name)
                require_consent(g, name, consent)
                check_not_forgotten(g, name, consent, started_at)
            except (ConsentRequired, SubjectForgotten, InvalidArgument) as error:
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
