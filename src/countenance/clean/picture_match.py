"""Do two photos show the same picture? Align the whole frames and compare them, tile by tile.

Close templates and alike face crops also come from two moments of one scene: two frames of a
TV address, two shots of one session. A copy that was cropped, resized, recompressed or
colour-corrected lines up with its original over the whole frame under one affine map; two
moments do not (the head, mouth or shoulders moved against the background).

The map comes from ORB keypoint matches with RANSAC (OpenCV). The frame with fewer pixels is
the reference; the other is warped onto it, both grey and blurred a little (recompression
noise). They are compared where both have picture (padding, the near-black corners of a
rotated or deep-funnelled image, is left out): the correlation over the whole overlap, and on
an 8 x 8 grid the share of textured tiles whose correlation is at least
:data:`TILE_CORRELATION` (a small part that moved, such as a mouth, shows there first).
Correlation ignores brightness and contrast, so a colour-balanced copy still lines up.

Measured on LFW (`scripts/eval_clean.py`'s copies; README): 800 copies in two draws (crop up
to 10% a side, resize x0.6-1.4, JPEG 55-90) correlate >= 0.978 overall with >= 0.81 of their
tiles aligned (median 1.0); the 14 same-picture pairs LFW already holds >= 0.994 and >= 0.93; the three pairs
of distinct moments that pass the face checks <= 0.916 and <= 0.83 (two of them 0.49). The
RANSAC draw is seeded, so a comparison is repeatable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CountenanceError
from ..image import load_image

__all__ = ["PictureComparison", "PictureFeatures", "picture_features", "compare_features", "compare_pictures",
           "normalised_correlation", "TILE_CORRELATION"]

#: A tile lines up when its correlation after alignment is at least this.
TILE_CORRELATION = 0.9
#: The longer side a photo is shrunk to before matching (ORB's pyramid covers the rest).
_MAX_SIDE_PX = 640
_GRID = 8
_MIN_MATCHES = 8
_MIN_TILE_STD = 4.0  # grey levels: flatter tiles (sky, a dark backdrop) say nothing
_PADDING_GREY = 3  # at most this dark: padding, not picture
_BLUR_SIGMA_PX = 1.5


@dataclass(frozen=True)
class PictureComparison:
    """How well two photos line up. ``aligned_share``: the share of textured tiles that line
    up (NaN when no tile has texture); ``correlation``: over the whole overlap; ``tiles``: the
    textured tiles compared; ``inliers`` / ``matches``: keypoint matches that agree with the
    map / all; ``error``: why they could not be compared (then the rest is NaN / 0)."""

    aligned_share: float
    correlation: float
    tiles: int
    inliers: int
    matches: int
    error: str | None = None

    @classmethod
    def not_compared(cls, why: str, matches: int = 0) -> PictureComparison:
        """A pair that could not be compared, and why."""
        return cls(float("nan"), float("nan"), 0, 0, matches, why)

    @property
    def compared(self) -> bool:
        return self.error is None

    def lines_up(self, min_aligned_share: float, min_correlation: float) -> bool:
        """The same picture: the whole overlap correlates and enough textured tiles line up
        (a picture without textured tiles is judged on the whole overlap alone)."""
        if not self.compared or not self.correlation >= min_correlation:
            return False
        return self.tiles == 0 or self.aligned_share >= min_aligned_share

    def describe(self) -> str:
        if not self.compared:
            return f"whole pictures not compared ({self.error})"
        if self.tiles == 0:
            return f"whole pictures line up (correlation {self.correlation:.3f}; no textured tiles)"
        return (f"whole pictures line up in {self.aligned_share:.0%} of {self.tiles} textured tiles, "
                f"correlation {self.correlation:.3f}")


@dataclass(frozen=True, eq=False)
class PictureFeatures:
    """What a comparison needs of one photo, computed once however many pairs it is in:
    ``grey`` ``(H, W) uint8`` (the longer side at most 640 px), ``points`` ``(K, 2) float32``
    ORB keypoint positions and ``descriptors`` ``(K, 32) uint8`` (None without keypoints), or
    ``error`` when the file could not be read."""

    grey: np.ndarray
    points: np.ndarray
    descriptors: np.ndarray | None
    error: str | None = None


def picture_features(path: str | Path) -> PictureFeatures:
    """Read ``path`` and find its keypoints; an unreadable file gives ``error``, never an exception."""
    import cv2

    try:
        rgb = load_image(Path(path))
    except CountenanceError as error:
        return PictureFeatures(np.zeros((0, 0), np.uint8), np.zeros((0, 2), np.float32), None, str(error))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    scale = _MAX_SIDE_PX / max(grey.shape)
    if scale < 1.0:
        grey = cv2.resize(grey, (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    keypoints, descriptors = cv2.ORB_create(1000).detectAndCompute(grey, None)
    points = np.float32([k.pt for k in keypoints]).reshape(-1, 2)
    return PictureFeatures(grey, points, descriptors)


def normalised_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equal-sized arrays (flattened), in [-1, 1]; 0 if one is flat."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    x, y = x - x.mean(), y - y.mean()
    norm = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / norm if norm > 0 else 0.0


def compare_pictures(path_a: str | Path, path_b: str | Path) -> PictureComparison:
    """Compare two photo files (module docstring); see :func:`compare_features`."""
    return compare_features(picture_features(path_a), picture_features(path_b))


def compare_features(first: PictureFeatures, second: PictureFeatures) -> PictureComparison:
    """Align one photo onto the other (the smaller frame is the reference) and compare them
    (module docstring). An unreadable file or too few keypoint matches give a comparison with
    ``error`` set, never an exception."""
    import cv2

    for features in (first, second):
        if features.error is not None:
            return PictureComparison.not_compared(features.error)
    reference, other = (first, second) if first.grey.size <= second.grey.size else (second, first)
    if reference.descriptors is None or other.descriptors is None:
        return PictureComparison.not_compared("no keypoints")
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(other.descriptors, reference.descriptors)
    if len(matches) < _MIN_MATCHES:
        return PictureComparison.not_compared(f"{len(matches)} keypoint matches", len(matches))
    source = other.points[[m.queryIdx for m in matches]]
    target = reference.points[[m.trainIdx for m in matches]]
    cv2.setRNGSeed(0)  # RANSAC's draw: the same answer on every run
    matrix, inliers = cv2.estimateAffine2D(source, target, method=cv2.RANSAC, ransacReprojThreshold=3.0)
    if matrix is None:
        return PictureComparison.not_compared("no affine map fits the keypoint matches", len(matches))
    a, b = reference.grey, other.grey
    height, width = a.shape
    kernel = np.ones((3, 3), np.uint8)
    # Picture in both frames: inside b's warped frame, and not padding in either.
    inside_b = cv2.warpAffine(cv2.erode((b > _PADDING_GREY).astype(np.uint8), kernel), matrix, (width, height),
                              flags=cv2.INTER_NEAREST) > 0
    mask = inside_b & (cv2.erode((a > _PADDING_GREY).astype(np.uint8), kernel) > 0)
    mask = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if not mask.any():
        return PictureComparison.not_compared("the pictures do not overlap", len(matches))
    blurred_a = cv2.GaussianBlur(a.astype(np.float32), (0, 0), _BLUR_SIGMA_PX)
    blurred_b = cv2.GaussianBlur(b.astype(np.float32), (0, 0), _BLUR_SIGMA_PX)
    warped_b = cv2.warpAffine(blurred_b, matrix, (width, height), flags=cv2.INTER_LINEAR)
    tiles = []
    for row in range(_GRID):
        for col in range(_GRID):
            rows = slice(row * height // _GRID, (row + 1) * height // _GRID)
            cols = slice(col * width // _GRID, (col + 1) * width // _GRID)
            inside = mask[rows, cols]
            if inside.size == 0 or inside.mean() < 0.9:
                continue
            x, y = blurred_a[rows, cols][inside], warped_b[rows, cols][inside]
            if x.std() < _MIN_TILE_STD:
                continue
            tiles.append(normalised_correlation(x, y))
    share = float(np.mean(np.array(tiles) >= TILE_CORRELATION)) if tiles else float("nan")
    overall = normalised_correlation(blurred_a[mask], warped_b[mask])
    return PictureComparison(share, overall, len(tiles), int(inliers.sum()), len(matches))
