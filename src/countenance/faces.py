"""The values that flow through the pipeline: boxes, detections, templates, faces, comparisons,
and the :class:`ModelSpec` that says how an embedding model's templates are made and compared.

All are frozen dataclasses; this module imports nothing from the rest of the package, so every
stage and backend can use them. Coordinates are pixels in the upright image (after EXIF
orientation), x to the right, y down; boxes are ``(left, top, right, bottom)``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from .errors import InvalidArgument

__all__ = ["Box", "Detection", "Template", "Face", "Comparison", "Metric", "ModelSpec", "ModelRecord", "inter_ocular_px"]


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

    def iou(self, other: Box) -> float:
        """Intersection over union of the two boxes (0 when they do not overlap)."""
        inter = Box(max(self.left, other.left), max(self.top, other.top),
                    min(self.right, other.right), min(self.bottom, other.bottom)).area
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

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


@dataclass(frozen=True, eq=False)
class Detection:
    """One face proposed by a detector backend, in pixels of the image the backend was given.

    ``score`` is in the backend's own units (HOG: SVM margin; CNN: confidence; YuNet:
    probability in 0..1); higher is more certain. ``keypoints`` is ``(5, 2) float32`` (x, y)
    in the ArcFace order (see :class:`Face`), or None when the backend gives none.
    ``landmark_box`` is the box dlib's 5-point shape predictor should be run on when it
    differs from ``box`` (the predictor was trained on dlib HOG boxes, so other detectors'
    boxes are mapped to look like one); None means ``box``.
    """

    box: Box
    score: float
    keypoints: np.ndarray | None = None
    landmark_box: Box | None = None

    def __post_init__(self) -> None:
        if self.keypoints is not None:
            points = np.asarray(self.keypoints, dtype=np.float32)
            if points.shape != (5, 2):
                raise InvalidArgument(f"keypoints must have shape (5, 2), got {points.shape}")
            object.__setattr__(self, "keypoints", points)


class Metric(enum.StrEnum):
    """The distance two templates are compared by (a ``str``: ``Metric.COSINE == "cosine"``).

    ``euclidean``: L2 distance between the vectors as they are. ``cosine``: 1 - cosine
    similarity, in 0..2. Lower is more alike for both.
    """

    EUCLIDEAN = "euclidean"
    COSINE = "cosine"


ColourOrder = Literal["RGB", "BGR"]
Layout = Literal["NCHW", "NHWC"]


def _three_floats(name: str, value: Any) -> tuple[float, float, float]:
    if isinstance(value, (int, float)):
        value = (float(value),) * 3
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be one number or 3 finite numbers, got {value!r}") from None
    if len(numbers) != 3 or not all(math.isfinite(v) for v in numbers):
        raise InvalidArgument(f"{name} must be one number or 3 finite numbers, got {value!r}")
    return numbers  # type: ignore[return-value]


@dataclass(frozen=True)
class ModelSpec:
    """Everything a caller must know about an embedding model to feed it and use its templates.

    - ``name``: the templates' model name; templates of two names are never compared.
    - ``embedding_size``: D, the length of a template vector.
    - ``metric``: the distance the model was trained for (:class:`Metric`; a plain string is
      converted).
    - ``thresholds``: names to distances (in ``metric``) at which two templates are called the
      same person, lower is stricter; read-only (a ``MappingProxyType``) and must hold
      ``default_threshold``.
    - ``input_size``: the side of the square aligned face the network takes, in pixels.
    - ``alignment``: how that face is cut out (e.g. ``"dlib-chip-150-padding-0.25"``,
      ``"arcface-5point-112"``); ``alignment_template`` the ``(5, 2)`` (x, y) pixel positions
      in the crop the 5 ArcFace-order keypoints are mapped onto, or None when the alignment is
      dlib's own chip extractor (its template is inside dlib).
    - ``mean``, ``std``, ``colour_order``, ``layout``: the network's input is
      ``(pixel - mean) / std`` per channel, channels in ``colour_order``, pixels 0..255,
      tensor laid out as ``layout``.
    - ``l2_normalised``: whether templates come out with unit L2 norm.
    - ``licence``: of the weights.
    - ``tie_margin``: two *different* subjects whose distances to a probe differ by no more
      than this (in ``metric``) cannot be told apart by the model: the open-set decision
      (:func:`countenance.decide.open_set_decision`) calls such a probe ambiguous instead of
      picking one. 0 only makes exact ties ambiguous; a gallery of a model other than dlib's
      that declares 0 and has a calibration table takes dlib's margin carried through it
      (:mod:`countenance.calibration.cuts`).
    - ``min_interocular_px``: the smallest face the model still recognises at its measured
      error rates, as the distance in pixels between the eye centres (:func:`inter_ocular_px`,
      in the image as given to the pipeline). Identification answers "too small to identify"
      for a smaller face instead of guessing a name. It is measured, never assumed: the
      downscaling curve of ``countenance eval degrade`` (docs/MEASURE.md, "Minimum face size":
      the smallest level at which that level and every larger one keep, at the clean threshold
      for FMR 1e-3, FNMR <= clean FNMR + 0.02 and FMR <= 2e-3). None: not measured, no limit.
    """

    name: str
    embedding_size: int
    metric: Metric
    thresholds: Mapping[str, float]
    input_size: int
    alignment: str
    licence: str = "unknown"
    default_threshold: str = "default"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    colour_order: ColourOrder = "RGB"
    layout: Layout = "NHWC"
    l2_normalised: bool = False
    alignment_template: tuple[tuple[float, float], ...] | None = None
    tie_margin: float = 0.0
    min_interocular_px: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise InvalidArgument(f"name must be a non-empty string without spaces, got {self.name!r}")
        if isinstance(self.embedding_size, bool) or not isinstance(self.embedding_size, int) or self.embedding_size < 1:
            raise InvalidArgument(f"embedding_size must be a positive int, got {self.embedding_size!r}")
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int) or self.input_size < 16:
            raise InvalidArgument(f"input_size must be an int >= 16, got {self.input_size!r}")
        try:
            object.__setattr__(self, "metric", Metric(self.metric))
        except ValueError:
            raise InvalidArgument(f"metric must be 'euclidean' or 'cosine', got {self.metric!r}") from None
        if not isinstance(self.thresholds, Mapping):
            raise InvalidArgument(f"thresholds must be a mapping of names to distances, got {self.thresholds!r}")
        thresholds: dict[str, float] = {}
        for key, value in self.thresholds.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidArgument(f"threshold {key!r} must be a finite distance >= 0, got {value!r}")
            thresholds[str(key)] = float(value)
        if self.default_threshold not in thresholds:
            raise InvalidArgument(f"thresholds must include {self.default_threshold!r}, got {sorted(thresholds)}")
        object.__setattr__(self, "thresholds", MappingProxyType(thresholds))
        margin = self.tie_margin
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin) or margin < 0:
            raise InvalidArgument(f"tie_margin must be a finite distance >= 0, got {margin!r}")
        object.__setattr__(self, "tie_margin", float(margin))
        limit = self.min_interocular_px
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit <= 0:
                raise InvalidArgument(f"min_interocular_px must be a finite number of pixels > 0 or None, got {limit!r}")
            object.__setattr__(self, "min_interocular_px", float(limit))
        object.__setattr__(self, "mean", _three_floats("mean", self.mean))
        std = _three_floats("std", self.std)
        if any(v == 0 for v in std):
            raise InvalidArgument(f"std must not contain 0, got {self.std!r}")
        object.__setattr__(self, "std", std)
        if self.colour_order not in ("RGB", "BGR"):
            raise InvalidArgument(f"colour_order must be 'RGB' or 'BGR', got {self.colour_order!r}")
        if self.layout not in ("NCHW", "NHWC"):
            raise InvalidArgument(f"layout must be 'NCHW' or 'NHWC', got {self.layout!r}")
        if self.alignment_template is not None:
            points = np.asarray(self.alignment_template, dtype=np.float64)
            if points.shape != (5, 2) or not np.isfinite(points).all():
                raise InvalidArgument(f"alignment_template must be 5 finite (x, y) points, got shape {points.shape}")
            object.__setattr__(self, "alignment_template", tuple((float(x), float(y)) for x, y in points))

    def __hash__(self) -> int:
        # thresholds is a read-only mapping (unhashable); name and size identify a model.
        return hash((self.name, self.embedding_size, self.metric))

    @property
    def default_distance(self) -> float:
        """The threshold named ``default_threshold``, in ``metric`` units."""
        return self.thresholds[self.default_threshold]


@dataclass(frozen=True)
class ModelRecord:
    """What a gallery or library stores of the model its templates came from: the part of a
    :class:`ModelSpec` that using stored templates needs (no weights, no preprocessing).

    ``threshold``: the model's default same-person distance; ``tie_margin`` and
    ``min_interocular_px`` as in :class:`ModelSpec`.
    """

    name: str
    metric: Metric
    embedding_size: int
    threshold: float
    tie_margin: float = 0.0
    min_interocular_px: float | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "metric", Metric(self.metric))
        except ValueError:
            raise InvalidArgument(f"metric must be 'euclidean' or 'cosine', got {self.metric!r}") from None

    @classmethod
    def of(cls, spec: ModelSpec) -> ModelRecord:
        return cls(spec.name, spec.metric, spec.embedding_size, spec.default_distance, spec.tie_margin,
                   spec.min_interocular_px)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "metric": str(self.metric), "embedding_size": self.embedding_size,
                "threshold": self.threshold, "tie_margin": self.tie_margin, "min_interocular_px": self.min_interocular_px}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ModelRecord:
        try:
            limit = document.get("min_interocular_px")
            return cls(str(document["name"]), document["metric"], int(document["embedding_size"]),
                       float(document["threshold"]), float(document.get("tie_margin") or 0.0),
                       None if limit is None else float(limit))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgument(f"not a model record ({error})") from None


def inter_ocular_px(landmarks: np.ndarray) -> float:
    """Distance in pixels between the two eye centres of dlib 5-point ``landmarks`` ``(5, 2)``
    (x, y): each centre is the midpoint of that eye's two corners (points 0-1 and 2-3).

    The one definition of a face's size in this package: the minimum face size of a model
    (:attr:`ModelSpec.min_interocular_px`) is measured and applied with it.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise InvalidArgument(f"landmarks must be finite (5, 2) dlib 5-point positions, got shape {points.shape}")
    return float(np.hypot(*(points[0:2].mean(0) - points[2:4].mean(0))))


@dataclass(frozen=True, eq=False)
class Template:
    """A face template: ``vector`` is ``(D,) float32``, made by the model named ``model``."""

    vector: np.ndarray
    model: str

    def __post_init__(self) -> None:
        vector = np.asarray(self.vector, dtype=np.float32)
        if vector.ndim != 1:
            raise InvalidArgument(f"a template vector must be 1-D, got shape {vector.shape}")
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

    @property
    def inter_ocular_px(self) -> float | None:
        """Pixels between the eye centres (:func:`inter_ocular_px` of ``landmarks``; without
        them, between the two eye keypoints), in the image as given; None with neither."""
        if self.landmarks is not None:
            return inter_ocular_px(self.landmarks)
        if self.keypoints is not None:
            eyes = np.asarray(self.keypoints, dtype=np.float64)[:2]
            return float(np.hypot(*(eyes[0] - eyes[1])))
        return None

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
