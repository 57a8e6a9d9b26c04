"""One template per image, in parallel worker processes, with the benchmark's fallbacks.

Each image is embedded once with the pipeline (HOG, upsampled, other rotations); if that
finds no (central) face, dlib's CNN detector is tried; for LFW only, a final fallback uses the
fixed central box where LFW's deep-funneled crops put the face (``LFW_CENTRE_BOX``, the median
HOG box over LFW), as dlib's own LFW test does. An image that is still faceless fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..aligned import ALIGNED_ARCFACE112
from ..errors import CountenanceError, ImageError, InvalidArgument
from .protocols import central_subject

__all__ = ["EmbeddingResult", "embed_images"]


@dataclass(frozen=True)
class EmbeddingResult:
    """The template found for one image, and how: ``detected``, ``cnn``, ``centre-box`` or ``failed``.

    ``error`` says why it failed; ``readable`` is False when the file itself could not be read
    (missing, not an image), True when it was read and held no usable face. ``box``: the face's
    ``(left, top, right, bottom)`` in pixels (None when it failed).
    """

    path: str
    vector: np.ndarray | None
    how: str
    error: str = ""
    readable: bool = True
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class _WorkerConfig:
    detector: str
    embedder: str
    choose: str  # "largest" or "central"
    centre_box: tuple[float, float, float, float] | None
    num_jitters: int = 0


# Per worker process (set by the pool initializer; each process has its own), never shared.
_worker_state: dict[str, Any] = {}


def _init_worker(config: _WorkerConfig) -> None:
    # Per-process models: built once in each worker, never shared between processes.
    from ..pipeline import Pipeline

    _worker_state["config"] = config
    _worker_state["pipeline"] = Pipeline(
        detector=config.detector, embedder=config.embedder, num_jitters=config.num_jitters
    )
    _worker_state["cnn"] = None


def _embed_one(path: str) -> EmbeddingResult:
    from ..detection import FaceDetector, largest_face
    from ..embedding import embed_faces
    from ..faces import Box, Face

    config: _WorkerConfig = _worker_state["config"]
    pipeline = _worker_state["pipeline"]
    try:
        pixels = pipeline.load(path)
    except ImageError as error:
        return EmbeddingResult(path, None, "failed", error.reason, readable=False)
    except CountenanceError as error:
        return EmbeddingResult(path, None, "failed", str(error), readable=False)
    height, width = pixels.shape[:2]

    def choose(faces: list[Face]) -> Face | None:
        return central_subject(faces, width, height) if config.choose == "central" else largest_face(faces)

    try:
        face, how = choose(pipeline.face_detector.detect(pixels)), "detected"
    except CountenanceError as error:  # aligned input that is not an aligned crop
        return EmbeddingResult(path, None, "failed", str(error))
    if face is None and config.detector not in ("cnn", ALIGNED_ARCFACE112):
        if _worker_state["cnn"] is None:
            _worker_state["cnn"] = FaceDetector("cnn")
        face, how = choose(_worker_state["cnn"].detect(pixels)), "cnn"
    if face is None and config.centre_box is not None:
        box = Box(*config.centre_box)
        landmarks = pipeline.face_detector.landmarker.landmarks(pixels, box)
        face, how = Face(box=box, detection_score=0.0, landmarks=landmarks, detector="centre-box"), "centre-box"
    if face is None:
        return EmbeddingResult(path, None, "failed", "no face found")
    vector = embed_faces(pipeline.embedder, pixels, [face])[0].template.vector
    b = face.box
    return EmbeddingResult(path, vector, how, box=(float(b.left), float(b.top), float(b.right), float(b.bottom)))


def embed_images(
    paths: Sequence[str],
    *,
    detector: str = "hog",
    embedder: str = "dlib",
    choose: str = "largest",
    centre_box: tuple[float, float, float, float] | None = None,
    workers: int = 1,
    num_jitters: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, EmbeddingResult]:
    """One template per image path (with the fallbacks described above), in ``workers`` processes.

    ``choose``: ``"largest"`` face, or ``"central"`` (LFW's labelled subject, see
    :func:`~countenance.evaluate.protocols.central_subject`).
    """
    if choose not in ("largest", "central"):
        raise InvalidArgument(f"choose must be 'largest' or 'central', got {choose!r}")
    from ..ingest import process_map

    config = _WorkerConfig(detector, embedder, choose, centre_box, num_jitters)
    results = process_map(
        _embed_one, list(paths), workers=workers, initializer=_init_worker, initargs=(config,),
        chunk=16, on_progress=on_progress,
    )
    return {result.path: result for result in results}
