"""One template per image, through the batch-embedding layer, with the benchmark's fallbacks.

Each image is embedded once with the pipeline (HOG, upsampled, other rotations); if that
finds no (central) face, dlib's CNN detector is tried; for LFW only, a final fallback uses the
fixed central box where LFW's deep-funneled crops put the face (``LFW_CENTRE_BOX``, the median
HOG box over LFW), as dlib's own LFW test does. An image that is still faceless fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidArgument
from ..ingest import BatchEmbedder, ImageJob, ImageRecord, TemplateCache, embed_files, steps
from ..pipeline import PipelineConfig
from .protocols import central_subject

if TYPE_CHECKING:
    from ..faces import Face
    from ..pipeline import Pipeline

__all__ = ["SubjectChoice", "embed_images"]

# dlib's CNN detector for the fallback, loaded on first need in each process (a model, not state).
_cnn: dict[str, Any] = {}


@dataclass(frozen=True)
class SubjectChoice:
    """The face choice of the benchmarks (a :class:`~countenance.ingest.FaceChoice`): the
    ``largest`` face or LFW's ``central`` subject (``rule``); when the detector finds none, dlib's CNN
    (``how="cnn"``), then, given, the fixed ``centre_box`` with landmarks placed in it
    (``how="centre-box"``)."""

    rule: str = "largest"
    centre_box: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.rule not in ("largest", "central"):
            raise InvalidArgument(f"choose must be 'largest' or 'central', got {self.rule!r}")

    @property
    def key(self) -> str:
        box = "" if self.centre_box is None else "+box" + ",".join(f"{v:g}" for v in self.centre_box)
        return f"subject-{self.rule}+cnn{box}"

    def _pick(self, faces: list[Face], pixels: np.ndarray) -> Face | None:
        from ..detection import largest_face

        height, width = pixels.shape[:2]
        return central_subject(faces, width, height) if self.rule == "central" else largest_face(faces)

    def choose_faces(self, pipeline: Pipeline, pixels: np.ndarray) -> list[tuple[Face, str]]:
        from ..aligned import AlignedFaces
        from ..detection import FaceDetector
        from ..faces import Box, Face

        face, how = self._pick(pipeline.face_detector.detect(pixels), pixels), "detected"
        if isinstance(pipeline.face_detector, AlignedFaces):  # aligned input: one face or an error, no fallback
            return [] if face is None else [(face, how)]
        if face is None and pipeline.face_detector.backend.name != "cnn":
            if "cnn" not in _cnn:
                _cnn["cnn"] = FaceDetector("cnn")
            face, how = self._pick(_cnn["cnn"].detect(pixels), pixels), "cnn"
        if face is None and self.centre_box is not None:
            box = Box(*self.centre_box)
            landmarks = pipeline.face_detector.landmarker.landmarks(pixels, box)
            face, how = Face(box=box, detection_score=0.0, landmarks=landmarks, detector="centre-box"), "centre-box"
        return [] if face is None else [(face, how)]

    def choose(self, pipeline: Pipeline, pixels: np.ndarray, job: ImageJob) -> tuple[np.ndarray, list[tuple[Face, str]]]:
        return pixels, self.choose_faces(pipeline, pixels)


def embed_images(
    paths: Sequence[str],
    pipeline: PipelineConfig | BatchEmbedder | None = None,
    *,
    choose: str = "largest",
    centre_box: tuple[float, float, float, float] | None = None,
    workers: int = 1,
    cache: TemplateCache | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, ImageRecord]:
    """One :class:`~countenance.ingest.ImageRecord` per image path (its one face, with the
    fallbacks described above; ``how`` says which; ``error`` why none), in ``workers`` processes
    or through a running batch embedder; cached in ``cache`` when given.

    ``pipeline`` default: HOG and dlib's ResNet. ``choose``: ``"largest"`` face, or
    ``"central"`` (LFW's labelled subject, see
    :func:`~countenance.evaluate.protocols.central_subject`).
    """
    choice = SubjectChoice(choose, centre_box)
    source = pipeline if pipeline is not None else PipelineConfig(detector="hog", embedder="dlib")
    jobs = [ImageJob(str(p)) for p in dict.fromkeys(paths)]
    records, _ = embed_files(jobs, source, workers=workers, choice=choice, cache=cache, progress=steps(on_progress))
    return {r.path: replace(r, error=_reason(r)) for r in records}


def _reason(record: ImageRecord) -> str | None:
    """Why ``record`` has no face, without its path (reports name the path beside it); None when it has one."""
    if record.faces:
        return None
    if record.error is None:
        return "no face found"
    prefix = f"{record.path}: "
    return record.error[len(prefix) :] if record.error.startswith(prefix) else record.error
