"""The detector protocol, checked on every detector backend with its real model (no mocks):
hog, cnn (dlib), yunet, ultraface, blazeface (ONNX, files from ../shared/models).

Each backend runs behind :class:`~countenance.detection.FaceDetector`, as users run it: the face
counts of the group photos (fixtures README), no face -> [], the turned photos of rotated/,
and typed errors for bad input. Where a backend is documented not to meet the common
expectation, the test asserts what its documentation says, and says why.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from countenance.backends.blazeface import BlazeFaceDetector
from countenance.backends.ultraface import UltraFaceDetector
from countenance.backends.yunet import YuNetDetector
from countenance.detection import DETECTORS as DETECTOR_REGISTRY
from countenance.detection import FaceDetector
from countenance.errors import InvalidArgument
from countenance.image import load_image

# Every registered detector, read from the registry: a new backend is checked here from the day
# it is registered (and fails until _build knows which model file it runs on).
DETECTORS = tuple(DETECTOR_REGISTRY)

# From ../shared/data/fixtures/README.md.
GROUP_COUNTS = {"t1.jpg": 6, "multiface.jpg": 6, "two_people.jpg": 2, "couple.jpg": 2, "obama_and_biden.jpg": 3}
EXPECTED_COUNTS = {
    **{name: GROUP_COUNTS for name in DETECTORS},
    # BlazeFace is a selfie (front camera) model: with upsample="auto" it stops at 256 px, which
    # finds the two big faces of obama_and_biden.jpg; the small background one only at 512 px
    # (backends/blazeface.py). So 4 of the 5 group photos.
    "blazeface": {**GROUP_COUNTS, "obama_and_biden.jpg": 2},
    # dlib's CNN costs ~25 s per megapixel on this 2-core machine (each group photo ~75 s at
    # upsample "auto"), so it is checked on the two photos whose faces stay large when shrunk.
    "cnn": {"two_people.jpg": 2, "couple.jpg": 2},
}
# Long side the CNN's images are shrunk to (pixels), and its fixed upsampling, for speed.
CNN_LONG_SIDE = {"groups": 560, "rotated": 256, "noface": 141}

# The clockwise turn that makes each rotated fixture upright.
ROTATIONS = {"rot_0.jpg": 0, "rot_90.jpg": 270, "rot_180.jpg": 180, "rot_270.jpg": 90}
# Detectors without keypoints cannot tell a turned face from an upright one when they find it
# as it is: UltraFace finds all three turned fixtures as upright faces (backends/ultraface.py);
# dlib's CNN (MMOD) also finds turned faces. Their rotation is not checked; the count is.
TURNS_PHOTOS_UPRIGHT = {"hog", "yunet", "blazeface"}


# How each registered detector is built on ../shared/models (the tests' model folder is empty).
_RECIPES = {
    "hog": lambda models: FaceDetector("hog"),
    "cnn": lambda models: FaceDetector("cnn", upsample=0),
    "yunet": lambda models: FaceDetector(YuNetDetector(models / "yunet" / "face_detection_yunet_2023mar.onnx")),
    "ultraface": lambda models: FaceDetector(UltraFaceDetector(models / "ultraface" / "version-RFB-320.onnx")),
    "blazeface": lambda models: FaceDetector(BlazeFaceDetector(models / "blazeface" / "blazeface.onnx")),
}


def _build(name: str, models) -> FaceDetector:
    if name not in _RECIPES:
        pytest.fail(f"detector {name!r} is registered but the conformance suite cannot build it: add it to _RECIPES")
    return _RECIPES[name](models)


@pytest.fixture(scope="module", params=DETECTORS)
def detector(request, models) -> tuple[str, FaceDetector]:
    return request.param, _build(request.param, models)


def _image(fixtures, name: str, folder: str, file: str) -> np.ndarray:
    image = load_image(fixtures / folder / file)
    if name != "cnn":
        return image
    import cv2

    scale = CNN_LONG_SIDE[folder] / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _inside(box, points: np.ndarray, slack: float = 1.0) -> bool:
    return bool(
        (points[:, 0] >= box.left - slack).all() and (points[:, 0] <= box.right + slack).all()
        and (points[:, 1] >= box.top - slack).all() and (points[:, 1] <= box.bottom + slack).all()
    )


def _check_face(face, name: str, image: np.ndarray) -> None:
    height, width = image.shape[:2]
    assert face.detector == name
    assert 0 <= face.box.left < face.box.right <= width and 0 <= face.box.top < face.box.bottom <= height
    assert isinstance(face.detection_score, float) and math.isfinite(face.detection_score)
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    assert face.template is None
    if face.keypoints is not None:
        assert face.keypoints.shape == (5, 2) and face.keypoints.dtype == np.float32
    if face.keypoints is not None and face.rotation == 0:  # ArcFace order: image-left eye and mouth corner first
        right_eye, left_eye, nose, mouth_right, mouth_left = face.keypoints
        assert right_eye[0] < left_eye[0] and mouth_right[0] < mouth_left[0]


def test_group_face_counts(detector, fixtures):
    name, face_detector = detector
    for file, count in sorted(EXPECTED_COUNTS[name].items()):
        image = _image(fixtures, name, "groups", file)
        faces = face_detector.detect(image)
        assert len(faces) == count, (name, file, len(faces))
        for face in faces:
            _check_face(face, name, image)
            assert face.rotation == 0
        areas = [face.box.area for face in faces]
        assert areas == sorted(areas, reverse=True)  # largest first


def test_no_face_gives_empty_list(detector, fixtures):
    name, face_detector = detector
    assert face_detector.detect(_image(fixtures, name, "noface", "no_face.png")) == []


@pytest.mark.parametrize("file,rotation", sorted(ROTATIONS.items()))
def test_rotated_photos(detector, fixtures, file, rotation):
    name, face_detector = detector
    image = _image(fixtures, name, "rotated", file)
    faces = face_detector.detect(image)
    assert len(faces) == 1, (name, file)
    face = faces[0]
    _check_face(face, name, image)
    if name in TURNS_PHOTOS_UPRIGHT:
        assert face.rotation == rotation
        # Landmarks mapped back to the photo as given lie in the mapped box.
        assert _inside(face.box, face.landmarks)
    else:
        assert face.rotation in (0, 90, 180, 270)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((32, 32), np.uint8),  # gray: load_image makes RGB, the detector does not guess
        np.zeros((32, 32, 4), np.uint8),
        np.zeros((32, 32, 3), np.float32),
        np.zeros((0, 32, 3), np.uint8),
        "a/path.jpg",
    ],
    ids=["gray", "rgba", "float", "empty", "path"],
)
def test_bad_input_gets_a_typed_error(detector, bad):
    _, face_detector = detector
    with pytest.raises(InvalidArgument):
        face_detector.detect(bad)
