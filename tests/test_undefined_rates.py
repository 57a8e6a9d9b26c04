"""A rate with nothing to measure it on (FPIR without non-mated probes, FNIR and the CMC without
mated ones, FNMR without genuine pairs) is undefined: `eval identify` and `calibrate` write it as
null with the reason in the JSON document, say "undefined (...)" in the table, and exit 1 (a
partial result), never a NaN (invalid JSON) or a traceback. Real fixture photos, real pipeline
(hog), real temporary gallery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from countenance.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def folders(tmp_path_factory, fixtures) -> dict[str, Path]:
    """A gallery of obama (2 photos) and biden (1); mated-only probes (obama's third photo) and
    non-mated-only probes (lin-manuel-miranda, not enrolled)."""
    root = tmp_path_factory.mktemp("identify")
    people = fixtures / "people"
    layout = {
        "gallery/obama": [people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg"],
        "gallery/biden": [people / "biden" / "biden.jpg"],
        "mated/obama": [people / "obama" / "obama3.jpg"],
        "non_mated/lin_manuel_miranda": [fixtures / "probes" / "lin-manuel-miranda.png"],
    }
    for folder, files in layout.items():
        (root / folder).mkdir(parents=True)
        for file in files:
            shutil.copy(file, root / folder / file.name)
    return {name: root / name for name in ("gallery", "mated", "non_mated")}


def _identify(folders, probes: str, *extra):
    return run("eval", "identify", "--gallery-dir", folders["gallery"], "--probe-dir", folders[probes],
               "--detector", "hog", "--aligned", "none", "--ranks", "2", *extra)


def test_identify_without_non_mated_probes_writes_null_fpir_with_the_reason(folders):
    result = _identify(folders, "mated", "--json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)  # valid JSON (no NaN)
    assert report["mated_probes"] == 1 and report["non_mated_probes"] == 0
    assert report["cmc"] == [1.0, 1.0]  # what was measured is still there
    for point in report["at_gallery_threshold"]:
        assert point["measured_fpir"] is None and point["fpir_95"] is None and point["ratio_to_target"] is None
        assert point["fnir"] == 0.0
    assert [p["fpir"] for p in report["fnir_at_fpir"]] == [0.01, 0.001]
    assert all(p["fnir"] is None and p["threshold"] is None for p in report["fnir_at_fpir"])
    assert set(report["undefined"]) == {"measured_fpir", "fnir_at_fpir"}
    assert all("no non-mated probes" in why for why in report["undefined"].values())
    assert "no non-mated probes" in result.stderr

    table = _identify(folders, "mated")
    assert table.exit_code == 1, table.output
    assert "undefined (no non-mated probes)" in table.stdout and "nan" not in table.stdout.lower()


def test_identify_without_mated_probes_writes_null_fnir_and_cmc(folders):
    result = _identify(folders, "non_mated", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["mated_probes"] == 0 and report["non_mated_probes"] == 1
    assert report["cmc"] == [None, None]
    assert all(p["fnir"] is None and p["measured_fpir"] == 0.0 for p in report["at_gallery_threshold"])
    assert all(p["fnir"] is None and p["threshold"] is not None for p in report["fnir_at_fpir"])
    assert set(report["undefined"]) == {"cmc", "fnir", "fnir_at_fpir"}
    assert all("no mated probes" in why for why in report["undefined"].values())
    table = _identify(folders, "non_mated")
    assert table.exit_code == 1 and "undefined (no mated probes)" in table.stdout


def test_identify_with_both_kinds_of_probe_has_nothing_undefined(folders, tmp_path):
    probes = tmp_path / "probes"
    for kind in ("mated", "non_mated"):
        shutil.copytree(folders[kind], probes, dirs_exist_ok=True)
    result = run("eval", "identify", "--gallery-dir", folders["gallery"], "--probe-dir", probes,
                 "--detector", "hog", "--aligned", "none", "--ranks", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["undefined"] == {}


def test_calibrate_without_genuine_pairs_writes_null_fnmr_with_the_reason(fixtures, tmp_path):
    singles = tmp_path / "singles"  # one photo of each of the 9 people: impostor pairs only
    for person in sorted((fixtures / "people").iterdir()):
        (singles / person.name).mkdir(parents=True)
        shutil.copy(sorted(person.iterdir())[0], singles / person.name)
    out = tmp_path / "table.json"
    result = run("calibrate", "--folders", singles, "--detector", "hog", "--aligned", "none", "--out", out, "--json")
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["genuine_pairs"] == 0 and summary["impostor_pairs"] == 36
    assert summary["points"] and all(p["fnmr"] is None for p in summary["points"])
    assert "no genuine" in summary["undefined"]["fnmr"]
    assert out.is_file()  # the FMR side of the table is measured and written
    table = run("calibrate", "--folders", singles, "--detector", "hog", "--aligned", "none")
    assert table.exit_code == 1 and "undefined (no genuine" in table.output
