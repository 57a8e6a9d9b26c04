"""The quality gate: faces too small or too blurred are indexed but neither clustered nor suggested.

Photo tools gate faces the same way (Immich: detection score >= 0.7; PhotoPrism: faces of at
least 50 px). Here the rules are a face size and a sharpness, both options with defaults
measured on LFW (see docs/LIBRARY.md); the detection score is already gated by the detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument

__all__ = ["QualityGate", "face_sharpness", "SHARPNESS_SIDE_PX"]

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
class QualityGate:
    """Which faces are good enough to cluster and suggest.

    ``min_face_px``: the shorter side of the face box, in pixels of the upright photo.
    ``min_sharpness``: :func:`face_sharpness` (variance of the Laplacian at 64 x 64).
    Either may be 0 to switch that rule off.

    Defaults from ``scripts/eval_quality_gate.py`` (LFW faces shrunk or blurred on purpose,
    nearest of 158 people): at ~22 px faces are still named right 96% of the time (81% at
    ~18 px); blur hurts far more: sharpness ~80 -> 100%, ~23 -> 75%, ~12 -> 21%.
    """

    min_face_px: float = 20.0
    min_sharpness: float = 40.0

    def __post_init__(self) -> None:
        for name in ("min_face_px", "min_sharpness"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InvalidArgument(f"{name} must be a number >= 0, got {value!r}")

    def reason(self, box_ltrb_px: tuple[float, float, float, float], sharpness: float) -> str | None:
        """The rule the face fails (``"small"`` or ``"blurred"``), or None when it passes."""
        left, top, right, bottom = box_ltrb_px
        if min(right - left, bottom - top) < self.min_face_px:
            return "small"
        if sharpness < self.min_sharpness:
            return "blurred"
        return None
