"""Detection on real photos: known face counts, no face, rotated photos, geometry helpers."""

from __future__ import annotations

import numpy as np
import pytest

from countenance import Box, Face
from countenance.detection import FaceDetector, central_face, largest_face
from countenance.errors import UnknownBackend
from countenance.geometry import rotate_image
from countenance.geometry import unrotate_box as _unrotate_box
from countenance.geometry import unrotate_points as _unrotate_points
from countenance.image import load_image

# Face counts, no face and the rotated photos for every detector: tests/conformance/test_detectors.py.


def test_no_face_gives_empty_list(pipeline, fixtures):
    assert pipeline.embed(fixtures / "noface" / "no_face.png") == []


def test_rotated_faces_embed_like_the_upright_one(pipeline, fixtures):
    upright = pipeline.embed(fixtures / "rotated" / "rot_0.jpg")[0]
    for name in ("rot_90.jpg", "rot_180.jpg", "rot_270.jpg"):
        turned = pipeline.embed(fixtures / "rotated" / name)[0]
        assert pipeline.compare(upright, turned).distance < 0.1


def test_without_rotation_fallback_sideways_face_is_missed(fixtures):
    detector = FaceDetector(try_rotations=False)
    assert detector.detect(load_image(fixtures / "rotated" / "rot_90.jpg")) == []


def test_fixed_upsample_zero_misses_small_faces_auto_finds(fixtures):
    import cv2

    full = load_image(fixtures / "probes" / "obama-240p.jpg")  # a ~73 px face
    image = cv2.resize(full, (full.shape[1] // 2, full.shape[0] // 2), interpolation=cv2.INTER_AREA)
    assert FaceDetector(upsample=0, try_rotations=False).detect(image) == []
    assert len(FaceDetector().detect(image)) == 1


@pytest.mark.parametrize("bad", [-1, 4, "2", 1.5])
def test_bad_upsample_is_refused(bad):
    with pytest.raises(ValueError, match="upsample"):
        FaceDetector(upsample=bad)


def test_unknown_detector():
    with pytest.raises(UnknownBackend, match="unknown detector 'nope'; choose one of blazeface, cnn, hog, ultraface, yunet or 'auto'"):
        FaceDetector("nope")


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_unrotate_inverts_rotate(degrees):
    image = np.zeros((7, 11, 3), dtype=np.uint8)
    turned = rotate_image(image, degrees)
    rng = np.random.default_rng(degrees)
    points = np.stack([rng.integers(0, turned.shape[1], 20), rng.integers(0, turned.shape[0], 20)], axis=1)
    marked = turned.copy()
    marked[points[:, 1], points[:, 0]] = 255
    back = rotate_image(marked, (360 - degrees) % 360)  # the marks, in original coordinates
    mapped = _unrotate_points(points.astype(np.float32), degrees, image.shape).astype(int)
    assert (back[mapped[:, 1], mapped[:, 0]] == 255).all()
    box = _unrotate_box(Box(1, 2, 4, 6), degrees, image.shape)
    assert box.area == 12  # 3 x 4 pixels in any orientation
    assert 0 <= box.left and box.right <= image.shape[1] and 0 <= box.top and box.bottom <= image.shape[0]


def test_rotate_image_refuses_odd_angles():
    with pytest.raises(ValueError, match="multiple of 90"):
        rotate_image(np.zeros((2, 2, 3), np.uint8), 45)


def test_face_choice_helpers():
    assert largest_face([]) is None and central_face([], 10, 10) is None
    small = Face(Box(0, 0, 10, 10), 1.0)
    big_corner = Face(Box(0, 0, 40, 40), 1.0)
    centred = Face(Box(40, 40, 60, 60), 1.0)
    assert largest_face([small, big_corner, centred]) is big_corner
    assert central_face([small, big_corner, centred], 100, 100) is centred


def test_face_to_dict_leaves_out_the_template(pipeline, fixtures):
    face = pipeline.embed(fixtures / "probes" / "obama1.jpg")[0]
    data = face.to_dict()
    assert set(data) == {"box", "detection_score", "rotation", "detector", "landmarks", "model"}
    assert "template" not in data and len(data["box"]) == 4
