"""A face's own coordinate frame, from dlib's 5 landmarks (eye corners and nose base).

Masks and occlusions are drawn in this frame so that they follow the face's position, size
and roll. Geometry only: no model beyond the 5 landmarks the pipeline already has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument
from ..faces import inter_ocular_px  # the package's one definition of face size, re-exported

__all__ = ["FaceFrame", "face_frame", "inter_ocular_px"]


@dataclass(frozen=True, eq=False)
class FaceFrame:
    """``origin`` (2,) the eye midpoint; ``across`` (2,) unit vector from the image-left eye to the
    other; ``down`` (2,) unit vector perpendicular to it, towards the nose; ``iod_px`` the
    distance between the eye centres; ``nose_px`` the nose base's depth below the eye line
    and ``nose_shift_px`` its offset along ``across`` (a turned head moves it sideways).
    """

    origin: np.ndarray
    across: np.ndarray
    down: np.ndarray
    iod_px: float
    nose_px: float
    nose_shift_px: float

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """``(N, 2)`` (a, b) frame coordinates (pixels along ``across`` and ``down``) -> image (x, y)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return self.origin + p[:, :1] * self.across + p[:, 1:] * self.down


def _check(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise InvalidArgument(f"landmarks must be finite (5, 2) dlib 5-point positions, got shape {points.shape}")
    return points


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    """The frame of the face with dlib 5-point ``landmarks`` ``(5, 2)`` (x, y) pixels."""
    points = _check(landmarks)
    eye_a, eye_b, nose = points[0:2].mean(0), points[2:4].mean(0), points[4]
    origin = (eye_a + eye_b) / 2.0
    eyes = eye_b - eye_a
    iod = float(np.hypot(*eyes))
    if iod <= 0:
        raise InvalidArgument("degenerate landmarks: the two eyes coincide")
    down = np.array([-eyes[1], eyes[0]]) / iod
    if down @ (nose - origin) < 0:
        down = -down
    across = np.array([down[1], -down[0]])  # image-right for an upright face
    offset = nose - origin
    return FaceFrame(origin, across, down, iod, float(max(down @ offset, 0.25 * iod)), float(across @ offset))
