"""The CLI: JSON documents on stdout, one-line errors and exit codes, folder runs that keep going."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from countenance.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_detect_json_counts(fixtures):
    groups = fixtures / "groups"
    result = run("detect", groups / "t1.jpg", groups / "couple.jpg", fixtures / "noface" / "no_face.png", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [len(image["faces"]) for image in document["images"]] == [6, 2, 0]
    assert document["faces"] == 8 and document["errors"] == []
    face = document["images"][0]["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5


def test_detect_no_face_is_exit_zero(fixtures):
    result = run("detect", fixtures / "noface" / "no_face.png", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["images"][0]["faces"] == []


def test_detect_reports_rotation(fixtures):
    result = run("detect", fixtures / "rotated" / "rot_90.jpg", "--json")
    faces = json.loads(result.stdout)["images"][0]["faces"]
    assert len(faces) == 1 and faces[0]["rotation"] == 270


def test_folder_run_skips_bad_files_and_reports_them(tmp_path, fixtures):
    shutil.copy(fixtures / "groups" / "two_people.jpg", tmp_path / "good.jpg")
    (tmp_path / "broken.jpg").write_bytes((fixtures / "probes" / "obama1.jpg").read_bytes()[:3000])
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "sub").mkdir()
    shutil.copy(fixtures / "probes" / "obama-240p.jpg", tmp_path / "sub" / "later.jpg")
    result = run("detect", tmp_path, "--json")
    assert result.exit_code == 1  # some inputs failed; the others were done
    document = json.loads(result.stdout)
    assert sorted(os.path.basename(i["path"]) for i in document["images"]) == ["good.jpg", "later.jpg"]
    errors = {os.path.basename(e["path"]): e["error"] for e in document["errors"]}
    assert errors["broken.jpg"].endswith("corrupt or truncated image data (image file is truncated (44 bytes not processed))") or "truncated" in errors["broken.jpg"]
    assert errors["text.png"] == f"{tmp_path / 'text.png'}: not a recognised image format"


def test_detect_single_bad_file_is_one_line_and_exit_2(tmp_path):
    result = run("detect", tmp_path / "missing.jpg")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'missing.jpg'}: no such file"
    assert "Traceback" not in result.output


def test_verify_json(fixtures):
    people = fixtures / "people"
    result = run("verify", people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["same"] is True
    assert isinstance(document["distance"], float) and document["distance"] < document["threshold"] == 0.6
    assert {"similarity", "threshold_name", "metric", "model", "a", "b"} <= set(document)
    other = json.loads(run("verify", people / "obama" / "obama.jpg", people / "biden" / "biden.jpg", "--json").stdout)
    assert other["same"] is False and other["distance"] > 0.6


def test_verify_threshold_option(fixtures):
    people = fixtures / "people"
    strict = json.loads(run("verify", people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg", "--json", "--threshold", "0.05").stdout)
    assert strict["same"] is False and strict["threshold"] == 0.05 and strict["threshold_name"] == "custom"
    bad = run("verify", people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg", "--threshold", "lenient")
    assert bad.exit_code == 2 and "neither a number nor a known name" in bad.stderr


def test_verify_without_a_face_fails_cleanly(fixtures):
    no_face = fixtures / "noface" / "no_face.png"
    result = run("verify", no_face, fixtures / "probes" / "obama1.jpg", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["exit_code"] == 2  # issue 10: with --json an error is a JSON document too
    assert result.stderr.strip() == f"error: {no_face}: no face found"


@pytest.mark.parametrize("kind,reason", [("empty", "empty file"), ("truncated", "corrupt"), ("text", "not a recognised image format")])
def test_verify_bad_files(tmp_path, fixtures, kind, reason):
    png = (fixtures / "probes" / "alex-lacamoire.png").read_bytes()
    bad = tmp_path / "bad.png"
    bad.write_bytes({"empty": b"", "truncated": png[:2000], "text": b"hello"}[kind])
    result = run("verify", bad, fixtures / "probes" / "obama1.jpg")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith(f"error: {bad}: ") and reason in line and "\n" not in line


def test_eval_pairs_json(tmp_path, fixtures):
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        shutil.copy(fixtures / "people" / "obama" / name, tmp_path / name)
    for name in ("biden.jpg", "biden2.jpg"):
        shutil.copy(fixtures / "people" / "biden" / name, tmp_path / name)
    csv = tmp_path / "pairs.csv"
    csv.write_text("file_x,file_y,same\nobama.jpg,obama2.jpg,yes\nbiden.jpg,biden2.jpg,true\n"
                   "obama.jpg,biden.jpg,no\nobama3.jpg,biden2.jpg,false\n")
    result = run("eval", "pairs", csv, "--root", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["pairs"] == 4 and document["failures"] == 0 and document["accuracy"] == 1.0
    assert set(document["fnmr_at_fmr"]) == {"0.01", "0.001"}
    assert {"accuracy_std", "auc", "seconds"} <= set(document)


def test_eval_pairs_bad_csv(tmp_path):
    csv = tmp_path / "pairs.csv"
    csv.write_text("file_x,file_y,same\na.jpg,b.jpg,perhaps\n")
    result = run("eval", "pairs", csv, "--json")
    assert result.exit_code == 2 and "pairs.csv:2" in result.stderr and json.loads(result.stdout)["error"]["kind"] == "invalid pairs file"


def test_eval_lfw_quick_subset(lfw):
    result = run("eval", "lfw", "--lfw-dir", lfw, "--per-fold", "2", "--workers", "1", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["pairs"] == 40 and len(document["fold_accuracies"]) == 10
    assert document["accuracy"] >= 0.9 and document["failures"] == 0
    assert document["protocol"].startswith("lfw-10-fold")


def test_demo_names_the_probes(fixtures):
    result = run("demo", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    by_probe: dict[str, list[str]] = {}
    for face in document["faces"]:
        by_probe.setdefault(os.path.basename(face["path"]), []).append(face["decision"])
    expected = {
        "obama1.jpg": ["obama"], "obama-240p.jpg": ["obama"], "obama-720p.jpg": ["obama"],
        "obama_partial_face.jpg": ["obama"], "obama_partial_face2.jpg": ["obama"],
        "johnsnow_test1.jpg": ["kit_harington"], "alex_lacamoire1.jpg": ["alex_lacamoire"],
        "alex-lacamoire.png": ["alex_lacamoire"], "lin-manuel-miranda.png": ["unknown"], "32bit.png": ["obama"],
    }
    for probe, names in expected.items():
        assert by_probe[probe] == names, probe
    assert sorted(by_probe["kit_with_rose.jpg"]) == ["kit_harington", "rose_leslie"]
    assert sorted(by_probe["obama_and_biden.jpg"]) == ["biden", "obama", "unknown"]
    assert document["enrolled"]["people"] == 9 and document["failed"] == []


def test_installed_entry_point_prints_no_traceback(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("x")
    script = os.path.join(os.path.dirname(sys.executable), "countenance")
    completed = subprocess.run([script, "verify", str(bad), str(bad)], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip() == f"error: {bad}: not a recognised image format"


# ---------------------------------------------------------------- errors: the table, bugs, --debug


def test_a_bug_is_one_line_naming_the_log_and_debug_shows_it(tmp_path, fixtures, monkeypatch):
    monkeypatch.setenv("COUNTENANCE_CACHE_DIR", str(tmp_path / "cache"))

    def broken(*args, **kwargs):
        raise ValueError("an internal invariant broke")  # a bare ValueError is a bug, not bad input

    monkeypatch.setattr("countenance.service.verification.verify_images", broken)
    image = fixtures / "probes" / "obama1.jpg"
    result = run("verify", image, image)
    assert result.exit_code == 3 and result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line and "--debug" in line and "internal error (ValueError)" in line
    logs = list((tmp_path / "cache" / "logs").glob("countenance-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    logged = logs[0].read_text()
    assert logged.startswith("Traceback") and "an internal invariant broke" in logged

    debug = runner.invoke(app, ["--debug", "verify", str(image), str(image)])
    assert isinstance(debug.exception, ValueError) and str(debug.exception) == "an internal invariant broke"
    assert len(list((tmp_path / "cache" / "logs").iterdir())) == 1  # --debug re-raises, writes no log


def test_bad_argument_is_exit_2_not_a_bug(fixtures):
    result = run("detect", fixtures / "probes" / "obama1.jpg", "--upsample", "7")
    assert result.exit_code == 2 and result.stderr.strip() == "error: --upsample must be 'auto' or 0..3, got '7'"


def test_error_table_covers_every_error_type():
    from countenance import errors
    from countenance.service.error_table import ERROR_TABLE, describe, rule_for

    named = {getattr(errors, name) for name in errors.__all__}
    assert {rule.error for rule in ERROR_TABLE} == named
    assert {rule.http_status for rule in ERROR_TABLE} <= {400, 404, 409, 413, 415, 422}
    assert rule_for(errors.InvalidArgument("x")).http_status == 422 and rule_for(errors.InvalidArgument("x")).exit_code == 2
    assert rule_for(errors.NotEnrolled("bob")).http_status == 404
    assert rule_for(errors.ImageTooLarge("a.jpg", "too big")).http_status == 413
    assert rule_for(errors.ConsentRequired("no consent")).http_status == 409
    assert describe(errors.ImageNotFound("a.jpg")) == (rule_for(errors.ImageNotFound("a.jpg")), "a.jpg: no such file")
    assert describe(ValueError("bug")) is None and describe(KeyError("bug")) is None  # not in the table: a bug
    assert describe(errors.CountenanceError("two\nlines"))[1] == "two lines"
