"""Templates and perceptual hashes of every photo of a data set, computed once and cached.

Each photo goes through the batch-embedding layer (:mod:`countenance.ingest`): every face with
its box and template, and, as a face stage run in the worker
(:class:`~countenance.ingest.CropSignature`), a small grey crop aligned on its landmarks
(upright, the face at a fixed scale, with some of its surroundings) as a perceptual hash and a
16x16 thumbnail. An aligned crop is the same whether the photo was cropped or resized, which a
hash of the whole image is not. Results are cached in the layer's template cache, keyed by the
file's sha256 and the pipeline's fingerprint: renaming or moving a file keeps its cache entry,
editing it does not, and a re-run with other thresholds decodes nothing.

The cache holds face templates, which are biometric data: it lives under the user's cache
folder (:func:`countenance.ingest.default_cache_path`) unless a file is given, and
``use_cache=False`` writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import InvalidArgument
from ..ingest import CropSignature, FaceRecord, ImageJob, TemplateCache, default_cache_path, embed_files
from ..pipeline import PipelineConfig
from .dataset import Photo

__all__ = ["PhotoFaces", "TemplateOptions", "TemplateCache", "TemplateRun", "compute_templates", "default_cache_path"]

#: What each face carries besides its template: ``face_hash`` and ``thumbnail`` in its extras.
_STAGES = (CropSignature(),)


@dataclass(frozen=True, eq=False)
class PhotoFaces:
    """Everything computed for one photo: its faces (largest first; each
    :class:`~countenance.ingest.FaceRecord` has ``face_hash`` and ``thumbnail`` extras), size,
    or the error. ``model`` names the template model ("" when no face was embedded)."""

    photo: Photo
    sha256: str
    faces: tuple[FaceRecord, ...]
    width_px: int
    height_px: int
    model: str = ""
    error: str | None = None


@dataclass(frozen=True)
class TemplateOptions:
    """How templates are made: the pipeline, in ``workers`` processes."""

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    workers: int = 2

    def cache_key(self) -> str:
        """The pipeline part of the cache key (its fingerprint: ``auto`` resolved)."""
        return self.pipeline.fingerprint


@dataclass(frozen=True, eq=False)
class TemplateRun:
    """The photos' records in the data set's order, and how many came from the cache."""

    records: tuple[PhotoFaces, ...]
    cache_hits: int
    computed: int
    seconds: float


def compute_templates(
    photos: Sequence[Photo],
    options: TemplateOptions,
    *,
    cache: TemplateCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TemplateRun:
    """A :class:`PhotoFaces` for every photo, from ``cache`` when it holds one, else computed
    in ``options.workers`` processes (and stored in ``cache``). ``progress(done, total)`` is
    called as photos are done. Unreadable files give a record with ``error`` set."""
    if isinstance(options.workers, bool) or not isinstance(options.workers, int) or options.workers < 1:
        raise InvalidArgument(f"workers must be at least 1, got {options.workers}")
    start = time.perf_counter()
    jobs = [ImageJob(str(photo.path)) for photo in photos]
    records, hits = embed_files(jobs, options.pipeline, workers=options.workers, stages=_STAGES, cache=cache,
                                progress=progress)
    out = tuple(PhotoFaces(photo, r.sha256, r.faces, r.width_px, r.height_px, r.model, r.error)
                for photo, r in zip(photos, records))
    return TemplateRun(out, hits, len(photos) - hits, time.perf_counter() - start)
