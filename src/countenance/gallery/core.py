"""An open gallery's state and lifecycle: its folder, store, model, policy, calibration, index
mirrors, audit log and pipeline; creating, opening, flushing and closing it.

``<dir>/gallery.sqlite3`` is the source of truth (subjects, consent records, templates with
their provenance and crops, opt-outs, the audit log, the policy); ``<dir>/templates.faiss``
and ``<dir>/optouts.faiss`` (or a server's tables) are vector indexes caught up with it (or
rebuilt from it) whenever they are stale: see :mod:`.mirror`. The operations on this state live in :mod:`.enrolment`, :mod:`.search` and
:mod:`.privacy`; :class:`~countenance.gallery.Gallery` puts them behind one object.
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Self

from ..backends.dlib_backend import DLIB_RESNET_SPEC
from ..errors import GalleryError, TemplateMismatch
from ..faces import ModelRecord, ModelSpec
from ..paths import private_folder
from .audit import AuditLog
from ..calibration import Calibration, load_calibration
from ..calibration.cuts import REFERENCE_MODEL, cuts_for
from .images import EmbeddedImage, FacePipeline, GalleryImage, read_image
from .index import SERVER_BACKENDS, check_backend, make_index
from .index_base import VectorIndex
from .mirror import IndexMirror
from .policy import Policy, timestamp
from .store import Store

__all__ = ["GalleryCore", "DB_NAME", "INDEX_FILES"]

DB_NAME = "gallery.sqlite3"
#: The vector tables of the store and the file each one's embedded index is saved in.
INDEX_FILES = {"templates": "templates.faiss", "optouts": "optouts.faiss"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


class GalleryCore:
    """An open gallery directory (see :class:`~countenance.gallery.Gallery` for the parameters).

    Attributes read from the store: ``model`` (a :class:`~countenance.faces.ModelRecord`: the
    model's name, metric, template size, 1:1 threshold, tie margin and smallest identifiable
    face, None: no limit), ``index_backend``, ``index_uri``
    and ``index_name`` (server backends only), ``created_at``, ``policy``.

    ``map_index``: map the embedded index's file instead of reading it (one-shot commands:
    opening costs milliseconds at any size; see :class:`~.index_faiss.FaissIndex`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pipeline: FacePipeline | None = None,
        actor: str | None = None,
        clock: Callable[[], datetime] = _now,
        calibration: Calibration | None = None,
        map_index: bool = False,
    ) -> None:
        self.path = Path(path)
        self._pipeline = pipeline
        self.actor = actor or _local_user()
        self.clock = clock
        # (templates counters, templates per subject): cached for the threshold of each search.
        self._per_subject: tuple[tuple[int, int], dict[int, int]] | None = None
        self._thresholds: dict[float, float] = {}
        self.store = Store.open(self.path / DB_NAME)
        try:
            self.model = _stored_model(self.store, pipeline)
            self.index_backend = self.store.meta("index_backend")
            # Server index backends (pgvector, Milvus): where the server is, and the gallery's
            # own table/collection prefix (both None for the embedded FAISS backend).
            self.index_uri = self.store.meta("index_uri")
            self.index_name = self.store.meta("index_name")
            self.created_at = self.store.meta("created_at")
            self.policy = Policy.from_dict(self.store.meta_json("policy"))
            self.calibration = calibration if calibration is not None else load_calibration(self.model.name)
            if self.calibration is not None and self.calibration.model != self.model.name:
                raise GalleryError(f"calibration for {self.calibration.model!r} given to a gallery of {self.model.name!r}")
            self.model = _with_tie_margin(self.model, self.calibration)
            self.log = AuditLog(self.store, self.actor, self.clock)
            _remove_stale_temporaries(self.path)
            self.mirrors = {
                table: IndexMirror(self.store, table, make_index(
                    self.index_backend, self.path / filename, dimension=self.model.embedding_size, metric=str(self.model.metric),
                    **({"uri": self.index_uri, "name": f"{self.index_name}_{table}"} if self.index_uri
                       else {"mmap": map_index})))
                for table, filename in INDEX_FILES.items()
            }
            for mirror in self.mirrors.values():
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
    ) -> Self:
        """A new, empty gallery in ``path`` (created if missing) for templates of ``model``,
        opened as this class with ``options`` (``pipeline``, ``actor``, ``clock``, ``calibration``).

        ``index_backend``: ``"faiss"`` (embedded, the default), ``"pgvector"`` or ``"milvus"``;
        the last two need ``index_uri``: a PostgreSQL URI, a Milvus URI (``http://...``) or a
        Milvus Lite file (``*.db``, relative to the gallery folder). SQLite stays the source of
        truth; the server holds the vectors in tables/collections named after a random id.
        """
        check_backend(index_backend)
        if (index_backend in SERVER_BACKENDS) != (index_uri is not None):
            raise GalleryError(f"the {index_backend} index backend {'needs' if index_uri is None else 'takes no'} index_uri")
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise GalleryError(f"{root}: exists and is not a directory")
        private_folder(root)  # 0700: the names, templates and pseudonym key are its owner's only
        policy = policy or Policy()
        threshold = model.thresholds[model.default_threshold]
        store = Store.create(root / DB_NAME, {
            "model": model.name,
            "metric": str(model.metric),
            "embedding_size": str(model.embedding_size),
            "model_threshold": repr(float(threshold)),
            "tie_margin": repr(float(model.tie_margin)),
            "min_interocular_px": "none" if model.min_interocular_px is None else repr(float(model.min_interocular_px)),
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
        for mirror in self.mirrors.values():
            if mirror.dirty:
                mirror.save()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.store.close()
            for mirror in self.mirrors.values():  # server backends hold a connection
                close_index = getattr(mirror.index, "close", None)
                if close_index is not None:
                    close_index()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def files(self) -> list[Path]:
        """Every file of the gallery on disk."""
        return sorted(p for p in self.path.iterdir() if p.is_file())

    # ------------------------------------------------------------ pipeline and images

    @property
    def pipeline(self) -> FacePipeline:
        """Makes templates from images: the one given, else a default :class:`countenance.Pipeline`
        built on first need. Raises TemplateMismatch when its model is not the gallery's."""
        if self._pipeline is None:
            from ..pipeline import Pipeline

            self._pipeline = Pipeline()
        if self._pipeline.spec.name != self.model.name:
            raise TemplateMismatch(f"this gallery holds templates of {self.model.name!r}; the pipeline makes "
                                   f"{self._pipeline.spec.name!r}: use the gallery's model, or move the gallery to "
                                   f"the new one with: countenance models migrate --to {self._pipeline.spec.name}")
        return self._pipeline

    @pipeline.setter
    def pipeline(self, pipeline: FacePipeline) -> None:
        self._pipeline = pipeline

    def read(self, image: GalleryImage, *, sha256: str | None = None) -> EmbeddedImage:
        """``image`` with its faces embedded (through the pipeline only when it is not already)."""
        return read_image(image, lambda: self.pipeline, self.model.name, sha256=sha256)

    # ------------------------------------------------------------ indexes

    def index(self, table: str) -> VectorIndex:
        """The vector index mirroring ``table`` (``"templates"`` or ``"optouts"``)."""
        return self.mirrors[table].index

    def sync(self, *tables: str) -> None:
        """Bring the indexes of ``tables`` (default: all) up to the store's current state."""
        for table in tables or tuple(self.mirrors):
            self.mirrors[table].sync()

    @property
    def template_count(self) -> int:
        self.mirrors["templates"].sync()
        return self.index("templates").count()

    def templates_per_subject(self) -> dict[int, int]:
        """``{k: number of subjects with k templates}``, re-read only when the templates changed."""
        generation = self.store.counters("templates")
        if self._per_subject is None or self._per_subject[0] != generation:
            self._per_subject = (generation, self.store.templates_per_subject())
            self._thresholds = {}
        return dict(self._per_subject[1])

    def cached_threshold(self, fpir: float, compute: Callable[[dict[int, int]], float]) -> float:
        """``compute(templates_per_subject())``, remembered per ``fpir`` until the templates change
        (the bisection behind a threshold costs more than the search it decides)."""
        per_subject = self.templates_per_subject()
        if fpir not in self._thresholds:
            self._thresholds[fpir] = compute(per_subject)
        return self._thresholds[fpir]


def _stored_model(store: Store, pipeline: FacePipeline | None) -> ModelRecord:
    """The model record of the store's meta. Galleries made before tie margins were stored
    have exact ties only; before minimum face sizes were stored, they take the limit of the
    pipeline given for the same model (never load one), else none."""
    name, limit = store.meta("model"), store.meta("min_interocular_px")
    if limit is None:
        minimum = pipeline.spec.min_interocular_px if pipeline is not None and pipeline.spec.name == name else None
    else:
        minimum = None if limit == "none" else float(limit)
    return ModelRecord(name, store.meta("metric"), int(store.meta("embedding_size")), float(store.meta("model_threshold")),
                       float(store.meta("tie_margin") or 0.0), minimum)


def _with_tie_margin(model: ModelRecord, calibration: Calibration | None) -> ModelRecord:
    """``model`` with dlib's measured tie margin carried through its calibration when it
    declares none (0) and has a table, as the library's cuts are (:mod:`countenance.calibration.cuts`);
    dlib's own, a declared margin and a model without a table are kept as they are."""
    if model.tie_margin > 0 or calibration is None or model.name == REFERENCE_MODEL:
        return model
    margin = cuts_for(model.name, model.metric, calibration).margin(DLIB_RESNET_SPEC.tie_margin)
    return replace(model, tie_margin=max(margin, 0.0))


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
