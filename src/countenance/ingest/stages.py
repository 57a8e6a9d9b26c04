"""The pluggable parts of the batch-embedding layer, run in the worker next to the pipeline.

A *face choice* decides which faces of an image are embedded (every face, the largest, LFW's
central subject with its fallbacks, a degraded variant's face near its anchor, ...): it gets
the pipeline, the decoded pixels and the job, and gives the pixels the faces are in (a choice
may change the image first) and the faces with how each was found. A *face stage* computes one
extra per embedded face (sharpness, an aligned crop's perceptual hash, ...), stored in
:attr:`~countenance.ingest.records.FaceRecord.extras` under the stage's name. Both are small
picklable values (they cross into worker processes) with a ``key``/``name`` that goes into
the cache key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..faces import Face

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from .records import ImageJob

__all__ = [
    "FaceChoice", "AllFaces", "LargestFace", "GivenFace", "GivenFaces", "ALL_FACES", "LARGEST_FACE", "FaceStage", "Sharpness", "CropSignature",
    "face_sharpness", "aligned_crop", "SHARPNESS_SIDE_PX", "THUMBNAIL_PX",
]


class FaceChoice(Protocol):
    """Which faces of an image are embedded; ``key`` names the rule in cache keys."""

    key: str

    def choose(self, pipeline: Pipeline, pixels: np.ndarray, job: ImageJob) -> tuple[np.ndarray, list[tuple[Face, str]]]:
        """``(pixels the faces are in, [(face, how it was found)])``; may raise a CountenanceError
        (the image's record then carries it)."""
        ...


@dataclass(frozen=True)
class AllFaces:
    """Every face the pipeline's detector finds, largest first."""

    key: str = "all"

    def choose(self, pipeline: Pipeline, pixels: np.ndarray, job: ImageJob) -> tuple[np.ndarray, list[tuple[Face, str]]]:
        return pixels, [(face, "detected") for face in pipeline.face_detector.detect(pixels)]


@dataclass(frozen=True)
class LargestFace:
    """The largest face the detector finds (none when it finds none)."""

    key: str = "largest"

    def choose(self, pipeline: Pipeline, pixels: np.ndarray, job: ImageJob) -> tuple[np.ndarray, list[tuple[Face, str]]]:
        from ..detection import largest_face

        face = largest_face(pipeline.face_detector.detect(pixels))
        return pixels, [] if face is None else [(face, "detected")]


@dataclass(frozen=True, eq=False)
class GivenFace:
    """A face given by its place rather than detected (a stored face, one found earlier):
    ``box`` ``(left, top, right, bottom)`` px of the upright image, ``landmarks`` ``(5, 2)``
    (None: the pipeline's landmarker places them on the box, as for a face drawn by hand),
    ``how`` it was found, its ``detection_score`` and ``rotation`` as they were recorded."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray | None = None
    how: str = "given"
    detection_score: float = 0.0
    rotation: int = 0

    def face(self, pipeline: Pipeline, pixels: np.ndarray) -> Face:
        from ..faces import Box

        box = Box(*(float(v) for v in self.box))
        if self.landmarks is not None:
            landmarks = np.asarray(self.landmarks, np.float32).reshape(5, 2)
        else:
            landmarks = np.asarray(pipeline.face_detector.landmarker.landmarks(pixels, box), np.float32)
        return Face(box=box, detection_score=float(self.detection_score), landmarks=landmarks, rotation=int(self.rotation))


@dataclass(frozen=True)
class GivenFaces:
    """The faces given in the job's ``context`` (a sequence of :class:`GivenFace`; None: none),
    embedded in that order without detection: re-embedding stored faces under another model
    or precision keeps them exactly where they were. ``made_by`` names what placed them (the
    pipeline's fingerprint) in the cache key."""

    made_by: str = ""

    @property
    def key(self) -> str:
        return f"given-by:{self.made_by}"

    def choose(self, pipeline: Pipeline, pixels: np.ndarray, job: ImageJob) -> tuple[np.ndarray, list[tuple[Face, str]]]:
        return pixels, [(given.face(pipeline, pixels), given.how) for given in job.context or ()]


ALL_FACES = AllFaces()
LARGEST_FACE = LargestFace()


class FaceStage(Protocol):
    """Extras per embedded face: stored under ``name`` (also its part of the cache key), or, when
    the stage gives a dict, under its keys. Values: str, int, float, bool or numpy arrays."""

    name: str

    def __call__(self, pixels: np.ndarray, face: Face) -> Any:
        """The extra for ``face`` (box, landmarks and template set) of ``pixels`` ((H, W, 3) uint8 RGB)."""
        ...


#: Faces are resized to this square before measuring sharpness, so the measure does not grow
#: with the face's size in pixels (a large face is not "sharper" for being large).
SHARPNESS_SIDE_PX = 64


def face_sharpness(pixels: np.ndarray, box_ltrb_px: tuple[float, float, float, float]) -> float:
    """Variance of the Laplacian of the face, in grey levels squared, on a 64 x 64 resize.

    ``pixels`` is ``(H, W, 3) uint8`` RGB, the box in its pixel coordinates. Returns 0.0 for a
    box with no pixels inside the image. Higher is sharper; a blurred face scores near 0.
    """
    import cv2

    height, width = pixels.shape[:2]
    left, top, right, bottom = box_ltrb_px
    x0, y0 = max(0, int(round(left))), max(0, int(round(top)))
    x1, y1 = min(width, int(round(right))), min(height, int(round(bottom)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(pixels[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    # INTER_AREA when shrinking (averages, no aliasing); INTER_LINEAR when enlarging a small face.
    interpolation = cv2.INTER_AREA if min(grey.shape) >= SHARPNESS_SIDE_PX else cv2.INTER_LINEAR
    square = cv2.resize(grey, (SHARPNESS_SIDE_PX, SHARPNESS_SIDE_PX), interpolation=interpolation)
    return float(cv2.Laplacian(square.astype(np.float32), cv2.CV_32F).var())


@dataclass(frozen=True)
class Sharpness:
    """``sharpness``: :func:`face_sharpness` of the face's box (the library's quality gate)."""

    name: str = "sharpness"

    def __call__(self, pixels: np.ndarray, face: Face) -> float:
        return face_sharpness(pixels, tuple(face.box.to_list()))


#: The aligned crop: ``_CROP_PX`` square, spanning ``_CROP_SPAN`` eye distances.
_CROP_PX = 64
_CROP_SPAN = 4.0
THUMBNAIL_PX = 16


def aligned_crop(grey: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A ``(64, 64) uint8`` crop of ``grey`` (H, W) turned so the eyes are level, centred on the
    mean of dlib's 5 landmarks ``(5, 2)`` (x, y px; points 0-1 one eye, 2-3 the other), and
    spanning 4 eye distances: the face and a margin of its surroundings."""
    import cv2

    points = np.asarray(landmarks, dtype=np.float64)
    centre = points.mean(0)
    eye_line = points[0:2].mean(0) - points[2:4].mean(0)
    eye_distance = max(float(np.hypot(*eye_line)), 1.0)
    angle = float(np.degrees(np.arctan2(eye_line[1], eye_line[0])))
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, _CROP_PX / (_CROP_SPAN * eye_distance))
    matrix[:, 2] += _CROP_PX / 2.0 - centre
    return cv2.warpAffine(grey, matrix, (_CROP_PX, _CROP_PX), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class CropSignature:
    """``face_hash`` and ``thumbnail`` of the face's aligned grey crop (:func:`aligned_crop`):
    the 64-bit perceptual hash (DCT, imagehash.phash) as 16 hex digits and a ``(16, 16) uint8``
    thumbnail; the same whether the photo was cropped or resized (near-duplicate search)."""

    name: str = "crop"

    def __call__(self, pixels: np.ndarray, face: Face) -> dict[str, Any]:
        import cv2
        import imagehash
        from PIL import Image

        grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        crop = aligned_crop(grey, face.landmarks)
        thumbnail = cv2.resize(crop, (THUMBNAIL_PX, THUMBNAIL_PX), interpolation=cv2.INTER_AREA)
        return {"face_hash": str(imagehash.phash(Image.fromarray(crop))), "thumbnail": thumbnail}
