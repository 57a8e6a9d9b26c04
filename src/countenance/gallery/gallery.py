"""A gallery of enrolled, consenting people, in one directory: the facade over its parts.

    >>> gallery = Gallery.create("people", model=pipeline.spec)
    >>> gallery.enroll("ada", ["ada1.jpg"], consent=Consent("I agree", consenter="ada"))
    >>> gallery.identify("group.jpg").faces[0].name      # "ada" or "unknown"

Every method that takes an image also takes faces already embedded: an
:class:`~countenance.gallery.images.EmbeddedImage` (the faces of one image with its sha256) or
one :class:`~countenance.faces.Face` with its template; no pipeline is needed for those.

The parts: :mod:`.core` (state and lifecycle), :mod:`.enrolment`, :mod:`.search`
(identify, verify, thresholds), :mod:`.privacy` (export, forget, prune, opt-out),
:mod:`.audit`, :mod:`.mirror` (the vector indexes kept in step with the store).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path

import numpy as np

from . import enrolment, privacy, search
from .core import DB_NAME, GalleryCore
from .destroy import DestroyReport, destroy
from .identify import Identification, Verification
from .images import FacePipeline, GalleryImage
from .policy import Consent
from .records import (
    AuditEntry,
    CalibrationInfo,
    EnrolResult,
    ForgetResult,
    GalleryInfo,
    IndexInfo,
    OptOutRecord,
    OptOutResult,
    PruneResult,
    SubjectDetails,
    SubjectRecord,
)

__all__ = ["Gallery", "FacePipeline", "DB_NAME"]


class Gallery(GalleryCore):
    """An open gallery directory. Build one with :meth:`create` or open one with the constructor.

    Parameters
    ----------
    path: the gallery directory.
    pipeline: makes templates from images (default: :class:`countenance.Pipeline`, built on
        first need); its model must be the gallery's. Not needed for faces already embedded.
    actor: who is acting, for the audit log: an API key's name or a user (default: the local
        login name).
    clock: returns the current time (default: UTC now); tests pass a fixed one.
    calibration: a calibration table (default: the one shipped for the gallery's model).

    Not thread-safe: use one per thread. Several processes may open one gallery.
    """

    # ------------------------------------------------------------ thresholds

    def threshold(self, *, templates: int | None = None, fpir: float | None = None,
                  subjects: Mapping[int, int] | None = None) -> float:
        """The identification threshold (a distance) for ``fpir`` (default: the policy's) over the
        gallery's subjects, each scored by its nearest template and counted by the templates it
        holds (docs/GALLERY.md); ``subjects`` (``{templates per subject: number of subjects}``)
        or ``templates`` (that many subjects of one template) ask about another gallery.

        Without a calibration table the model's own 1:1 threshold is used.
        """
        return search.identification_threshold(self, templates=templates, fpir=fpir, subjects=subjects)

    def optout_distance(self, identification_threshold: float | None = None) -> float:
        """Distance within which a face counts as an opted-out person's (see :class:`Policy`)."""
        return search.optout_distance(self, identification_threshold)

    # ------------------------------------------------------------ enrolment

    def enroll(self, name: str, images: Iterable[GalleryImage], *, consent: Consent | None = None,
               face: int | None = None, largest: bool = False, allow_duplicate: bool = False,
               allow_mixed: bool = False, skip_faceless: bool = False) -> EnrolResult:
        """Enrol one face of each image as a template of subject ``name``.

        Needs ``consent`` (or a consent record from an earlier enrolment of this subject) when
        the policy requires consent: raises ConsentRequired before reading any image. Images
        already enrolled for this subject (same path and content) are skipped.

        All or nothing: the photos are read and checked first and committed in one
        transaction; any photo that fails (no face, unreadable, matching an opt-out, or a
        refusal below) raises and nothing is enrolled. The photos must show one person: two
        faces further apart than the model's same-person limit (its 1:1 threshold), among
        them and the subject's templates, raise MixedIdentities unless ``allow_mixed`` (the
        override is recorded in the audit entries).

        One face, one person. A photo with several faces raises MultipleFaces unless the
        face is chosen: ``face=N`` (one photo only; numbered from 1 as ``countenance detect``
        lists them, largest first) or ``largest=True``. A face that the gallery would already
        name as another subject (within :func:`.search.duplicate_distance`) raises
        DuplicateIdentity naming both, unless ``allow_duplicate``: the override is then
        recorded in the audit entry. A subject forgotten since this call began, or whose
        consent was given before they were forgotten, raises SubjectForgotten.
        ``skip_faceless``: photos without a face, or unreadable, are reported in ``failed``
        instead (face crops a library enrols), the others enrolled together.
        """
        return enrolment.enroll(self, name, images, consent=consent, face=face, largest=largest,
                                allow_duplicate=allow_duplicate, allow_mixed=allow_mixed, skip_faceless=skip_faceless)

    def enroll_folder(
        self,
        root: str | os.PathLike[str],
        consents: Mapping[str, Consent] | None = None,
        *,
        on_start: Callable[[int], None] | None = None,
        on_image: Callable[[Path], None] | None = None,
    ) -> dict[str, EnrolResult]:
        """Enrol ``root/<name>/*`` (one folder per person), resumably.

        ``consents`` maps folder names to consent records (key ``"*"``: everyone else).
        Photos already enrolled (same path and content) are skipped, so a run that was
        stopped can simply be started again. A person without consent (when the policy
        requires it) is reported as failed for each photo, and so are photos refused by
        :meth:`enroll`'s rules (several faces, a face already enrolled as someone else, a
        subject forgotten after this run began): a folder has one person, so no face is chosen.
        """
        return enrolment.enroll_folder(self, root, consents, on_start=on_start, on_image=on_image)

    # ------------------------------------------------------------ search

    def identify(self, image: GalleryImage, *, k: int | None = None, fpir: float | None = None,
                 threshold: float | None = None) -> Identification:
        """Every face of ``image`` against the gallery (open set), with the top ``k`` candidates.

        The decision threshold is set for ``fpir`` (default: the policy's target) at the
        gallery's size, unless a ``threshold`` distance is given. A face that matches an
        opted-out person is answered "unknown" with no candidates. The search is audited.
        """
        return search.identify(self, image, k=k, fpir=fpir, threshold=threshold)

    def verify(self, image: GalleryImage, subject: str, *, fmr: float | None = None) -> Verification:
        """Is the largest face of ``image`` the enrolled ``subject``? Accepted when its nearest
        template of the subject is within the threshold for a false-match rate ``fmr`` per claim
        (default: the policy's), over the subject's templates. Audited."""
        return search.verify(self, image, subject, fmr=fmr)

    # ------------------------------------------------------------ subjects and privacy

    def subjects(self) -> list[SubjectRecord]:
        return self.store.subjects()

    def subject(self, name: str) -> SubjectDetails:
        return privacy.subject_details(self, name)

    def add_subject(self, name: str, *, consent: Consent | None = None) -> SubjectRecord:
        """A new subject with no templates yet, and its consent record (required when the
        policy requires consent); raises AlreadyExists if ``name`` is taken. Audited."""
        return enrolment.add_subject(self, name, consent)

    def rename(self, name: str, new_name: str) -> SubjectDetails:
        """Rename a subject (its templates and consent records follow); NotEnrolled,
        AlreadyExists. Audited under both names."""
        return privacy.rename(self, name, new_name)

    def record(self, action: str, query: dict, result: dict, subjects: Iterable[str] = ()) -> None:
        """Write one audit entry for an operation done outside the gallery that concerns it
        (e.g. a 1:1 comparison of two uploaded photos: their sha256s, never the images)."""
        with self.store.transaction():
            self.log.record(action, query, result, subjects)

    def export(self, name: str, out_dir: str | os.PathLike[str]) -> Path:
        """Write everything held about ``name`` to ``out_dir/<name>/`` (the name made safe as a
        folder name): ``subject.json`` (record, consents, templates with their vectors and
        provenance, audit entries naming them) and ``crops/<template id>.jpg``. Returns the
        folder. Audited."""
        return privacy.export(self, name, out_dir)

    def forget(self, name: str) -> ForgetResult:
        """Delete ``name``: templates, crops, consent records, index entries; rewrite the audit
        log under their pseudonym (no name, source paths or photo hashes left in it); leave a
        tombstone (pseudonym and time) so that no enrolment begun or consented to before now
        re-creates them; then erase the freed bytes from the database files. No later search
        can return them. See docs/GALLERY.md for what is kept."""
        return privacy.forget(self, name)

    def former_names(self, name: str) -> tuple[str, ...]:
        """The names subject ``name`` had before being renamed, oldest first (read from the
        audit log's rename entries), except names another subject holds now. NotEnrolled."""
        return privacy.former_names(self, name)

    @staticmethod
    def destroy(path: str | os.PathLike[str]) -> DestroyReport:
        """Remove the whole gallery in ``path``: every template, crop, index file or server
        table, and record (the audit log too), zeroed and deleted; the report lists what went
        and what a scan of anything left in the folder found (see :mod:`.destroy`)."""
        return destroy(path)

    def prune(self, *, now: datetime | None = None, older_than_days: int | None = None) -> PruneResult:
        """Delete templates enrolled more than ``older_than_days`` (default: the policy's
        retention) before ``now``; subjects left without templates go too. Audited."""
        return privacy.prune(self, now=now, older_than_days=older_than_days)

    def optout(self, image: GalleryImage, *, note: str = "", face: int | None = None, largest: bool = False) -> OptOutResult:
        """Add a face of ``image`` to the suppression list (``face`` N or the ``largest`` of a
        photo with several, as :meth:`enroll`): from now on a face that matches it is answered
        "unknown" with no candidates, and cannot be enrolled."""
        return privacy.optout(self, image, note=note, face=face, largest=largest)

    def remove_template(self, name: str, template_id: int) -> int:
        """Delete one template of ``name`` (not their last: forget them instead). Audited."""
        return privacy.remove_template(self, name, template_id)

    def optouts(self) -> list[OptOutRecord]:
        return self.store.optouts()

    def remove_optout(self, optout_id: int) -> bool:
        """Withdraw an opt-out (its template is deleted and erased). False if there is none."""
        return privacy.remove_optout(self, optout_id)

    # ------------------------------------------------------------ audit and info

    def audit(self, *, since: datetime | str | None = None, action: str | None = None, subject: str | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        """Audit entries, oldest first: those at or after ``since``, of ``action``, naming ``subject``, the last ``limit``."""
        return self.log.entries(since=since, action=action, subject=subject, limit=limit)

    def info(self) -> GalleryInfo:
        """The model, policy, size, thresholds, index and files (``to_dict()``: the CLI's JSON)."""
        self.sync()
        self.flush()
        templates_index = self.index("templates")
        n = templates_index.count()
        calibration = None
        if self.calibration is not None:
            calibration = CalibrationInfo(self.calibration.source, self.calibration.impostor_pairs, self.calibration.floor)
        threshold = self.threshold()
        fpir = search.expected_fpir(self, threshold)
        return GalleryInfo(
            path=str(self.path.resolve()),
            model=self.model.name,
            metric=str(self.model.metric),
            embedding_size=self.model.embedding_size,
            created_at=self.created_at,
            policy=self.policy,
            subjects=len(self.store.subjects()),
            templates=n,
            optouts=self.index("optouts").count(),
            index=IndexInfo(self.index_backend, getattr(templates_index, "kind", None), n),
            identification_threshold=round(threshold, 6),
            expected_fpir=round(fpir, 6) if fpir is not None else None,
            optout_distance=round(self.optout_distance(threshold), 6),
            calibration=calibration,
            files=tuple((p.name, p.stat().st_size) for p in self.files()),
        )

    def subject_templates(self) -> dict[str, dict[int, np.ndarray]]:
        """Every subject's template vectors, for checks over the enrolled data (``gallery
        check``): name -> template id -> ``(D,) float32`` vector, in the gallery's metric."""
        records = self.store.templates()
        vectors = self.store.vectors("templates", [t.id for t in records])
        out: dict[str, dict[int, np.ndarray]] = {}
        for record in records:
            out.setdefault(record.subject, {})[record.id] = vectors[record.id]
        return out
