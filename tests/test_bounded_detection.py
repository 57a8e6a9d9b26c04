"""YuNet's detection bounded by the faces, not the megapixels: the detail pass runs only where
faces may be small, and every face of the group fixtures is still found."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from countenance.backends.yunet import YuNetDetector
from countenance.detection import FaceDetector
from countenance.errors import InvalidArgument
from countenance.image import load_image

# Faces per fixture group photo (../shared/data/fixtures/README.md).
GROUP_COUNTS = {"t1.jpg": 6, "multiface.jpg": 6, "two_people.jpg": 2, "couple.jpg": 2, "obama_and_biden.jpg": 3}


class CountingYuNet(YuNetDetector):
    """YuNet that records the working size of each pass it runs."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.passes: list[int] = []

    def _run(self, image, factor):
        self.passes.append(max(image.shape[:2]))
        return super()._run(image, factor)


@pytest.fixture(scope="module")
def yunet_file(models):
    return models / "yunet" / "face_detection_yunet_2023mar.onnx"


@pytest.mark.parametrize("name", sorted(GROUP_COUNTS))
def test_bounded_detection_finds_every_face_of_the_group_fixtures(fixtures, yunet_file, name):
    image = load_image(fixtures / "groups" / name)
    bounded = FaceDetector(YuNetDetector(yunet_file))
    always = FaceDetector(YuNetDetector(yunet_file, detail_below_px=None))
    faces = bounded.detect(image)
    assert len(faces) == GROUP_COUNTS[name]
    assert len(always.detect(image)) == GROUP_COUNTS[name]


def test_a_large_close_up_costs_one_small_pass(fixtures, yunet_file):
    photo = load_image(fixtures / "probes" / "obama1.jpg")
    scale = 4000 / max(photo.shape[:2])
    large = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), interpolation=cv2.INTER_LINEAR)
    bounded = CountingYuNet(yunet_file)
    always = CountingYuNet(yunet_file, detail_below_px=None)
    found = bounded.detect(large)
    assert bounded.passes == [640]  # the detail pass was not needed: the face is large
    reference = always.detect(large)
    assert always.passes == [640, 1280]
    assert len(found) == len(reference) == 1
    assert np.allclose(found[0].box.to_list(), reference[0].box.to_list(), atol=2.0)


def test_small_faces_get_the_detail_pass(fixtures, yunet_file):
    image = load_image(fixtures / "crowd" / "17.jpg")  # a 1600 px crowd: ~200 small faces
    detector = CountingYuNet(yunet_file)
    found = FaceDetector(detector).detect(image)
    assert detector.passes == [640, 1280]
    always = FaceDetector(YuNetDetector(yunet_file, detail_below_px=None)).detect(image)
    coarse_only = FaceDetector(YuNetDetector(yunet_file, detail_long_side=None)).detect(image)
    assert len(found) == len(always) >= 150
    assert len(coarse_only) < len(found) / 2  # what the detail pass is for


def test_detail_below_px_is_checked(yunet_file):
    for bad in (0, -1, "40", True):
        with pytest.raises(InvalidArgument):
            YuNetDetector(yunet_file, detail_below_px=bad)


def test_the_dynamic_graph_is_cached_and_a_damaged_copy_is_remade(tmp_path, monkeypatch, fixtures, yunet_file):
    from countenance.backends import yunet

    monkeypatch.setenv("COUNTENANCE_CACHE_DIR", str(tmp_path))
    image = load_image(fixtures / "groups" / "t1.jpg")
    first = YuNetDetector(yunet_file)
    cached = sorted(tmp_path.glob("yunet-dynamic-*.onnx"))
    assert len(cached) == 1 and cached[0].with_name(cached[0].name + ".sha256").is_file()
    assert cached[0].read_bytes() == yunet._dynamic_model_bytes(yunet_file)
    boxes = [d.box for d in first.detect(image)]
    assert [d.box for d in YuNetDetector(yunet_file).detect(image)] == boxes  # from the cache
    cached[0].write_bytes(b"damaged")
    assert [d.box for d in YuNetDetector(yunet_file).detect(image)] == boxes  # made again
    assert cached[0].read_bytes() == yunet._dynamic_model_bytes(yunet_file)
