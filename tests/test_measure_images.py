"""Masks and degradations drawn from real landmarks on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from countenance.errors import InvalidArgument
from countenance.image import load_image
from countenance.evaluate import degrade
from countenance.evaluate.choice import PipelineChoice, build_face_detector
from countenance.evaluate.face_frame import face_frame, inter_ocular_px
from countenance.evaluate.masks import MASK_SHAPES, MaskStyle, choose_style, draw_mask, mask_polygon
from countenance.evaluate.variant_templates import Variant, apply_variant


@pytest.fixture(scope="module")
def face(lfw):
    image = load_image(lfw / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    found = build_face_detector(PipelineChoice("yunet")).detect(image)
    return image, found[0].landmarks


def _inside(polygon: np.ndarray, point: np.ndarray) -> bool:
    import cv2

    return cv2.pointPolygonTest(polygon.astype(np.float32), (float(point[0]), float(point[1])), False) > 0


@pytest.mark.parametrize("shape", sorted(MASK_SHAPES))
def test_mask_covers_nose_base_not_eyes_and_changes_nothing_outside(face, shape):
    image, landmarks = face
    polygon = mask_polygon(landmarks, shape)
    assert _inside(polygon, landmarks[4])  # dlib's nose base
    for eye in (landmarks[0:2].mean(0), landmarks[2:4].mean(0)):
        assert not _inside(polygon, eye)
    before = image.copy()
    masked = draw_mask(image, landmarks, MaskStyle(shape, "blue"))
    changed = np.any(masked != image, axis=2)
    ys, xs = np.nonzero(changed)
    left, top = polygon.min(0) - 2
    right, bottom = polygon.max(0) + 2
    assert changed.sum() > 1000
    assert xs.min() >= left and xs.max() <= right and ys.min() >= top and ys.max() <= bottom
    assert np.array_equal(image, before)  # the input was not modified


def test_mask_brightness_follows_the_face(face):
    image, landmarks = face
    dark = (image * 0.35).astype(np.uint8)
    style = MaskStyle("surgical", "white")
    inside = np.round(landmarks[4]).astype(int)
    bright_pixel = draw_mask(image, landmarks, style)[inside[1] + 5, inside[0]].astype(int).sum()
    dark_pixel = draw_mask(dark, landmarks, style)[inside[1] + 5, inside[0]].astype(int).sum()
    assert dark_pixel < 0.6 * bright_pixel


def test_mask_style_is_fixed_by_name_and_seed():
    assert choose_style("a/b.jpg", 0) == choose_style("a/b.jpg", 0)
    styles = {choose_style(f"p/{k}.jpg", 0) for k in range(40)}
    assert len({s.shape for s in styles}) == len(MASK_SHAPES)
    with pytest.raises(InvalidArgument):
        MaskStyle("balaclava", "blue")


def test_face_frame_and_iod(face):
    _, landmarks = face
    frame = face_frame(landmarks)
    assert frame.iod_px == pytest.approx(inter_ocular_px(landmarks))
    assert 30 < frame.iod_px < 60  # LFW's 250 px crops
    assert frame.down[1] > 0.9  # an upright face: down is down
    assert frame.nose_px > 0.5 * frame.iod_px
    with pytest.raises(InvalidArgument):
        face_frame(np.zeros((4, 2)))


def test_downscale_to_iod(face):
    image, landmarks = face
    small, scale = degrade.downscale_to_iod(image, landmarks, 16)
    assert scale == pytest.approx(16 / inter_ocular_px(landmarks))
    assert small.shape[0] == round(image.shape[0] * scale)
    same, one = degrade.downscale_to_iod(image, landmarks, 500)
    assert one == 1.0 and same.shape == image.shape
    with pytest.raises(InvalidArgument):
        degrade.downscale_to_iod(image, landmarks, 0)


def test_blur_jpeg_and_occluders(face):
    image, landmarks = face
    blurred = degrade.gaussian_blur(image, landmarks, 0.1)
    assert np.abs(np.diff(blurred.astype(float), axis=1)).mean() < 0.6 * np.abs(np.diff(image.astype(float), axis=1)).mean()
    low, high = degrade.jpeg(image, 10), degrade.jpeg(image, 95)
    error = lambda x: np.abs(x.astype(float) - image).mean()  # noqa: E731
    assert error(low) > 2 * error(high)
    with pytest.raises(InvalidArgument):
        degrade.jpeg(image, 0)
    eyes = degrade.occlude_eyes(image, landmarks)
    x, y = np.round(landmarks[0:2].mean(0)).astype(int)
    assert tuple(eyes[y, x]) == degrade.OCCLUSION_GREY
    lower = degrade.occlude_lower_face(image, landmarks)
    x, y = np.round(landmarks[4]).astype(int)
    assert tuple(lower[y + 15, x]) == degrade.OCCLUSION_GREY
    assert tuple(lower[y - 25, x]) != degrade.OCCLUSION_GREY


def test_variants(face):
    image, landmarks = face
    assert apply_variant(image, landmarks, Variant("clean"))[0] is image
    small, scale = apply_variant(image, landmarks, Variant("iod", 24))
    assert scale < 1 and small.shape[0] < image.shape[0]
    assert Variant("blur", 0.1).key == "blur-0.1" and Variant("occlude-eyes").key == "occlude-eyes"
    with pytest.raises(InvalidArgument):
        Variant("iod", 0)
    with pytest.raises(InvalidArgument):
        Variant("sepia", 1)


def test_masked_lfw_face_is_still_detected(face):
    image, landmarks = face
    masked, _ = apply_variant(image, landmarks, Variant("mask", 0), "Aaron_Peirsol/Aaron_Peirsol_0001.jpg")
    assert build_face_detector(PipelineChoice("yunet")).detect(masked)
