"""The one pipeline configuration: every option reaches the pipeline, and the cache key follows
every field that changes what a pipeline finds."""

from __future__ import annotations

import dataclasses
import pickle
import shutil

import pytest

from countenance.errors import InvalidArgument
from countenance.pipeline import PipelineConfig
from countenance.service.library import IndexLibraryOptions, LibraryOptions, index_library
from countenance.service.options import PipelineOptions, build_pipeline


def test_service_options_reach_the_pipeline_whole():
    """rotate, threads, max_pixels, jitters and upsample are not dropped on the way."""
    options = PipelineOptions(detector="hog", embedder="dlib-onnx", upsample=1, rotate=False, threads=3,
                              jitters=2, max_pixels=5000)
    config = options.config()
    assert config == PipelineConfig(detector="hog", embedder="dlib-onnx", upsample=1, try_rotations=False,
                                    max_pixels=5000, threads=3, num_jitters=2)
    pipeline = build_pipeline(options)
    assert pipeline.face_detector.try_rotations is False
    assert pipeline.face_detector.upsample == 1
    assert pipeline.max_pixels == 5000
    assert pipeline.embedder.threads == 3
    assert pipeline.embedder.num_jitters == 2
    assert PipelineOptions(aligned="arcface112").config().detector == "aligned-arcface112"
    assert pickle.loads(pickle.dumps(config)) == config  # it crosses into worker processes


def test_library_index_workers_get_max_pixels(fixtures, tmp_path):
    """The library's index workers build their pipelines from the same configuration: a
    max_pixels below the photo's size refuses it (it was dropped by an adapter before)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(fixtures / "people" / "biden" / "biden.jpg", photos / "biden.jpg")
    options = IndexLibraryOptions((photos,), LibraryOptions(tmp_path / "library"),
                                  PipelineOptions(detector="hog", max_pixels=100), workers=1)
    summary = index_library(options).index
    assert summary.faces_added == 0
    assert [s.path for s in summary.skipped] == [str(photos / "biden.jpg")]
    assert "pixels" in summary.skipped[0].reason


def test_fingerprint_changes_with_every_field_that_changes_results():
    base = PipelineConfig(detector="hog", embedder="dlib")
    changed = {"detector": "cnn", "upsample": 2, "try_rotations": False, "max_pixels": 1000, "num_jitters": 1}
    assert set(changed) | {"embedder", "threads", "precision"} == {f.name for f in dataclasses.fields(PipelineConfig)}
    prints = {base.fingerprint}
    for name, value in changed.items():
        prints.add(dataclasses.replace(base, **{name: value}).fingerprint)
    assert len(prints) == len(changed) + 1
    # Same templates, same key: dlib and dlib-onnx (in float32) run one model; threads change only the speed.
    assert dataclasses.replace(base, embedder="dlib-onnx", threads=4, precision="f32").fingerprint == base.fingerprint
    # bfloat16 templates are keyed apart (test_precision.py); dlib itself has no precision to change.
    assert dataclasses.replace(base, precision="auto").fingerprint == base.fingerprint
    assert "model=dlib-resnet-v1" in base.fingerprint


def test_fingerprint_names_another_model(models, tmp_path):
    """An ArcFace-style model is keyed by its own name and file hash, not dlib's."""
    model = tmp_path / "m.onnx"
    shutil.copy(models / "test-only" / "mobilefacenet_112_128d.onnx", model)
    model.with_suffix(".json").write_text('{"name": "mfn", "embedding_size": 128, "thresholds": {"default": 0.7}}')
    fingerprint = PipelineConfig(detector="hog", embedder=f"arcface:{model}").fingerprint
    assert "model=arcface-mfn-" in fingerprint
    assert fingerprint != PipelineConfig(detector="hog").fingerprint


def test_auto_detector_resolved_once(models, monkeypatch):
    monkeypatch.setenv("COUNTENANCE_MODEL_DIR", str(models / "yunet"))
    assert PipelineConfig().resolved().detector == "yunet"
    assert PipelineConfig().fingerprint.startswith("detector=yunet;")
    monkeypatch.setenv("COUNTENANCE_MODEL_DIR", str(models / "nowhere"))
    assert PipelineConfig().resolved().detector == "hog"


@pytest.mark.parametrize("bad", [{"threads": 0}, {"num_jitters": -1}, {"max_pixels": True}])
def test_bad_values_are_refused(bad):
    with pytest.raises(InvalidArgument):
        PipelineConfig(**bad)


def test_auto_embedder_decided_once_with_its_fallback(monkeypatch, caplog):
    """resolved() names the backend "auto" builds (dlib-onnx here); when dlib-onnx cannot be
    built (ONNX Runtime failing) it is dlib, with a warning, and make_embedder agrees."""
    from countenance import embedding

    monkeypatch.setattr(embedding, "_auto", {})
    assert PipelineConfig().resolved().embedder == "dlib-onnx"
    assert type(embedding.make_embedder("auto")).__name__ == "DlibOnnxEmbedder"
    assert PipelineConfig(precision="f32").fingerprint == PipelineConfig(embedder="dlib").fingerprint  # one model

    def broken(threads, num_jitters, precision):
        raise RuntimeError("ONNX Runtime is broken")

    monkeypatch.setattr(embedding, "_auto", {})
    monkeypatch.setattr(embedding, "_dlib_onnx", broken)
    assert PipelineConfig().resolved().embedder == "dlib"
    assert "ONNX Runtime is broken" in caplog.text
    assert type(embedding.make_embedder("auto")).__name__ == "DlibResNetEmbedder"


def test_template_spec_is_the_built_embedders(models, tmp_path):
    from countenance.embedding import make_embedder, template_spec

    model = tmp_path / "m.onnx"
    shutil.copy(models / "test-only" / "mobilefacenet_112_128d.onnx", model)
    model.with_suffix(".json").write_text('{"name": "mfn", "embedding_size": 128, "thresholds": {"default": 0.7}}')
    for name in (f"arcface:{model}", "dlib-onnx"):
        assert template_spec(name) == make_embedder(name).spec
