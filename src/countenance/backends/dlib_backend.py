"""The embedded default backend: dlib's models shipped by the ``face_recognition_models`` wheel.

- ``DlibHogDetector``: HOG + linear SVM frontal detector (fast, finds faces >= ~80 px
  at upsample 0, >= ~40 px at upsample 1).
- ``DlibCnnDetector``: the MMOD CNN detector (slower, ~2 s per 640 px image here, finds
  profile and small faces HOG misses).
- ``DlibLandmarker``: the 5-point shape predictor (eye corners and nose base) that dlib's
  face chip alignment is defined on.
- ``DlibResNetEmbedder``: the 128-d ResNet (LFW 99.38% published), Euclidean metric.

Models load in constructors; nothing happens at import. A dlib detector object must not be
shared by two threads (the HOG one releases the GIL and crashes): one pipeline per thread.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import InvalidArgument
from ..faces import Box, Detection, Face, Metric, ModelSpec

__all__ = [
    "dlib_model_path",
    "DlibHogDetector",
    "DlibCnnDetector",
    "DlibLandmarker",
    "DlibResNetEmbedder",
    "DLIB_RESNET_SPEC",
]

DLIB_RESNET_SPEC = ModelSpec(
    name="dlib-resnet-v1",
    embedding_size=128,
    metric=Metric.EUCLIDEAN,
    # 0.6 is dlib's trained margin and face_recognition's default tolerance.
    thresholds={"default": 0.6, "dlib": 0.6},
    input_size=150,
    alignment="dlib-chip-150-padding-0.25",
    licence="public domain (dlib model) / CC0",
    # The network's input layer (read from the .dat): (pixel - mean) / 256, RGB, 0..255.
    mean=(122.782, 117.001, 104.298),
    std=(256.0, 256.0, 256.0),
    colour_order="RGB",
    layout="NHWC",
    l2_normalised=False,  # raw descriptors, norms ~0.8..2
    alignment_template=None,  # dlib.get_face_chip's own 5-point template
    # Re-encoding one photo (32-bit PNG, another JPEG size) moves its dlib template by
    # 0.04-0.06 (fixtures: probes/32bit.png 0.038, obama-720p.jpg 0.058 from people/obama):
    # two subjects closer together than that to a probe are not told apart.
    tie_margin=0.04,
    # Measured (docs/MEASURE.md, `countenance eval degrade`): LFW folds 0-1, YuNet + this network,
    # probe side downscaled to 32/24/20/16/12 px between the eyes. At the clean threshold for
    # FMR 1e-3 (0.5417) FNMR was 0.105 clean, 0.122 at 20 px and 0.135 at 16 px, over the
    # limit of clean + 0.02 = 0.125; FMR stayed <= 2e-3. Below 20 px: "too small to identify".
    min_interocular_px=20.0,
)

def dlib_model_path(filename: str) -> Path:
    """Path of one of the .dat files in the installed ``face_recognition_models`` package.

    Found without importing the package: its ``__init__`` imports ``pkg_resources``,
    which new setuptools releases no longer ship.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "face_recognition_models is not installed: pip install face_recognition_models"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the face_recognition_models package")
    return path


def _rect_to_box(rect) -> Box:
    return Box(float(rect.left()), float(rect.top()), float(rect.right() + 1), float(rect.bottom() + 1))


def _box_to_rect(box: Box):
    import dlib

    return dlib.rectangle(
        int(round(box.left)), int(round(box.top)), int(round(box.right)) - 1, int(round(box.bottom)) - 1
    )


class DlibHogDetector:
    """dlib's HOG frontal face detector: boxes and SVM scores, no keypoints."""

    name = "hog"

    def __init__(self, *, adjust_threshold: float = 0.0) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self.adjust_threshold = adjust_threshold

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[Detection]:
        rects, scores, _ = self._detector.run(image, upsample, self.adjust_threshold)
        return [Detection(_rect_to_box(r), float(s)) for r, s in zip(rects, scores)]


class DlibCnnDetector:
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``)."""

    name = "cnn"

    def __init__(self) -> None:
        import dlib

        self._detector = dlib.cnn_face_detection_model_v1(str(dlib_model_path("mmod_human_face_detector.dat")))

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[Detection]:
        return [Detection(_rect_to_box(d.rect), float(d.confidence)) for d in self._detector(image, upsample)]


class DlibLandmarker:
    """dlib's 5-point shape predictor: ``(5, 2) float32`` integer pixel positions."""

    name = "dlib-5point"

    def __init__(self) -> None:
        import dlib

        self._predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        shape = self._predictor(image, _box_to_rect(box))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def full_object_detection(box: Box, landmarks: np.ndarray):
    """Rebuild dlib's shape object from a box and 5-point landmarks, for chip extraction."""
    import dlib

    points = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
    return dlib.full_object_detection(_box_to_rect(box), points)


class DlibResNetEmbedder:
    """dlib's 128-d face recognition ResNet, run by dlib itself (no BLAS in the PyPI wheel).

    ``num_jitters`` > 0 averages over that many randomly jittered chips (slower, slightly
    more accurate); 0 embeds the chip once.
    """

    spec = DLIB_RESNET_SPEC

    def __init__(self, *, num_jitters: int = 0) -> None:
        import dlib

        if num_jitters < 0:
            raise InvalidArgument(f"num_jitters must be >= 0, got {num_jitters}")
        self.num_jitters = num_jitters
        self._net = dlib.face_recognition_model_v1(str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")))

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Templates of ``faces`` (from their dlib 5-point ``landmarks``): ``(N, 128) float32``."""
        import dlib

        if not faces:
            return np.zeros((0, self.spec.embedding_size), dtype=np.float32)
        shapes = dlib.full_object_detections()
        for face in faces:
            shapes.append(full_object_detection(face.box, face.landmarks))
        # One call for every face of the image: dlib batches them through the network.
        vectors = self._net.compute_face_descriptor(image, shapes, self.num_jitters, 0.25)
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)
