"""YuNet (OpenCV zoo, ``face_detection_yunet_2023mar.onnx``) run by ONNX Runtime.

YuNet gives a box, a score and 5 keypoints per face (right eye, left eye, nose tip, right
and left mouth corner: the ArcFace order, "right" being the eye in the image's left half),
at ~12 ms for a 640 px image on one core, against ~100 ms for dlib's HOG at its default
(one 2x) upsampling.

The model file declares a fixed 1x3x640x640 input, but its graph has no size baked in
(reshapes are ``(1, -1, k)``, upsampling is by scale), so the input and output sizes are
declared dynamic when the session is built and any size that is a multiple of 32 runs. The
output decoding is OpenCV's (``FaceDetectorYN``, ``modules/objdetect/src/face_detect.cpp``):
equal to ``cv2.FaceDetectorYN`` within 1e-4 px.

Working sizes. YuNet finds faces from ~10 px to ~400 px at the size it is run at, so a
large photo is run twice: shrunk to ``input_long_side`` (640 px: big faces, close-ups) and
to ``detail_long_side`` (1280 px: small faces in group photos), and the two sets of faces
are merged by non-maximum suppression. Images no larger than ``input_long_side`` run once
at their own size. On the 1600 px crowd fixture ``crowd/17.jpg`` a single 640 px pass finds
49 faces, the two passes 208; the full size of a 2280 px photo misses both (too big) faces of
``couple.jpg``; the two passes find every face of every group fixture.

The cost is bounded by the faces, not the megapixels: the photo is shrunk once, to the detail
size, and the 640 px copy is made from that one; the 640 px pass runs first, and the detail
pass runs only where faces may be small: when the first pass found no face, or a face whose
shorter side is under ``detail_below_px`` (40) at 640 px. A portrait or a close-up group
costs one 640 px pass whatever its size in megapixels.

dlib's 5-point shape predictor was trained on HOG boxes, which sit lower and are squarer
than YuNet's; :meth:`YuNetDetector.detect` gives each face a ``landmark_box``: a HOG-like box
placed from YuNet's keypoints by a fixed relation fitted on LFW (see
:func:`hog_like_box`), so dlib's landmarks (and so its face chips) come out as they do from
a HOG box.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgument, ModelError
from ..faces import Box, Detection
from ._onnx_detect import box_in_face_frame, check_detector_options, load_onnx_model, model_file, nms
from ._ort import make_session

__all__ = ["YuNetDetector", "hog_like_box", "YUNET_MODEL_NAME"]

#: Registry name of the model (``countenance models pull yunet``).
YUNET_MODEL_NAME = "yunet"

_STRIDES = (8, 16, 32)
_ALIGN = 32  # the input must be a multiple of the largest stride
_MAX_PIXELS = 16_000_000  # working-size cap for upsampled passes

# A dlib HOG box from YuNet's keypoints. The face's frame: origin at the midpoint between
# the eye midpoint and the mouth midpoint, unit length ``size`` = the eye-midpoint to
# mouth-midpoint distance, x axis across the face (right eye to left eye), y axis down it
# (eyes to mouth). HOG box centre = origin + size * (_HOG_CENTRE_X, _HOG_CENTRE_Y) in that
# frame; width and height = size * _HOG_WIDTH, _HOG_HEIGHT. Medians over 1,508 LFW faces
# found by both detectors (HOG at upsample 1); on 353 other faces (300 LFW, 53 fixture faces)
# the dlib templates from landmarks on this box differ from those on the real HOG box by a
# Euclidean distance of median 0.040, 99th percentile 0.17 (dlib's threshold is 0.6); on
# YuNet's own box by 0.075 and 0.22.
_HOG_CENTRE_X = -0.097
_HOG_CENTRE_Y = -0.022
_HOG_WIDTH = 2.433
_HOG_HEIGHT = 2.416


def hog_like_box(keypoints: np.ndarray) -> Box:
    """The box dlib's HOG detector would most likely give the face with these YuNet keypoints.

    ``keypoints`` is ``(5, 2)`` (x, y) in the ArcFace order. The box is axis-aligned and nearly
    square, like HOG's; it may extend past the image edges.
    """
    points = np.asarray(keypoints, dtype=np.float64)
    if points.shape != (5, 2):
        raise InvalidArgument(f"keypoints must have shape (5, 2), got {points.shape}")
    eyes = (points[0] + points[1]) / 2.0
    mouth = (points[3] + points[4]) / 2.0
    return box_in_face_frame(eyes, mouth, (_HOG_CENTRE_X, _HOG_CENTRE_Y, _HOG_WIDTH, _HOG_HEIGHT))


class YuNetDetector:
    """YuNet face detector: boxes, scores in 0..1 and ArcFace-order keypoints.

    Parameters
    ----------
    model_path:
        the ONNX file; default: the installed registry model ``yunet``
        (:class:`~countenance.errors.ModelNotInstalled` names ``countenance models pull yunet``).
    input_long_side:
        longer side, in pixels, of the first working copy (smaller images run at their size).
    detail_long_side:
        longer side of the second working copy, for images at least 1.5x larger than
        ``input_long_side``; None runs one pass only.
    score_threshold:
        minimum face score. Real faces score ~0.8 to 0.95; OpenCV's default 0.9 misses 15 of
        901 LFW central faces and every face of a 67-person school photo (``crowd/8.jpg``),
        which 0.8 finds, with the same counts on the fixture group photos. (Faces found
        turned upside down score below :attr:`confident_score`; :class:`FaceDetector` then
        checks the other orientations.)
    nms_threshold:
        boxes overlapping a better one by more than this IoU are dropped.
    detail_below_px:
        the detail pass runs only when the first pass finds no face or a face whose shorter
        side, at the first pass's size, is below this many pixels; None: always.
    threads:
        ONNX Runtime intra-op threads.
    """

    name = "yunet"
    #: Upright real faces score ~0.9 to 0.95; upside-down or sideways faces are sometimes
    #: found as upright ones scoring 0.8 to 0.9. Below this, FaceDetector tries rotations.
    confident_score = 0.9

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        input_long_side: int = 640,
        detail_long_side: int | None = 1280,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.3,
        detail_below_px: float | None = 40.0,
        threads: int = 1,
    ) -> None:
        if not isinstance(input_long_side, int) or input_long_side < _ALIGN:
            raise InvalidArgument(f"input_long_side must be an int >= {_ALIGN}, got {input_long_side!r}")
        if detail_long_side is not None and (not isinstance(detail_long_side, int) or detail_long_side < input_long_side):
            raise InvalidArgument(f"detail_long_side must be None or an int >= input_long_side, got {detail_long_side!r}")
        check_detector_options(score_threshold, nms_threshold, threads)
        if detail_below_px is not None and (isinstance(detail_below_px, bool) or not isinstance(detail_below_px, (int, float))
                                            or not detail_below_px > 0):
            raise InvalidArgument(f"detail_below_px must be None or a number > 0, got {detail_below_px!r}")
        self.detail_below_px = None if detail_below_px is None else float(detail_below_px)
        self.model_path = model_file(model_path, YUNET_MODEL_NAME)
        self.input_long_side = input_long_side
        self.detail_long_side = detail_long_side
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.threads = threads
        self._session = make_session(_cached_dynamic_model(self.model_path), threads)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [f"{kind}_{stride}" for stride in _STRIDES for kind in ("cls", "obj", "bbox", "kps")]

    def auto_upsample_levels(self, height: int, width: int) -> list[int]:
        """No upsampling: the working sizes already cover faces from ~10 px (see the module doc)."""
        return [0]

    def working_scales(self, height: int, width: int, upsample: int = 0) -> list[float]:
        """Scale factors (working size / image size) of the passes run on a ``height`` x ``width`` image."""
        long_side = max(height, width)
        sides = [min(long_side, self.input_long_side)]
        if self.detail_long_side is not None and min(long_side, self.detail_long_side) >= 1.5 * self.input_long_side:
            sides.append(min(long_side, self.detail_long_side))
        scales = []
        for side in sides:
            scale = side / long_side * 2**upsample
            scale = min(scale, (_MAX_PIXELS / (height * width)) ** 0.5)
            scales.append(scale)
        return scales

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[Detection]:
        """Faces in ``image`` ((H, W, 3) uint8 RGB), best score first; ``upsample`` doubles the working sizes n times."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise InvalidArgument(f"image must be (H, W, 3) RGB, got shape {image.shape}")
        height, width = image.shape[:2]
        scales = self.working_scales(height, width, upsample)
        boxes, scores, keypoints = [], [], []
        if len(scales) == 1:
            b, s, k = self._run(*_resized(image, scales[0]))
            boxes.append(b)
            scores.append(s)
            keypoints.append(k)
        else:
            # One resize of the whole photo (to the detail size); the first pass's copy comes from it.
            detail, detail_factor = _resized(image, scales[1])
            coarse, coarse_factor = _resized(detail, scales[0] / scales[1])
            b, s, k = self._run(coarse, coarse_factor * detail_factor)
            boxes.append(b)
            scores.append(s)
            keypoints.append(k)
            if self._needs_detail(b, scales[0]):
                b, s, k = self._run(detail, detail_factor)
                boxes.append(b)
                scores.append(s)
                keypoints.append(k)
        box = np.concatenate(boxes)
        score = np.concatenate(scores)
        kps = np.concatenate(keypoints)
        keep = nms(box, score, self.nms_threshold)
        out = []
        for i in keep:
            left, top, right, bottom = (float(v) for v in box[i])
            points = kps[i].astype(np.float32)
            out.append(Detection(Box(left, top, right, bottom), float(score[i]), points, hog_like_box(points)))
        return out

    def _needs_detail(self, boxes: np.ndarray, scale: float) -> bool:
        """Whether the first pass (``boxes`` in image pixels, found at ``scale``) leaves room for small faces."""
        if self.detail_below_px is None or len(boxes) == 0:
            return True
        shorter = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * scale
        return bool(shorter.min() < self.detail_below_px)

    def _run(self, image: np.ndarray, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One pass on ``image``, already resized by ``factor`` ((x, y): its size / the photo's):
        boxes ``(N, 4)`` xyxy, scores ``(N,)``, keypoints ``(N, 5, 2)``, in the photo's pixels."""
        h, w = image.shape[:2]
        padded_h, padded_w = -(-h // _ALIGN) * _ALIGN, -(-w // _ALIGN) * _ALIGN
        # YuNet takes BGR pixel values 0..255, NCHW, unnormalised; pad right/bottom with 0.
        blob = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)
        blob[0, :, :h, :w] = image[:, :, ::-1].transpose(2, 0, 1)
        outputs = dict(zip(self._outputs, self._session.run(self._outputs, {self._input: blob})))
        boxes, scores, keypoints = [], [], []
        for stride in _STRIDES:
            cols = padded_w // stride
            cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0.0, 1.0)
            obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0.0, 1.0)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.score_threshold)
            if keep.size == 0:
                continue
            col = (keep % cols).astype(np.float32)
            row = (keep // cols).astype(np.float32)
            bbox = outputs[f"bbox_{stride}"][0, keep]
            cx, cy = (col + bbox[:, 0]) * stride, (row + bbox[:, 1]) * stride
            bw, bh = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1))
            kps = outputs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2)
            kps = (kps + np.stack([col, row], axis=1)[:, None, :]) * stride
            keypoints.append(kps)
            scores.append(score[keep])
        if not scores:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        box = np.concatenate(boxes).astype(np.float64) / np.tile(factor, 2)
        kps = np.concatenate(keypoints).astype(np.float64) / factor
        return box, np.concatenate(scores).astype(np.float64), kps


def _resized(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` scaled by ``scale`` (area averaging when shrinking) and the exact factor
    ``(new width / width, new height / height)`` after rounding to whole pixels."""
    import cv2

    height, width = image.shape[:2]
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    if (w, h) != (width, height):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (w, h), interpolation=interpolation)
    return image, np.array([w / width, h / height])


# Bump when _dynamic_model_bytes changes what it writes.
_DYNAMIC_VERSION = 1


def _cached_dynamic_model(path: Path) -> bytes:
    """:func:`_dynamic_model_bytes` of ``path``, cached in :func:`countenance.paths.cache_dir`
    (``yunet-dynamic-c<version>-<16 hex of the model's sha256>.onnx`` and a ``.sha256`` sidecar),
    so that a process starting (each indexing worker, each server) does not import ``onnx``:
    about a second of a worker's start. A cached file that does not match its sidecar is made
    again; a cache that cannot be written is skipped."""
    from .. import paths
    from ..hashing import sha256_bytes, sha256_file

    try:
        key = sha256_file(path)[:16]
    except OSError:
        return _dynamic_model_bytes(path)  # raises the loader's ModelError for this path
    folder = paths.cache_dir()
    target = folder / f"yunet-dynamic-c{_DYNAMIC_VERSION}-{key}.onnx"
    sidecar = target.with_name(target.name + ".sha256")
    try:
        data = target.read_bytes()
        if sha256_bytes(data) == sidecar.read_text(encoding="ascii").strip():
            return data
    except (OSError, UnicodeDecodeError):
        pass
    data = _dynamic_model_bytes(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for file, content in ((target, data), (sidecar, f"{sha256_bytes(data)}\n".encode("ascii"))):
            tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
            tmp.write_bytes(content)
            os.replace(tmp, file)
    except OSError:
        pass
    return data


def _dynamic_model_bytes(path: Path) -> bytes:
    """The YuNet graph with its input height/width and its outputs' anchor count made dynamic."""
    model = load_onnx_model(path)
    graph = model.graph
    names = {output.name for output in graph.output}
    expected = {f"{kind}_{stride}" for stride in _STRIDES for kind in ("cls", "obj", "bbox", "kps")}
    dims = graph.input[0].type.tensor_type.shape.dim if len(graph.input) == 1 else []
    if names != expected or len(dims) != 4 or dims[1].dim_value != 3:
        raise ModelError(f"{path}: not a YuNet model (one 3-channel NCHW input and outputs {sorted(expected)})")
    dims[0].dim_value = 1
    dims[2].dim_param = "height"
    dims[3].dim_param = "width"
    for output in graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    del graph.value_info[:]  # intermediate shapes recorded for 640x640
    return model.SerializeToString()
