"""The opt-in ONNX detectors, UltraFace and BlazeFace, on real photos: installed through the
model registry from the files in ../shared/models, decoded as their published graphs are,
compared with YuNet's and dlib HOG's faces, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from countenance.backends._ort import make_session
from countenance.backends.blazeface import BlazeFaceDetector, blazeface_anchors
from countenance.backends.dlib_onnx_embedder import DlibOnnxEmbedder
from countenance.backends.ultraface import UltraFaceDetector, _headless_model_bytes, ultraface_priors
from countenance.backends.yunet import YuNetDetector
from countenance.datasets import lfw_dir, shared_dir
from countenance.detection import FaceDetector, make_box_detector
from countenance.errors import ModelError, ModelNotInstalled
from countenance.faces import Box
from countenance.image import load_image
from countenance.model_registry import pull

MODELS = shared_dir() / "models"
ULTRAFACE_320 = MODELS / "ultraface" / "version-RFB-320.onnx"
ULTRAFACE_640 = MODELS / "ultraface" / "version-RFB-640.onnx"
BLAZEFACE = MODELS / "blazeface" / "blazeface.onnx"
YUNET = MODELS / "yunet" / "face_detection_yunet_2023mar.onnx"

GROUP_COUNTS = {"t1.jpg": 6, "multiface.jpg": 6, "two_people.jpg": 2, "couple.jpg": 2, "obama_and_biden.jpg": 3}
# BlazeFace with upsample="auto" stops at the first size that finds a face: at 256 px it finds
# the two big faces of obama_and_biden.jpg, and the small background one only at 512 px.
BLAZEFACE_AUTO_COUNTS = {**GROUP_COUNTS, "obama_and_biden.jpg": 2}


def iou(a: Box, b: Box) -> float:
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    inter = max(width, 0.0) * max(height, 0.0)
    return inter / (a.area + b.area - inter)


def inside(box: Box, points: np.ndarray) -> bool:
    return bool(np.all((points[:, 0] >= box.left) & (points[:, 0] <= box.right) & (points[:, 1] >= box.top) & (points[:, 1] <= box.bottom)))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A model folder holding ultraface-rfb-320 and blazeface, pulled as a user would (sha256 checked)."""
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COUNTENANCE_MODEL_DIR", str(folder))
        pull("ultraface-rfb-320", ULTRAFACE_320.resolve().as_uri())
        pull("blazeface", BLAZEFACE)
        yield folder


@pytest.fixture(scope="module")
def ultraface(installed) -> FaceDetector:
    return FaceDetector(make_box_detector("ultraface"))


@pytest.fixture(scope="module")
def blazeface(installed) -> FaceDetector:
    return FaceDetector(make_box_detector("blazeface"))


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    return YuNetDetector(YUNET)


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize("path,width,height", [(ULTRAFACE_320, 320, 240), (ULTRAFACE_640, 640, 480)])
def test_ultraface_priors_are_the_baked_ones(path, width, height):
    import onnx

    constants = [
        onnx.numpy_helper.to_array(node.attribute[0].t)
        for node in onnx.load(str(path)).graph.node
        if node.op_type == "Constant" and len(node.attribute[0].t.dims) == 3
    ]
    priors = ultraface_priors(width, height)
    assert len(constants) == 3 and priors.shape == (constants[0].shape[1], 4)
    centres = [c for c in constants if np.allclose(c[0], priors[:, :2], atol=1e-6)]
    sizes = [c for c in constants if np.allclose(c[0], priors[:, 2:], atol=1e-6)]
    assert len(centres) == 1 and len(sizes) == 2


def test_ultraface_decoding_matches_the_published_graph(fixtures):
    """At the published input size, our priors and decoding give the published graph's boxes."""
    published = make_session(ULTRAFACE_320)
    graph, locations = _headless_model_bytes(ULTRAFACE_320)
    headless = make_session(graph)
    import cv2

    image = load_image(fixtures / "groups" / "t1.jpg")
    blob = ((cv2.resize(image, (320, 240)).astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
    scores, boxes = published.run(["scores", "boxes"], {"input": blob})
    our_scores, offsets = headless.run(["scores", locations], {"input": blob})
    priors = ultraface_priors(320, 240)
    centres = priors[:, :2] + offsets[0, :, :2] * 0.1 * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(offsets[0, :, 2:] * 0.2)
    np.testing.assert_allclose(our_scores, scores, atol=1e-6)
    np.testing.assert_allclose(np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1), boxes[0], atol=1e-5)
    assert (scores[0, :, 1] > 0.9).sum() >= 6  # a real photo: the faces are there


def test_blazeface_anchors_are_the_ports_file():
    anchors = np.load(MODELS / "blazeface" / "anchors_face.npy")
    assert anchors.shape == (896, 4)
    np.testing.assert_array_equal(blazeface_anchors(128), anchors[:, :2])
    assert np.all(anchors[:, 2:] == 1.0)  # fixed anchor size: the regressions are in input pixels
    assert blazeface_anchors(256).shape == (4 * 896, 2)
    with pytest.raises(ValueError, match="multiple of 16"):
        blazeface_anchors(100)


# ---------------------------------------------------------------- real photos


# Per detector: its counts, its least score, how much its boxes overlap YuNet's at the least.
# Neither gives ArcFace-order 5 points (UltraFace none, BlazeFace one mouth point).
GROUP_CASES = [("ultraface", name, count, 0.7, 0.6) for name, count in sorted(GROUP_COUNTS.items())] + [
    ("blazeface", name, count, 0.75, 0.5) for name, count in sorted(BLAZEFACE_AUTO_COUNTS.items())]


@pytest.mark.parametrize("detector,name,count,min_score,min_iou", GROUP_CASES)
def test_group_counts_match_yunet(request, yunet, fixtures, detector, name, count, min_score, min_iou):
    image = load_image(fixtures / "groups" / name)
    faces = request.getfixturevalue(detector).detect(image)
    assert len(faces) == count
    theirs = yunet.detect(image)
    for face in faces:
        assert face.detector == detector and face.rotation == 0 and min_score <= face.detection_score <= 1.0
        assert face.keypoints is None
        assert max(iou(face.box, other.box) for other in theirs) > min_iou
        assert inside(face.box, face.landmarks)


def test_blazeface_sizes_cover_different_faces(blazeface, fixtures):
    """128 px finds close-ups only; 512 px finds the small background face but not big ones."""
    backend = blazeface.backend
    small = load_image(fixtures / "groups" / "obama_and_biden.jpg")
    big = load_image(fixtures / "groups" / "couple.jpg")
    assert len(backend.detect(small, 0)) == 0
    assert len(backend.detect(small, 2)) == 3
    assert len(backend.detect(big, 0)) == 2
    assert len(backend.detect(big, 2)) == 0
    boxes, scores, keypoints = backend.detect_raw(small, 2)
    assert keypoints.shape == (3, 6, 2) and list(scores) == sorted(scores, reverse=True)
    for box, points in zip(boxes, keypoints):
        assert inside(Box(*box), points[:4])  # eyes, nose, mouth (the ear tragions may lie outside)
        assert points[0, 0] < points[1, 0] and points[3, 1] > points[:2, 1].max()  # image-left eye first; mouth below


def test_lfw_central_faces(ultraface, blazeface):
    """Both find the centred face of LFW photos (250 px, face ~110 px: a close-up for BlazeFace)."""
    paths = sorted((lfw_dir() / "images").glob("A*/*.jpg"))[:40]
    for detector, expected in ((ultraface, 40), (blazeface, 39)):
        found = 0
        for path in paths:
            image = load_image(path)
            centre = np.array(image.shape[1::-1]) / 2.0
            found += any(np.hypot(*(np.array(f.box.center) - centre)) < 0.15 * min(image.shape[:2]) for f in detector.detect(image))
        assert found == expected, detector.backend.name


def test_templates_match_hogs(ultraface, blazeface, fixtures):
    """dlib's chips from the new detectors' faces give nearly the templates of HOG's faces."""
    hog = FaceDetector("hog")
    embedder = DlibOnnxEmbedder()
    compared = 0
    for path in sorted((fixtures / "people").glob("*/*")):
        image = load_image(path)
        reference = hog.detect(image)
        if len(reference) != 1:
            continue
        expected = embedder.embed(image, reference)[0]
        for detector in (ultraface, blazeface):
            # (UltraFace also boxes a patch of landscape in biden2.jpg, at 0.79.)
            face = max(detector.detect(image), key=lambda f: iou(f.box, reference[0].box))
            assert iou(face.box, reference[0].box) > 0.3, (path.name, detector.backend.name)
            vector = embedder.embed(image, [face])[0]
            cosine = float(vector @ expected / np.linalg.norm(vector) / np.linalg.norm(expected))
            assert np.linalg.norm(vector - expected) < 0.2 and cosine > 0.99, (path.name, detector.backend.name)
            compared += 1
    assert compared >= 20


# ---------------------------------------------------------------- errors and arguments


def test_missing_models_name_the_pull_command(tmp_path, monkeypatch):
    monkeypatch.setenv("COUNTENANCE_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelNotInstalled, match="countenance models pull ultraface-rfb-320"):
        make_box_detector("ultraface")
    with pytest.raises(ModelNotInstalled, match="countenance models pull ultraface-rfb-640"):
        UltraFaceDetector(model="ultraface-rfb-640")
    with pytest.raises(ModelNotInstalled, match="countenance models pull blazeface"):
        FaceDetector("blazeface")


def test_wrong_model_files(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        UltraFaceDetector(tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="no such model file"):
        BlazeFaceDetector(tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="not an UltraFace model"):
        UltraFaceDetector(BLAZEFACE)
    with pytest.raises(ModelError, match="not a BlazeFace model"):
        BlazeFaceDetector(YUNET)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        BlazeFaceDetector(junk)


def test_bad_arguments(ultraface):
    with pytest.raises(ValueError, match="model must be one of"):
        UltraFaceDetector(ULTRAFACE_320, model="ultraface")
    with pytest.raises(ValueError, match="score_threshold"):
        UltraFaceDetector(ULTRAFACE_320, score_threshold=1.5)
    with pytest.raises(ValueError, match="input_long_side"):
        UltraFaceDetector(ULTRAFACE_320, input_long_side=32)
    with pytest.raises(ValueError, match="threads"):
        BlazeFaceDetector(BLAZEFACE, threads=0)
    with pytest.raises(ValueError, match="nms_threshold"):
        BlazeFaceDetector(BLAZEFACE, nms_threshold=0.0)
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="upsample"):
        BlazeFaceDetector(BLAZEFACE).detect(image, 4)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        ultraface.backend.detect(image[:, :, 0])
