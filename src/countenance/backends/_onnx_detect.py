"""What the ONNX detectors (YuNet, UltraFace, BlazeFace) share: finding and loading their
graph with a typed error, checking options, resizing to a working size, non-maximum
suppression, and placing a HOG-like landmark box from keypoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument, ModelError
from ..faces import Box

__all__ = ["load_onnx_model", "resized", "nms", "check_detector_options", "model_file", "box_in_face_frame"]


def load_onnx_model(path: Path) -> Any:
    """The ``onnx.ModelProto`` in ``path``; :class:`ModelError` naming the file when it is missing or unreadable."""
    import onnx

    try:
        return onnx.load(str(path))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except Exception as error:  # onnx raises DecodeError and others on a bad file
        raise ModelError(f"{path}: not a readable ONNX model ({error})") from None


def resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` resized to ``width`` x ``height`` (area averaging when shrinking, bilinear when enlarging)."""
    import cv2

    if (width, height) == (image.shape[1], image.shape[0]):
        return image
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Indices of the boxes ``(N, 4)`` (left, top, right, bottom) kept by greedy NMS, best score first.

    A box is dropped when it overlaps a better-scoring kept box by an IoU above
    ``iou_threshold``; ties in score keep the earlier box.
    """
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        inter_w = np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0])
        inter_h = np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1])
        inter = np.maximum(inter_w, 0) * np.maximum(inter_h, 0)
        union = areas[best] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou <= iou_threshold]
    return keep


def check_detector_options(score_threshold: float, nms_threshold: float, threads: int) -> None:
    """InvalidArgument unless the score threshold is in 0..1, the NMS IoU in (0, 1] and ``threads`` valid."""
    from ._ort import check_threads

    if not 0.0 <= score_threshold <= 1.0:
        raise InvalidArgument(f"score_threshold must be in 0..1, got {score_threshold!r}")
    if not 0.0 < nms_threshold <= 1.0:
        raise InvalidArgument(f"nms_threshold must be in (0, 1], got {nms_threshold!r}")
    check_threads(threads)


def model_file(model_path: str | os.PathLike[str] | None, registry_name: str) -> Path:
    """``model_path``, or the installed registry model ``registry_name`` (ModelNotInstalled names its pull command)."""
    if model_path is not None:
        return Path(model_path)
    from ..model_registry import installed_model_path

    return installed_model_path(registry_name)


def box_in_face_frame(eyes: np.ndarray, mouth: np.ndarray, frame: tuple[float, float, float, float]) -> Box:
    """An axis-aligned box placed in a face's own frame, for dlib's landmarker (a HOG-like box).

    The frame: origin midway between the eye midpoint ``eyes`` and the mouth centre ``mouth``,
    unit length their distance, x across the face, y down it. ``frame`` is (centre x, centre
    y, width, height) of the box in those units, fitted per detector against HOG's boxes.
    """
    down = np.asarray(mouth, dtype=np.float64) - np.asarray(eyes, dtype=np.float64)
    size = float(np.hypot(*down))
    if size <= 0:
        raise InvalidArgument("degenerate keypoints: the eyes and the mouth coincide")
    down /= size
    across = np.array([down[1], -down[0]])  # the face's x axis, image left to right when upright
    centre_x, centre_y, width, height = frame
    centre = (np.asarray(eyes) + np.asarray(mouth)) / 2.0 + size * (centre_x * across + centre_y * down)
    half_w, half_h = width * size / 2.0, height * size / 2.0
    return Box(float(centre[0] - half_w), float(centre[1] - half_h), float(centre[0] + half_w), float(centre[1] + half_h))
