"""MediaPipe BlazeFace, front-camera (short-range) model, run by ONNX Runtime.

The model file (the ONNX export of the MediaPipePyTorch port) takes a 1x3x128x128 RGB input
scaled to -1..1, as the port does (0..1 input finds 11% fewer faces on the fixture photos; BGR
lowers the scores of LFW faces), and gives, for each of 896 anchors, 16 regressions (``preds``) and a logit
(``conf``). The anchors are MediaPipe's SSD anchors for this model (:func:`blazeface_anchors`:
a 16x16 grid of stride 8 with 2 anchors per cell, then an 8x8 grid of stride 16 with 6; fixed
unit size), generated here rather than shipped: they equal the port's ``anchors_face.npy``.
The regressions are in input pixels relative to the anchor centre: box centre x, y, width,
height, then 6 keypoints (x, y): the eye in the image's left half, the other eye, the nose
tip, the mouth centre, and the two ear tragions (image-left first).

It was trained on selfies: at 128 px it finds faces from about 15% to 80% of the letterboxed
image's side (LFW faces pasted at known sizes: most, not all, in that range). Its
convolutions take any square size (the output reshapes are ``(1, -1, k)``) and at a larger
input the same pixel-sized faces are a smaller part of the image, so ``upsample`` n runs it on
a ``128 * 2**n`` px canvas (the anchor grid grows with it): 256 px finds faces of about 7% to
45%, 512 px 4% to 20%. Each level costs about 4x the one before (2, 9 and 40 ms here, more
than YuNet's ~11 ms for a 640x480 image from 256 px on). Crowds of small faces stay out of
reach; faces that fill the whole image (tight crops) too.

Its keypoints have one mouth point, not the two corners of the ArcFace order, so
:class:`~countenance.detection.Detection` gets no ``keypoints`` (an embedder that wants them falls
back to dlib's landmarks). They do place the ``landmark_box``: a HOG-like box for dlib's
5-point predictor, from the eyes and the mouth centre by a fixed relation fitted on LFW (see
:func:`hog_like_box`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgument, ModelError
from ..faces import Box, Detection
from ._onnx_detect import box_in_face_frame, check_detector_options, load_onnx_model, model_file, nms, resized
from ._ort import make_session

__all__ = ["BlazeFaceDetector", "blazeface_anchors", "hog_like_box", "BLAZEFACE_MODEL_NAME"]

#: Registry name of the model (``countenance models pull blazeface``).
BLAZEFACE_MODEL_NAME = "blazeface"

_BASE_SIDE = 128
# (stride, anchors per cell) of the two anchor grids: MediaPipe's 4 anchor layers at strides
# 8, 16, 16, 16, 2 anchors each (aspect ratio 1 and the interpolated scale), layers of one
# stride sharing a grid.
_GRIDS = ((8, 2), (16, 6))
_N_KEYPOINTS = 6
_LOGIT_CLIP = 100.0  # MediaPipe's score_clipping_thresh
_MAX_UPSAMPLE = 3
# BlazeFace also finds some sideways faces; they are left to the rotation that makes them
# upright (FaceDetector tries the others when nothing upright is found), as for YuNet.
_MAX_ROLL_DEGREES = 45.0

# A dlib HOG box from BlazeFace's eyes and mouth centre, in the face's frame as in
# yunet.hog_like_box: origin midway between the eye midpoint and the mouth centre, unit
# length their distance, x across the face, y down it. Medians over 1,991 LFW faces (images
# 2,000 to 3,999 by sorted path) found by both detectors (HOG at upsample 1). On 314 other
# faces (14 fixture people, 300 LFW) the dlib templates from landmarks on this box differ
# from those on the real HOG box by a Euclidean distance of median 0.042, 99th percentile
# 0.13 (dlib's threshold is 0.6); on BlazeFace's own box by 0.044 and 0.15.
_HOG_CENTRE_X = -0.069
_HOG_CENTRE_Y = -0.080
_HOG_WIDTH = 2.219
_HOG_HEIGHT = 2.202


def blazeface_anchors(side: int = _BASE_SIDE) -> np.ndarray:
    """The anchors of a ``side`` x ``side`` input: ``(N, 2)`` float64 centres (x, y) in 0..1.

    In the model's output order: the stride-8 grid, then the stride-16 grid, cells row by row,
    each cell's anchors in turn (896 at 128 px). ``side`` must be a multiple of 16.
    """
    if side <= 0 or side % 16:
        raise InvalidArgument(f"side must be a positive multiple of 16, got {side!r}")
    grids = []
    for stride, per_cell in _GRIDS:
        cells = side // stride
        ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float64)
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        grids.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(grids)


def hog_like_box(keypoints: np.ndarray) -> Box:
    """The box dlib's HOG detector would most likely give the face with these BlazeFace keypoints.

    ``keypoints`` is ``(6, 2)`` (x, y) in BlazeFace's order (see the module doc).
    """
    points = np.asarray(keypoints, dtype=np.float64)
    if points.shape != (_N_KEYPOINTS, 2):
        raise InvalidArgument(f"keypoints must have shape ({_N_KEYPOINTS}, 2), got {points.shape}")
    eyes = (points[0] + points[1]) / 2.0
    mouth = points[3]
    return box_in_face_frame(eyes, mouth, (_HOG_CENTRE_X, _HOG_CENTRE_Y, _HOG_WIDTH, _HOG_HEIGHT))


class BlazeFaceDetector:
    """BlazeFace (front camera) face detector: boxes, scores in 0..1 and a dlib landmark box.

    Parameters
    ----------
    model_path:
        the ONNX file; default: the installed registry model ``blazeface``
        (:class:`~countenance.errors.ModelNotInstalled` names ``countenance models pull blazeface``).
    score_threshold:
        minimum face probability (the PyTorch port's 0.75).
    nms_threshold:
        boxes overlapping a better one by more than this IoU are dropped.
    threads:
        ONNX Runtime intra-op threads.
    """

    name = "blazeface"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        score_threshold: float = 0.75,
        nms_threshold: float = 0.3,
        threads: int = 1,
    ) -> None:
        check_detector_options(score_threshold, nms_threshold, threads)
        self.model_path = model_file(model_path, BLAZEFACE_MODEL_NAME)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.threads = threads
        self._session = make_session(_dynamic_model_bytes(self.model_path), threads)
        self._input = self._session.get_inputs()[0].name
        self._anchors = {side: blazeface_anchors(side) for side in (_BASE_SIDE * 2**n for n in range(_MAX_UPSAMPLE + 1))}

    def auto_upsample_levels(self, height: int, width: int) -> list[int]:
        """128, then 256, then 512 px: close-ups cost one 2 ms pass, group photos take the larger ones."""
        return [0, 1, 2]

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[Detection]:
        """Faces in ``image`` ((H, W, 3) uint8 RGB), best score first; run on a ``128 * 2**upsample`` px square."""
        boxes, scores, keypoints = self.detect_raw(image, upsample)
        return [
            Detection(Box(*(float(v) for v in box)), float(score), None, hog_like_box(points))
            for box, score, points in zip(boxes, scores, keypoints)
        ]

    def detect_raw(self, image: np.ndarray, upsample: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What :meth:`detect` reports, as arrays in image pixels, best score first: boxes ``(N, 4)``
        (left, top, right, bottom), scores ``(N,)`` and BlazeFace's 6 keypoints ``(N, 6, 2)`` (x, y)."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise InvalidArgument(f"image must be (H, W, 3) RGB, got shape {image.shape}")
        if isinstance(upsample, bool) or not isinstance(upsample, int) or not 0 <= upsample <= _MAX_UPSAMPLE:
            raise InvalidArgument(f"upsample must be an int in 0..{_MAX_UPSAMPLE}, got {upsample!r}")
        side = _BASE_SIDE * 2**upsample
        height, width = image.shape[:2]
        scale = side / max(height, width)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        # Letterboxed as MediaPipe does: aspect ratio kept, black below and to the right.
        canvas = np.zeros((side, side, 3), dtype=np.float32)
        canvas[:h, :w] = resized(image, w, h)
        blob = (canvas / 127.5 - 1.0).transpose(2, 0, 1)[None]
        regressions, logits = self._session.run(["preds", "conf"], {self._input: blob})
        logit = np.clip(logits[0, :, 0].astype(np.float64), -_LOGIT_CLIP, _LOGIT_CLIP)
        score = 1.0 / (1.0 + np.exp(-logit))
        keep = np.flatnonzero(score >= self.score_threshold)
        anchors = self._anchors[side][keep]
        values = regressions[0, keep].astype(np.float64) / side
        centres = anchors + values[:, :2]
        sizes = values[:, 2:4]
        # Positions are in 0..1 of the canvas, which is ``side / scale`` image pixels wide.
        to_pixels = side / scale
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1) * to_pixels
        points = (values[:, 4:].reshape(-1, _N_KEYPOINTS, 2) + anchors[:, None, :]) * to_pixels
        upright = np.flatnonzero([_roughly_upright(p) for p in points])
        order = upright[nms(boxes[upright], score[keep][upright], self.nms_threshold)]
        return boxes[order], score[keep][order], points[order]


def _roughly_upright(keypoints: np.ndarray) -> bool:
    """Whether BlazeFace keypoints show a face within 45 degrees of upright (eyes above the mouth)."""
    eyes = (keypoints[0] + keypoints[1]) / 2.0
    down_x, down_y = keypoints[3] - eyes
    return bool(down_y > 0 and abs(np.degrees(np.arctan2(down_x, down_y))) <= _MAX_ROLL_DEGREES)


def _dynamic_model_bytes(path: Path) -> bytes:
    """The BlazeFace graph with its input size and its outputs' anchor count made dynamic."""
    model = load_onnx_model(path)
    graph = model.graph
    names = [output.name for output in graph.output]
    dims = graph.input[0].type.tensor_type.shape.dim if len(graph.input) == 1 else []
    if names != ["preds", "conf"] or len(dims) != 4 or dims[1].dim_value != 3:
        raise ModelError(f"{path}: not a BlazeFace model (one 3-channel NCHW input, outputs preds and conf)")
    dims[2].dim_param = "height"
    dims[3].dim_param = "width"
    for output in graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    del graph.value_info[:]  # intermediate shapes recorded for 128x128
    return model.SerializeToString()
