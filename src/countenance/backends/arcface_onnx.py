"""Any ArcFace-style ONNX recogniser: 5-point aligned 112 px crop in, L2-normalised vector out.

What a model expects (input size, pixel normalisation, colour order, tensor layout, vector
size, thresholds) is read from an :class:`ArcFaceSpec` (a :class:`~countenance.faces.ModelSpec`
with ArcFace defaults): passed explicitly or read from a
JSON file next to the model (``<model>.json``, e.g. ``w600k_r50.json`` beside
``w600k_r50.onnx``; ``w600k_r50.onnx.json`` is accepted too). It is never guessed from
tensor shapes or node names; the model's declared input and output shapes are only checked
against it. Example sidecar::

    {"name": "mobilefacenet", "input_size": 112, "mean": [127.5, 127.5, 127.5],
     "std": [128.0, 128.0, 128.0], "colour_order": "RGB", "layout": "NCHW",
     "embedding_size": 128, "metric": "cosine", "thresholds": {"default": 0.62},
     "licence": "unknown"}

``min_interocular_px`` (optional) is the smallest face the model meets its error rates on,
in pixels between the eye centres, measured by the rule of docs/MEASURE.md ("Minimum face
size"; ``eval degrade`` measures dlib's ResNet only, for now); without it (the default) no
face is refused as too small: the limit is unknown until measured.

The templates' model name (:attr:`ArcFaceOnnxEmbedder.spec` ``.name``) is
``arcface-<name>-<first 12 hex of the ONNX file's sha256>``, so templates of two different
files are never compared, even under the same ``name``.

Keypoints: a face detected by YuNet carries its 5 keypoints. A face without them (dlib's
HOG or CNN detector, LFW's fixed centre box) gets them from dlib's 68-point shape predictor
(``shape_predictor_68_face_landmarks.dat`` in ``face_recognition_models``, loaded on first
need): eye centres = mean of each eye's 6 points, nose tip = point 30, mouth corners =
points 48 and 54. YuNet's keypoints are the better choice (``--detector yunet``), and the
68-point model is trained on iBUG 300-W, whose licence excludes commercial use: loading it
logs a warning saying so.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from ..align import arcface_crop, arcface_template
from ..errors import InvalidArgument, ModelError
from ..faces import Face, Layout, Metric, ModelSpec
from ..geometry import rotate_image, unrotate_box, unrotate_points
from ..hashing import sha256_file
from ._ort import check_threads, make_session

__all__ = ["ArcFaceSpec", "ArcFaceOnnxEmbedder", "template_model_name", "Keypointer", "sidecar_path", "keypoints_from_68"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ArcFaceSpec(ModelSpec):
    """A :class:`~countenance.faces.ModelSpec` for an ArcFace-style ONNX model, with its defaults.

    The input tensor is ``(crop - mean) / std`` per channel, float32, where ``crop`` is the
    ``(input_size, input_size, 3)`` face aligned on the ArcFace template (``alignment_template``,
    scaled to ``input_size``) in ``colour_order`` with pixel values 0..255, laid out as
    ``layout``. Templates are L2-normalised and compared by cosine distance; ``thresholds`` are
    cosine distances (1 - cosine similarity, 0..2) at which two faces are called the same
    person and must hold ``"default"``. ``extra`` keeps any other facts about the model.
    Bad values raise :class:`~countenance.errors.InvalidArgument`.
    """

    metric: Metric = Metric.COSINE
    input_size: int = 112
    alignment: str = ""
    licence: str = "unknown"
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    std: tuple[float, float, float] = (127.5, 127.5, 127.5)
    layout: Layout = "NCHW"
    l2_normalised: bool = True
    alignment_template: tuple[tuple[float, float], ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    __hash__ = ModelSpec.__hash__

    def __post_init__(self) -> None:
        if self.metric != Metric.COSINE:
            raise InvalidArgument(f"metric must be 'cosine' (templates are L2-normalised), got {self.metric!r}")
        if self.l2_normalised is not True:
            raise InvalidArgument("l2_normalised must be True: the embedder L2-normalises every template")
        super().__post_init__()
        for key, value in self.thresholds.items():
            if value > 2.0:
                raise InvalidArgument(f"threshold {key!r} must be a cosine distance in 0..2, got {value!r}")
        if not self.alignment:
            object.__setattr__(self, "alignment", f"arcface-5point-{self.input_size}")
        if self.alignment_template is None:
            template = arcface_template(self.input_size)
            object.__setattr__(self, "alignment_template", tuple((float(x), float(y)) for x, y in template))
        if not isinstance(self.extra, Mapping):
            raise InvalidArgument(f"extra must be a mapping, got {type(self.extra).__name__}")
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> ArcFaceSpec:
        """The spec in ``data`` (the sidecar JSON's keys); InvalidArgument naming ``source`` on bad or unknown keys."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"{source}: expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - _SIDECAR_KEYS)
        if unknown:
            raise InvalidArgument(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_SIDECAR_KEYS))}")
        missing = sorted({"name", "embedding_size", "thresholds"} - set(data))
        if missing:
            raise InvalidArgument(f"{source}: missing key(s) {', '.join(missing)}")
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as error:
            raise InvalidArgument(f"{source}: {error}") from None

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> ArcFaceSpec:
        """The spec in the JSON file ``path``; :class:`~countenance.errors.ModelError` naming the file if it is bad."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{path}: no such spec file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelError(f"{path}: not a readable JSON spec ({error})") from None
        try:
            return cls.from_dict(data, str(path))
        except ValueError as error:
            raise ModelError(str(error)) from None


# What a sidecar may say (the rest of a ModelSpec follows from them).
_SIDECAR_KEYS = frozenset(
    {"name", "embedding_size", "thresholds", "input_size", "mean", "std", "colour_order", "layout", "metric", "licence", "extra",
     "min_interocular_px"}
)


class Keypointer(Protocol):
    """Places the 5 ArcFace-order keypoints of a face that has none (e.g. found by dlib's HOG)."""

    def keypoints(self, image: np.ndarray, face: Face) -> np.ndarray:
        """``(5, 2) float32`` (x, y) pixels of ``face`` in ``image`` ((H, W, 3) uint8 RGB)."""
        ...


def sidecar_path(model_path: str | os.PathLike[str]) -> Path | None:
    """The spec file next to ``model_path``: ``<stem>.json``, else ``<file name>.json``; None if neither exists."""
    model = Path(model_path)
    for candidate in (model.with_suffix(".json"), model.with_name(model.name + ".json")):
        if candidate.is_file():
            return candidate
    return None


def template_model_name(model_path: str | os.PathLike[str]) -> str:
    """The ``spec.name`` an :class:`ArcFaceOnnxEmbedder` of ``model_path`` gives its templates
    (``arcface-<name>-<sha256[:12]>``), read from the sidecar and the file, without loading the model."""
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    found = sidecar_path(path)
    if found is None:
        raise ModelError(f"{path}: no spec for this model; write {path.with_suffix('.json')}")
    return f"arcface-{ArcFaceSpec.from_json(found).name}-{sha256_file(path)[:12]}"


class ArcFaceOnnxEmbedder:
    """An ArcFace-style recogniser in ONNX Runtime: ``(N, D) float32`` L2-normalised templates, cosine metric.

    Parameters
    ----------
    model_path:
        the ONNX file: one input (an aligned face batch), the first output is the embedding.
    spec:
        how to feed it; default: the sidecar next to the model (:func:`sidecar_path`).
        :class:`~countenance.errors.ModelError` if there is none, or if the model's declared
        input/output shapes contradict it.
    threads:
        ONNX Runtime intra-op threads.
    batch_size:
        most crops per call (models exported with a fixed batch of 1 run one crop at a time).
    keypointer:
        places the 5 keypoints of faces that come without them (dlib's HOG/CNN detectors);
        default: dlib's 68-point predictor, loaded on first need (see the module doc).

    ``spec`` is the model's :class:`ArcFaceSpec` named ``arcface-<name>-<sha256[:12]>``;
    ``arcface_spec`` the spec as given or read.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        spec: ArcFaceSpec | None = None,
        *,
        threads: int = 1,
        batch_size: int = 32,
        keypointer: Keypointer | None = None,
    ) -> None:
        check_threads(threads)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be an int >= 1, got {batch_size!r}")
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        if spec is None:
            found = sidecar_path(path)
            if found is None:
                raise ModelError(
                    f"{path}: no spec for this model; write {path.with_suffix('.json')} "
                    '(keys: name, embedding_size, thresholds {"default": cosine distance}, input_size, '
                    "mean, std, colour_order RGB|BGR, layout NCHW|NHWC) or pass an ArcFaceSpec"
                )
            spec = ArcFaceSpec.from_json(found)
        self.model_path = path
        self.arcface_spec = spec
        self.threads = threads
        self.sha256 = sha256_file(path)
        try:
            self._session = make_session(path, threads)
        except Exception as error:  # onnxruntime raises its own exception types on a bad file
            raise ModelError(f"{path}: ONNX Runtime cannot load it ({error})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path}: expected one input, the model has {len(inputs)}")
        self._input = inputs[0].name
        self._output = self._session.get_outputs()[0].name
        self._check_shapes(inputs[0].shape, self._session.get_outputs()[0].shape)
        batch = inputs[0].shape[0]
        self.batch_size = 1 if batch == 1 else batch_size
        self.spec: ArcFaceSpec = replace(spec, name=f"arcface-{spec.name}-{self.sha256[:12]}")
        self._keypointer = keypointer

    def _check_shapes(self, input_shape: list[Any], output_shape: list[Any]) -> None:
        spec = self.arcface_spec
        size = spec.input_size
        want = [3, size, size] if spec.layout == "NCHW" else [size, size, 3]
        if len(input_shape) != 4 or any(isinstance(d, int) and d != w for d, w in zip(input_shape[1:], want)):
            raise ModelError(
                f"{self.model_path}: input shape {input_shape} does not fit the spec "
                f"({spec.layout}, {size}x{size}, 3 channels)"
            )
        last = output_shape[-1] if output_shape else None
        if isinstance(last, int) and last != spec.embedding_size:
            raise ModelError(f"{self.model_path}: output size {last} but the spec says {spec.embedding_size}")

    def keypoints(self, image: np.ndarray, face: Face) -> np.ndarray:
        """``face.keypoints``, or when it has none, the 5 points derived from dlib's 68 landmarks."""
        if face.keypoints is not None:
            return np.asarray(face.keypoints, dtype=np.float32)
        if self._keypointer is None:
            self._keypointer = _Dlib68Keypoints()
        return self._keypointer.keypoints(image, face)

    def crops(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Aligned crops of ``faces``: ``(N, size, size, 3) uint8`` RGB."""
        size = self.arcface_spec.input_size
        if not faces:
            return np.zeros((0, size, size, 3), dtype=np.uint8)
        return np.stack([arcface_crop(image, self.keypoints(image, face), size) for face in faces])

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Templates of ``faces``: ``(N, embedding_size) float32``, L2-normalised, in order."""
        spec = self.arcface_spec
        crops = self.crops(image, faces)
        if len(crops) == 0:
            return np.zeros((0, spec.embedding_size), dtype=np.float32)
        x = crops.astype(np.float32)
        if spec.colour_order == "BGR":
            x = x[..., ::-1]
        x = (x - np.array(spec.mean, np.float32)) / np.array(spec.std, np.float32)
        if spec.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        x = np.ascontiguousarray(x)
        out = []
        for start in range(0, len(x), self.batch_size):
            result = self._session.run([self._output], {self._input: x[start : start + self.batch_size]})[0]
            out.append(np.asarray(result, dtype=np.float32).reshape(len(x[start : start + self.batch_size]), -1))
        vectors = np.concatenate(out)
        if vectors.shape[1] != spec.embedding_size:
            raise ModelError(f"{self.model_path}: gave {vectors.shape[1]}-d vectors, the spec says {spec.embedding_size}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


# dlib 68-point indices (iBUG 300-W): right eye (image left) 36-41, left eye 42-47, nose tip
# 30, mouth corners 48 (image left) and 54.
_RIGHT_EYE = slice(36, 42)
_LEFT_EYE = slice(42, 48)
_NOSE_TIP = 30
_MOUTH_RIGHT, _MOUTH_LEFT = 48, 54


def keypoints_from_68(points: np.ndarray) -> np.ndarray:
    """ArcFace-order 5 keypoints ``(5, 2) float32`` from dlib's 68 landmarks ``(68, 2)``."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (68, 2):
        raise InvalidArgument(f"expected (68, 2) landmarks, got {points.shape}")
    return np.array(
        [
            points[_RIGHT_EYE].mean(axis=0),
            points[_LEFT_EYE].mean(axis=0),
            points[_NOSE_TIP],
            points[_MOUTH_RIGHT],
            points[_MOUTH_LEFT],
        ],
        dtype=np.float32,
    )


class _Dlib68Keypoints:
    """dlib's 68-point predictor on a face's box, reduced to the 5 ArcFace keypoints."""

    def __init__(self) -> None:
        import dlib

        from .dlib_backend import dlib_model_path

        _log.warning(
            "aligning faces without keypoints on dlib's 68-point landmarks: that model's training "
            "data (iBUG 300-W) excludes commercial use; a detector with keypoints (yunet) avoids it"
        )
        self._predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))

    def keypoints(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The 5 keypoints of ``face`` in ``image``'s pixels (upright or turned: ``face.rotation``)."""
        from .dlib_backend import _box_to_rect

        box, original_shape = face.box, image.shape
        if face.rotation:
            # The predictor wants an upright face: work in the image turned as the detector did.
            image = rotate_image(image, face.rotation)
            box = unrotate_box(box, (360 - face.rotation) % 360, image.shape)
        shape = self._predictor(np.ascontiguousarray(image), _box_to_rect(box))
        points = keypoints_from_68(np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64))
        if face.rotation:
            points = unrotate_points(points, face.rotation, original_shape)
        return points.astype(np.float32)
