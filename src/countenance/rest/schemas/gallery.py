"""The answers of the system, subjects and privacy routes."""

from __future__ import annotations

from pydantic import Field

from ...service.enrolment import EnrolResult
from ...service.gallery import GalleryInfo as Info
from ...service.keys import ApiKey
from ...service.privacy import AuditEntry, ForgetResult, OptOutRecord
from ...service.server_state import Outcome as OutcomeRecord
from .common import Box, Shape, paged, shape_of

__all__ = ["Health", "Version", "GalleryInfo", "Key", "Outcome", "Subject", "SubjectPage", "SubjectDetails",
           "Enrolment", "Forgotten", "NewOptOut", "OptOutPage", "Removed", "Audit"]


class Health(Shape):
    status: str
    threads: int = Field(description="How many requests this process computes at once.")


class Version(Shape):
    version: str


#: The server's folders are not the caller's business: no ``path``, no ``files``.
GalleryInfo = shape_of(Info, drop=("path", "files"),
                       doc="The gallery's model, policy, size and identification threshold (distances in the model's metric).")
Key = shape_of(ApiKey)
Outcome = shape_of(OutcomeRecord)


class Subject(Shape):
    name: str
    templates: int
    created_at: str


SubjectPage = paged("SubjectPage", "subjects", Subject, "Enrolled people, a page at a time.")


class Consent(Shape):
    id: int | None
    text: str
    consenter: str
    purpose: str
    evidence: str
    given_at: str
    recorded_at: str
    recorded_by: str


class Template(Shape):
    """One enrolled template's provenance (never the vector)."""

    id: int
    subject: str
    model: str
    source_path: str | None
    source_sha256: str
    box: Box
    created_at: str
    enrolled_by: str
    consent_id: int | None
    has_crop: bool


class SubjectDetails(Shape):
    subject: str
    created_at: str
    consents: list[Consent]
    templates: list[Template]


class FailedPhoto(Shape):
    path: str
    error: str


Enrolment = shape_of(EnrolResult, templates=list[Template], failed=list[FailedPhoto])
Forgotten = shape_of(ForgetResult)
OptOut = shape_of(OptOutRecord)


class NewOptOut(OptOut):  # type: ignore[misc, valid-type]
    matches_enrolled: list[str] = Field(description="Enrolled subjects the face matches (to review).")


OptOutPage = paged("OptOutPage", "optouts", OptOut, "The opt-out records, a page at a time.")


class Removed(Shape):
    removed: int = Field(description="The id of the opt-out withdrawn.")


class Audit(Shape):
    entries: list[shape_of(AuditEntry)]  # type: ignore[valid-type]
