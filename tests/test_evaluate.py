"""Evaluation summaries (pure functions) and the pairs readers, on real files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from countenance.calibration.rates import best_accuracy_threshold
from countenance.errors import InvalidArgument, InvalidPairsFile
from countenance.evaluate import (
    assign_folds,
    evaluate_pairs,
    kfold_accuracy,
    read_lfw_pairs,
    read_pairs_csv,
    roc_auc,
)


def test_best_accuracy_threshold_separable():
    t, accuracy = best_accuracy_threshold([0.1, 0.2, 0.3], [0.7, 0.8])
    assert 0.3 < t < 0.7 and t == pytest.approx(0.5) and accuracy == 1.0


def test_best_accuracy_threshold_edges_and_ties():
    with pytest.raises(InvalidArgument):
        best_accuracy_threshold([], [])
    assert best_accuracy_threshold([], [0.5, 0.6])[0] < 0.5  # one class (a fold): accept nothing
    assert best_accuracy_threshold([0.5, 0.6], [])[0] >= 0.6  # accept all
    # A threshold never cuts inside a run of equal distances.
    d = np.array([0.4, 0.4, 0.4, 0.9])
    y = np.array([True, False, True, False])
    t, accuracy = best_accuracy_threshold(d[y], d[~y])
    assert t < 0.4 or t > 0.4
    assert np.mean((d <= t) == y) == pytest.approx(0.75) == accuracy


def test_kfold_threshold_comes_from_the_other_folds():
    # Fold 0 alone would want a threshold near 0.95; the other folds agree on ~0.5.
    d = np.array([0.9, 1.0, 0.1, 0.9, 0.1, 0.9])
    y = np.array([True, False, True, False, True, False])
    folds = np.array([0, 0, 1, 1, 2, 2])
    accuracies, thresholds = kfold_accuracy(d, y, folds)
    assert accuracies[0] == pytest.approx(0.5)  # 0.9 same pair rejected at t=0.5
    assert accuracies[1] == 1.0 and accuracies[2] == 1.0
    assert thresholds[0] == pytest.approx(0.5)


def test_roc_auc():
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.35, 0.5, 0.6, 0.7])
    y = np.array([True, True, True, True, False, False, False, False])
    assert roc_auc(d, y) == pytest.approx(15 / 16)
    assert np.isnan(roc_auc(d[:4], y[:4]))


def test_assign_folds_is_stratified():
    same = np.array([True] * 25 + [False] * 30)
    folds = assign_folds(same)
    assert len(np.unique(folds)) == 10
    for fold in range(10):
        assert same[folds == fold].any() and (~same[folds == fold]).any()
    assert len(np.unique(assign_folds(np.array([True, True, False])))) == 1


def test_read_official_lfw_pairs(lfw):
    pairs = read_lfw_pairs(lfw)
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert sorted({p.fold for p in pairs}) == list(range(10))
    assert all(sum(1 for p in pairs if p.fold == f and p.same) == 300 for f in range(10))
    first = pairs[0]
    assert first.same and first.path_x.name == "Abel_Pacheco_0001.jpg" and first.path_y.name == "Abel_Pacheco_0004.jpg"
    for pair in pairs[::500]:
        assert pair.path_x.is_file() and pair.path_y.is_file()


def test_malformed_lfw_pairs_name_the_line(tmp_path):
    (tmp_path / "pairs.txt").write_text("1\t1\nAlice\t1\t2\nBob\t1\n")
    with pytest.raises(InvalidPairsFile, match=r"pairs.txt:3: expected 3 or 4 fields"):
        read_lfw_pairs(tmp_path)
    (tmp_path / "pairs.txt").write_text("ten folds\n")
    with pytest.raises(InvalidPairsFile, match=r"pairs.txt:1: expected '<folds> <pairs per class>'"):
        read_lfw_pairs(tmp_path)
    (tmp_path / "pairs.txt").write_text("1\t5\nAlice\t1\t2\n")
    with pytest.raises(InvalidPairsFile, match="1 pairs, the header promises 10"):
        read_lfw_pairs(tmp_path)
    with pytest.raises(InvalidPairsFile, match="no such file"):
        read_lfw_pairs(tmp_path / "missing")


def test_read_pairs_csv_labels_and_errors(tmp_path):
    (tmp_path / "p.csv").write_text("file_x,file_y,same\na.jpg,b.jpg,yes\na.jpg,c.jpg,0\nb.jpg,c.jpg,TRUE\nc.jpg,d.jpg,no\n")
    pairs = read_pairs_csv(tmp_path / "p.csv")
    assert [p.same for p in pairs] == [True, False, True, False]
    assert pairs[0].path_x == tmp_path / "a.jpg"
    assert read_pairs_csv(tmp_path / "p.csv", root="/data")[0].path_x.as_posix() == "/data/a.jpg"
    (tmp_path / "bad.csv").write_text("file_x,file_y,same\na.jpg,b.jpg,maybe\n")
    with pytest.raises(InvalidPairsFile, match=r"bad.csv:2: 'same' must be 1/0, yes/no or true/false, got 'maybe'"):
        read_pairs_csv(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("a,b,same\n1,2,1\n")
    with pytest.raises(InvalidPairsFile, match="missing column"):
        read_pairs_csv(tmp_path / "cols.csv")
    (tmp_path / "empty.csv").write_text("file_x,file_y,same\n")
    with pytest.raises(InvalidPairsFile, match="no pairs"):
        read_pairs_csv(tmp_path / "empty.csv")


def _fixture_pairs_csv(tmp_path, fixtures, extra_rows: str = "") -> None:
    people = fixtures / "people"
    for src in [people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg", people / "biden" / "biden.jpg",
                people / "biden" / "biden2.jpg", people / "kit_harington" / "john1.jpeg",
                people / "kit_harington" / "john2.jpeg", fixtures / "noface" / "no_face.png"]:
        shutil.copy(src, tmp_path / src.name)
    (tmp_path / "pairs.csv").write_text(
        "file_x,file_y,same\n"
        "obama.jpg,obama2.jpg,1\nbiden.jpg,biden2.jpg,1\njohn1.jpeg,john2.jpeg,1\n"
        "obama.jpg,biden.jpg,0\nbiden2.jpg,john1.jpeg,0\nobama2.jpg,john2.jpeg,0\n" + extra_rows
    )


def test_evaluate_pairs_on_real_photos(tmp_path, fixtures):
    _fixture_pairs_csv(tmp_path, fixtures)
    report = evaluate_pairs(read_pairs_csv(tmp_path / "pairs.csv"))
    assert report.pairs == 6 and report.images == 6 and report.failures == 0
    assert report.accuracy == 1.0 and report.auc == 1.0
    assert report.found_by == {"detected": 6}


def test_a_pair_without_a_face_counts_as_wrong(tmp_path, fixtures):
    _fixture_pairs_csv(tmp_path, fixtures, "no_face.png,obama.jpg,1\nno_face.png,biden.jpg,0\n")
    report = evaluate_pairs(read_pairs_csv(tmp_path / "pairs.csv"))
    assert report.failures == 2
    assert report.failed_images == [f"{tmp_path / 'no_face.png'}: no face found"]
    assert report.found_by["failed"] == 1
    assert report.accuracy == pytest.approx(6 / 8)  # both failed pairs wrong, whatever the threshold


def test_lfw_bystander_at_the_edge_is_not_taken_for_the_labelled_person(lfw):
    from countenance.evaluate import LFW_CENTRE_BOX, embed_images
    from countenance.pipeline import PipelineConfig

    # HOG finds only a bystander at the left edge of this image; the labelled (central)
    # face must come from the CNN fallback instead.
    path = str(lfw / "images" / "Tung_Chee-hwa" / "Tung_Chee-hwa_0001.jpg")
    config = PipelineConfig(detector="hog", embedder="dlib-onnx")
    result = embed_images([path], config, choose="central", centre_box=LFW_CENTRE_BOX)[path]
    assert result.how == "cnn" and result.vector is not None
    largest = embed_images([path], config, choose="largest")[path]
    assert largest.how == "detected"
    assert np.linalg.norm(largest.vector - result.vector) > 0.6  # two different people


def test_first_per_fold_keeps_every_fold_and_class(lfw):
    from countenance.errors import InvalidArgument
    from countenance.evaluate import first_per_fold

    pairs = read_lfw_pairs(lfw)
    subset = first_per_fold(pairs, 3)
    assert len(subset) == 10 * 2 * 3
    assert {(p.fold, p.same) for p in subset} == {(p.fold, p.same) for p in pairs}
    assert subset[:3] == [p for p in pairs if p.fold == 0 and p.same][:3]
    with pytest.raises(InvalidArgument):
        first_per_fold(pairs, 0)


def test_fnir_at_fpir_edges():
    from countenance.calibration.rates import fnir_at_fpir

    nonmated = np.array([0.5, 0.6, 0.7, 0.8])
    mated = np.array([0.3, 0.55, 0.9])
    right = np.array([True, True, False])
    threshold, fnir = fnir_at_fpir(mated, right, nonmated, 0.25)  # one of four non-mated may be named
    assert 0.5 < threshold < 0.6 and fnir == pytest.approx(1 / 3)
    threshold, fnir = fnir_at_fpir(mated, right, nonmated, 0.0)  # none may: just below the closest
    assert threshold < 0.5 and fnir == pytest.approx(2 / 3)
    threshold, fnir = fnir_at_fpir(mated, right, nonmated, 1.0)
    assert threshold == np.inf and fnir == pytest.approx(1 / 3)  # the wrong top-1 stays wrong
    assert np.isnan(fnir_at_fpir(np.array([]), np.array([], bool), nonmated, 0.1)[1])


def test_open_set_identification_through_a_gallery(fixtures, pipeline):
    """The LFW one-template protocol on the fixture people (real templates, a real gallery):
    people with several photos are enrolled with the first, strangers come out unknown."""
    from countenance.evaluate import LfwTemplates
    from countenance.evaluate.lfw_open_set import lfw_open_set

    images = fixtures / "people"
    chosen = ("obama", "biden", "alex_lacamoire", "paul_rudd")  # two with several photos, two strangers: keeps it quick
    paths = sorted(f"{p.parent.name}/{p.name}" for p in images.glob("*/*") if p.is_file() and p.parent.name in chosen)
    vectors = np.stack([pipeline.embed_largest(images / rel).template.vector for rel in paths]).astype(np.float32)
    templates = LfwTemplates(paths, vectors, [p.split("/")[0] for p in paths], pipeline.spec.name, pipeline.spec.metric)
    people = {p.split("/")[0] for p in paths}
    several = {person for person in people if sum(p.startswith(person + "/") for p in paths) >= 2}
    report = lfw_open_set(templates, images, pipeline.spec, protocol="one", splits=False).in_sample
    assert report.subjects == report.templates == len(several) >= 2
    assert report.mated_probes == sum(p.split("/")[0] in several for p in paths) - len(several)
    assert report.non_mated_probes == len(people) - len(several)
    at_default = report.at_gallery_threshold[0]
    assert report.cmc[0] == 1.0 and at_default.measured_fpir == 0.0 and at_default.fnir == 0.0
    document = report.to_dict()
    assert [p["fpir"] for p in document["fnir_at_fpir"]] == [0.01, 0.001]