"""Synthetic face masks drawn from the 5 landmarks, as MaskTheFace does (geometry, not a model).

A mask is a small texture in its own template space (x across in [-1, 1], y down in [0, 1],
nose bridge at (0, 0), chin at (0, 1)) with four anchor points: nose bridge, the two cheeks
at jaw level, and the chin. The same four points are placed on the face from its dlib
5-point landmarks (eye centres and nose base give the face's frame, see
:mod:`.face_frame`; a head turned sideways moves the nose, and the anchors follow it), and
the texture is warped onto the image by the homography between the two sets of four points.

Brightness is matched to the face: the mask's colour is scaled by the mean brightness of the
lower-face pixels it covers relative to a well-lit face (MaskTheFace matches the mask to the
face's value channel the same way), and a sideways falloff shades it like a curved surface.

Anchor proportions (in inter-ocular distances ``d`` and nose depths ``h`` below the eye line):
bridge 0.35 h, cheeks at 1.0 h and 1.1 d to each side, chin 2.45 h (faces' eye-to-chin
distance is ~1.85 d and eye-to-nose-base ~0.75 d).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument
from .face_frame import face_frame

__all__ = ["MASK_SHAPES", "MASK_COLOURS", "MaskStyle", "choose_style", "mask_polygon", "draw_mask"]

#: Mask outlines in template space (x in [-1, 1] across, y in [0, 1] from nose bridge to chin).
MASK_SHAPES: dict[str, tuple[tuple[float, float], ...]] = {
    # Pleated rectangle: flat over the nose, straight sides, square-ish bottom below the chin.
    "surgical": ((-1.0, 0.15), (-0.3, 0.0), (0.3, 0.0), (1.0, 0.15), (1.02, 0.8), (0.6, 1.04), (-0.6, 1.04), (-1.02, 0.8)),
    # Cloth: rounded all round, covering the chin.
    "cloth": tuple(
        (float(np.sin(t)) * 1.02, float(0.5 - 0.55 * np.cos(t)) if abs(t) < np.pi / 2 else float(0.5 - 0.58 * np.cos(t)))
        for t in np.linspace(-np.pi, np.pi, 24, endpoint=False)
    ),
    # KN95: a cup with a point over the nose and a seam down the middle.
    "kn95": ((0.0, -0.05), (0.55, 0.05), (1.0, 0.3), (0.95, 0.7), (0.5, 0.98), (0.0, 1.06), (-0.5, 0.98), (-0.95, 0.7), (-1.0, 0.3), (-0.55, 0.05)),
}

#: Mask colours (RGB, as under good light): light blue, white, black, grey, pink, navy.
MASK_COLOURS: dict[str, tuple[int, int, int]] = {
    "blue": (165, 205, 230),
    "white": (235, 235, 235),
    "black": (35, 35, 40),
    "grey": (140, 140, 150),
    "pink": (230, 170, 185),
    "navy": (40, 50, 90),
}

# Template texture: size in pixels, and the template-space window it covers.
_TEX_W, _TEX_H = 256, 192
_X0, _X1, _Y0, _Y1 = -1.1, 1.1, -0.15, 1.15
_TEMPLATE_ANCHORS = np.array([[0.0, 0.0], [-1.0, 0.3], [1.0, 0.3], [0.0, 1.0]])  # bridge, cheeks, chin
# Brightness of the covered skin at which a mask keeps its nominal colour (0..255 luma).
_REFERENCE_LUMA = 150.0
_MIN_GAIN, _MAX_GAIN = 0.3, 1.25


@dataclass(frozen=True)
class MaskStyle:
    """A mask's ``shape`` (key of :data:`MASK_SHAPES`) and ``colour`` (key of :data:`MASK_COLOURS`)."""

    shape: str
    colour: str

    def __post_init__(self) -> None:
        if self.shape not in MASK_SHAPES:
            raise InvalidArgument(f"mask shape must be one of {', '.join(MASK_SHAPES)}, got {self.shape!r}")
        if self.colour not in MASK_COLOURS:
            raise InvalidArgument(f"mask colour must be one of {', '.join(MASK_COLOURS)}, got {self.colour!r}")

    @property
    def name(self) -> str:
        return f"{self.shape}-{self.colour}"


def choose_style(key: str, seed: int = 0) -> MaskStyle:
    """The mask style for the image named ``key``: random but fixed by ``key`` and ``seed``."""
    rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
    shapes, colours = sorted(MASK_SHAPES), sorted(MASK_COLOURS)
    return MaskStyle(shapes[int(rng.integers(len(shapes)))], colours[int(rng.integers(len(colours)))])


def _to_texture(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    x = (p[:, 0] - _X0) / (_X1 - _X0) * (_TEX_W - 1)
    y = (p[:, 1] - _Y0) / (_Y1 - _Y0) * (_TEX_H - 1)
    return np.stack([x, y], axis=1)


def _face_anchors(landmarks: np.ndarray) -> np.ndarray:
    """The four anchors (bridge, image-left cheek, image-right cheek, chin) in image pixels."""
    f = face_frame(landmarks)
    d, h, s = f.iod_px, f.nose_px, f.nose_shift_px
    return f.to_image(np.array([[0.3 * s, 0.35 * h], [-1.1 * d + 0.4 * s, 1.0 * h], [1.1 * d + 0.4 * s, 1.0 * h], [0.8 * s, 2.45 * h]]))


def _homography(landmarks: np.ndarray) -> np.ndarray:
    import cv2

    source = _to_texture(_TEMPLATE_ANCHORS).astype(np.float32)
    return cv2.getPerspectiveTransform(source, _face_anchors(landmarks).astype(np.float32))


def mask_polygon(landmarks: np.ndarray, shape: str) -> np.ndarray:
    """The outline of mask ``shape`` on the face: ``(K, 2) float64`` image (x, y) pixels."""
    import cv2

    if shape not in MASK_SHAPES:
        raise InvalidArgument(f"mask shape must be one of {', '.join(MASK_SHAPES)}, got {shape!r}")
    outline = _to_texture(np.array(MASK_SHAPES[shape])).astype(np.float32)[None]
    return cv2.perspectiveTransform(outline, _homography(landmarks).astype(np.float32))[0].astype(np.float64)


def _texture(style: MaskStyle) -> tuple[np.ndarray, np.ndarray]:
    """``(colour (H, W, 3) float32 0..1 with shading and seams, alpha (H, W) float32 0..1)``."""
    import cv2

    alpha = np.zeros((_TEX_H, _TEX_W), np.float32)
    outline = np.round(_to_texture(np.array(MASK_SHAPES[style.shape]))).astype(np.int32)
    cv2.fillPoly(alpha, [outline], 1.0, lineType=cv2.LINE_AA)
    xs = np.linspace(_X0, _X1, _TEX_W, dtype=np.float32)
    shading = np.clip(1.0 - 0.3 * xs**2, 0.55, 1.0)[None, :, None]  # darker towards the sides
    colour = np.empty((_TEX_H, _TEX_W, 3), np.float32)
    colour[:] = np.array(MASK_COLOURS[style.colour], np.float32) / 255.0
    colour *= shading
    seam = np.zeros((_TEX_H, _TEX_W), np.float32)
    if style.shape == "surgical":
        for y in (0.35, 0.55, 0.75):  # pleats
            row = _to_texture(np.array([[-1.0, y], [1.0, y]])).astype(np.int32)
            cv2.line(seam, tuple(row[0]), tuple(row[1]), 1.0, 2, cv2.LINE_AA)
    elif style.shape == "kn95":
        column = _to_texture(np.array([[0.0, -0.05], [0.0, 1.06]])).astype(np.int32)
        cv2.line(seam, tuple(column[0]), tuple(column[1]), 1.0, 2, cv2.LINE_AA)
    colour *= (1.0 - 0.25 * seam)[:, :, None]
    return colour, alpha


def draw_mask(image: np.ndarray, landmarks: np.ndarray, style: MaskStyle) -> np.ndarray:
    """``image`` ``(H, W, 3) uint8`` RGB with a ``style`` mask over the face whose dlib 5-point
    ``landmarks`` ``(5, 2)`` are given; a new array (the input is not modified)."""
    import cv2

    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidArgument(f"image must be (H, W, 3) uint8 RGB, got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    homography = _homography(landmarks)
    colour, alpha = _texture(style)
    size = (width, height)
    warped_alpha = cv2.warpPerspective(alpha, homography, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    warped_colour = cv2.warpPerspective(colour, homography, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    covered = warped_alpha > 0.5
    if not covered.any():
        return pixels.copy()
    luma = pixels[covered].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    gain = float(np.clip(luma.mean() / _REFERENCE_LUMA, _MIN_GAIN, _MAX_GAIN))
    a = warped_alpha[:, :, None]
    out = pixels.astype(np.float32) * (1.0 - a) + np.clip(warped_colour * gain * 255.0, 0, 255) * a
    return np.round(out).astype(np.uint8)
