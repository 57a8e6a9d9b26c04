"""What a gallery holds (rows of its store) and what its operations return: frozen dataclasses,
each with ``to_dict()`` giving the JSON the CLI prints and the audit log keeps."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .policy import Policy

__all__ = [
    "SubjectRecord",
    "ConsentRecord",
    "TemplateRecord",
    "OptOutRecord",
    "AuditEntry",
    "EnrolResult",
    "ForgetResult",
    "PruneResult",
    "OptOutResult",
    "SubjectDetails",
    "IndexInfo",
    "CalibrationInfo",
    "GalleryInfo",
]


# ---------------------------------------------------------------- rows of the store


@dataclass(frozen=True)
class SubjectRecord:
    """An enrolled person: ``templates`` is how many templates they have."""

    id: int
    name: str
    created_at: str
    templates: int


@dataclass(frozen=True)
class ConsentRecord:
    """Who consented to what, when, and the evidence. ``id`` is None until stored."""

    text: str
    consenter: str
    purpose: str
    evidence: str
    given_at: str
    recorded_at: str = ""
    recorded_by: str = ""
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "text": self.text, "consenter": self.consenter, "purpose": self.purpose,
            "evidence": self.evidence, "given_at": self.given_at, "recorded_at": self.recorded_at,
            "recorded_by": self.recorded_by,
        }


@dataclass(frozen=True)
class TemplateRecord:
    """One enrolled template and where it came from; ``box`` is ``[left, top, right, bottom]`` px."""

    id: int
    subject: str
    model: str
    source_path: str | None
    source_sha256: str
    box: list[float]
    created_at: str
    enrolled_by: str
    consent_id: int | None
    has_crop: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "subject": self.subject, "model": self.model, "source_path": self.source_path,
            "source_sha256": self.source_sha256, "box": self.box, "created_at": self.created_at,
            "enrolled_by": self.enrolled_by, "consent_id": self.consent_id, "has_crop": self.has_crop,
        }


@dataclass(frozen=True)
class OptOutRecord:
    """A person who asked never to be recognised (their template is kept only to suppress them)."""

    id: int
    model: str
    source_sha256: str
    box: list[float]
    note: str
    created_at: str
    recorded_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "model": self.model, "source_sha256": self.source_sha256, "box": self.box,
            "note": self.note, "created_at": self.created_at, "recorded_by": self.recorded_by,
        }


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, when, with which query (image sha256s, never images) and what came back."""

    id: int
    at: str
    actor: str
    action: str
    query: Any
    result: Any

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action, "query": self.query, "result": self.result}


# ---------------------------------------------------------------- results of operations


@dataclass(frozen=True)
class EnrolResult:
    """What ``enroll`` did: new templates, images already enrolled (same path and content), failures."""

    subject: str
    templates: tuple[TemplateRecord, ...]
    already_enrolled: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "templates": [t.to_dict() for t in self.templates],
            "already_enrolled": list(self.already_enrolled),
            "failed": [{"path": p, "error": e} for p, e in self.failed],
        }


@dataclass(frozen=True)
class ForgetResult:
    """A forgotten subject: templates removed, and whether the freed bytes left the database
    files (False: another process's open read kept the WAL; they go at its next checkpoint)."""

    subject: str
    templates_removed: int
    erased: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PruneResult:
    """Templates enrolled before ``cutoff`` and removed; subjects left with none were removed too."""

    cutoff: str | None
    templates_removed: int
    subjects_removed: tuple[str, ...]
    erased: bool

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "subjects_removed": list(self.subjects_removed)}


@dataclass(frozen=True)
class OptOutResult:
    """A new opt-out; ``matches_enrolled``: enrolled subjects the face matches (to review: forget them?)."""

    record: OptOutRecord
    matches_enrolled: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.record.to_dict(), "matches_enrolled": list(self.matches_enrolled)}


@dataclass(frozen=True)
class SubjectDetails:
    """Everything a gallery holds about one subject except the template vectors and crops."""

    subject: SubjectRecord
    consents: tuple[ConsentRecord, ...]
    templates: tuple[TemplateRecord, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject.name,
            "created_at": self.subject.created_at,
            "consents": [c.to_dict() for c in self.consents],
            "templates": [t.to_dict() for t in self.templates],
        }


# ---------------------------------------------------------------- gallery info


@dataclass(frozen=True)
class IndexInfo:
    """The template index: its backend (``faiss``, ``pgvector``, ``milvus``), kind (``flat``;
    above its exact size ``ivf`` for FAISS, ``hnsw`` for the others; None when the backend does
    not say) and how many vectors it holds."""

    backend: str
    kind: str | None
    vectors: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CalibrationInfo:
    """Where the gallery's calibration table comes from, how many impostor pairs it measured,
    and its lowest reportable false-match rate (``1 / impostor_pairs``)."""

    source: str
    impostor_pairs: int
    fmr_floor: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GalleryInfo:
    """A gallery's model, policy, size, thresholds (distances in the model's metric) and files
    (name -> size in bytes). ``to_dict()`` is what ``countenance gallery info --json`` prints.

    ``info[key]`` reads ``to_dict()[key]``, for callers written against the dict it replaces.
    """

    path: str
    model: str
    metric: str
    embedding_size: int
    created_at: str
    policy: Policy
    subjects: int
    templates: int
    optouts: int
    index: IndexInfo
    identification_threshold: float
    expected_fpir: float | None
    optout_distance: float
    calibration: CalibrationInfo | None
    files: tuple[tuple[str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "metric": str(self.metric),
            "embedding_size": self.embedding_size,
            "created_at": self.created_at,
            "policy": self.policy.to_dict(),
            "subjects": self.subjects,
            "templates": self.templates,
            "optouts": self.optouts,
            "index": self.index.to_dict(),
            "identification_threshold": self.identification_threshold,
            "expected_fpir": self.expected_fpir,
            "optout_distance": self.optout_distance,
            "calibration": self.calibration.to_dict() if self.calibration is not None else None,
            "files": dict(self.files),
        }

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]
