"""`countenance calibrate` and `countenance eval identify` on the real fixture photos (one folder
per person), through the real CLI, pipeline (hog) and a real temporary gallery."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from countenance.cli import app
from countenance.calibration import load_calibration

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def probe_folders(tmp_path_factory, fixtures) -> tuple[Path, Path]:
    """The fixture probes of enrolled people in a folder per person, and lin-manuel-miranda (not enrolled) apart."""
    root = tmp_path_factory.mktemp("probes")
    src = fixtures / "probes"
    for person, files in {
        "obama": ["obama1.jpg", "obama-240p.jpg", "obama-720p.jpg"],
        "kit_harington": ["johnsnow_test1.jpg"],
        "alex_lacamoire": ["alex_lacamoire1.jpg", "alex-lacamoire.png"],
        "lin_manuel_miranda": ["lin-manuel-miranda.png"],  # has no gallery folder: non-mated
    }.items():
        (root / "probes" / person).mkdir(parents=True)
        for name in files:
            shutil.copy(src / name, root / "probes" / person / name)
    (root / "strangers" / "nobody").mkdir(parents=True)
    shutil.copy(fixtures / "noface" / "no_face.png", root / "strangers" / "nobody" / "no_face.png")
    return root / "probes", root / "strangers"


def test_eval_identify_on_fixture_folders(fixtures, probe_folders):
    probes, strangers = probe_folders
    result = run("eval", "identify", "--gallery-dir", fixtures / "people", "--probe-dir", probes,
                 "--unenrolled-dir", strangers, "--detector", "hog", "--ranks", "3", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["subjects"] == 9 and report["templates"] == 14
    assert report["templates_per_subject"] == {"1": 5, "2": 3, "3": 1}
    assert report["mated_probes"] == 6 and report["non_mated_probes"] == 2 and report["probes_without_face"] == 1
    assert report["cmc"] == [1.0, 1.0, 1.0]
    default, strict = report["at_gallery_threshold"]
    assert default["target_fpir"] == 0.01 and strict["target_fpir"] == 0.001
    assert strict["threshold"] < default["threshold"]
    # Every enrolled person's probe is named at the default threshold; lin-manuel-miranda is not.
    assert default["fnir"] == 0.0 and default["false_positives"] == 0
    assert default["expected_fpir"] == pytest.approx(0.01, rel=1e-3)


def test_eval_identify_rejects_bad_arguments(fixtures, probe_folders, tmp_path):
    probes, _ = probe_folders
    bad = run("eval", "identify", "--gallery-dir", fixtures / "people", "--probe-dir", probes, "--fpirs", "0.01,x")
    assert bad.exit_code == 2 and "--fpirs" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = run("eval", "identify", "--gallery-dir", empty, "--probe-dir", probes)
    assert bad.exit_code == 2 and "no person folder" in bad.stderr


def test_calibrate_from_folders_writes_a_table_the_gallery_reads(fixtures, tmp_path):
    out = tmp_path / "table.json"
    result = run("calibrate", "--folders", fixtures / "people", "--detector", "hog", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # 14 photos of 9 people: obama 3, biden 2, kit 2, rose 2 -> 3 + 1 + 1 + 1 genuine pairs of 91.
    assert summary["images"] == 14 and summary["people"] == 9
    assert summary["genuine_pairs"] == 6 and summary["impostor_pairs"] == 85
    table = load_calibration("dlib-resnet-v1", out)
    assert table is not None and table.impostor_pairs == 85 and table.genuine_pairs == 6
    assert table.effective is not None and list(table.effective.templates) == [1, 2, 3]
    assert np.all(np.diff(table.fnmr) <= 0) and table.fnmr[-1] == 0.0  # every same-person pair is closer than the farthest impostor
    assert 1.0 <= table.effective_templates(2, 0.6) <= 2.0


def test_calibrate_from_pairs_csv(fixtures, tmp_path):
    probes = fixtures / "probes"
    csv_path = tmp_path / "pairs.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_x", "file_y", "same"])
        writer.writerow([probes / "obama1.jpg", probes / "obama-720p.jpg", 1])
        writer.writerow([probes / "obama1.jpg", probes / "lin-manuel-miranda.png", 0])
        writer.writerow([probes / "johnsnow_test1.jpg", probes / "alex_lacamoire1.jpg", 0])
        writer.writerow([probes / "alex_lacamoire1.jpg", probes / "lin-manuel-miranda.png", 0])
    result = run("calibrate", "--pairs", csv_path, "--detector", "hog", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["impostor_pairs"] == 3 and summary["genuine_pairs"] == 1 and summary["out"] is None
    assert summary["effective_templates"] == {}  # pairs carry no people
    both = run("calibrate", "--pairs", csv_path, "--folders", fixtures / "people")
    assert both.exit_code == 2 and "exactly one" in both.stderr
