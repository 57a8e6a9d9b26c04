"""Templates and 1:1 comparison with the default dlib backend on real photos."""

from __future__ import annotations

import numpy as np
import pytest

import countenance
from countenance import Template
from countenance.backends.dlib_backend import DLIB_RESNET_SPEC
from countenance.decide import compare_templates, cosine_similarity, nearest_subject, pairwise_distances, resolve_threshold
from countenance.embedding import embed_faces, make_embedder
from countenance.errors import NoFaceFound, TemplateMismatch, UnknownBackend


def test_templates_are_128d_float32(pipeline, fixtures):
    faces = pipeline.embed(fixtures / "probes" / "obama1.jpg")
    assert len(faces) == 1
    template = faces[0].template
    assert template.model == "dlib-resnet-v1"
    assert template.vector.shape == (128,) and template.vector.dtype == np.float32
    assert 0.8 < np.linalg.norm(template.vector) < 2.0  # dlib's raw, un-normalised descriptors


def test_same_person_close_different_people_far(pipeline, fixtures):
    people = fixtures / "people"
    obama = pipeline.embed_largest(people / "obama" / "obama.jpg")
    obama2 = pipeline.embed_largest(people / "obama" / "obama2.jpg")
    biden = pipeline.embed_largest(people / "biden" / "biden.jpg")
    same = pipeline.compare(obama, obama2)
    different = pipeline.compare(obama, biden)
    assert same.same and same.distance < 0.6 and same.threshold == 0.6 and same.threshold_name == "default"
    assert not different.same and different.distance > 0.6
    assert same.similarity > different.similarity
    assert same.metric == "euclidean" and same.model == "dlib-resnet-v1"


def test_batched_embedding_matches_one_face_at_a_time(pipeline, fixtures):
    image = pipeline.load(fixtures / "groups" / "t1.jpg")
    faces = pipeline.face_detector.detect(image)
    batch = embed_faces(pipeline.embedder, image, faces)
    for face, batched in zip(faces, batch):
        single = embed_faces(pipeline.embedder, image, [face])[0]
        np.testing.assert_allclose(single.template.vector, batched.template.vector, atol=1e-5)


def test_module_level_api(fixtures):
    faces = countenance.embed(fixtures / "probes" / "obama-720p.jpg")
    other = countenance.embed(fixtures / "probes" / "obama1.jpg")
    assert countenance.compare(faces[0], other[0]).same
    assert len(countenance.detect(fixtures / "groups" / "two_people.jpg")) == 2


def test_embed_largest_raises_without_a_face(pipeline, fixtures):
    path = fixtures / "noface" / "no_face.png"
    with pytest.raises(NoFaceFound) as caught:
        pipeline.embed_largest(path)
    assert str(caught.value) == f"{path}: no face found"


def test_thresholds_by_name_number_and_errors():
    assert resolve_threshold(DLIB_RESNET_SPEC, None) == (0.6, "default")
    assert resolve_threshold(DLIB_RESNET_SPEC, 0.0) == (0.0, "custom")  # 0 is a threshold, not "unset"
    with pytest.raises(ValueError, match="no threshold named 'loose'"):
        resolve_threshold(DLIB_RESNET_SPEC, "loose")
    with pytest.raises(ValueError, match=">= 0"):
        resolve_threshold(DLIB_RESNET_SPEC, -0.1)


def test_compare_refuses_other_models_and_sizes():
    a = Template(np.ones(128, np.float32), "dlib-resnet-v1")
    other_model = Template(np.ones(128, np.float32), "mobilefacenet")
    with pytest.raises(TemplateMismatch, match="'mobilefacenet'"):
        compare_templates(a, other_model, DLIB_RESNET_SPEC)
    with pytest.raises(TemplateMismatch, match="different sizes: 128 and 64"):
        pairwise_distances(np.ones(128), np.ones(64), "euclidean")
    with pytest.raises(ValueError, match="1-D"):
        Template(np.ones((2, 64)), "x")


def test_compare_threshold_zero_is_respected():
    a = Template(np.zeros(128, np.float32), "dlib-resnet-v1")
    b = Template(np.full(128, 0.01, np.float32), "dlib-resnet-v1")
    assert not compare_templates(a, b, DLIB_RESNET_SPEC, 0.0).same
    assert compare_templates(a, a, DLIB_RESNET_SPEC, 0.0).same


def test_distance_functions():
    a = np.array([[3.0, 4.0], [0.0, 0.0]])
    b = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(pairwise_distances(a, b, "euclidean"), [[5, 0], [0, 5]])
    np.testing.assert_allclose(cosine_similarity([1, 0], [[1, 0], [0, 1], [-1, 0]]), [[1, 0, -1]])
    np.testing.assert_allclose(cosine_similarity([0, 0], [[1, 0]]), [[0]])  # zero vector
    np.testing.assert_allclose(pairwise_distances([1, 0], [[0, 1]], "cosine"), [[1]])
    with pytest.raises(ValueError, match="unknown metric"):
        pairwise_distances(a, b, "manhattan")


def test_nearest_subject_open_set():
    templates = np.array([[0.0, 0.0], [1.0, 0.0]])
    assert nearest_subject(np.array([0.9, 0.0]), templates, ["a", "b"], "euclidean", 0.5).label == "b"
    unknown = nearest_subject(np.array([5.0, 5.0]), templates, ["a", "b"], "euclidean", 0.5)
    assert unknown.label is None and unknown.nearest_label == "b"
    empty = nearest_subject(np.array([0.0, 0.0]), np.zeros((0, 2)), [], "euclidean", 0.5)
    assert empty.label is None and empty.distance == float("inf")
    with pytest.raises(ValueError, match="2 labels for 1 templates"):
        nearest_subject(np.zeros(2), np.zeros((1, 2)), ["a", "b"], "euclidean", 0.5)


def test_unknown_embedder():
    with pytest.raises(UnknownBackend, match="unknown embedder 'facenet'"):
        make_embedder("facenet")


def test_jittered_templates_are_reproducible_and_close(fixtures):
    from countenance import Pipeline

    plain = Pipeline(detector="hog", embedder="dlib-onnx")
    jittered = Pipeline(detector="hog", embedder="dlib-onnx", num_jitters=5)
    path = fixtures / "people" / "obama" / "obama.jpg"
    once = jittered.embed_largest(path).template.vector
    again = jittered.embed_largest(path).template.vector
    np.testing.assert_array_equal(once, again)  # a fixed set of perturbations, not a global RNG
    base = plain.embed_largest(path).template.vector
    assert not np.allclose(once, base)
    assert cosine_similarity(once, base)[0, 0] > 0.99
    other_photo = jittered.embed_largest(fixtures / "people" / "obama" / "obama2.jpg")
    assert jittered.compare(other_photo, jittered.embed_largest(path)).same


def test_num_jitters_validation():
    with pytest.raises(ValueError, match="num_jitters must be an int >= 0"):
        make_embedder("dlib-onnx", num_jitters=-1)
    with pytest.raises(ValueError, match="dlib and dlib-onnx embedders only"):
        make_embedder("arcface:/nonexistent.onnx", num_jitters=3)


def test_default_pipeline_is_one_per_thread():
    """dlib's detectors crash when two threads share one: each thread gets its own pipeline."""
    import threading

    from countenance.pipeline import default_pipeline

    mine = default_pipeline()
    assert default_pipeline() is mine  # the same thread: the same pipeline
    seen = []
    worker = threading.Thread(target=lambda: seen.extend([default_pipeline(), default_pipeline()]))
    worker.start()
    worker.join()
    assert seen[0] is seen[1] and seen[0] is not mine
