"""The answers of the system, subjects and privacy routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .common import Box, Number, Shape, paged

__all__ = ["Health", "Version", "GalleryInfo", "Key", "Outcome", "Subject", "SubjectPage", "SubjectDetails",
           "Enrolment", "Forgotten", "NewOptOut", "OptOutPage", "Removed", "Audit"]


class Health(Shape):
    status: str
    threads: int = Field(description="How many requests this process computes at once.")


class Version(Shape):
    version: str


class Policy(Shape):
    consent_required: bool
    retention_days: int | None
    target_fpir: Number
    target_fmr: Number
    keep_crops: bool
    optout_distance: Number | None
    top_k: int
    min_face_px: Number | None = Field(description="Faces with fewer pixels between the eyes are refused (null: flagged).")


class IndexInfo(Shape):
    backend: str
    kind: str | None
    vectors: int


class CalibrationInfo(Shape):
    source: str
    impostor_pairs: int
    fmr_floor: float


class GalleryInfo(Shape):
    """The gallery's model, policy, size and identification threshold (distances in the model's metric)."""

    model: str
    metric: str
    embedding_size: int
    created_at: str
    policy: Policy
    subjects: int
    templates: int
    optouts: int
    index: IndexInfo
    identification_threshold: Number
    expected_fpir: Number | None
    optout_distance: Number
    calibration: CalibrationInfo | None


class Key(Shape):
    """An API key (never its token)."""

    id: str
    name: str
    scopes: list[str]
    created_at: str
    revoked_at: str | None


class Outcome(Shape):
    id: str
    state: str = Field(description="running, succeeded or failed.")
    status: int | None = Field(description="failed: the HTTP status the error would have had.")
    title: str | None = Field(description="failed: the error's title.")


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


class Enrolment(Shape):
    subject: str
    templates: list[Template]
    already_enrolled: list[str]
    failed: list[FailedPhoto]


class Forgotten(Shape):
    subject: str
    templates_removed: int
    erased: bool = Field(description="Whether the freed bytes left the database files already.")


class OptOut(Shape):
    id: int
    model: str
    source_sha256: str
    box: Box
    note: str
    created_at: str
    recorded_by: str


class NewOptOut(OptOut):
    matches_enrolled: list[str] = Field(description="Enrolled subjects the face matches (to review).")


OptOutPage = paged("OptOutPage", "optouts", OptOut, "The opt-out records, a page at a time.")


class Removed(Shape):
    removed: int = Field(description="The id of the opt-out withdrawn.")


class AuditEntry(Shape):
    id: int
    at: str
    actor: str = Field(description="Who: key:<id> for a REST call.")
    action: str
    query: Any = Field(description="What was asked (image SHA-256s, never images).")
    result: Any = Field(description="What came back.")


class Audit(Shape):
    entries: list[AuditEntry]
