"""What the ONNX detectors (YuNet, UltraFace, BlazeFace) share: loading their graph with
a typed error, resizing to a working size, and non-maximum suppression."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

__all__ = ["load_onnx_model", "resized", "nms"]


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
