"""Calibration tables the user installs (found by ``load_calibration``, private files), and the one
metric vocabulary: each error rate is computed by one function, in countenance.calibration.rates."""

from __future__ import annotations

import ast
import json
import stat
from pathlib import Path

import numpy as np
import pytest

from countenance.calibration import (
    build_calibration,
    install_calibration,
    installed_calibration_path,
    load_calibration,
    lfw_subject_calibration,
    save_calibration,
    table_from_folders,
)
from countenance.calibration.rates import det_curve, fmr_at, fnmr_at, fnmr_at_fmr, threshold_at_fmr
from countenance.errors import GalleryError, InvalidArgument

SRC = Path(__file__).resolve().parents[1] / "src" / "countenance"
RNG = np.random.default_rng(7)


def made_up_table(model: str):
    impostor = RNG.uniform(0.8, 1.4, size=500)
    genuine = RNG.uniform(0.2, 0.9, size=50)
    return build_calibration(impostor, model=model, metric="cosine", genuine_distances=genuine, source="made up")


def test_an_installed_table_is_found_by_model_name_and_private(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "calibration"
    monkeypatch.setenv("COUNTENANCE_CALIBRATION_DIR", str(folder))
    model = "arcface-test-only-0123456789ab"
    assert load_calibration(model) is None  # nothing ships for it
    table = made_up_table(model)
    written = install_calibration(table)
    assert written == folder / f"{model}.json" == installed_calibration_path(model)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    again = load_calibration(model)
    assert again is not None and again.to_dict() == table.to_dict()
    assert again.distance_at_fmr(0.01) == pytest.approx(table.distance_at_fmr(0.01))
    assert [p.name for p in folder.iterdir()] == [written.name]  # no partial file left behind
    # A second install replaces the first.
    install_calibration(made_up_table(model))
    assert load_calibration(model).to_dict() != table.to_dict()


def test_an_installed_table_replaces_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.setenv("COUNTENANCE_CALIBRATION_DIR", str(tmp_path))
    shipped = load_calibration("dlib-resnet-v1")
    assert shipped is not None and shipped.impostor_pairs > 1_000_000
    install_calibration(made_up_table("dlib-resnet-v1"))
    assert load_calibration("dlib-resnet-v1").impostor_pairs == 500
    assert load_calibration("dlib-resnet-v1", path=tmp_path / "dlib-resnet-v1.json").impostor_pairs == 500


def test_tables_for_another_model_or_a_bad_name_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("COUNTENANCE_CALIBRATION_DIR", str(tmp_path))
    (tmp_path / "model-a.json").write_text(json.dumps(made_up_table("model-b").to_dict()))
    with pytest.raises(GalleryError, match="model-b"):
        load_calibration("model-a")
    (tmp_path / "model-c.json").write_text("{not json")
    with pytest.raises(GalleryError, match="not JSON"):
        load_calibration("model-c")
    with pytest.raises(InvalidArgument):
        install_calibration(made_up_table("../escape"))
    assert not (tmp_path.parent / "escape.json").exists()


def test_saved_tables_are_private_files(tmp_path):
    path = save_calibration(made_up_table("m"), tmp_path / "table.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_calibration("m", path=path).genuine_pairs == 50


def test_a_table_from_labelled_folders_on_any_scale():
    """Cosine-like distances around 1 (not dlib's 0.3-0.7): the effective-templates grid follows them."""
    people = [p for p in "ABCDEF" for _ in range(4)]
    centres = {p: RNG.normal(size=16) for p in "ABCDEF"}
    vectors = np.stack([centres[p] + 0.4 * RNG.normal(size=16) for p in people])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    table = table_from_folders(vectors, people, model="m", metric="cosine", source="made up")
    assert table.impostor_pairs == 6 * 5 // 2 * 16 and table.genuine_pairs == 6 * 6
    assert table.effective is not None
    assert table.effective.distances.min() >= table.distances[0] and table.effective.distances.max() <= table.distances[-1]
    with pytest.raises(InvalidArgument):
        table_from_folders(vectors[:4], people[:4], model="m", metric="cosine", source="one person")


def test_an_lfw_style_table_leaves_out_label_errors_and_uses_first_images():
    """Two names of one person (an LFW label error) are no impostor pair; each person's first
    template is their one in the per-comparison table; the rest feed the effective templates."""
    names = ["Bart_Hendricks", "Ricky_Ray", "C", "D", "E"]  # the first two: one LFW label error
    people = [n for n in names for _ in range(3)]
    centres = {n: RNG.normal(size=8) for n in names}
    vectors = np.stack([centres[p] + 0.3 * RNG.normal(size=8) for p in people])
    result, rates = lfw_subject_calibration(vectors, people, model="m", metric="euclidean")
    assert result.people == 5 and result.excluded_pairs == (("Bart_Hendricks", "Ricky_Ray"),)
    assert result.calibration.impostor_pairs == 5 * 4 // 2 - 1 == result.distances.size
    first = vectors[::3]
    assert np.isclose(result.distances, np.linalg.norm(first[2] - first[3]), rtol=1e-5).any()  # C's and D's first
    assert result.calibration.effective is not None and list(rates.templates) == [1, 2, 3]
    subset, _ = lfw_subject_calibration(vectors, people, model="m", metric="euclidean", subset={"C", "D", "E"})
    assert subset.people == 3 and subset.excluded_pairs == () and subset.calibration.impostor_pairs == 3


# ---------------------------------------------------------------- one function per rate

#: Name fragments of a rate or of a threshold chosen at one.
_RATE_WORDS = ("fmr", "fnmr", "fpir", "fnir", "tar", "far", "accuracy_threshold", "best_threshold")


def _module_functions() -> dict[str, list[str]]:
    """``{function name: modules defining it}`` over the package's module-level functions."""
    found: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                found.setdefault(node.name, []).append(path.relative_to(SRC).as_posix())
    return found


def test_each_rate_is_computed_in_one_module_only():
    rates = {name for name, where in _module_functions().items() if where == ["calibration/rates.py"]}
    elsewhere = {
        name: where for name, where in _module_functions().items()
        if any(word in name.lstrip("_").split("_") or word in name for word in _RATE_WORDS)
        and where != ["calibration/rates.py"]
    }
    # Allowed elsewhere: uses of a rate that compute none themselves (a table lookup, a wrapper
    # that returns NaN for one class, a per-group matrix of counts).
    assert set(elsewhere) <= {"expected_fpir", "_fnmr_at_fmr", "cross_group_fmr"}, elsewhere
    assert {"fmr_at", "fnmr_at", "threshold_at_fmr", "fnmr_at_fmr", "best_accuracy_threshold",
            "fpir_at_threshold", "fnir_at_threshold", "fnir_at_fpir", "fmr_for_fpir", "fpir_for_fmr"} <= rates
    assert not {"tar_at_far", "best_threshold"} & set(_module_functions())


def test_the_rates_agree_with_each_other():
    genuine, impostor = RNG.uniform(0.2, 0.9, 300), RNG.uniform(0.6, 1.4, 2000)
    curve = det_curve(genuine, impostor)
    assert np.array_equal(curve.fmr, fmr_at(impostor, curve.thresholds))
    assert np.array_equal(curve.fnmr, fnmr_at(genuine, curve.thresholds))
    point = fnmr_at_fmr(genuine, impostor, 1e-2)
    assert point.threshold == threshold_at_fmr(impostor, 1e-2) and point.fmr <= 1e-2
    assert point.fnmr == fnmr_at(genuine, [point.threshold])[0]
    table = build_calibration(impostor, model="m", metric="cosine", genuine_distances=genuine)
    assert np.array_equal(table.fmr, fmr_at(impostor, table.distances))
    assert np.array_equal(table.fnmr, fnmr_at(genuine, table.distances))
