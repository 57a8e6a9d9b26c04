"""dlib's ResNet in bfloat16 (OpenVINO) gives dlib-resnet-v1 templates: the same decisions as
float32 on real faces, batched or not; "auto" and the environment choose as documented."""

from __future__ import annotations

import numpy as np
import pytest

from countenance.backends.dlib_onnx_embedder import DlibOnnxEmbedder
from countenance.backends.precision import ENV_VAR, bf16_available, check_precision, resolve_precision
from countenance.embedding import make_embedder
from countenance.errors import InvalidArgument
from countenance.image import load_image
from countenance.pipeline import Pipeline, PipelineConfig

needs_bf16 = pytest.mark.skipif(not bf16_available(), reason="this CPU has no native bfloat16 (or OpenVINO is missing)")


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def fixture_faces(fixtures):
    """(image, faces) for every fixture photo HOG finds a face in: people, probes and groups."""
    detector = Pipeline(detector="hog", embedder="dlib").face_detector
    found = []
    for path in sorted(p for folder in ("people", "probes", "groups") for p in (fixtures / folder).rglob("*.jpg")):
        image = load_image(path)
        faces = detector.detect(image)
        if faces:
            found.append((image, faces))
    assert sum(len(faces) for _, faces in found) >= 40
    return found


def test_precision_names_are_checked_and_the_environment_decides_auto(monkeypatch):
    with pytest.raises(InvalidArgument, match="fp16"):
        check_precision("fp16")
    with pytest.raises(InvalidArgument, match="precision"):
        PipelineConfig(precision="half")
    monkeypatch.setenv(ENV_VAR, "f32")
    assert resolve_precision("auto") == "f32"
    assert DlibOnnxEmbedder().precision == "f32"
    assert "precision" not in PipelineConfig().fingerprint  # float32 keys are the keys of before
    monkeypatch.setenv(ENV_VAR, "fp8")
    with pytest.raises(InvalidArgument, match=ENV_VAR):
        resolve_precision("auto")
    monkeypatch.delenv(ENV_VAR)
    assert resolve_precision("auto") == ("bf16" if bf16_available() else "f32")
    assert resolve_precision("f32") == "f32"


def test_dlib_and_arcface_stay_float32_whatever_is_asked():
    assert PipelineConfig(embedder="dlib", precision="auto").resolved().precision == "f32"
    assert make_embedder("dlib", precision="auto").spec.name == "dlib-resnet-v1"


@needs_bf16
def test_bfloat16_templates_make_float32s_decisions_on_real_faces(fixture_faces):
    f32, bf16 = DlibOnnxEmbedder(precision="f32"), DlibOnnxEmbedder(precision="bf16")
    assert (f32.precision, bf16.precision) == ("f32", "bf16")
    a = np.concatenate([f32.embed(image, faces) for image, faces in fixture_faces])
    b = np.concatenate([bf16.embed(image, faces) for image, faces in fixture_faces])
    assert not np.array_equal(a, b)  # it really ran in another arithmetic
    assert _cosine(a, b).min() >= 0.9999
    # The head in float32 keeps each template within ~0.01 of float32's (all-bfloat16: ~0.03).
    assert np.linalg.norm(a - b, axis=1).max() < 0.02
    distances_a = np.linalg.norm(a[:, None] - a[None], axis=2)
    distances_b = np.linalg.norm(b[:, None] - b[None], axis=2)
    assert np.abs(distances_a - distances_b).max() < 0.02
    threshold = f32.spec.thresholds["default"]
    flipped = (distances_a < threshold) != (distances_b < threshold)
    near = np.abs(distances_a - threshold) < 0.02
    assert not (flipped & ~near).any()  # only pairs within the arithmetic's noise of the threshold may flip


@needs_bf16
def test_bfloat16_batches_give_one_at_a_times_templates(fixture_faces):
    batched, single = DlibOnnxEmbedder(precision="bf16", batch_size=32), DlibOnnxEmbedder(precision="bf16", batch_size=1)
    chips = np.concatenate([batched.chips(image, faces) for image, faces in fixture_faces])
    assert len(chips) > 32  # more than one full batch, and a tail
    assert _cosine(batched.embed_chips(chips), single.embed_chips(chips)).min() >= 0.9999


@needs_bf16
def test_the_default_pipeline_runs_bfloat16_here_and_caches_say_so():
    config = PipelineConfig(detector="hog")
    assert config.resolved().precision == "bf16"
    assert config.fingerprint.endswith(";precision=bf16")
    assert config.build().embedder.precision == "bf16"
    assert PipelineConfig(detector="hog", precision="f32").fingerprint != config.fingerprint


@needs_bf16
def test_a_float32_head_needs_a_pool_and_projection_head(models):
    from countenance.backends._openvino import OpenVinoSession
    from countenance.errors import ModelError

    session = OpenVinoSession(DlibOnnxEmbedder(precision="f32").model_path, 1, "bf16", float32_head=True)
    assert [(p.name, p.shape[1]) for p in session.get_outputs()] == [("descriptors", 128)]
    with pytest.raises(ModelError, match="global average pool"):
        OpenVinoSession(models / "yunet" / "face_detection_yunet_2023mar.onnx", 1, "bf16", float32_head=True)
