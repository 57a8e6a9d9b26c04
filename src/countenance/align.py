"""Face alignment for ArcFace-style recognisers: pure functions over 5-point keypoints.

Keypoints are ``(5, 2)`` (x, y) in pixels, in the ArcFace/InsightFace order: right eye
centre, left eye centre, nose tip, right mouth corner, left mouth corner ("right" = the eye
in the image's left half). :func:`arcface_crop` warps a face so that its keypoints land on
:data:`ARCFACE_TEMPLATE_112` by the similarity transform (rotation, uniform scale,
translation) that fits them best in the least-squares sense (Umeyama, 1991).

(dlib's recogniser has its own alignment, ``dlib.get_face_chip`` on dlib's 5 landmarks;
see :mod:`countenance.backends.dlib_onnx_embedder`.)
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidArgument

__all__ = ["ARCFACE_TEMPLATE_112", "arcface_template", "estimate_similarity", "arcface_crop"]

#: Where ArcFace models expect the 5 keypoints in a 112x112 crop: ``(5, 2) float32`` (x, y)
#: pixels, ArcFace order (insightface ``utils/face_align.py``, ``arcface_dst``).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
ARCFACE_TEMPLATE_112.setflags(write=False)


def _points(name: str, value: np.ndarray) -> np.ndarray:
    points = np.asarray(value, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 2:
        raise InvalidArgument(f"{name} must have shape (N, 2) with N >= 2, got {points.shape}")
    if not np.isfinite(points).all():
        raise InvalidArgument(f"{name} contains NaN or infinite values")
    return points


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity transform mapping points ``src`` onto ``dst`` best (least squares).

    ``src`` and ``dst`` are ``(N, 2)`` (x, y), N >= 2, the same N. Returns the ``(2, 3)
    float64`` matrix ``M`` with ``dst ~ M @ [x, y, 1]`` (for ``cv2.warpAffine``): a rotation,
    a uniform scale and a translation, no reflection (Umeyama's closed form). Raises
    InvalidArgument on other shapes, NaNs, or when all of ``src`` coincide.
    """
    src = _points("src", src)
    dst = _points("dst", dst)
    if src.shape != dst.shape:
        raise InvalidArgument(f"src and dst must have the same shape, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var <= 1e-12:
        raise InvalidArgument("src points all coincide: no transform fits them")
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1.0  # keep a rotation, not a reflection
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(singular) @ d) / src_var)
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def arcface_template(size: int = 112) -> np.ndarray:
    """Where the 5 ArcFace keypoints go in a ``size`` px crop: ``(5, 2) float64`` (x, y) pixels.

    As in insightface's ``estimate_norm``, a multiple of 112 scales :data:`ARCFACE_TEMPLATE_112`
    by ``size / 112``; any other size treats it as sitting in a 128 px crop (scaled by
    ``size / 128``, shifted right by ``8 * size / 128``).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise InvalidArgument(f"size must be an int >= 16, got {size!r}")
    template = ARCFACE_TEMPLATE_112.astype(np.float64) * (size / 112.0 if size % 112 == 0 else size / 128.0)
    if size % 112 != 0:
        template[:, 0] += 8.0 * size / 128.0
    return template


def arcface_crop(image: np.ndarray, keypoints: np.ndarray, size: int = 112) -> np.ndarray:
    """The ``(size, size, 3) uint8`` crop of ``image`` whose keypoints sit on the ArcFace template.

    ``image`` is ``(H, W, 3) uint8`` (channel order kept); ``keypoints`` ``(5, 2)`` in the
    ArcFace order, in ``image`` pixels; the template is :func:`arcface_template` ``(size)``.
    Pixels outside the image are black.
    """
    import cv2

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidArgument(f"image must be (H, W, 3) uint8, got shape {image.shape} dtype {image.dtype}")
    points = np.asarray(keypoints, dtype=np.float64)
    if points.shape != (5, 2):
        raise InvalidArgument(f"keypoints must have shape (5, 2), got {points.shape}")
    matrix = estimate_similarity(points, arcface_template(size))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
