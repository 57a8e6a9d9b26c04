"""The batch-embedding layer: many images through one pipeline, on every core, cached.

- :mod:`.pool`: worker processes (:class:`WorkerPool`, started once and reused; :func:`process_map`);
- :mod:`.records`: :class:`ImageJob` in, :class:`ImageRecord` with its :class:`FaceRecord` s out;
- :mod:`.stages`: the pluggable parts run in the worker: which faces (:class:`FaceChoice`) and
  per-face extras (:class:`FaceStage`: sharpness, an aligned crop's hash and thumbnail);
- :mod:`.batch`: :class:`BatchEmbedder`, one pipeline configuration in its workers, the faces
  of many images embedded in one network batch;
- :mod:`.cache`: :class:`TemplateCache` keyed by content hash and what made the record, and
  :func:`embed_files`, the cached way through a batch embedder.

Evaluation, measurement, cleaning, the photo library and calibration all embed through it.
"""

from .batch import CHUNK, BatchEmbedder, PipelineSource
from .cache import TemplateCache, cache_key, default_cache_path, embed_files, steps
from .pool import WorkerPool, process_map
from .records import FaceRecord, ImageJob, ImageRecord
from .stages import (ALL_FACES, LARGEST_FACE, SHARPNESS_SIDE_PX, THUMBNAIL_PX, AllFaces, CropSignature, FaceChoice,
                     FaceStage, GivenFace, GivenFaces, LargestFace, Sharpness, aligned_crop, face_sharpness)

__all__ = [
    "BatchEmbedder", "PipelineSource", "CHUNK", "TemplateCache", "cache_key", "default_cache_path", "embed_files", "steps",
    "WorkerPool", "process_map", "ImageJob", "ImageRecord", "FaceRecord", "FaceChoice", "FaceStage", "AllFaces",
    "LargestFace", "GivenFace", "GivenFaces", "ALL_FACES", "LARGEST_FACE", "Sharpness", "CropSignature", "aligned_crop", "face_sharpness",
    "SHARPNESS_SIDE_PX", "THUMBNAIL_PX",
]
