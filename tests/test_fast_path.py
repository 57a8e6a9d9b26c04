"""The fast path on real photos: YuNet detection, dlib's ResNet in ONNX Runtime, ArcFace alignment
and a generic ArcFace ONNX recogniser (the test-only MobileFaceNet), and the "auto" backends."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from countenance import Box, Pipeline, Template
from countenance.align import ARCFACE_TEMPLATE_112, arcface_crop, estimate_similarity
from countenance.backends.arcface_onnx import ArcFaceOnnxEmbedder, ArcFaceSpec, keypoints_from_68
from countenance.backends.dlib_backend import DLIB_RESNET_SPEC, DlibResNetEmbedder
from countenance.backends.dlib_onnx_embedder import DlibOnnxEmbedder
from countenance.paths import cache_dir as default_cache_dir
from countenance.backends.yunet import YuNetDetector, hog_like_box
from countenance.decide import compare_templates
from countenance.detection import Detection, FaceDetector, make_box_detector
from countenance.embedding import embed_faces, make_embedder
from countenance.errors import ModelError, ModelNotInstalled, TemplateMismatch, UnknownBackend
from countenance.image import load_image

# The clockwise turn that makes each rotated fixture upright (as in test_detect.py).
ROTATIONS = {"rot_0.jpg": 0, "rot_90.jpg": 270, "rot_180.jpg": 180, "rot_270.jpg": 90}

# The test-only MobileFaceNet (origin and licence unknown: never shipped). Its input is
# RGB, (pixel - 127.5) / 128, NCHW; LFW 10-fold on 400 pairs: 0.992 at a cosine distance ~0.71.
MOBILEFACENET_SPEC = ArcFaceSpec(
    name="mobilefacenet-test",
    embedding_size=128,
    thresholds={"default": 0.70},
    input_size=112,
    mean=(127.5, 127.5, 127.5),
    std=(128.0, 128.0, 128.0),
    colour_order="RGB",
    layout="NCHW",
)


@pytest.fixture(scope="module")
def models(fixtures) -> Path:
    path = fixtures.parent.parent / "models"
    if not (path / "yunet").is_dir():
        pytest.fail(f"no models under {path} (set COUNTENANCE_SHARED)")
    return path


@pytest.fixture(scope="module")
def yunet_path(models) -> Path:
    return models / "yunet" / "face_detection_yunet_2023mar.onnx"


@pytest.fixture(scope="module")
def mobilefacenet_path(models) -> Path:
    return models / "test-only" / "mobilefacenet_112_128d.onnx"


@pytest.fixture(scope="module")
def yunet(yunet_path) -> FaceDetector:
    return FaceDetector(YuNetDetector(yunet_path))


@pytest.fixture(scope="module")
def dlib_onnx() -> DlibOnnxEmbedder:
    return DlibOnnxEmbedder()


@pytest.fixture(scope="module")
def arcface(mobilefacenet_path) -> ArcFaceOnnxEmbedder:
    return ArcFaceOnnxEmbedder(mobilefacenet_path, MOBILEFACENET_SPEC)


# ---------------------------------------------------------------- YuNet
# (Face counts, no face, rotations: tests/conformance/test_detectors.py.)


@pytest.mark.parametrize("name,rotation", sorted(ROTATIONS.items()))
def test_yunet_rotated_photos_map_keypoints_back(yunet, fixtures, name, rotation):
    image = load_image(fixtures / "rotated" / name)
    faces = yunet.detect(image)
    assert len(faces) == 1 and faces[0].rotation == rotation
    face = faces[0]
    for points in (face.keypoints, face.landmarks):
        assert (points[:, 0] >= face.box.left - 1).all() and (points[:, 0] <= face.box.right + 1).all()
        assert (points[:, 1] >= face.box.top - 1).all() and (points[:, 1] <= face.box.bottom + 1).all()
    # The mapped keypoints align the face upright whatever the photo's orientation.
    upright = yunet.detect(load_image(fixtures / "rotated" / "rot_0.jpg"))[0]
    crop = arcface_crop(image, face.keypoints).astype(np.float32)
    reference = arcface_crop(load_image(fixtures / "rotated" / "rot_0.jpg"), upright.keypoints).astype(np.float32)
    assert np.abs(crop - reference).mean() < 12


def test_low_scoring_upright_face_is_not_turned_upside_down(yunet, fixtures):
    # A masked face scores 0.83 upright and 0.89 upside down (YuNet reads the mask as a
    # face): neither reaches confident_score, so the upright reading is kept.
    image = load_image(fixtures / "masked" / "with_mask" / "0_0_0 copy 26.jpg")
    faces = yunet.detect(image)
    assert len(faces) == 1 and faces[0].rotation == 0 and faces[0].detection_score < 0.9


def test_yunet_working_scales(yunet_path):
    detector = YuNetDetector(yunet_path)
    assert detector.working_scales(360, 640) == [1.0]  # small images: their own size, once
    assert detector.working_scales(886, 1280) == [0.5, 1.0]  # large: 640 and 1280 px
    assert detector.working_scales(3000, 4000) == pytest.approx([0.16, 0.32])
    assert YuNetDetector(yunet_path, detail_long_side=None).working_scales(886, 1280) == [0.5]


def test_yunet_bad_arguments(yunet_path, tmp_path):
    with pytest.raises(ValueError, match="score_threshold"):
        YuNetDetector(yunet_path, score_threshold=1.5)
    with pytest.raises(ValueError, match="threads"):
        YuNetDetector(yunet_path, threads=0)
    with pytest.raises(ModelError, match="no such model file"):
        YuNetDetector(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="junk.onnx"):
        YuNetDetector(tmp_path / "junk.onnx")
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        Detection(Box(0, 0, 1, 1), 1.0, keypoints=np.zeros((4, 2)))


def test_hog_like_box_from_yunet_keypoints_gives_hog_landmarks(yunet, dlib_onnx, fixtures):
    """dlib landmarks on the HOG-like box give nearly the templates of landmarks on the real HOG box."""
    hog = FaceDetector("hog", upsample=0)  # the gallery's faces are large
    distances = []
    for path in sorted((fixtures / "people").glob("*/*")):
        image = load_image(path)
        from_hog, from_yunet = hog.detect(image), yunet.detect(image)
        if len(from_hog) != 1 or len(from_yunet) != 1:
            continue
        vectors = dlib_onnx.embed(image, [from_hog[0], from_yunet[0]])
        distances.append(float(np.linalg.norm(vectors[0] - vectors[1])))
    assert len(distances) >= 10
    assert np.median(distances) < 0.1 and max(distances) < 0.3  # dlib's threshold is 0.6
    square = hog_like_box(ARCFACE_TEMPLATE_112)
    assert 0.95 < square.width / square.height < 1.05


# ---------------------------------------------------------------- dlib ResNet in ONNX Runtime


def test_dlib_onnx_batches_and_templates_compare_with_dlibs(yunet, dlib_onnx, fixtures):
    image = load_image(fixtures / "groups" / "t1.jpg")
    faces = yunet.detect(image)
    small_batches = DlibOnnxEmbedder(batch_size=4)
    np.testing.assert_allclose(small_batches.embed(image, faces), dlib_onnx.embed(image, faces), atol=1e-5)
    assert dlib_onnx.embed(image, []).shape == (0, 128)
    a = embed_faces(DlibOnnxEmbedder(precision="f32"), image, faces[:1])[0]
    b = embed_faces(DlibResNetEmbedder(), image, faces[:1])[0]
    assert a.template.model == b.template.model == "dlib-resnet-v1"
    assert compare_templates(a, b, DLIB_RESNET_SPEC).distance < 1e-3  # float32: the same arithmetic as dlib's
    default = embed_faces(dlib_onnx, image, faces[:1])[0]  # bfloat16 where the CPU has it: within its noise
    assert default.template.model == "dlib-resnet-v1" and compare_templates(default, b, DLIB_RESNET_SPEC).distance < 0.02


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("COUNTENANCE_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("COUNTENANCE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "countenance"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_cache_dir() == Path.home() / ".cache" / "countenance"


# ---------------------------------------------------------------- alignment


def test_template_maps_onto_itself():
    matrix = estimate_similarity(ARCFACE_TEMPLATE_112, ARCFACE_TEMPLATE_112)
    np.testing.assert_allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_known_rotation_scale_and_shift_are_recovered():
    angle, scale, shift = np.deg2rad(25.0), 2.5, np.array([310.0, -42.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE_112.astype(np.float64)
    dst = src @ (scale * rotation).T + shift
    matrix = estimate_similarity(src, dst)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)
    # A mirrored point set is fitted by a rotation, never a reflection.
    mirrored = estimate_similarity(src, src * [-1, 1])
    assert np.linalg.det(mirrored[:, :2]) > 0


def test_arcface_crop_puts_keypoints_on_the_template():
    image = np.zeros((400, 300, 3), np.uint8)
    keypoints = ARCFACE_TEMPLATE_112 * 2.0 + [60.0, 90.0]
    for x, y in keypoints.astype(int):
        image[y - 2 : y + 3, x - 2 : x + 3] = 255
    crop = arcface_crop(image, keypoints)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    for x, y in ARCFACE_TEMPLATE_112.round().astype(int):
        assert crop[y, x].min() > 200
    assert arcface_crop(image, keypoints, size=224).shape == (224, 224, 3)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: estimate_similarity(np.zeros((5, 3)), np.zeros((5, 3))), r"shape \(N, 2\)"),
        (lambda: estimate_similarity(np.zeros((5, 2)), np.zeros((4, 2))), "same shape"),
        (lambda: estimate_similarity(np.zeros((5, 2)), ARCFACE_TEMPLATE_112), "coincide"),
        (lambda: estimate_similarity(np.full((5, 2), np.nan), ARCFACE_TEMPLATE_112), "NaN"),
        (lambda: arcface_crop(np.zeros((10, 10), np.uint8), ARCFACE_TEMPLATE_112), r"\(H, W, 3\) uint8"),
        (lambda: arcface_crop(np.zeros((10, 10, 3), np.uint8), np.zeros((4, 2))), r"\(5, 2\)"),
        (lambda: keypoints_from_68(np.zeros((5, 2))), r"\(68, 2\)"),
    ],
)
def test_alignment_shape_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------- ArcFace ONNX recogniser


def test_arcface_without_keypoints_uses_dlib_68_points(yunet, arcface, fixtures):
    image = load_image(fixtures / "probes" / "obama1.jpg")
    face = yunet.detect(image)[0]
    with_keypoints, derived = arcface.embed(image, [face, replace(face, keypoints=None)])
    assert float(with_keypoints @ derived) > 0.85
    hog_face = FaceDetector("hog").detect(image)[0]
    assert hog_face.keypoints is None
    assert float(arcface.embed(image, [hog_face])[0] @ with_keypoints) > 0.85


def test_dlib_68_point_fallback_warns_of_its_licence(yunet, mobilefacenet_path, fixtures, caplog):
    """The 68-point model's training data excludes commercial use: its first use says so."""
    image = load_image(fixtures / "probes" / "obama1.jpg")
    face = replace(yunet.detect(image)[0], keypoints=None)
    embedder = ArcFaceOnnxEmbedder(mobilefacenet_path, MOBILEFACENET_SPEC)
    with caplog.at_level("WARNING", logger="countenance.backends.arcface_onnx"):
        embedder.embed(image, [face])
        embedder.embed(image, [face])
    warnings = [r.getMessage() for r in caplog.records if "68-point" in r.getMessage()]
    assert len(warnings) == 1 and "commercial" in warnings[0]


def test_templates_of_two_models_never_mix(yunet, arcface, dlib_onnx, fixtures):
    image = load_image(fixtures / "probes" / "obama1.jpg")
    faces = yunet.detect(image)[:1]
    dlib_face = embed_faces(dlib_onnx, image, faces)[0]
    arc_face = embed_faces(arcface, image, faces)[0]
    with pytest.raises(TemplateMismatch):
        compare_templates(dlib_face, arc_face, arcface.spec)
    with pytest.raises(TemplateMismatch):
        compare_templates(arc_face, dlib_face, DLIB_RESNET_SPEC)
    # Same size, same name prefix, another file: still refused.
    other = Template(arc_face.template.vector, "arcface-mobilefacenet-test-000000000000")
    with pytest.raises(TemplateMismatch):
        compare_templates(arc_face, other, arcface.spec)


def test_arcface_spec_from_sidecar_and_by_name(mobilefacenet_path, tmp_path, yunet_path, fixtures):
    model = tmp_path / "mfn.onnx"
    shutil.copyfile(mobilefacenet_path, model)
    with pytest.raises(ModelError, match="no spec for this model; write .*mfn.json"):
        make_embedder(f"arcface:{model}")
    sidecar = {
        "name": "mobilefacenet-test", "embedding_size": 128, "thresholds": {"default": 0.70},
        "input_size": 112, "mean": [127.5, 127.5, 127.5], "std": [128.0, 128.0, 128.0],
        "colour_order": "RGB", "layout": "NCHW", "metric": "cosine",
    }
    (tmp_path / "mfn.json").write_text(json.dumps(sidecar))
    embedder = make_embedder(f"arcface:{model}", threads=2)
    assert embedder.arcface_spec == MOBILEFACENET_SPEC and embedder.threads == 2
    pipeline = Pipeline(detector=YuNetDetector(yunet_path), embedder=embedder)
    a = pipeline.embed_largest(fixtures / "probes" / "obama1.jpg")
    b = pipeline.embed_largest(fixtures / "people" / "obama" / "obama2.jpg")
    assert pipeline.compare(a, b).same

    (tmp_path / "mfn.json").write_text(json.dumps({**sidecar, "embedding_size": 512}))
    with pytest.raises(ModelError, match="output size 128 but the spec says 512"):
        make_embedder(f"arcface:{model}")
    (tmp_path / "mfn.json").write_text(json.dumps({**sidecar, "layout": "NHWC"}))
    with pytest.raises(ModelError, match="does not fit the spec"):
        make_embedder(f"arcface:{model}")
    (tmp_path / "mfn.json").write_text(json.dumps({**sidecar, "colour": "RGB"}))
    with pytest.raises(ModelError, match="unknown key"):
        make_embedder(f"arcface:{model}")
    with pytest.raises(ValueError, match="'default'"):
        ArcFaceSpec(name="x", embedding_size=128, thresholds={"strict": 0.5})
    with pytest.raises(ValueError, match="colour_order"):
        ArcFaceSpec(name="x", embedding_size=128, thresholds={"default": 0.5}, colour_order="rgb")
    with pytest.raises(UnknownBackend, match="names no model"):
        make_embedder("arcface:")


# ---------------------------------------------------------------- backends by name, "auto"


def test_auto_detector_falls_back_to_hog_and_uses_installed_yunet(monkeypatch, tmp_path, yunet_path):
    from countenance.model_registry import REGISTRY

    monkeypatch.setenv("COUNTENANCE_MODEL_DIR", str(tmp_path))
    assert make_box_detector("auto").name == "hog"
    with pytest.raises(ModelNotInstalled, match="countenance models pull yunet"):
        make_box_detector("yunet")
    shutil.copyfile(yunet_path, tmp_path / REGISTRY["yunet"].filename)
    assert make_box_detector("auto").name == "yunet"
    pipeline = Pipeline(threads=1)
    assert pipeline.face_detector.backend.name == "yunet"
    assert isinstance(pipeline.embedder, DlibOnnxEmbedder) and pipeline.spec is DLIB_RESNET_SPEC


def test_auto_embedder_falls_back_to_dlib_when_conversion_fails(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("COUNTENANCE_CACHE_DIR", str(blocker))  # the cache cannot be created
    embedder = make_embedder("auto")
    assert isinstance(embedder, DlibResNetEmbedder) and embedder.spec is DLIB_RESNET_SPEC


def test_backend_names_and_threads():
    assert isinstance(make_embedder("dlib-onnx", threads=2), DlibOnnxEmbedder)
    with pytest.raises(UnknownBackend, match="unknown detector 'nope'"):
        make_box_detector("nope")
    with pytest.raises(UnknownBackend, match="'auto'"):
        make_embedder("nope")
    with pytest.raises(ValueError, match="threads"):
        Pipeline(threads=0)
