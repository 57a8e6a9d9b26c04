"""Enrolment: a subject's templates from images (or faces already embedded), with consent.

Each image is one transaction (subject, consent record, template, audit entry), so a run that
stops midway keeps what it committed and a rerun skips images already enrolled (same path and
content) before embedding them again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from ..errors import AlreadyExists, ConsentRequired, GalleryError, ImageError, NoFaceFound, OptedOut
from .core import GalleryCore
from .images import EmbeddedImage, GalleryImage, crop_jpeg, source_of
from .policy import Consent, check_name, parse_moment, timestamp
from .records import ConsentRecord, EnrolResult, SubjectRecord, TemplateRecord
from .search import optout_distance, suppressed

__all__ = ["enroll", "enroll_folder", "require_consent", "add_subject"]


def enroll(g: GalleryCore, name: str, images: Iterable[GalleryImage], *, consent: Consent | None = None) -> EnrolResult:
    """Enrol the largest face of each image as a template of ``name``; see
    :meth:`countenance.gallery.Gallery.enroll`."""
    name = check_name(name)
    require_consent(g, name, consent)
    templates, already, failed = [], [], []
    try:
        for image in images:
            label = _label(image)
            try:
                record = _enrol_one(g, name, image, consent)
            except (NoFaceFound, OptedOut, ImageError) as error:
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
        subject_id = g.store.add_subject(name, now)
        consent_id = _consent_id(g, subject_id, name, consent, now)
        g.log.record("create", {"subject": name}, {"consent_id": consent_id}, [name])
    return SubjectRecord(subject_id, name, now, 0)


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


def _enrol_one(g: GalleryCore, name: str, image: GalleryImage, consent: Consent | None) -> TemplateRecord | None:
    path, sha = source_of(image)
    if sha is not None:
        # Resuming: skip a source this subject already has, before the costly embedding.
        subject = g.store.subject(name)
        if subject is not None and g.store.has_source(subject.id, path, sha):
            return None
    embedded = g.read(image, sha256=sha)
    if not embedded.faces:
        raise NoFaceFound(embedded.label)
    face = embedded.faces[0]
    vector = face.template.vector
    g.sync("optouts")
    if suppressed(g, vector, optout_distance(g)):
        raise OptedOut(f"{embedded.label}: this face matches a person who opted out of recognition")
    box = [round(v, 1) for v in face.box.to_list()]
    crop = crop_jpeg(embedded.pixels, face.box) if g.policy.keep_crops and embedded.pixels is not None else None
    now = g.log.now()
    with g.store.transaction():
        subject = g.store.subject(name)
        subject_id = subject.id if subject is not None else g.store.add_subject(name, now)
        if subject is not None and g.store.has_source(subject_id, embedded.path, embedded.sha256):
            return None
        consent_id = _consent_id(g, subject_id, name, consent, now)
        template_id = g.store.add_template(
            subject_id, consent_id, g.model, vector, source_path=embedded.path, source_sha256=embedded.sha256,
            box=box, crop=crop, now=now, actor=g.actor,
        )
        g.log.record("enrol", {"sha256": embedded.sha256, "path": embedded.path},
                     {"subject": name, "template_id": template_id, "box": box}, [name])
    g.sync("templates")
    return g.store.templates(ids=[template_id])[0]


def _consent_id(g: GalleryCore, subject_id: int, name: str, consent: Consent | None, now: str) -> int | None:
    existing = g.store.consents(subject_id)
    if consent is None:
        if existing:
            return existing[-1].id
        if g.policy.consent_required:
            raise ConsentRequired(f"enrolling {name!r} needs a consent record: this gallery's policy requires consent")
        return None
    record = ConsentRecord(
        text=consent.text.strip(),
        consenter=consent.consenter or name,
        purpose=consent.purpose,
        evidence=consent.evidence,
        given_at=timestamp(parse_moment(consent.given_at, "consent date")) if consent.given_at else now,
    )
    for old in existing:  # the same record again (a resumed run): reuse it
        if (old.text, old.consenter, old.purpose, old.evidence) == (record.text, record.consenter, record.purpose, record.evidence) and (
            consent.given_at is None or old.given_at == record.given_at
        ):
            return old.id
    return g.store.add_consent(subject_id, replace(record, recorded_at=now, recorded_by=g.actor))


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
            except ConsentRequired as error:
                results[name] = EnrolResult(name, (), (), tuple((str(f), str(error)) for f in files))
                for f in files:
                    if on_image:
                        on_image(f)
                continue
            results[name] = enroll(g, name, _reporting(files, on_image), consent=consent)
    finally:
        g.flush()
    return results


def _reporting(files: list[Path], on_image: Callable[[Path], None] | None) -> Iterator[Path]:
    """``files``, calling ``on_image`` after each one has been handled."""
    for path in files:
        yield path
        if on_image:
            on_image(path)
