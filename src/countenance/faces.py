"""The values that flow through the pipeline: boxes, templates, faces, comparisons.

All are frozen dataclasses. Coordinates are pixels in the upright image (after EXIF
orientation), x to the right, y down; boxes are ``(left, top, right, bottom)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Box", "Template", "Face", "Comparison", "ModelSpec"]


@dataclass(frozen=True)
class Box:
    """An axis-aligned face box in pixels: ``left <= right``, ``top <= bottom``."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def clipped(self, width: int, height: int) -> Box:
        """The box clipped to an image of ``width`` x ``height`` pixels."""
        return Box(
            max(0.0, min(self.left, width)),
            max(0.0, min(self.top, height)),
            max(0.0, min(self.right, width)),
            max(0.0, min(self.bottom, height)),
        )

    def to_list(self) -> list[float]:
        """``[left, top, right, bottom]``, as written to JSON."""
        return [float(self.left), float(self.top), float(self.right), float(self.bottom)]


@dataclass(frozen=True)
class ModelSpec:
    """What a caller must know about an embedding model to use its templates.

    ``metric`` is the distance the model was trained for (``"euclidean"`` on raw
    templates or ``"cosine"``); ``thresholds`` maps names to distances at which two
    templates are called the same person (lower is stricter).
    """

    name: str
    embedding_size: int
    metric: str
    thresholds: dict[str, float]
    input_size: int
    alignment: str
    licence: str
    default_threshold: str = "default"


@dataclass(frozen=True, eq=False)
class Template:
    """A face template: ``vector`` is ``(D,) float32``, made by the model named ``model``."""

    vector: np.ndarray
    model: str

    def __post_init__(self) -> None:
        vector = np.asarray(self.vector, dtype=np.float32)
        if vector.ndim != 1:
            raise ValueError(f"a template vector must be 1-D, got shape {vector.shape}")
        object.__setattr__(self, "vector", vector)


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face.

    ``landmarks`` is ``(5, 2) float32`` (x, y) in pixels in dlib's 5-point order
    (eye corners, then the base of the nose), or None before landmarking.
    ``keypoints`` is ``(5, 2) float32`` in the ArcFace/InsightFace order (right eye centre,
    left eye centre, nose tip, right mouth corner, left mouth corner; "right" as seen in the
    image's left half), when the detector provides them (YuNet does, dlib's HOG does not).
    ``rotation`` is the clockwise rotation in degrees (0, 90, 180, 270) the image needed for
    the face to be found upright; ``box`` and ``landmarks`` are always in the coordinates of
    the image as given. ``template`` is None until the face is embedded.
    """

    box: Box
    detection_score: float
    landmarks: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    rotation: int = 0
    template: Template | None = None
    detector: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the template vector is left out; it is biometric data)."""
        out: dict[str, Any] = {
            "box": [round(v, 1) for v in self.box.to_list()],
            "detection_score": round(float(self.detection_score), 4),
            "rotation": self.rotation,
            "detector": self.detector,
        }
        if self.landmarks is not None:
            out["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks]
        if self.template is not None:
            out["model"] = self.template.model
        return out


@dataclass(frozen=True)
class Comparison:
    """The result of comparing two templates (1:1 verification).

    ``distance`` is in the model's metric (lower is more alike); ``similarity`` is the cosine
    similarity of the two vectors in [-1, 1]; ``same`` is ``distance <= threshold``, where
    ``threshold`` is the model's threshold named ``threshold_name``.
    """

    distance: float
    similarity: float
    threshold: float
    threshold_name: str
    same: bool
    model: str
    metric: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "distance": round(self.distance, 6),
            "similarity": round(self.similarity, 6),
            "threshold": self.threshold,
            "threshold_name": self.threshold_name,
            "metric": self.metric,
            "model": self.model,
        }
