"""The CLI at its edges (issue 10, items 5-7): honest evaluation exit codes, no tracebacks for any
path argument, and the small things a user trips on (identify folders, no-face messages,
candidate tables, consent errors, verify exit codes, --version, prune, JSON errors, table paths,
orphan index files, ONNX Runtime's chatter)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from countenance.cli import app
from countenance.cli.output import short_paths
from support import one_error_line

runner = CliRunner()


def run(*args, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)




# ---------------------------------------------------------------- item 5: honest evaluation


def _pairs(tmp_path: Path, fixtures: Path, rows: str) -> Path:
    for src in (fixtures / "people" / "obama" / "obama.jpg", fixtures / "people" / "obama" / "obama2.jpg",
                fixtures / "people" / "biden" / "biden.jpg", fixtures / "people" / "biden" / "biden2.jpg"):
        shutil.copy(src, tmp_path / src.name)
    csv = tmp_path / "pairs.csv"
    csv.write_text("file_x,file_y,same\n" + rows)
    return csv


def test_eval_a_missing_image_is_listed_and_exit_1(tmp_path, fixtures):
    csv = _pairs(tmp_path, fixtures, "obama.jpg,obama2.jpg,1\nbiden.jpg,biden2.jpg,1\nobama.jpg,biden.jpg,0\nobama2.jpg,gone.jpg,0\n")
    result = run("eval", "pairs", csv, "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["failures"] == 1
    assert document["failed_pairs"] == [
        {"file_x": str(tmp_path / "obama2.jpg"), "file_y": str(tmp_path / "gone.jpg"), "same": False,
         "error": f"{tmp_path / 'gone.jpg'}: no such file"}
    ]
    table = run("eval", "pairs", csv)
    assert table.exit_code == 1
    assert "obama2.jpg, gone.jpg" in table.stdout and "1 of 4 pairs could not be measured" in table.stderr


def test_eval_with_no_readable_image_exits_2_and_names_root(tmp_path, fixtures):
    csv = _pairs(tmp_path, fixtures, "obama.jpg,obama2.jpg,1\nobama.jpg,biden.jpg,0\n")
    elsewhere = tmp_path / "csvs"
    elsewhere.mkdir()
    moved = elsewhere / "pairs.csv"
    shutil.move(csv, moved)
    line = one_error_line(run("eval", "pairs", moved))
    assert "no image could be read" in line and "use --root" in line
    result = run("eval", "pairs", moved, "--root", tmp_path, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["failures"] == 0


def test_eval_one_class_pairs_file_is_a_clear_error(tmp_path, fixtures):
    csv = _pairs(tmp_path, fixtures, "obama.jpg,obama2.jpg,1\nbiden.jpg,biden2.jpg,yes\n")
    line = one_error_line(run("eval", "pairs", csv))
    assert "all 2 pairs are same-person pairs" in line and "AUC" in line and "nan" not in line


# ---------------------------------------------------------------- item 6: no tracebacks for paths


@pytest.fixture(scope="module")
def bad_paths(tmp_path_factory):
    """Three kinds of unusable path. Tests run as root, whom chmod does not stop: "cannot be
    written" is a folder under /proc (nothing can be created there, by anyone)."""
    root = tmp_path_factory.mktemp("bad")
    a_file = root / "some-file.jpg"
    a_file.write_bytes(b"not a folder")
    return {
        "file-as-folder": a_file / "x",
        "missing-parent": root / "no-such-folder" / "x",
        "unwritable": Path("/proc/countenance-test/x"),
    }


@pytest.fixture(scope="module")
def empty_gallery(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gallery") / "g"
    assert run("gallery", "init", "--gallery", folder).exit_code == 0
    return folder


# Every command with a path argument; {bad} is the bad path, {g} a real (empty) gallery,
# {img} a real image, {csv} a real pairs file, {dir} a real folder.
COMMANDS = [
    ("detect", "{bad}"),
    ("verify", "{bad}", "{img}"),
    ("verify", "{img}", "{bad}"),
    ("eval", "pairs", "{bad}"),
    ("eval", "pairs", "{csv}", "--root", "{bad}"),
    ("eval", "lfw", "--lfw-dir", "{bad}"),
    ("eval", "budget", "--lfw-dir", "{bad}"),
    ("eval", "budget", "--report-dir", "{bad}"),
    ("eval", "budget", "--cache-dir", "{bad}"),
    ("eval", "masks", "--lfw-dir", "{bad}"),
    ("eval", "masks", "--masked-dir", "{bad}"),
    ("eval", "masks", "--report-dir", "{bad}"),
    ("eval", "degrade", "--lfw-dir", "{bad}"),
    ("eval", "degrade", "--report-dir", "{bad}"),
    ("eval", "groups", "{bad}", "--labels", "{csv}"),
    ("eval", "groups", "{dir}", "--labels", "{bad}"),
    ("eval", "groups", "{dir}", "--labels", "{csv}", "--report-dir", "{bad}"),
    ("eval", "groups", "{dir}", "--labels", "{csv}", "--cache-dir", "{bad}"),
    ("demo", "--people", "{bad}"),
    ("demo", "--probes", "{bad}"),
    ("models", "pull", "yunet", "--from", "{bad}"),
    ("gallery", "init", "--gallery", "{bad}"),
    ("gallery", "info", "--gallery", "{bad}"),
    ("gallery", "prune", "-y", "--gallery", "{bad}"),
    ("gallery", "destroy", "-y", "--gallery", "{bad}"),
    ("enroll", "bob", "{img}", "--consent", "yes", "--gallery", "{bad}"),
    ("enroll", "bob", "{bad}", "--consent", "yes", "--gallery", "{g}"),
    ("enroll-folder", "{bad}", "--gallery", "{g}"),
    ("enroll-folder", "{dir}", "--consent-file", "{bad}", "--gallery", "{g}"),
    ("enroll-folder", "{dir}", "--gallery", "{bad}"),
    ("identify", "{img}", "--gallery", "{bad}"),
    ("identify", "{bad}", "--gallery", "{g}"),
    ("subjects", "list", "--gallery", "{bad}"),
    ("subjects", "show", "bob", "--gallery", "{bad}"),
    ("subjects", "verify", "bob", "{img}", "--gallery", "{bad}"),
    ("subjects", "export", "bob", "--out", "{bad}", "--gallery", "{g}"),
    ("subjects", "export", "bob", "--gallery", "{bad}"),
    ("subjects", "forget", "bob", "-y", "--gallery", "{bad}"),
    ("optout", "add", "{img}", "--gallery", "{bad}"),
    ("optout", "add", "{bad}", "--gallery", "{g}"),
    ("optout", "list", "--gallery", "{bad}"),
    ("optout", "remove", "1", "--gallery", "{bad}"),
    ("audit", "--gallery", "{bad}"),
    ("clean", "{bad}"),
    ("clean", "{dir}", "--report", "{bad}/report.html"),
    ("clean", "{dir}", "--manifest", "{bad}/clean.csv"),
    ("clean", "{dir}", "--apply", "{bad}"),
]

# Output folders are created with their parents: a missing parent is no error there.
# (test_output_folders_are_created covers them), so those cases are not generated.
_CREATES = {("gallery", "init", "--gallery", "{bad}"), ("subjects", "export", "bob", "--out", "{bad}", "--gallery", "{g}"),
            ("clean", "{dir}", "--report", "{bad}/report.html"), ("clean", "{dir}", "--manifest", "{bad}/clean.csv"),
            ("clean", "{dir}", "--apply", "{bad}"), ("eval", "budget", "--report-dir", "{bad}"),
            ("eval", "masks", "--report-dir", "{bad}"), ("eval", "degrade", "--report-dir", "{bad}"),
            ("eval", "groups", "{dir}", "--labels", "{csv}", "--report-dir", "{bad}"), ("eval", "budget", "--cache-dir", "{bad}"),
            ("eval", "groups", "{dir}", "--labels", "{csv}", "--cache-dir", "{bad}")}
_CASES = [(command, kind) for command in COMMANDS for kind in ("file-as-folder", "missing-parent", "unwritable")
          if not (kind == "missing-parent" and command in _CREATES)]


@pytest.mark.parametrize(("command", "kind"), _CASES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_every_path_argument_fails_in_one_line(command, kind, bad_paths, empty_gallery, fixtures, tmp_path):
    values = {
        "bad": bad_paths[kind], "g": empty_gallery, "img": fixtures / "probes" / "obama1.jpg",
        "csv": fixtures / "README.md", "dir": fixtures / "people",
    }
    csv = tmp_path / "pairs.csv"
    csv.write_text("file_x,file_y,same\na.jpg,b.jpg,1\na.jpg,c.jpg,0\n")
    values["csv"] = csv
    line = one_error_line(run(*[part.format(**{k: str(v) for k, v in values.items()}) for part in command]))
    assert str(bad_paths[kind]) in line or "no gallery" in line


def test_the_issue_cases_verbatim(tmp_path, empty_gallery, monkeypatch):
    (tmp_path / "some-file.jpg").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    line = one_error_line(run("gallery", "init", "--gallery", "some-file.jpg/g"))
    assert line == "error: --gallery some-file.jpg/g: some-file.jpg is a file, not a folder"
    line = one_error_line(run("subjects", "export", "obama", "--out", "some-file.jpg/x", "--gallery", empty_gallery))
    assert line == "error: --out some-file.jpg/x: some-file.jpg is a file, not a folder"


def test_output_folders_are_created(tmp_path):
    folder = tmp_path / "new" / "deeper" / "g"
    assert run("gallery", "init", "--gallery", folder).exit_code == 0 and (folder / "gallery.sqlite3").is_file()


# ---------------------------------------------------------------- item 7


@pytest.fixture(scope="module")
def enrolled(obama_biden_gallery):
    return obama_biden_gallery


def test_identify_takes_folders_reports_skipped_and_faceless(enrolled, fixtures, tmp_path):
    shutil.copy(fixtures / "groups" / "two_people.jpg", tmp_path / "two.jpg")
    shutil.copy(fixtures / "noface" / "no_face.png", tmp_path / "empty.png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.jpg").write_text("not an image")
    result = run("identify", tmp_path, "--gallery", enrolled, "--json")
    assert result.exit_code == 1, result.output  # one file skipped
    document = json.loads(result.stdout)
    assert sorted(f["decision"] for f in document["faces"]) == ["biden", "obama"]
    assert document["notes"] == [f"{tmp_path / 'empty.png'}: no face found"]
    assert [os.path.basename(e["path"]) for e in document["errors"]] == ["broken.jpg"]
    assert "skipped" in result.stderr and "broken.jpg" in result.stderr


def test_identify_no_face_says_so(enrolled, fixtures):
    no_face = fixtures / "noface" / "no_face.png"
    result = run("identify", no_face, "--gallery", enrolled)
    assert result.exit_code == 0 and f"no face found in {no_face}" in result.stderr.replace("\n", "")
    document = json.loads(run("identify", no_face, "--gallery", enrolled, "--json").stdout)
    assert document["faces"] == [] and document["notes"] == [f"{no_face}: no face found"]


def test_candidate_table_shows_distance_and_false_match_rate_in_order(enrolled, fixtures):
    probe = fixtures / "probes" / "obama1.jpg"
    document = json.loads(run("identify", probe, "--gallery", enrolled, "--json").stdout)
    candidates = document["faces"][0]["candidates"]
    distances = [c["distance"] for c in candidates]
    assert distances == sorted(distances) and candidates[0]["subject"] == "obama"
    table = runner.invoke(app, ["identify", str(probe), "--gallery", str(enrolled)], terminal_width=200).stdout
    assert "distance" in table and "false-match rate" in table and "similarity" not in table
    first = candidates[0]
    assert f"obama {first['distance']:.3f} ({first['expected_false_match_rate']:.2g})" in table


def test_consent_error_is_one_line_naming_the_options_and_format(tmp_path, fixtures):
    gallery = tmp_path / "g"
    run("gallery", "init", "--gallery", gallery)
    line = one_error_line(run("enroll-folder", fixtures / "people", "--gallery", gallery))
    assert "--consent-file" in line and "--consent " in line and "subject,text" in line and '"*"' in line
    assert "9 person folder(s)" in line
    line = one_error_line(run("enroll", "obama", fixtures / "people" / "obama" / "obama.jpg", "--gallery", gallery))
    assert "--consent" in line and "--consent-file" in line


def test_verify_exit_codes_are_like_grep(fixtures):
    people = fixtures / "people"
    assert run("verify", people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg").exit_code == 0
    assert run("verify", people / "obama" / "obama.jpg", people / "biden" / "biden.jpg").exit_code == 1
    assert run("verify", people / "obama" / "obama.jpg", fixtures / "noface" / "no_face.png").exit_code == 2
    assert "0 the same person, 1 different people, 2 an error" in " ".join(run("verify", "--help").stdout.split())


def test_subjects_verify_exit_codes(enrolled, fixtures):
    assert run("subjects", "verify", "obama", fixtures / "probes" / "obama1.jpg", "--gallery", enrolled).exit_code == 0
    assert run("subjects", "verify", "biden", fixtures / "probes" / "obama1.jpg", "--gallery", enrolled).exit_code == 1


def test_version():
    from importlib.metadata import version

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"countenance {version('countenance')}"


def test_prune_says_no_retention_and_asks_before_deleting(tmp_path, fixtures):
    gallery = tmp_path / "g"
    run("gallery", "init", "--gallery", gallery)
    run("enroll", "obama", fixtures / "people" / "obama" / "obama.jpg", "--consent", "I agree", "--gallery", gallery)
    result = run("gallery", "prune", "--gallery", gallery)
    assert result.exit_code == 0 and result.stdout.startswith("no retention set") and "None" not in result.output
    declined = run("gallery", "prune", "--older-than-days", "0", "--gallery", gallery, input="n\n")
    assert declined.exit_code == 1 and "Delete 1 of 1 template(s)" in declined.output and "nothing deleted" in declined.stdout
    assert json.loads(run("gallery", "info", "--gallery", gallery, "--json").stdout)["templates"] == 1
    done = json.loads(run("gallery", "prune", "--older-than-days", "0", "-y", "--gallery", gallery, "--json").stdout)
    assert done["templates_removed"] == 1 and done["subjects_removed"] == ["obama"]


def test_json_errors_are_a_document_on_stdout_and_a_line_on_stderr(tmp_path):
    missing = tmp_path / "missing.jpg"
    result = run("detect", missing, "--json")
    assert one_error_line(result) == f"error: {missing}: no such file"
    assert json.loads(result.stdout) == {"error": {"message": f"{missing}: no such file", "kind": "image not found", "exit_code": 2}}


def test_table_paths_show_what_tells_rows_apart(fixtures):
    result = runner.invoke(app, ["detect", str(fixtures / "groups"), str(fixtures / "probes" / "obama1.jpg")], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout and str(fixtures) not in result.stdout
    assert "groups/t1.jpg" in result.stdout and "probes/obama1.jpg" in result.stdout


def test_short_paths():
    assert short_paths(["/a/b/c/x.jpg", "/a/b/d/y.jpg"]) == {"/a/b/c/x.jpg": "c/x.jpg", "/a/b/d/y.jpg": "d/y.jpg"}
    assert short_paths(["/a/b/x.jpg"]) == {"/a/b/x.jpg": "x.jpg"}
    assert short_paths([]) == {}


def test_init_refuses_an_orphan_index_without_force(tmp_path):
    gallery = tmp_path / "g"
    assert run("gallery", "init", "--gallery", gallery).exit_code == 0
    index = gallery / "templates.faiss"
    assert index.is_file()
    (gallery / "gallery.sqlite3").unlink()
    before = index.read_bytes()
    line = one_error_line(run("gallery", "init", "--gallery", gallery))
    assert "templates.faiss" in line and "--force" in line and index.read_bytes() == before
    assert run("gallery", "init", "--gallery", gallery, "--force").exit_code == 0
    assert (gallery / "gallery.sqlite3").is_file()


def test_ultraface_prints_no_onnx_runtime_chatter(tmp_path, models, fixtures):
    """Through a real process: ONNX Runtime logs from C++ straight to stderr."""
    env = {**os.environ, "COUNTENANCE_MODEL_DIR": str(tmp_path / "models")}
    command = [sys.executable, "-c", "from countenance.cli import app; app()"]
    pulled = subprocess.run(command + ["models", "pull", "ultraface-rfb-320", "--from", str(models / "ultraface" / "version-RFB-320.onnx")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    result = subprocess.run(command + ["detect", "--detector", "ultraface", str(fixtures / "probes" / "obama1.jpg"), "--json"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["images"][0]["faces"]) == 1
    assert result.stderr == "" and "onnxruntime" not in result.stderr
