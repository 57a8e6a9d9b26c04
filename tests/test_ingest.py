"""The one batch-embedding layer: every consumer gets the same template for the same image and
pipeline, the cache key follows every pipeline field, and the cache gives back what it stored."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from countenance.clean import TemplateOptions, compute_templates
from countenance.clean.dataset import read_dataset
from countenance.evaluate import embed_images
from countenance.ingest import (ALL_FACES, LARGEST_FACE, BatchEmbedder, CropSignature, GivenFace, GivenFaces, ImageJob,
                                Sharpness, TemplateCache, cache_key, embed_files)
from countenance.library import LibraryStore, index_folders
from countenance.evaluate.choice import PipelineChoice
from countenance.evaluate.variant_templates import Variant, embed_variant
from countenance.pipeline import PipelineConfig
from countenance.service.calibration import embed_paths
from countenance.service.evaluation import EvaluationRun
from countenance.service.options import PipelineOptions

CONFIG = PipelineConfig(detector="hog", embedder="dlib-onnx")


@pytest.fixture(scope="module")
def photos(fixtures, tmp_path_factory):
    """Two one-face photos in a folder per person (a data set, a library folder and an image set)."""
    root = tmp_path_factory.mktemp("photos")
    for person, name in (("obama", "obama.jpg"), ("biden", "biden.jpg")):
        (root / person).mkdir()
        shutil.copy(fixtures / "people" / person / name, root / person / name)
    return root


def test_every_consumer_gets_the_same_template(photos, tmp_path):
    names = ["obama/obama.jpg", "biden/biden.jpg"]
    paths = [str(photos / n) for n in names]
    with BatchEmbedder(CONFIG) as embedder:
        direct = {r.path: r for r in embedder.embed([ImageJob(p) for p in paths], choice=LARGEST_FACE)}
    evaluate = embed_images(paths, CONFIG)
    calibrate = embed_paths([photos / n for n in names], EvaluationRun(PipelineOptions(detector="hog", embedder="dlib-onnx"),
                                                                        workers=1), None, None)
    clean = compute_templates(read_dataset(photos).photos, TemplateOptions(CONFIG, workers=1)).records
    measure = embed_variant(photos, names, PipelineChoice("hog", "dlib-onnx"), Variant("clean"), cache_dir=tmp_path,
                            choose="largest")
    store = LibraryStore.open(tmp_path / "library.sqlite3")
    index_folders(store, [photos], workers=1, pipeline=CONFIG)
    by_photo = {p.id: p.path for p in store.photos()}
    library = {by_photo[f.photo_id]: np.asarray(f.template, np.float32) for f in store.faces(eligible_only=False)}
    store.close()
    for name, path in zip(names, paths):
        expected = direct[path].vector
        assert expected is not None and expected.shape == (128,)
        assert np.array_equal(evaluate[path].vector, expected)
        assert np.array_equal(calibrate[photos / name].vector, expected)
        assert np.array_equal(next(r for r in clean if str(r.photo.path) == path).faces[0].vector, expected)
        assert np.array_equal(measure[name].vector, expected)
        assert np.array_equal(library[path], expected)


def test_cache_key_follows_every_pipeline_field_the_choice_and_the_stages():
    base = PipelineConfig(detector="hog", embedder="dlib")
    keys = {cache_key(base.fingerprint, ALL_FACES, ())}
    for name, value in {"detector": "cnn", "upsample": 2, "try_rotations": False, "max_pixels": 1000,
                        "num_jitters": 1}.items():
        keys.add(cache_key(dataclasses.replace(base, **{name: value}).fingerprint, ALL_FACES, ()))
    keys.add(cache_key(base.fingerprint, LARGEST_FACE, ()))
    keys.add(cache_key(base.fingerprint, ALL_FACES, (Sharpness(),)))
    assert len(keys) == 8
    assert cache_key(dataclasses.replace(base, threads=3).fingerprint, ALL_FACES, ()) in keys  # speed only


def test_cache_gives_back_what_it_stored_and_is_read_on_a_second_run(photos, fixtures, tmp_path):
    group = tmp_path / "group.jpg"
    shutil.copy(fixtures / "groups" / "couple.jpg", group)
    jobs = [ImageJob(str(group)), ImageJob(str(photos / "obama" / "obama.jpg")), ImageJob(str(tmp_path / "missing.jpg"))]
    stages = (Sharpness(), CropSignature())
    with TemplateCache(tmp_path / "cache.sqlite") as cache, BatchEmbedder(CONFIG, lazy=True) as embedder:
        first, hits = embed_files(jobs, embedder, stages=stages, cache=cache)
        assert hits == 0 and len(first[0].faces) == 2
        assert not first[2].readable and first[2].error
        again, hits = embed_files(jobs, embedder, stages=stages, cache=cache)
    assert hits == 2
    for a, b in zip(first[:2], again[:2]):
        assert (a.width_px, a.height_px, a.orientation, a.sha256) == (b.width_px, b.height_px, b.orientation, b.sha256)
        for fa, fb in zip(a.faces, b.faces):
            assert fa.box == fb.box and fa.model == fb.model and fa.how == fb.how
            assert np.array_equal(fa.vector, fb.vector) and np.array_equal(fa.landmarks, fb.landmarks)
            assert fa.extras["sharpness"] == fb.extras["sharpness"] and fa.extras["face_hash"] == fb.extras["face_hash"]
            assert np.array_equal(fa.extras["thumbnail"], fb.extras["thumbnail"])
    # A cache hit starts no worker: a lazy embedder that was never needed never loads a model.
    with TemplateCache(tmp_path / "cache.sqlite") as cache:
        unused = BatchEmbedder(CONFIG, lazy=True)
        embed_files(jobs[:2], unused, stages=stages, cache=cache)
        assert unused._pool is None
        unused.close()


def test_given_faces_are_embedded_where_given_from_a_file_or_its_bytes(fixtures, tmp_path):
    """Faces given by box and landmarks (or by box alone: the landmarker places them) get the
    templates the detected faces got, in the order given; an image's bytes read like its file."""
    group = str(fixtures / "groups" / "couple.jpg")
    with BatchEmbedder(CONFIG) as embedder:
        (detected,) = embedder.embed_images([group])
        assert len(detected.faces) == 2
        given = tuple(GivenFace(tuple(f.box.to_list()), f.landmarks, "stored") for f in reversed(detected.faces))
        placed = tuple(GivenFace(tuple(f.box.to_list())) for f in reversed(detected.faces))
        with open(group, "rb") as handle:
            data = handle.read()
        again, from_bytes, by_box, missing = embedder.embed_images(
            [group, data, group, str(tmp_path / "gone.jpg")], choice=GivenFaces(), contexts=[given, given, placed, given])
    expected = [f.vector for f in reversed(detected.faces)]
    for record in (again, from_bytes, by_box):
        assert record.error is None and [f.how for f in record.faces] == [g.how for g in (given if record is not by_box
                                                                                          else placed)]
        for face, vector in zip(record.faces, expected, strict=True):
            assert float(np.dot(face.vector, vector) / np.linalg.norm(face.vector) / np.linalg.norm(vector)) > 0.9999
    assert missing.faces == () and not missing.readable and "gone.jpg" in missing.error


def test_chunks_cover_every_job_once_and_shrink_at_the_end_with_workers():
    from countenance.ingest.batch import _chunk_bounds

    for count, size, workers in [(1000, 16, 2), (37, 16, 2), (5, 16, 1), (1000, 16, 1), (97, 8, 3)]:
        bounds = _chunk_bounds(count, size, workers)
        assert [i for start, end in bounds for i in range(start, end)] == list(range(count))
        assert max(end - start for start, end in bounds) <= size
        if workers == 1:
            assert all(end - start == size for start, end in bounds[:-1])
    tail = _chunk_bounds(1000, 16, 2)
    assert tail[0] == (0, 16) and tail[-1][1] - tail[-1][0] <= 4  # full chunks first, quarter chunks last
