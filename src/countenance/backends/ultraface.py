"""UltraFace (Linzaer's Ultra-Light-Fast-Generic-Face-Detector-1MB, MIT) run by ONNX Runtime.

The published ONNX files take a fixed 1x3x240x320 (``-320``) or 1x3x480x640 (``RFB-640``)
input, RGB, ``(pixel - 127) / 128`` (as upstream's demo; BGR input finds 3% fewer faces on the
crowd and masked fixtures), and end in the SSD decoding with that size's priors
baked in as constants: ``scores`` is ``(1, N, 2)`` softmax (background, face) and ``boxes``
``(1, N, 4)`` (left, top, right, bottom) in 0..1 of the input. The convolutions themselves
take any size (the head reshapes are ``(batch, -1, k)``), so the graph is cut before the
decoding, its input made dynamic, and the priors are generated here for the size actually
run (:func:`ultraface_priors`, upstream's ``generate_priors``; equal to the baked constants
at 320x240 and 640x480). Each working copy is padded right and bottom to a multiple of 64
(the largest stride) with the mean grey, where those priors sit exactly on the feature cells.

Working size. One pass at ``input_long_side`` (320 px by default, the size the default
``RFB-320`` weights were trained at; smaller images run at their own size), where the priors
cover faces of 10 to 256 px; ``upsample`` doubles it. With ``upsample="auto"``
(:meth:`UltraFaceDetector.auto_upsample_levels`) a 640 px pass runs when 320 px found nothing.
On the fixture group photos 320 px finds every face and no extra ones; 640 px also finds every
face plus two false ones (dark suits, ``two_people.jpg``) but 1.6x the faces of 320 px on the
crowd photos (963 against 598; YuNet: 804), most of them real faces of ~10 px in back rows.

UltraFace gives no keypoints, so it cannot tell a sideways or upside-down face from an
upright one: it finds most of them (35 of the 42 quarter and half turns of the fixture
portraits, most scoring above 0.9) and reports them as upright, where dlib's landmarks are
then wrong; all three turned photos of ``rotated/`` come back as upright faces. :class:`~countenance.detection.FaceDetector`'s rotation
fallback only helps when nothing is found upright; for photos that may be turned, use YuNet
or BlazeFace.

dlib's 5-point shape predictor was trained on HOG boxes, which are squarer than UltraFace's
(forehead to chin), so each face gets a ``landmark_box``: a HOG-like box placed from the
UltraFace box by a fixed relation fitted on LFW (see :func:`hog_like_box`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgument, ModelError
from ..faces import Box, Detection
from ._onnx_detect import check_detector_options, load_onnx_model, model_file, nms, resized
from ._ort import make_session

__all__ = ["UltraFaceDetector", "ultraface_priors", "hog_like_box", "ULTRAFACE_MODEL_NAMES"]

#: Registry names of the UltraFace variants (``countenance models pull NAME``); the first is the default.
ULTRAFACE_MODEL_NAMES = ("ultraface-rfb-320", "ultraface-rfb-640", "ultraface-slim-320")

_STRIDES = (8, 16, 32, 64)
_MIN_BOXES = ((10.0, 16.0, 24.0), (32.0, 48.0), (64.0, 96.0), (128.0, 192.0, 256.0))
_ALIGN = 64
_CENTER_VARIANCE = 0.1
_SIZE_VARIANCE = 0.2
_MEAN, _STD = 127.0, 128.0
_MAX_PIXELS = 16_000_000  # working-size cap for upsampled passes

# A dlib HOG box from an UltraFace box: HOG centre = UltraFace centre + (dx * width, dy *
# height); HOG width and height = (sw * width, sh * height). Medians over 1,991 LFW faces
# (images 2,000 to 3,999 by sorted path) found by both detectors (HOG at upsample 1,
# UltraFace at 320 px). On 314 other faces (14 fixture people, 300 LFW) the dlib templates
# from landmarks on this box differ from those on the real HOG box by a Euclidean distance of
# median 0.048, 99th percentile 0.15 (dlib's threshold is 0.6); on UltraFace's own box by
# 0.089 and 0.26.
_HOG_DX = -0.032
_HOG_DY = -0.008
_HOG_SW = 1.157
_HOG_SH = 0.820


def ultraface_priors(width: int, height: int) -> np.ndarray:
    """The SSD priors of an UltraFace input of ``width`` x ``height`` px: ``(N, 4)`` float64.

    Rows are (centre x, centre y, width, height) in 0..1 of the input, in the order of the
    model's outputs: stride 8, 16, 32, 64; cells row by row; the stride's sizes in turn. As
    upstream, a feature map has ``ceil(side / stride)`` cells, centres sit at ``(i + 0.5) /
    cells`` and everything is clipped to 0..1.
    """
    levels = []
    for stride, sizes in zip(_STRIDES, _MIN_BOXES):
        cols, rows = math.ceil(width / stride), math.ceil(height / stride)
        ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float64)
        centres = np.stack([(xs + 0.5) / cols, (ys + 0.5) / rows], axis=-1).reshape(-1, 1, 2)
        extents = np.array([[size / width, size / height] for size in sizes]).reshape(1, -1, 2)
        priors = np.concatenate(np.broadcast_arrays(centres, extents), axis=-1)
        levels.append(priors.reshape(-1, 4))
    return np.clip(np.concatenate(levels), 0.0, 1.0)


def hog_like_box(box: Box) -> Box:
    """The box dlib's HOG detector would most likely give the face UltraFace boxed as ``box``."""
    cx, cy = box.center
    cx += _HOG_DX * box.width
    cy += _HOG_DY * box.height
    half_w, half_h = _HOG_SW * box.width / 2.0, _HOG_SH * box.height / 2.0
    return Box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)


class UltraFaceDetector:
    """UltraFace face detector: boxes and scores in 0..1, no keypoints.

    Parameters
    ----------
    model_path:
        the ONNX file; default: the installed registry model ``model``
        (:class:`~countenance.errors.ModelNotInstalled` names ``countenance models pull MODEL``).
    model:
        which registered variant to load when ``model_path`` is None (one of
        :data:`ULTRAFACE_MODEL_NAMES`).
    input_long_side:
        longer side, in pixels, of the working copy (smaller images run at their own size).
    score_threshold:
        minimum face probability (upstream's demo uses 0.7).
    nms_threshold:
        boxes overlapping a better one by more than this IoU are dropped.
    threads:
        ONNX Runtime intra-op threads.
    """

    name = "ultraface"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        model: str = ULTRAFACE_MODEL_NAMES[0],
        input_long_side: int = 320,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        threads: int = 1,
    ) -> None:
        if model not in ULTRAFACE_MODEL_NAMES:
            raise InvalidArgument(f"model must be one of {', '.join(ULTRAFACE_MODEL_NAMES)}, got {model!r}")
        if not isinstance(input_long_side, int) or input_long_side < _ALIGN:
            raise InvalidArgument(f"input_long_side must be an int >= {_ALIGN}, got {input_long_side!r}")
        check_detector_options(score_threshold, nms_threshold, threads)
        self.model_path = model_file(model_path, model)
        self.input_long_side = input_long_side
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.threads = threads
        graph, self._locations = _headless_model_bytes(self.model_path)
        self._session = make_session(graph, threads)
        self._input = self._session.get_inputs()[0].name
        self._priors: dict[tuple[int, int], np.ndarray] = {}  # by padded (width, height)

    def auto_upsample_levels(self, height: int, width: int) -> list[int]:
        """``input_long_side``, then twice that when nothing was found (see the module doc)."""
        return [0, 1]

    def working_scale(self, height: int, width: int, upsample: int = 0) -> float:
        """Working size / image size for a ``height`` x ``width`` image."""
        long_side = max(height, width)
        scale = min(long_side, self.input_long_side) / long_side * 2**upsample
        return min(scale, (_MAX_PIXELS / (height * width)) ** 0.5)

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[Detection]:
        """Faces in ``image`` ((H, W, 3) uint8 RGB), best score first; ``upsample`` doubles the working size n times."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise InvalidArgument(f"image must be (H, W, 3) RGB, got shape {image.shape}")
        height, width = image.shape[:2]
        scale = self.working_scale(height, width, upsample)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        padded_h, padded_w = -(-h // _ALIGN) * _ALIGN, -(-w // _ALIGN) * _ALIGN
        blob = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)  # zero = the mean grey
        blob[0, :, :h, :w] = ((resized(image, w, h).astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)
        scores, locations = self._session.run(["scores", self._locations], {self._input: blob})
        face = scores[0, :, 1]
        keep = np.flatnonzero(face >= self.score_threshold)
        if keep.size == 0:
            return []
        if (padded_w, padded_h) not in self._priors:
            self._priors[padded_w, padded_h] = ultraface_priors(padded_w, padded_h)
        priors = self._priors[padded_w, padded_h][keep]
        offsets = locations[0, keep].astype(np.float64)
        centres = priors[:, :2] + offsets[:, :2] * _CENTER_VARIANCE * priors[:, 2:]
        sizes = priors[:, 2:] * np.exp(offsets[:, 2:] * _SIZE_VARIANCE)
        corners = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
        boxes = corners * np.array([padded_w / (w / width), padded_h / (h / height)] * 2)
        out = []
        for i in nms(boxes, face[keep], self.nms_threshold):
            box = Box(*(float(v) for v in boxes[i]))
            out.append(Detection(box, float(face[keep][i]), None, hog_like_box(box)))
        return out


def _headless_model_bytes(path: Path) -> tuple[bytes, str]:
    """The UltraFace graph without its fixed-size box decoding, input size dynamic.

    Returns the serialised graph, whose outputs are ``scores`` (as published: softmax,
    ``(1, N, 2)``) and the raw box regressions ``(1, N, 4)`` (centre offsets in units of
    0.1 prior size, log sizes in units of 0.2), and the regressions' output name. The
    weights are also dropped from the graph's inputs, where the old exporter listed them.
    """
    from onnx import TensorProto, helper

    model = load_onnx_model(path)
    graph = model.graph
    producers = {name: node for node in graph.node for name in node.output}
    softmax = producers.get("scores")
    inputs = [i for i in graph.input if i.name not in {init.name for init in graph.initializer}]
    dims = inputs[0].type.tensor_type.shape.dim if len(inputs) == 1 else []
    not_ultraface = ModelError(f"{path}: not an UltraFace model (one 3-channel NCHW input, outputs scores and boxes)")
    if softmax is None or softmax.op_type != "Softmax" or len(dims) != 4 or dims[1].dim_value != 3:
        raise not_ultraface
    # The raw regressions: the other concatenation of the four heads' reshaped outputs.
    heads = [
        node.output[0]
        for node in graph.node
        if node.op_type == "Concat"
        and node.output[0] != softmax.input[0]
        and len(node.input) == len(_STRIDES)
        and all(name in producers and producers[name].op_type == "Reshape" for name in node.input)
    ]
    if len(heads) != 1:
        raise not_ultraface
    locations = heads[0]
    needed, kept = {"scores", locations}, []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    dims[2].dim_param = "height"
    dims[3].dim_param = "width"
    del graph.input[:]
    graph.input.extend(inputs)  # copies the (now dynamic) input
    del graph.output[:]
    graph.output.extend(
        helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ("scores", locations)
    )
    del graph.value_info[:]  # intermediate shapes recorded for the fixed size
    return model.SerializeToString(), locations
