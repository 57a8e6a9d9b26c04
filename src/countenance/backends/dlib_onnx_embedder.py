"""dlib's 128-d face-recognition ResNet run by ONNX Runtime (embedder name ``dlib-onnx``).

The same network as :class:`~countenance.backends.dlib_backend.DlibResNetEmbedder`, same
weights, same face chips (dlib's own ``get_face_chips``, 150 px, padding 0.25), so its
float32 templates equal dlib's within ~1e-6 (cosine >= 0.99999) at ~5 ms per face on one core
instead of ~100 ms (bfloat16 where the CPU has it natively: ~2.8 ms, templates ~0.005 apart;
see :mod:`~countenance.backends.precision`). Its :class:`~countenance.faces.ModelSpec` is therefore *the same object*
as dlib's (``dlib-resnet-v1``): templates made by ``dlib`` and ``dlib-onnx`` are
interchangeable: a gallery enrolled with one can be searched with the other.

The ONNX file is converted from the ``.dat`` in ``face_recognition_models`` on first use
(about a second) and cached in :func:`countenance.paths.cache_dir` (see
:func:`~countenance.backends.dlib_resnet_onnx.ensure_dlib_resnet_onnx`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import InvalidArgument
from ..faces import Face, ModelSpec
from ._ort import check_threads, make_session
from ._openvino import OpenVinoSession
from .precision import AUTO, BF16, resolve_precision
from .dlib_backend import DLIB_RESNET_SPEC, full_object_detection
from .dlib_dat import CHIP_SIZE
from .dlib_resnet_onnx import INPUT_NAME, OUTPUT_NAME, ensure_dlib_resnet_onnx

__all__ = ["DlibOnnxEmbedder", "jitter_transforms", "jittered_chips"]

# dlib's compute_face_descriptor pads the chip by 0.25 of the face size on each side.
_CHIP_PADDING = 0.25


class DlibOnnxEmbedder:
    """dlib's ResNet in ONNX Runtime: ``(N, 128) float32`` raw descriptors, Euclidean metric.

    Parameters
    ----------
    model_path:
        a converted ONNX file; default: convert (once) into ``cache_dir``.
    cache_dir:
        where the conversion is cached; default :func:`countenance.paths.cache_dir`.
    threads:
        ONNX Runtime intra-op threads.
    batch_size:
        most chips per inference call (an image's faces are embedded in batches of this size).
    num_jitters:
        0: embed each chip once. N > 0: embed N perturbed copies of each chip and average them,
        as dlib's ``compute_face_descriptor(..., num_jitters)`` does (dlib reports LFW 99.13%
        without, 99.3% with 10, 99.38% with 100), at N times the cost. Unlike dlib's, the
        perturbations are one fixed, seeded set (:func:`jitter_transforms`), so a template
        depends only on the face, not on what was embedded before.
    precision:
        ``auto``, ``f32`` (ONNX Runtime) or ``bf16`` (the convolutions in bfloat16 on OpenVINO,
        the pooled projection in float32; ~1.7x faster on CPUs with native bfloat16): see
        :mod:`countenance.backends.precision`. ``precision`` holds what was chosen.
    """

    spec: ModelSpec = DLIB_RESNET_SPEC

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        threads: int = 1,
        batch_size: int = 32,
        num_jitters: int = 0,
        precision: str = AUTO,
    ) -> None:
        check_threads(threads)
        if not isinstance(num_jitters, int) or num_jitters < 0:
            raise InvalidArgument(f"num_jitters must be an int >= 0, got {num_jitters!r}")
        self.num_jitters = num_jitters
        self._jitters = jitter_transforms(num_jitters)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be an int >= 1, got {batch_size!r}")
        if model_path is None:
            model_path = ensure_dlib_resnet_onnx(Path(cache_dir) if cache_dir is not None else paths.cache_dir())
        self.model_path = Path(model_path)
        self.threads = threads
        self.batch_size = batch_size
        self.precision = resolve_precision(precision)
        if self.precision == BF16:
            # The body (29 convolutions: the cost) in bfloat16; the head in float32, where
            # bfloat16's 8-bit mantissa on the 256 -> 128 projection alone doubled the error.
            self._session = OpenVinoSession(self.model_path, threads, BF16, float32_head=True)
        else:
            self._session = make_session(self.model_path, threads)

    def chips(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """dlib face chips of ``faces`` (from their dlib 5-point ``landmarks``): ``(N, 150, 150, 3) uint8`` RGB."""
        import dlib

        if not faces:
            return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
        shapes = dlib.full_object_detections()
        for face in faces:
            if face.landmarks is None:
                raise InvalidArgument("a face has no landmarks; detect faces with FaceDetector first")
            shapes.append(full_object_detection(face.box, face.landmarks))
        return np.stack(dlib.get_face_chips(np.ascontiguousarray(image), shapes, size=CHIP_SIZE, padding=_CHIP_PADDING))

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Templates of ``faces``: ``(N, 128) float32`` raw (not L2-normalised) descriptors, in order."""
        chips = self.chips(image, faces)
        if len(chips) == 0:
            return np.zeros((0, self.spec.embedding_size), dtype=np.float32)
        if self.num_jitters:
            return np.stack([self.embed_chips(jittered_chips(chip, self._jitters)).mean(axis=0) for chip in chips])
        return self.embed_chips(chips)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors of ready-made dlib chips ``(N, 150, 150, 3)`` uint8 RGB: ``(N, 128) float32``, no jitter."""
        out = []
        for start in range(0, len(chips), self.batch_size):
            batch = chips[start : start + self.batch_size].astype(np.float32)
            out.append(self._session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0])
        return np.concatenate(out).astype(np.float32, copy=False)


# dlib's jitter_image: up to 3 degrees of rotation, the face's box scaled by 0.97..1.0,
# moved by up to 2% of its size, and mirrored half of the time.
_JITTER_SEED = 20170212  # any fixed number: it makes templates reproducible
_MAX_ROTATION_DEGREES = 3.0
_MIN_SCALE, _MAX_SCALE = 0.97, 0.99999
_MAX_SHIFT = 0.02


def jitter_transforms(count: int) -> np.ndarray:
    """``(count, 2, 3) float32`` affine maps from jittered-chip to chip pixels, always the same."""
    rng = np.random.default_rng(_JITTER_SEED)
    size = float(CHIP_SIZE)
    centre = (size - 1) / 2.0
    inner = size - 6.0  # dlib works on the chip shrunk by 3 px on each side
    maps = np.zeros((count, 2, 3), dtype=np.float32)
    for i in range(count):
        shift = rng.uniform(-_MAX_SHIFT, _MAX_SHIFT, size=2) * inner
        box = inner / rng.uniform(_MIN_SCALE, _MAX_SCALE)
        angle = np.radians(rng.uniform(-_MAX_ROTATION_DEGREES, _MAX_ROTATION_DEGREES))
        flip = rng.random() > 0.5
        k = box / size
        cos, sin = k * np.cos(angle), k * np.sin(angle)
        linear = np.array([[cos, -sin], [sin, cos]])
        if flip:  # mirror the output horizontally before the rest
            linear = linear @ np.array([[-1.0, 0.0], [0.0, 1.0]])
        offset = np.array([centre, centre]) + shift - linear @ np.array([centre, centre])
        maps[i, :, :2] = linear
        maps[i, :, 2] = offset
    return maps


def jittered_chips(chip: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """``chip`` (150, 150, 3) resampled through each transform: ``(N, 150, 150, 3) uint8``."""
    import cv2

    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return np.stack([
        cv2.warpAffine(chip, m, (CHIP_SIZE, CHIP_SIZE), flags=flags, borderMode=cv2.BORDER_CONSTANT)
        for m in transforms
    ])
