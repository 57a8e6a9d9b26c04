"""Image degradations for robustness curves: pure functions over ``(H, W, 3) uint8`` RGB.

Each takes the face's dlib 5-point landmarks where it needs to know where the face is, and
returns a new image (the input is never modified). :func:`downscale_to_iod` also returns the
scale it applied, so the caller can map the face's position into the smaller image.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgument
from .face_frame import face_frame, inter_ocular_px

__all__ = ["downscale_to_iod", "gaussian_blur", "jpeg", "occlude_eyes", "occlude_lower_face", "OCCLUSION_GREY"]

#: Fill of the occluders: mid grey, neither black nor white, so the detector still sees an edge.
OCCLUSION_GREY = (128, 128, 128)


def _image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise InvalidArgument(f"image must be (H, W, 3) uint8 RGB, got {array.dtype} {array.shape}")
    return array


def downscale_to_iod(image: np.ndarray, landmarks: np.ndarray, iod_px: float) -> tuple[np.ndarray, float]:
    """``(smaller image, scale)``: ``image`` resized (area averaging) so the face's inter-ocular
    distance becomes ``iod_px``. A target at or above the current distance returns a copy at
    scale 1.0: this simulates a smaller face, never invents detail by upsampling.
    """
    pixels = _image(image)
    if not iod_px > 0:
        raise InvalidArgument(f"iod_px must be > 0, got {iod_px!r}")
    scale = min(1.0, float(iod_px) / inter_ocular_px(landmarks))
    if scale >= 1.0:
        return pixels.copy(), 1.0
    import cv2

    height, width = pixels.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), scale


def gaussian_blur(image: np.ndarray, landmarks: np.ndarray, sigma_iod: float) -> np.ndarray:
    """``image`` blurred by a Gaussian of standard deviation ``sigma_iod`` x the face's
    inter-ocular distance (so the same level blurs a big and a small face alike)."""
    pixels = _image(image)
    if not sigma_iod > 0:
        raise InvalidArgument(f"sigma_iod must be > 0, got {sigma_iod!r}")
    import cv2

    sigma = float(sigma_iod) * inter_ocular_px(landmarks)
    return cv2.GaussianBlur(pixels, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` encoded as JPEG at ``quality`` (1..100, OpenCV/libjpeg scale) and decoded again."""
    pixels = _image(image)
    if not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise InvalidArgument(f"JPEG quality must be an int in 1..100, got {quality!r}")
    import cv2

    ok, data = cv2.imencode(".jpg", pixels[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise InvalidArgument("OpenCV could not encode the image as JPEG")
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])


def _fill(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    import cv2

    out = _image(image).copy()
    cv2.fillPoly(out, [np.round(corners).astype(np.int32)], OCCLUSION_GREY, lineType=cv2.LINE_AA)
    return out


def occlude_eyes(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``image`` with a grey band over both eyes (sunglasses-like), following the face's roll.

    The band spans 2.2 inter-ocular distances across and 0.7 down, centred on the eye line.
    """
    frame = face_frame(landmarks)
    d = frame.iod_px
    corners = frame.to_image(np.array([[-1.1 * d, -0.35 * d], [1.1 * d, -0.35 * d], [1.1 * d, 0.35 * d], [-1.1 * d, 0.35 * d]]))
    return _fill(image, corners)


def occlude_lower_face(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``image`` with a grey block over the lower face: from just under the nose base to below
    the chin (2.6 nose depths below the eye line), 2.4 inter-ocular distances wide."""
    frame = face_frame(landmarks)
    d, h = frame.iod_px, frame.nose_px
    top, bottom = 1.05 * h, 2.6 * h
    corners = frame.to_image(np.array([[-1.2 * d, top], [1.2 * d, top], [1.2 * d, bottom], [-1.2 * d, bottom]]))
    return _fill(image, corners)
