"""The embedder protocol, checked on every embedder with its real model (no mocks): dlib
(dlib's ResNet run by dlib), dlib-onnx (the same network in ONNX Runtime) and the ArcFace
ONNX path with the test-only MobileFaceNet from ../shared/models/test-only (never shipped).

On the same detected faces (YuNet, which gives both dlib landmarks and ArcFace keypoints):
shape and dtype, the L2 norm the spec promises, determinism, batch = one at a time, and the
same person closer than different people at the spec's own metric and default threshold.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest

from countenance.backends.arcface_onnx import ArcFaceOnnxEmbedder, ArcFaceSpec
from countenance.backends.dlib_backend import DLIB_RESNET_SPEC, DlibResNetEmbedder
from countenance.backends.dlib_onnx_embedder import DlibOnnxEmbedder
from countenance.backends.yunet import YuNetDetector
from countenance.decide import compare_templates
from countenance.detection import FaceDetector
from countenance.embedding import EMBEDDERS as EMBEDDER_REGISTRY
from countenance.embedding import embed_faces
from countenance.faces import Metric, ModelSpec
from countenance.image import load_image

# Every registered embedder (read from the registry), plus an ArcFace-style ONNX model given by
# path (``arcface:<path>``), here the test-only MobileFaceNet.
EMBEDDERS = (*EMBEDDER_REGISTRY, "arcface")
PHOTOS = {"obama": "people/obama/obama.jpg", "obama2": "people/obama/obama2.jpg", "biden": "people/biden/biden.jpg"}

# The test-only MobileFaceNet (origin and licence unknown): RGB, (pixel - 127.5) / 128, NCHW.
MOBILEFACENET_SPEC = ArcFaceSpec(
    name="mobilefacenet-test", embedding_size=128, thresholds={"default": 0.70}, std=(128.0, 128.0, 128.0)
)


@pytest.fixture(scope="module")
def faces(fixtures, models) -> dict[str, tuple[np.ndarray, list]]:
    """Each photo with its detected faces (largest first), found once for every embedder."""
    detector = FaceDetector(YuNetDetector(models / "yunet" / "face_detection_yunet_2023mar.onnx"))
    out = {}
    for label, path in {**PHOTOS, "pair": "groups/two_people.jpg"}.items():
        image = load_image(fixtures / path)
        out[label] = (image, detector.detect(image))
    return out


@pytest.fixture(scope="module", params=EMBEDDERS)
def embedder(request, models):
    recipes = {
        "dlib": DlibResNetEmbedder,
        "dlib-onnx": DlibOnnxEmbedder,
        "arcface": lambda: ArcFaceOnnxEmbedder(models / "test-only" / "mobilefacenet_112_128d.onnx", MOBILEFACENET_SPEC),
    }
    if request.param not in recipes:
        pytest.fail(f"embedder {request.param!r} is registered but the conformance suite cannot build it: add a recipe")
    return recipes[request.param]()


def test_spec_is_a_complete_model_spec(embedder):
    spec = embedder.spec
    assert isinstance(spec, ModelSpec) and isinstance(spec.metric, Metric)
    assert isinstance(spec.thresholds, MappingProxyType) and spec.default_threshold in spec.thresholds
    with pytest.raises(TypeError):
        spec.thresholds["default"] = 0.0  # type: ignore[index]
    assert spec.embedding_size > 0 and spec.input_size >= 16 and spec.alignment
    assert len(spec.mean) == len(spec.std) == 3 and spec.colour_order in ("RGB", "BGR")
    if spec.alignment_template is not None:
        points = np.asarray(spec.alignment_template)
        assert points.shape == (5, 2) and (0 <= points).all() and (points < spec.input_size).all()


def test_shape_dtype_and_norm(embedder, faces):
    image, found = faces["pair"]
    assert len(found) == 2
    vectors = embedder.embed(image, found)
    spec = embedder.spec
    assert vectors.shape == (2, spec.embedding_size) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    norms = np.linalg.norm(vectors, axis=1)
    if spec.l2_normalised:
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    else:  # raw descriptors (dlib's): not unit length
        assert not np.allclose(norms, 1.0, atol=1e-3)
    empty = embedder.embed(image, [])
    assert empty.shape == (0, spec.embedding_size) and empty.dtype == np.float32


def test_deterministic_and_batch_equals_one_at_a_time(embedder, faces):
    image, found = faces["pair"]
    batch = embedder.embed(image, found)
    np.testing.assert_array_equal(embedder.embed(image, found), batch)
    for face, row in zip(found, batch):
        np.testing.assert_allclose(embedder.embed(image, [face])[0], row, atol=1e-5)


def test_same_person_closer_than_different_people(embedder, faces):
    spec = embedder.spec
    templates = {}
    for label in PHOTOS:
        image, found = faces[label]
        templates[label] = embed_faces(embedder, image, found[:1])[0]
        assert templates[label].template.model == spec.name
    same = compare_templates(templates["obama"], templates["obama2"], spec)
    different = compare_templates(templates["obama"], templates["biden"], spec)
    assert same.metric == different.metric == spec.metric
    assert same.distance < different.distance and same.similarity > different.similarity
    assert same.same and not different.same  # at the spec's default threshold


def test_dlib_and_dlib_onnx_templates_are_interchangeable(faces):
    """Same network, same chips: one spec, and templates equal within float noise (float32) or
    bfloat16's (the default where the CPU has it)."""
    image, found = faces["pair"]
    dlib, onnx, default = DlibResNetEmbedder(), DlibOnnxEmbedder(precision="f32"), DlibOnnxEmbedder()
    assert dlib.spec is onnx.spec is default.spec is DLIB_RESNET_SPEC
    want = dlib.embed(image, found)
    for embedder, largest_difference in ((onnx, 1e-3), (default, 1e-2)):
        got = embedder.embed(image, found)
        cosine = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
        assert cosine.min() >= 0.9999 and np.abs(got - want).max() < largest_difference
