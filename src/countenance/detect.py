"""Stage 1: find faces in an image and place their 5 landmarks.

A *detector backend* only proposes boxes (:class:`BoxDetector`). :class:`FaceDetector` adds
the policy a user needs on real photos: how much to upsample for small faces, trying the
other rotations when nothing is found upright, and 5-point landmarks for alignment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from .backends.dlib_backend import DlibCnnDetector, DlibHogDetector, DlibLandmarker
from .errors import UnknownBackend
from .faces import Box, Face

__all__ = [
    "BoxDetector",
    "DETECTORS",
    "make_box_detector",
    "FaceDetector",
    "largest_face",
    "central_face",
    "rotate_image",
]


class BoxDetector(Protocol):
    """A detector backend: boxes and scores, nothing else."""

    name: str

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[tuple[Box, float]]:
        """Faces in ``image`` ((H, W, 3) uint8 RGB) as ``(box, score)``; upsample doubles the size n times."""
        ...


#: Detector backends by name. Each entry builds a fresh backend (backends are not thread-safe).
DETECTORS: dict[str, Callable[[], BoxDetector]] = {
    "hog": DlibHogDetector,
    "cnn": DlibCnnDetector,
}


def make_box_detector(name: str) -> BoxDetector:
    """Build the detector backend registered as ``name``."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise UnknownBackend(f"unknown detector {name!r}; choose one of {', '.join(sorted(DETECTORS))}") from None
    return factory()


Upsample = int | Literal["auto"]

# HOG finds faces down to ~80 px; one 2x upsample brings that to ~40 px. Upsampling costs
# 4x the time, so "auto" upsamples only images small enough for it to stay cheap.
_AUTO_UPSAMPLE_MAX_SIDE = 1300
_MAX_UPSAMPLED_PIXELS = 16_000_000

# Clockwise rotations tried, in order, when nothing is found upright (90/270 are the
# common sideways phone photos; 180 is rarer).
_FALLBACK_ROTATIONS = (90, 270, 180)


@dataclass(frozen=True)
class _Found:
    box: Box
    score: float


class FaceDetector:
    """Detect faces and their 5-point landmarks, with an upsampling and rotation policy.

    Parameters
    ----------
    detector:
        name of a registered backend (``"hog"``, ``"cnn"``) or a backend object.
    upsample:
        how many times to double the image before detecting, or ``"auto"``: once for images
        whose longer side is at most 1300 px, else not; and one level more when nothing is
        found, as long as the upsampled image stays under 16 MP.
    try_rotations:
        when no face is found upright, try the image turned 90, 270 and 180 degrees and keep
        the first rotation that finds a face (``Face.rotation`` says which).
    """

    def __init__(
        self,
        detector: str | BoxDetector = "hog",
        *,
        upsample: Upsample = "auto",
        try_rotations: bool = True,
    ) -> None:
        if upsample != "auto" and (not isinstance(upsample, int) or upsample < 0 or upsample > 3):
            raise ValueError(f"upsample must be 'auto' or an int in 0..3, got {upsample!r}")
        self.backend = make_box_detector(detector) if isinstance(detector, str) else detector
        self.upsample = upsample
        self.try_rotations = try_rotations
        self.landmarker = DlibLandmarker()

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in ``image`` ((H, W, 3) uint8 RGB), largest first; empty when there are none."""
        found = self._detect_upright(image)
        rotation = 0
        if not found and self.try_rotations:
            for degrees in _FALLBACK_ROTATIONS:
                found = self._detect_upright(rotate_image(image, degrees))
                if found:
                    rotation = degrees
                    break
        faces = []
        turned = rotate_image(image, rotation) if rotation else image
        for item in found:
            points = self.landmarker.landmarks(turned, item.box)
            faces.append(
                Face(
                    box=_unrotate_box(item.box, rotation, image.shape),
                    detection_score=item.score,
                    landmarks=_unrotate_points(points, rotation, image.shape),
                    rotation=rotation,
                    detector=self.backend.name,
                )
            )
        faces.sort(key=lambda face: face.box.area, reverse=True)
        return faces

    def _levels(self, image: np.ndarray) -> list[int]:
        if self.upsample != "auto":
            return [int(self.upsample)]
        height, width = image.shape[:2]
        first = 1 if max(height, width) <= _AUTO_UPSAMPLE_MAX_SIDE else 0
        levels = [first]
        if height * width * 4 ** (first + 1) <= _MAX_UPSAMPLED_PIXELS:
            levels.append(first + 1)
        return levels

    def _detect_upright(self, image: np.ndarray) -> list[_Found]:
        for level in self._levels(image):
            found = [_Found(box.clipped(image.shape[1], image.shape[0]), score)
                     for box, score in self.backend.detect(image, level)]
            found = [f for f in found if f.box.area > 0]
            if found:
                return found
        return []


def largest_face(faces: list[Face]) -> Face | None:
    """The face with the largest box area, or None for an empty list (ties: the first)."""
    return max(faces, key=lambda face: face.box.area, default=None)


def central_face(faces: list[Face], width: int, height: int) -> Face | None:
    """The face whose box centre is nearest the image centre (LFW's convention), or None."""
    cx, cy = width / 2.0, height / 2.0
    return min(
        faces,
        key=lambda f: (f.box.center[0] - cx) ** 2 + (f.box.center[1] - cy) ** 2,
        default=None,
    )


def rotate_image(image: np.ndarray, degrees: int) -> np.ndarray:
    """``image`` turned clockwise by ``degrees`` (a multiple of 90)."""
    if degrees % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {degrees}")
    return np.ascontiguousarray(np.rot90(image, k=-(degrees // 90) % 4))


def _unrotate_points(points: np.ndarray, degrees: int, shape: tuple[int, ...]) -> np.ndarray:
    """Map pixel positions in the image turned clockwise by ``degrees`` back to the original."""
    height, width = shape[:2]
    x, y = points[:, 0], points[:, 1]
    if degrees == 0:
        return points.astype(np.float32)
    if degrees == 90:
        mapped = np.stack([y, height - 1 - x], axis=1)
    elif degrees == 180:
        mapped = np.stack([width - 1 - x, height - 1 - y], axis=1)
    elif degrees == 270:
        mapped = np.stack([width - 1 - y, x], axis=1)
    else:
        raise ValueError(f"rotation must be 0, 90, 180 or 270, got {degrees}")
    return mapped.astype(np.float32)


def _unrotate_box(box: Box, degrees: int, shape: tuple[int, ...]) -> Box:
    if degrees == 0:
        return box
    # Boxes are pixel-edge coordinates: map the corners as edges (pixel i spans i..i+1).
    corners = np.array([[box.left, box.top], [box.right - 1, box.bottom - 1]], dtype=np.float64)
    mapped = _unrotate_points(corners, degrees, shape).astype(np.float64)
    left, top = mapped.min(axis=0)
    right, bottom = mapped.max(axis=0) + 1
    return Box(float(left), float(top), float(right), float(bottom))
