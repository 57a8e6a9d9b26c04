"""A gallery of enrolled, consenting people, in one directory.

``<dir>/gallery.sqlite3`` is the source of truth (subjects, consent records, templates with
their provenance and crops, opt-outs, the audit log, the policy); ``<dir>/templates.faiss``
and ``<dir>/optouts.faiss`` are vector indexes rebuilt from it whenever they are stale.

    >>> gallery = Gallery.create("people", model=pipeline.spec)
    >>> gallery.enroll("ada", ["ada1.jpg"], consent=Consent("I agree", consenter="ada"))
    >>> gallery.identify("group.jpg").faces[0].name      # "ada" or "unknown"
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import math
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..decide import cosine_similarity
from ..errors import ConsentRequired, GalleryError, ImageError, NoFaceFound, NotEnrolled, OptedOut, TemplateMismatch
from ..faces import Box, Face, ModelSpec
from .calibration import Calibration, fpir_for_fmr, load_calibration
from .identify import Candidate, FaceIdentification, Identification, Verification, decide, rank_subjects
from .index import IndexState, VectorIndex, make_index
from .store import AuditEntry, ConsentRecord, OptOutRecord, Store, SubjectRecord, TemplateRecord, file_sha256, timestamp

__all__ = [
    "Gallery",
    "Policy",
    "Consent",
    "FacePipeline",
    "EnrolResult",
    "ForgetResult",
    "PruneResult",
    "OptOutResult",
    "SubjectDetails",
    "DB_NAME",
]

DB_NAME = "gallery.sqlite3"
_INDEX_FILES = {"templates": "templates.faiss", "optouts": "optouts.faiss"}


class FacePipeline(Protocol):
    """What a gallery needs from a pipeline (:class:`countenance.Pipeline` is one)."""

    @property
    def spec(self) -> ModelSpec: ...

    def load(self, image: Any) -> np.ndarray:
        """The image as ``(H, W, 3) uint8`` RGB."""
        ...

    def embed(self, image: Any) -> list[Face]:
        """Every face with its template, largest first."""
        ...


@dataclass(frozen=True)
class Policy:
    """A gallery's rules, stored in it and shown by ``gallery info``.

    - ``consent_required``: enrolment needs a consent record.
    - ``retention_days``: ``prune`` deletes templates older than this (None: kept until forgotten).
    - ``target_fpir``: false-positive identification rate the identification threshold is set for.
    - ``target_fmr``: false-match rate per claim for ``verify`` against one subject.
    - ``keep_crops``: store a small JPEG of each enrolled face (returned by ``export``).
    - ``optout_distance``: a face this close to an opted-out template is suppressed; None: the
      larger of the model's 1:1 threshold and the identification threshold.
    - ``top_k``: candidates returned per face.
    """

    consent_required: bool = True
    retention_days: int | None = None
    target_fpir: float = 0.01
    target_fmr: float = 0.001
    keep_crops: bool = True
    optout_distance: float | None = None
    top_k: int = 5

    def __post_init__(self) -> None:
        if self.retention_days is not None and (not isinstance(self.retention_days, int) or self.retention_days < 1):
            raise ValueError(f"retention_days must be a whole number of days >= 1, got {self.retention_days!r}")
        for name in ("target_fpir", "target_fmr"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if self.optout_distance is not None and not (math.isfinite(self.optout_distance) and self.optout_distance >= 0):
            raise ValueError(f"optout_distance must be a finite distance >= 0, got {self.optout_distance!r}")
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Policy:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class Consent:
    """A consent record to enrol with: the statement, who gave it, for what, the evidence, when.

    ``given_at`` is an ISO 8601 date or datetime (None: now); ``consenter`` None: the subject.
    """

    text: str
    consenter: str | None = None
    purpose: str = "identification"
    evidence: str = ""
    given_at: str | None = None

    def __post_init__(self) -> None:
        if not self.text or not self.text.strip():
            raise ValueError("a consent record needs its text (what the person agreed to)")
        if self.given_at is not None:
            _parse_moment(self.given_at, "consent date")


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
    """A forgotten subject: templates removed, and whether the freed bytes were erased from disk."""

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


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _parse_moment(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 date or datetime, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _check_name(name: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned or len(cleaned) > 200 or any(ord(c) < 32 for c in cleaned):
        raise ValueError(f"a subject name must be 1-200 printable characters, got {name!r}")
    return cleaned


class _Mirror:
    """A vector index kept in step with one vector table of the store.

    The index's state says which store state it reflects (``generation`` and ``deletions``
    counters and the largest id it holds). Rows added since then always have larger ids
    (writers are serialised and ids never reused), so a stale index catches up by adding
    ``id > last_id``; any deletion since forces a rebuild.
    """

    def __init__(self, store: Store, table: str, index: VectorIndex) -> None:
        self.store = store
        self.table = table
        self.index = index
        self.state: IndexState | None = None
        self.dirty = False

    def open(self) -> None:
        saved = self.index.load()
        if saved is not None:
            count, _ = self.store.vector_stats(self.table, upto=saved.last_id)
            if count != saved.count or self.index.count() != saved.count:
                saved = None  # the file does not hold what it claims: rebuild
        self.state = saved
        self.sync()

    def sync(self) -> None:
        """Bring the index up to the store's current state (cheap when nothing changed)."""
        generation, deletions = self.store.counters(self.table)
        state = self.state
        if state is not None and state.generation == generation and state.deletions == deletions:
            return
        with self.store.snapshot():  # counters and rows from one consistent state
            generation, deletions = self.store.counters(self.table)
            if state is None or state.deletions != deletions or state.generation > generation:
                self.index.reset()
                after = 0
            else:
                after = state.last_id
            last = after
            for ids, vectors in self.store.iter_vectors(self.table, after=after):
                self.index.add(ids, vectors)
                last = int(ids[-1])
        self.state = IndexState(last_id=last, count=self.index.count(), deletions=deletions, generation=generation)
        self.dirty = True

    def remove(self, ids: list[int]) -> None:
        """Remove ``ids`` whose deletion is in the current (uncommitted) transaction, and save.

        Called inside the store's write transaction, after the deletion and before the commit:
        the saved index then never holds a committed deletion, and a crash before the commit
        leaves an index whose counters do not match the store (so it is rebuilt).
        """
        self.index.remove(np.array(ids, dtype=np.int64))
        generation, deletions = self.store.counters(self.table)
        _, last = self.store.vector_stats(self.table)
        self.state = IndexState(last_id=max(last, self.state.last_id if self.state else 0), count=self.index.count(),
                                deletions=deletions, generation=generation)
        self.save()

    def save(self) -> None:
        if self.state is not None:
            self.index.save(self.state)
        self.dirty = False

    def rebuild(self) -> None:
        self.state = None
        self.sync()


class Gallery:
    """An open gallery directory. Build one with :meth:`create` or open one with the constructor.

    Parameters
    ----------
    path: the gallery directory.
    pipeline: makes templates from images (default: :class:`countenance.Pipeline`, built on
        first need); its model must be the gallery's.
    actor: who is acting, for the audit log: an API key's name or a user (default: the local
        login name).
    clock: returns the current time (default: UTC now); tests pass a fixed one.
    calibration: a calibration table (default: the one shipped for the gallery's model).

    Not thread-safe: use one per thread. Several processes may open one gallery.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pipeline: FacePipeline | None = None,
        actor: str | None = None,
        clock: Callable[[], datetime] = _now,
        calibration: Calibration | None = None,
    ) -> None:
        self.path = Path(path)
        self._pipeline = pipeline
        self.actor = actor or _local_user()
        self.clock = clock
        self.store = Store.open(self.path / DB_NAME)
        try:
            self.model = self.store.meta("model")
            self.metric = self.store.meta("metric")
            self.embedding_size = int(self.store.meta("embedding_size"))
            self.model_threshold = float(self.store.meta("model_threshold"))
            self.index_backend = self.store.meta("index_backend")
            # Server index backends (pgvector, Milvus): where the server is, and the gallery's
            # own table/collection prefix (both None for the embedded FAISS backend).
            self.index_uri = self.store.meta("index_uri")
            self.index_name = self.store.meta("index_name")
            self.created_at = self.store.meta("created_at")
            self.policy = Policy.from_dict(self.store.meta_json("policy"))
            self.calibration = calibration if calibration is not None else load_calibration(self.model)
            if self.calibration is not None and self.calibration.model != self.model:
                raise GalleryError(f"calibration for {self.calibration.model!r} given to a gallery of {self.model!r}")
            _remove_stale_temporaries(self.path)
            self._mirrors = {
                table: _Mirror(self.store, table, make_index(
                    self.index_backend, self.path / filename, dimension=self.embedding_size, metric=self.metric,
                    **({"uri": self.index_uri, "name": f"{self.index_name}_{table}"} if self.index_uri else {})))
                for table, filename in _INDEX_FILES.items()
            }
            for mirror in self._mirrors.values():
                mirror.open()
            self.flush()
        except BaseException:
            self.store.close()
            raise

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        model: ModelSpec,
        policy: Policy | None = None,
        index_backend: str = "faiss",
        index_uri: str | None = None,
        **options: Any,
    ) -> Gallery:
        """A new, empty gallery in ``path`` (created if missing) for templates of ``model``.

        ``index_backend``: ``"faiss"`` (embedded, the default), ``"pgvector"`` or ``"milvus"``;
        the last two need ``index_uri``: a PostgreSQL URI, a Milvus URI (``http://...``) or a
        Milvus Lite file (``*.db``, relative to the gallery folder). SQLite stays the source of
        truth; the server holds the vectors in tables/collections named after a random id.
        """
        from .index import INDEX_BACKENDS, SERVER_BACKENDS

        if index_backend not in INDEX_BACKENDS:
            from ..errors import UnknownBackend

            raise UnknownBackend(f"unknown index backend {index_backend!r}; choose one of {', '.join(sorted(INDEX_BACKENDS))}")
        if (index_backend in SERVER_BACKENDS) != (index_uri is not None):
            raise GalleryError(f"the {index_backend} index backend {'needs' if index_uri is None else 'takes no'} index_uri")
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise GalleryError(f"{root}: exists and is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        policy = policy or Policy()
        threshold = model.thresholds[model.default_threshold]
        store = Store.create(root / DB_NAME, {
            "model": model.name,
            "metric": model.metric,
            "embedding_size": str(model.embedding_size),
            "model_threshold": repr(float(threshold)),
            "index_backend": index_backend,
            **({"index_uri": index_uri, "index_name": f"cntn_{uuid.uuid4().hex[:16]}"} if index_uri is not None else {}),
            "created_at": timestamp(options.get("clock", _now)()),
            "policy": json.dumps(policy.to_dict()),
        })
        store.close()
        return cls(root, **options)

    # ------------------------------------------------------------ lifecycle

    def flush(self) -> None:
        """Save the vector indexes if they changed (the store is always up to date)."""
        for mirror in self._mirrors.values():
            if mirror.dirty:
                mirror.save()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.store.close()
            for mirror in self._mirrors.values():  # server backends hold a connection
                close_index = getattr(mirror.index, "close", None)
                if close_index is not None:
                    close_index()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pipeline(self) -> FacePipeline:
        if self._pipeline is None:
            from ..pipeline import Pipeline

            self._pipeline = Pipeline()
        if self._pipeline.spec.name != self.model:
            raise TemplateMismatch(f"this gallery holds templates of {self.model!r}; the pipeline makes {self._pipeline.spec.name!r}")
        return self._pipeline

    @pipeline.setter
    def pipeline(self, pipeline: FacePipeline) -> None:
        self._pipeline = pipeline

    def files(self) -> list[Path]:
        """Every file of the gallery on disk."""
        return sorted(p for p in self.path.iterdir() if p.is_file())

    def _timestamp(self) -> str:
        return timestamp(self.clock())

    def _audit(self, action: str, query: Any, result: Any, subjects: Iterable[str] = ()) -> None:
        self.store.add_audit(at=self._timestamp(), actor=self.actor, action=action, query=query, result=result, subjects=list(subjects))

    def _sync(self) -> None:
        for mirror in self._mirrors.values():
            mirror.sync()

    # ------------------------------------------------------------ thresholds

    @property
    def template_count(self) -> int:
        self._mirrors["templates"].sync()
        return self._mirrors["templates"].index.count()

    def threshold(self, *, templates: int | None = None, fpir: float | None = None) -> float:
        """The identification threshold (a distance) for ``fpir`` (default: the policy's) over
        ``templates`` enrolled templates (default: the gallery's count).

        Without a calibration table the model's own 1:1 threshold is used.
        """
        if self.calibration is None:
            return self.model_threshold
        n = self.template_count if templates is None else templates
        return self.calibration.threshold_for_fpir(self.policy.target_fpir if fpir is None else fpir, n)

    def optout_distance(self, identification_threshold: float | None = None) -> float:
        """Distance within which a face counts as an opted-out person's (see :class:`Policy`)."""
        if self.policy.optout_distance is not None:
            return self.policy.optout_distance
        t = self.threshold() if identification_threshold is None else identification_threshold
        return max(self.model_threshold, t)

    def _fmr(self, distance: float) -> float | None:
        return self.calibration.false_match_rate(distance) if self.calibration is not None else None

    # ------------------------------------------------------------ reading images

    def _read(self, image: Any, sha256: str | None = None) -> tuple[np.ndarray, str, str | None]:
        """``(pixels, sha256 of the file or bytes, absolute path or None)``."""
        if isinstance(image, (str, os.PathLike)):
            path = Path(image)
            pixels = self.pipeline.load(path)  # raises ImageNotFound / InvalidImage naming the path
            return pixels, sha256 or file_sha256(path), str(path.resolve())
        if isinstance(image, (bytes, bytearray, memoryview)):
            data = bytes(image)
            return self.pipeline.load(data), hashlib.sha256(data).hexdigest(), None
        if isinstance(image, np.ndarray):
            pixels = self.pipeline.load(image)
            return pixels, hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest(), None
        raise TypeError(f"expected a path, bytes or an image array, got {type(image).__name__}")

    def _faces(self, pixels: np.ndarray) -> list[Face]:
        faces = self.pipeline.embed(pixels)
        for face in faces:
            if face.template is None or face.template.model != self.model:
                got = face.template.model if face.template is not None else "no template"
                raise TemplateMismatch(f"this gallery holds templates of {self.model!r}, got {got!r}")
        return faces

    def _suppressed(self, vector: np.ndarray, distance: float) -> bool:
        index = self._mirrors["optouts"].index
        if index.count() == 0:
            return False
        d, _ = index.search(vector[None, :], 1)
        return bool(d[0, 0] <= distance)

    # ------------------------------------------------------------ enrolment

    def enroll(self, name: str, images: Iterable[Any], *, consent: Consent | None = None) -> EnrolResult:
        """Enrol the largest face of each image as a template of subject ``name``.

        Needs ``consent`` (or a consent record from an earlier enrolment of this subject) when
        the policy requires consent: raises ConsentRequired before reading any image. Images
        already enrolled for this subject (same path and content) are skipped; images without
        a face, unreadable, or matching an opt-out are reported in ``failed``.
        """
        name = _check_name(name)
        self._require_consent(name, consent)
        templates, already, failed = [], [], []
        try:
            for image in images:
                label = os.fspath(image) if isinstance(image, (str, os.PathLike)) else "<image>"
                try:
                    record = self._enrol_one(name, image, consent)
                except (NoFaceFound, OptedOut, ImageError) as error:
                    failed.append((label, str(error)))
                    continue
                if record is None:
                    already.append(label)
                else:
                    templates.append(record)
        finally:
            self.flush()
        return EnrolResult(name, tuple(templates), tuple(already), tuple(failed))

    def _require_consent(self, name: str, consent: Consent | None) -> None:
        if consent is not None or not self.policy.consent_required:
            return
        subject = self.store.subject(name)
        if subject is None or not self.store.consents(subject.id):
            raise ConsentRequired(
                f"enrolling {name!r} needs a consent record (who consented, when, for what, evidence): "
                "this gallery's policy requires consent"
            )

    def _enrol_one(self, name: str, image: Any, consent: Consent | None) -> TemplateRecord | None:
        sha = None
        if isinstance(image, (str, os.PathLike)) and Path(image).is_file():
            # Resuming: skip a file this subject already has, before the costly embedding.
            sha = file_sha256(image)
            subject = self.store.subject(name)
            if subject is not None and self.store.has_source(subject.id, str(Path(image).resolve()), sha):
                return None
        pixels, sha, source_path = self._read(image, sha)
        faces = self._faces(pixels)
        if not faces:
            raise NoFaceFound(source_path or "<image>")
        face = faces[0]
        vector = face.template.vector
        self._mirrors["optouts"].sync()
        if self._suppressed(vector, self.optout_distance()):
            raise OptedOut(f"{source_path or '<image>'}: this face matches a person who opted out of recognition")
        box = [round(v, 1) for v in face.box.to_list()]
        crop = _crop_jpeg(pixels, face.box) if self.policy.keep_crops else None
        now = self._timestamp()
        with self.store.transaction():
            subject = self.store.subject(name)
            subject_id = subject.id if subject is not None else self.store.add_subject(name, now)
            if subject is not None and self.store.has_source(subject_id, source_path, sha):
                return None
            consent_id = self._consent_id(subject_id, name, consent, now)
            template_id = self.store.add_template(
                subject_id, consent_id, self.model, vector, source_path=source_path, source_sha256=sha,
                box=box, crop=crop, now=now, actor=self.actor,
            )
            self._audit("enrol", {"sha256": sha, "path": source_path}, {"subject": name, "template_id": template_id, "box": box}, [name])
        self._mirrors["templates"].sync()
        return self.store.templates(ids=[template_id])[0]

    def _consent_id(self, subject_id: int, name: str, consent: Consent | None, now: str) -> int | None:
        existing = self.store.consents(subject_id)
        if consent is None:
            if existing:
                return existing[-1].id
            if self.policy.consent_required:
                raise ConsentRequired(f"enrolling {name!r} needs a consent record: this gallery's policy requires consent")
            return None
        record = ConsentRecord(
            text=consent.text.strip(),
            consenter=consent.consenter or name,
            purpose=consent.purpose,
            evidence=consent.evidence,
            given_at=timestamp(_parse_moment(consent.given_at, "consent date")) if consent.given_at else now,
        )
        for old in existing:  # the same record again (a resumed run): reuse it
            if (old.text, old.consenter, old.purpose, old.evidence) == (record.text, record.consenter, record.purpose, record.evidence) and (
                consent.given_at is None or old.given_at == record.given_at
            ):
                return old.id
        return self.store.add_consent(subject_id, replace(record, recorded_at=now, recorded_by=self.actor))

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
        requires it) is reported as failed for each photo.
        """
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
                name = _check_name(folder.name)
                consent = consents.get(folder.name, consents.get("*"))
                try:
                    self._require_consent(name, consent)
                except ConsentRequired as error:
                    results[name] = EnrolResult(name, (), (), tuple((str(f), str(error)) for f in files))
                    for f in files:
                        if on_image:
                            on_image(f)
                    continue

                results[name] = self.enroll(name, _reporting(files, on_image), consent=consent)
        finally:
            self.flush()
        return results

    # ------------------------------------------------------------ search

    def identify(self, image: Any, *, k: int | None = None, fpir: float | None = None, threshold: float | None = None) -> Identification:
        """Every face of ``image`` against the gallery (open set), with the top ``k`` candidates.

        The decision threshold is set for ``fpir`` (default: the policy's target) at the
        gallery's size, unless a ``threshold`` distance is given. A face that matches an
        opted-out person is answered "unknown" with no candidates. The search is audited.
        """
        k = self.policy.top_k if k is None else int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k!r}")
        pixels, sha, path = self._read(image)
        faces = self._faces(pixels)
        self._sync()
        n = self._mirrors["templates"].index.count()
        target = None
        if threshold is None:
            target = (self.policy.target_fpir if fpir is None else fpir) if self.calibration is not None else None
            threshold = self.threshold(templates=n, fpir=fpir)
        suppress_at = self.optout_distance(threshold)
        results = []
        for face in faces:
            vector = face.template.vector
            if self._suppressed(vector, suppress_at):
                results.append(FaceIdentification(face.box, None, ()))
                continue
            candidates = self._candidates(vector, k, n)
            results.append(FaceIdentification(face.box, decide(candidates, threshold), tuple(candidates)))
        identification = Identification(sha, tuple(results), float(threshold), target, n, path)
        named = {c.subject for f in results for c in f.candidates}
        with self.store.transaction():
            self._audit(
                "identify", {"sha256": sha},
                {"faces": [f.to_dict() for f in results], "threshold": round(float(threshold), 6)}, named,
            )
        return identification

    def _candidates(self, vector: np.ndarray, k: int, n: int) -> list[Candidate]:
        index = self._mirrors["templates"].index
        if n == 0:
            return []
        depth = min(n, max(4 * k, 16))
        while True:
            distances, ids = index.search(vector[None, :], depth)
            subject_of = self.store.subject_names([int(i) for i in ids[0] if i >= 0])
            ranked = rank_subjects(distances[0], ids[0], subject_of, k)
            if len(ranked) >= k or depth >= n:
                break
            depth = min(n, depth * 4)
        stored = self.store.vectors("templates", [t for _, _, t in ranked])
        candidates = []
        for subject, distance, template_id in ranked:
            similarity = float(cosine_similarity(vector, stored[template_id])[0, 0])
            candidates.append(Candidate(subject, float(distance), similarity, self._fmr(float(distance)), template_id))
        return candidates

    def verify(self, image: Any, subject: str, *, fmr: float | None = None) -> Verification:
        """Is the largest face of ``image`` the enrolled ``subject``? Accepted when its nearest
        template of the subject is within the threshold for a false-match rate ``fmr`` per claim
        (default: the policy's), over the subject's templates. Audited."""
        record = self.store.subject(subject)
        if record is None:
            raise NotEnrolled(subject)
        pixels, sha, _ = self._read(image)
        faces = self._faces(pixels)
        if not faces:
            raise NoFaceFound(image if isinstance(image, (str, os.PathLike)) else "<image>")
        face = faces[0]
        vector = face.template.vector
        ids = self.store.template_ids(record.id)
        stored = self.store.vectors("templates", ids)
        matrix = np.stack([stored[i] for i in ids])
        from ..decide import pairwise_distances

        distances = pairwise_distances(vector, matrix, self.metric)[0]
        best = int(np.argmin(distances))
        distance = float(distances[best])
        if self.calibration is not None:
            from .calibration import fmr_for_fpir

            target = self.policy.target_fmr if fmr is None else fmr
            threshold = self.calibration.distance_at_fmr(fmr_for_fpir(target, len(ids)))
        else:
            threshold = self.model_threshold
        self._mirrors["optouts"].sync()
        same = distance <= threshold and not self._suppressed(vector, self.optout_distance())
        result = Verification(
            subject, bool(same), distance, float(cosine_similarity(vector, matrix[best])[0, 0]), float(threshold),
            self._fmr(distance), face.box, sha,
        )
        with self.store.transaction():
            self._audit("verify", {"sha256": sha, "subject": subject}, result.to_dict(), [subject])
        return result

    # ------------------------------------------------------------ subjects

    def subjects(self) -> list[SubjectRecord]:
        return self.store.subjects()

    def subject(self, name: str) -> SubjectDetails:
        record = self.store.subject(name)
        if record is None:
            raise NotEnrolled(name)
        return SubjectDetails(record, tuple(self.store.consents(record.id)), tuple(self.store.templates(subject_id=record.id)))

    def export(self, name: str, out_dir: str | os.PathLike[str]) -> Path:
        """Write everything held about ``name`` to ``out_dir/<name>/`` (the name made safe as a
        folder name): ``subject.json``
        (record, consents, templates with their vectors and provenance, audit entries naming
        them) and ``crops/<template id>.jpg``. Returns the folder. Audited."""
        details = self.subject(name)
        folder = Path(out_dir) / _safe_folder_name(name)
        (folder / "crops").mkdir(parents=True, exist_ok=True)
        ids = [t.id for t in details.templates]
        vectors = self.store.vectors("templates", ids)
        templates = []
        for t in details.templates:
            entry = t.to_dict()
            entry["vector"] = [float(v) for v in vectors[t.id]]
            crop = self.store.crop(t.id)
            if crop is not None:
                crop_path = folder / "crops" / f"{t.id}.jpg"
                crop_path.write_bytes(crop)
                entry["crop"] = f"crops/{t.id}.jpg"
            templates.append(entry)
        document = {
            "subject": name,
            "created_at": details.subject.created_at,
            "exported_at": self._timestamp(),
            "gallery": {"model": self.model, "metric": self.metric, "policy": self.policy.to_dict()},
            "consents": [c.to_dict() for c in details.consents],
            "templates": templates,
            "audit": [e.to_dict() for e in self.store.audit(subject=name)],
        }
        (folder / "subject.json").write_text(json.dumps(document, indent=2) + "\n")
        with self.store.transaction():
            self._audit("export", {"subject": name}, {"templates": len(templates), "folder": str(folder.resolve())}, [name])
        return folder

    def forget(self, name: str) -> ForgetResult:
        """Delete ``name``: templates, crops, consent records, index entries; then erase the
        freed bytes from the database files. No later search can return them. Audited
        (the audit entry keeps the name, not the data)."""
        if self.store.subject(name) is None:
            raise NotEnrolled(name)
        mirror = self._mirrors["templates"]
        with self._deleting(mirror):
            record = self.store.subject(name)
            if record is None:  # forgotten by another process meanwhile
                raise NotEnrolled(name)
            ids = self.store.template_ids(record.id)
            removed = self.store.delete_subject(record.id)
            self._audit("forget", {"subject": name}, {"templates_removed": removed}, [name])
            mirror.remove(ids)
        erased = self.store.erase_freed()
        return ForgetResult(name, removed, erased)

    @contextmanager
    def _deleting(self, mirror: _Mirror) -> Iterator[None]:
        """A write transaction that deletes rows mirrored by ``mirror``.

        The index is brought up to date first, and the caller removes the rows from it (and
        saves it) before the commit. If anything fails the transaction rolls back and the
        in-memory index is rebuilt from the store.
        """
        try:
            with self.store.transaction():
                mirror.sync()
                yield
        except BaseException:
            mirror.rebuild()
            raise

    def prune(self, *, now: datetime | None = None, older_than_days: int | None = None) -> PruneResult:
        """Delete templates enrolled more than ``older_than_days`` (default: the policy's
        retention) before ``now``; subjects left without templates go too. Audited."""
        days = self.policy.retention_days if older_than_days is None else older_than_days
        if days is None:
            return PruneResult(None, 0, (), True)
        if days < 0:
            raise ValueError(f"older_than_days must be >= 0, got {days!r}")
        cutoff = timestamp((now or self.clock()) - timedelta(days=days))
        if not self.store.template_ids_before(cutoff):
            return PruneResult(cutoff, 0, (), True)
        mirror = self._mirrors["templates"]
        with self._deleting(mirror):
            ids = self.store.template_ids_before(cutoff)
            before = {s.name for s in self.store.subjects()}
            removed = self.store.delete_templates(ids)
            gone = tuple(sorted(before - {s.name for s in self.store.subjects()}))
            self._audit(
                "prune", {"cutoff": cutoff, "retention_days": days},
                {"templates_removed": removed, "subjects_removed": list(gone)}, gone,
            )
            mirror.remove(ids)
        return PruneResult(cutoff, removed, gone, self.store.erase_freed())

    # ------------------------------------------------------------ opt-out

    def optout(self, image: Any, *, note: str = "") -> OptOutResult:
        """Add the largest face of ``image`` to the suppression list: from now on a face that
        matches it is answered "unknown" with no candidates, and cannot be enrolled."""
        pixels, sha, _ = self._read(image)
        faces = self._faces(pixels)
        if not faces:
            raise NoFaceFound(image if isinstance(image, (str, os.PathLike)) else "<image>")
        face = faces[0]
        vector = face.template.vector
        box = [round(v, 1) for v in face.box.to_list()]
        self._sync()
        within = self.optout_distance()
        n = self._mirrors["templates"].index.count()
        matches = tuple(c.subject for c in self._candidates(vector, 5, n) if c.distance <= within) if n else ()
        with self.store.transaction():
            optout_id = self.store.add_optout(self.model, vector, source_sha256=sha, box=box, note=note, now=self._timestamp(), actor=self.actor)
            self._audit("optout", {"sha256": sha}, {"optout_id": optout_id, "matches_enrolled": list(matches)}, matches)
        mirror = self._mirrors["optouts"]
        mirror.sync()
        mirror.save()
        record = next(r for r in self.store.optouts() if r.id == optout_id)
        return OptOutResult(record, matches)

    def optouts(self) -> list[OptOutRecord]:
        return self.store.optouts()

    def remove_optout(self, optout_id: int) -> bool:
        """Withdraw an opt-out (its template is deleted and erased). False if there is none."""
        if not any(r.id == optout_id for r in self.store.optouts()):
            return False
        mirror = self._mirrors["optouts"]
        with self._deleting(mirror):
            self.store.delete_optout(optout_id)
            self._audit("optout-remove", {"optout_id": optout_id}, {"removed": True})
            mirror.remove([optout_id])
        self.store.erase_freed()
        return True

    # ------------------------------------------------------------ audit and info

    def audit(self, *, since: datetime | str | None = None, action: str | None = None, subject: str | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        """Audit entries, oldest first: those at or after ``since``, of ``action``, naming ``subject``, the last ``limit``."""
        if isinstance(since, str):
            since = _parse_moment(since, "since")
        return self.store.audit(since=timestamp(since) if since is not None else None, action=action, subject=subject, limit=limit)

    def info(self) -> dict[str, Any]:
        self._sync()
        self.flush()
        n = self._mirrors["templates"].index.count()
        templates_index = self._mirrors["templates"].index
        calibration = None
        if self.calibration is not None:
            calibration = {
                "source": self.calibration.source,
                "impostor_pairs": self.calibration.impostor_pairs,
                "fmr_floor": self.calibration.floor,
            }
        threshold = self.threshold(templates=n)
        return {
            "path": str(self.path.resolve()),
            "model": self.model,
            "metric": self.metric,
            "embedding_size": self.embedding_size,
            "created_at": self.created_at,
            "policy": self.policy.to_dict(),
            "subjects": len(self.store.subjects()),
            "templates": n,
            "optouts": self._mirrors["optouts"].index.count(),
            "index": {"backend": self.index_backend, "kind": getattr(templates_index, "kind", None), "vectors": templates_index.count()},
            "identification_threshold": round(threshold, 6),
            "expected_fpir": round(fpir_for_fmr(self._fmr(threshold), n), 6) if self.calibration is not None else None,
            "optout_distance": round(self.optout_distance(threshold), 6),
            "calibration": calibration,
            "files": {p.name: p.stat().st_size for p in self.files()},
        }


def _safe_folder_name(name: str) -> str:
    """``name`` as one folder name: no separators, no ``..``, nothing a shell would trip on."""
    cleaned = re.sub(r"[^\w.\- ]", "_", name).strip(" .")
    return cleaned or "subject"


def _reporting(files: list[Path], on_image: Callable[[Path], None] | None) -> Iterator[Path]:
    """``files``, calling ``on_image`` after each one has been handled."""
    for path in files:
        yield path
        if on_image:
            on_image(path)


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete index files left half-written by a crashed process (``<name>.<pid>.tmp``)."""
    for leftover in folder.glob("*.tmp"):
        pid = leftover.suffixes[-2].lstrip(".") if len(leftover.suffixes) >= 2 else ""
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another process is writing it right now
        leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _crop_jpeg(pixels: np.ndarray, box: Box, *, margin: float = 0.25, max_side: int = 160) -> bytes:
    """A JPEG of the face box grown by ``margin`` on each side, at most ``max_side`` px."""
    from PIL import Image

    height, width = pixels.shape[:2]
    grow_x, grow_y = box.width * margin, box.height * margin
    left, top = int(max(0, box.left - grow_x)), int(max(0, box.top - grow_y))
    right, bottom = int(min(width, box.right + grow_x)), int(min(height, box.bottom + grow_y))
    image = Image.fromarray(pixels[top:max(bottom, top + 1), left:max(right, left + 1)])
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()
