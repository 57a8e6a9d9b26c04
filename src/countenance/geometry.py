"""Quarter-turn rotation of images, and mapping points and boxes found in a turned image back.

Pure functions over NumPy arrays and :class:`~countenance.faces.Box`. Rotations are clockwise,
in degrees, multiples of 90. Points are ``(N, 2)`` (x, y) pixel positions; boxes are pixel-edge
coordinates (pixel ``i`` spans ``i..i+1``).
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidArgument
from .faces import Box

__all__ = ["rotate_image", "unrotate_points", "unrotate_box"]


def rotate_image(image: np.ndarray, degrees: int) -> np.ndarray:
    """``image`` ((H, W, ...) array) turned clockwise by ``degrees`` (a multiple of 90), C-contiguous."""
    if degrees % 90:
        raise InvalidArgument(f"rotation must be a multiple of 90 degrees, got {degrees}")
    return np.ascontiguousarray(np.rot90(image, k=-(degrees // 90) % 4))


def unrotate_points(points: np.ndarray, degrees: int, shape: tuple[int, ...]) -> np.ndarray:
    """Map ``(N, 2)`` pixel positions in the image turned clockwise by ``degrees`` back to the
    original image of ``shape`` ((H, W, ...)); ``(N, 2) float32``."""
    height, width = shape[:2]
    points = np.asarray(points)
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
        raise InvalidArgument(f"rotation must be 0, 90, 180 or 270, got {degrees}")
    return mapped.astype(np.float32)


def unrotate_box(box: Box, degrees: int, shape: tuple[int, ...]) -> Box:
    """Map ``box`` in the image turned clockwise by ``degrees`` back to the original of ``shape``."""
    if degrees == 0:
        return box
    # Boxes are pixel-edge coordinates: map the corners as pixels (pixel i spans i..i+1).
    corners = np.array([[box.left, box.top], [box.right - 1, box.bottom - 1]], dtype=np.float64)
    mapped = unrotate_points(corners, degrees, shape).astype(np.float64)
    left, top = mapped.min(axis=0)
    right, bottom = mapped.max(axis=0) + 1
    return Box(float(left), float(top), float(right), float(bottom))
