"""Any registered recogniser works end to end: the test-only ArcFace-style MobileFaceNet
(../shared/models/test-only), calibrated on an LFW subset by ``countenance calibrate --install``,
then through identify (a gallery of its own), library index + people + suggest, clean and
eval lfw, with YuNet finding the faces. Its cuts are dlib's carried through the two
calibrations (:mod:`countenance.calibration.cuts`), never dlib's numbers; a library or gallery
of this model refuses dlib's templates, naming both models and ``models migrate``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from countenance.calibration.cuts import REFERENCE_MODEL, cuts_for
from countenance.clean import CleanOptions
from countenance.errors import CalibrationMissing
from countenance.faces import Metric, ModelRecord
from countenance.gallery import Gallery
from countenance.calibration import load_calibration
from countenance.library.cluster import ClusterOptions

from support import run_cli as run, run_cli_json as run_json


# The model's pixel normalisation and layout (see tests/test_fast_path.py); its threshold is
# replaced by the gallery's calibrated one.
SIDECAR = {"name": "mobilefacenet-any", "embedding_size": 128, "metric": "cosine", "thresholds": {"default": 0.7},
           "input_size": 112, "mean": [127.5] * 3, "std": [128.0] * 3, "colour_order": "RGB", "layout": "NCHW"}


# Every fixture photo Obama is in (fixtures/README.md; 32bit.png is one of him).
OBAMA = {"obama.jpg", "obama2.jpg", "obama3.jpg", "obama1.jpg", "obama-240p.jpg", "obama-720p.jpg", "obama_partial_face.jpg",
         "obama_partial_face2.jpg", "obama_and_biden.jpg", "32bit.png"}


@pytest.fixture(scope="module")
def arcface(tmp_path_factory, models, lfw, yunet_models) -> dict:
    """The model copied beside its sidecar, calibrated on the first 120 LFW people (up to 3
    photos each) and installed in this module's own calibration folder."""
    root = tmp_path_factory.mktemp("any-recogniser")
    model = root / "mobilefacenet.onnx"
    shutil.copy(models / "test-only" / "mobilefacenet_112_128d.onnx", model)
    model.with_suffix(".json").write_text(json.dumps(SIDECAR))
    embedder = f"arcface:{model}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COUNTENANCE_CALIBRATION_DIR", str(root / "calibration"))
        result = run_json("calibrate", lfw, "--embedder", embedder, "--detector", "yunet", "--max-people", 120,
                          "--max-images-per-person", 3, "--install")
        yield {"embedder": embedder, "model": result["model"], "calibrated": result, "root": root}


def test_calibrate_installs_a_table_the_cuts_come_from(arcface):
    calibrated = arcface["calibrated"]
    model = arcface["model"]
    assert model.startswith("arcface-mobilefacenet-any-") and calibrated["metric"] == "cosine"
    assert calibrated["people"] == 120 and calibrated["impostor_pairs"] > 10_000 and calibrated["genuine_pairs"] > 50
    assert calibrated["installed"] and Path(calibrated["installed"]).is_file()
    table = load_calibration(model)  # found by name, as every later command finds it
    assert table is not None and table.fnmr is not None
    dlib = load_calibration(REFERENCE_MODEL)
    record = ModelRecord(model, Metric.COSINE, 128, 0.7)
    options = ClusterOptions.for_model(record)

    def carried(d: float) -> float:  # FMR on dlib -> the distance at that FMR -> unit-vector Euclidean
        return math.sqrt(2.0 * table.distance_at_fmr(dlib.false_match_rate(d)))

    default = ClusterOptions()
    for name in ("max_distance", "max_pair_distance", "link_distance", "attach_distance"):
        assert getattr(options, name) == pytest.approx(carried(getattr(default, name)), abs=1e-12)
        assert getattr(options, name) != getattr(default, name)
    assert options.neighbours == default.neighbours and options.min_faces == default.min_faces
    # dlib's own cuts are its numbers, bit for bit; a model never calibrated has none.
    assert ClusterOptions.for_model(ModelRecord(REFERENCE_MODEL, Metric.EUCLIDEAN, 128, 0.6)) == default
    assert cuts_for(REFERENCE_MODEL, "euclidean").margin(0.06) == 0.06
    with pytest.raises(CalibrationMissing, match="countenance calibrate"):
        ClusterOptions.for_model(ModelRecord("arcface-never-measured", Metric.COSINE, 128, 0.7))


@pytest.fixture(scope="module")
def gallery(arcface, fixtures) -> Path:
    """A gallery of the model with the fixture people enrolled (no consent records needed)."""
    folder = arcface["root"] / "gallery"
    run_json("gallery", "init", "--gallery", folder, "--embedder", arcface["embedder"], "--no-consent-required")
    for person in ("obama", "biden", "kit_harington", "rose_leslie", "alex_lacamoire"):
        run_json("enroll", person, *sorted((fixtures / "people" / person).iterdir()), "--gallery", folder,
                 "--embedder", arcface["embedder"], "--detector", "yunet", "--largest")
    return folder


def test_identify_names_a_known_probe_and_not_a_stranger(arcface, gallery, fixtures):
    info = run_json("gallery", "info", "--gallery", gallery)
    assert info["model"] == arcface["model"] and info["calibration"] is not None
    with Gallery(gallery) as opened:  # the model declares no tie margin: dlib's 0.04, carried
        table, dlib = load_calibration(arcface["model"]), load_calibration(REFERENCE_MODEL)
        assert opened.model.tie_margin == table.carried_margin(dlib, 0.04, at=0.6) > 0
    probes = fixtures / "probes"
    found = run_json("identify", probes / "obama1.jpg", probes / "johnsnow_test1.jpg", probes / "lin-manuel-miranda.png",
                     "--gallery", gallery, "--embedder", arcface["embedder"], "--detector", "yunet")
    decisions: dict[str, list] = {}
    for face in found["faces"]:
        decisions.setdefault(Path(face["path"]).name, []).append(face["decision"])
    assert decisions == {"obama1.jpg": ["obama"], "johnsnow_test1.jpg": ["kit_harington"],
                         "lin-manuel-miranda.png": ["unknown"]}
    # The gallery refuses dlib's templates, naming both models and the migration.
    refused = run("identify", probes / "obama1.jpg", "--gallery", gallery, "--embedder", "dlib-onnx", "--detector", "yunet")
    assert refused.exit_code == 2 and "dlib-resnet-v1" in refused.output and "models migrate" in refused.output


def test_library_finds_people_and_suggests_names(arcface, gallery, fixtures):
    photos, library = arcface["root"] / "photos", arcface["root"] / "library"
    shutil.copytree(fixtures / "people", photos / "people")
    shutil.copytree(fixtures / "probes", photos / "probes")
    indexed = run_json("library", "index", photos, "--library", library, "--gallery", gallery,
                       "--embedder", arcface["embedder"], "--detector", "yunet", "--workers", 1)
    assert indexed["index"]["faces_added"] >= 20 and indexed["clustering"]["persons"] >= 1
    people = run_json("library", "people", "--library", library, "--faces")["people"]
    # One person, grouped: the largest group holds Obama's photos, and only his.
    largest = {Path(face["path"]).name for face in people[0]["face_list"]}
    assert len(people[0]["face_list"]) >= 6 and {"obama1.jpg", "obama-720p.jpg"} <= largest
    assert largest <= OBAMA, largest - OBAMA
    suggested = run_json("library", "suggest", "--library", library, "--gallery", gallery)
    named = {(Path(item["path"]).name, item["subject"]) for item in suggested["suggestions"]}
    assert suggested["summary"]["suggestions"] == len(named) >= 3
    assert ("obama1.jpg", "obama") in named and ("johnsnow_test1.jpg", "kit_harington") in named
    assert not any(name == "lin-manuel-miranda.png" for name, _ in named)
    # The library refuses dlib's templates: another model's faces would be stacked with these.
    (photos / "more").mkdir()
    shutil.copy(fixtures / "groups" / "two_people.jpg", photos / "more" / "two_people.jpg")
    refused = run("library", "index", photos / "more", "--library", library, "--embedder", "dlib-onnx",
                  "--detector", "yunet", "--workers", 1)
    assert refused.exit_code == 2, refused.output
    assert arcface["model"] in refused.output and "dlib-resnet-v1" in refused.output and "models migrate" in refused.output


def test_clean_finds_a_photo_in_the_wrong_folder(arcface, fixtures):
    dataset = arcface["root"] / "dataset"
    shutil.copytree(fixtures / "people", dataset)
    intruder = sorted((fixtures / "people" / "biden").iterdir())[0]
    shutil.copy(intruder, dataset / "obama" / f"intruder{intruder.suffix}")
    report = run_json("clean", dataset, "--embedder", arcface["embedder"], "--detector", "yunet", "--workers", 1)
    table = load_calibration(arcface["model"])
    assert report["model"] == arcface["model"]
    assert report["cut_distance"] == pytest.approx(table.distance_at_fmr(CleanOptions().cut_fmr), abs=1e-4)  # JSON: 4 places
    found = sorted((finding["kind"], tuple(finding["items"])) for finding in report["findings"])
    # The copy is Biden filed under Obama (carried to Biden's folder), and a copy of his photo.
    copy = f"obama/intruder{intruder.suffix}"
    assert found == [("mislabel", (copy,)), ("near_duplicate", tuple(sorted((f"biden/{intruder.name}", copy))))], found


def test_eval_lfw_on_a_subset(arcface, lfw):
    report = run_json("eval", "lfw", "--lfw-dir", lfw, "--embedder", arcface["embedder"], "--detector", "yunet",
                      "--per-fold", 4, "--workers", 1)
    assert report["model"] == arcface["model"] and report["pairs"] == 80 and report["failures"] == 0
    assert report["accuracy"] >= 0.85 and report["auc"] >= 0.9


def test_a_library_refuses_to_cluster_two_models(tmp_path):
    """Faces of two models in one library (written around the indexer's check) are never
    stacked: clustering refuses them, naming both models and the migration."""
    import numpy as np

    from countenance.errors import TemplateMismatch
    from countenance.library import Library

    with Library.open(tmp_path / "library") as library:
        store = library.store
        with store.transaction():
            photo = store.upsert_photo(str(tmp_path / "a.jpg"), "0" * 64, 1, 1, 100, 100, 1, None)
            for k, model in enumerate((REFERENCE_MODEL, "arcface-other")):
                store.write_face(None, photo, (k, 0, k + 50, 50), 1.0, 100.0, 0, None, np.ones(128, np.float32), model, None)
        with pytest.raises(TemplateMismatch, match="models migrate") as refused:
            library.recluster()
        assert REFERENCE_MODEL in str(refused.value) and "arcface-other" in str(refused.value)
