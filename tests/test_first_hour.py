"""Issue 22, the newcomer's first hour: help, usage errors, wrong successes turned into errors,
and the commands a newcomer reaches for (subjects rename / remove-template, optout --face).

Everything runs the real CLI (Typer's CliRunner, or the installed script) on the fixture photos
and a real gallery in a temporary folder."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from countenance.cli import app
from support import one_error_line

runner = CliRunner()


def run(*args, input: str | None = None, width: int = 80):
    return runner.invoke(app, [str(a) for a in args], input=input, terminal_width=width)




@pytest.fixture(scope="module")
def gallery(obama_biden_gallery):
    return obama_biden_gallery


# ---------------------------------------------------------------- help and usage errors


def _every_command(group, path=()):
    from typer.main import get_command

    command = group if path else get_command(app)
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), sub
        yield from _every_command(sub, (*path, name))


def test_help_shows_readable_types_and_never_cuts_a_name():
    """Every command's --help at 80 columns: no Python type (<bool>, <str>, <list[Path]>), no
    box drawing, and every option name in full."""
    commands = list(_every_command(None))
    assert len(commands) > 40
    for path, command in commands:
        result = run(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        text = result.stdout
        assert not re.search(r"<(bool|str|int|float|path|list\[[^]]*\])>", text), (path, text)
        assert "╭" not in text and "…" not in text.split("Commands:")[0], (path, text)
        for param in command.params:
            for option in param.opts:
                if option.startswith("--"):
                    assert option in text, (path, option)
    help_text = run("enroll-folder", "--help").stdout
    assert "--consent-file PATH" in help_text and "--json " in help_text and "--json PATH" not in help_text
    assert "--workers INTEGER" in run("eval", "lfw", "--help").stdout


@pytest.mark.parametrize("args", [
    ("detect", "--nope", "x.jpg"),
    ("verify",),
    ("identify", "--top-k", "many", "x.jpg"),
    ("subjects", "verify", "--fmr", "often", "obama", "x.jpg"),
])
def test_usage_errors_are_one_line_and_a_json_document_with_json(args):
    line = one_error_line(run(*args))
    assert "--help" in line
    result = run(*args, "--json")
    one_error_line(result)
    document = json.loads(result.stdout)
    assert document["error"]["exit_code"] == 2 and document["error"]["kind"] == "usage error"


def test_a_group_alone_shows_its_help():
    result = run("subjects")
    assert result.exit_code == 0 and "rename" in result.stdout and "remove-template" in result.stdout


# ---------------------------------------------------------------- wrong successes


def test_enroll_folder_of_loose_photos_is_an_error(tmp_path, fixtures):
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in (fixtures / "people" / "obama").iterdir():
        shutil.copy(photo, folder / photo.name)
    gallery = tmp_path / "g"
    assert run("gallery", "init", "--gallery", gallery, "--no-consent-required").exit_code == 0
    line = one_error_line(run("enroll-folder", folder, "--gallery", gallery))
    assert "3 photo(s) directly" in line and "countenance enroll NAME" in line


def test_audit_with_a_misspelt_action_is_an_error(gallery):
    line = one_error_line(run("audit", "--gallery", gallery, "--action", "idnetify"))
    assert "'idnetify'" in line and "identify" in line
    assert run("audit", "--gallery", gallery, "--action", "enrol").exit_code == 0


def test_audit_table_wraps_instead_of_cutting(gallery):
    result = run("audit", "--gallery", gallery, width=80)
    assert result.exit_code == 0
    assert "…" not in result.stdout and "..." not in result.stdout
    # The time of day survives (wrapped, possibly over two lines).
    assert re.search(r"T\d\d:\d\d", "".join(result.stdout.split())), result.stdout


def test_video_tag_refuses_a_still_image_and_a_text_file(gallery, fixtures, tmp_path):
    line = one_error_line(run("video", "tag", fixtures / "probes" / "obama1.jpg", "--gallery", gallery))
    assert "still image" in line
    for name in ("notes.txt", "notes.mp4"):
        text = tmp_path / name
        text.write_text("not a video\n" * 10)
        line = one_error_line(run("video", "tag", text, "--gallery", gallery))
        assert "not a video" in line or "no video frame" in line


def test_forget_answered_no_says_nothing_was_forgotten(gallery):
    result = run("subjects", "forget", "biden", "--gallery", gallery, input="n\n")
    assert result.exit_code == 1
    assert "nothing forgotten" in result.output
    assert "biden" in run("subjects", "list", "--gallery", gallery).stdout


# ---------------------------------------------------------------- new commands


def test_optout_of_a_group_photo_needs_a_choice(tmp_path, fixtures):
    gallery = tmp_path / "g"
    assert run("gallery", "init", "--gallery", gallery).exit_code == 0
    group = fixtures / "groups" / "t1.jpg"
    line = one_error_line(run("optout", "add", group, "--gallery", gallery))
    assert "6 faces" in line and "--face N" in line
    one_error_line(run("optout", "add", group, "--gallery", gallery, "--face", "9"))
    first = json.loads(run("optout", "add", group, "--gallery", gallery, "--face", "2", "--json").stdout)
    second = json.loads(run("optout", "add", group, "--gallery", gallery, "--largest", "--json").stdout)
    assert first["box"] != second["box"]
    assert len(json.loads(run("optout", "list", "--gallery", gallery, "--json").stdout)["optouts"]) == 2


def test_subjects_rename_and_remove_template(tmp_path, fixtures):
    gallery = tmp_path / "g"
    assert run("gallery", "init", "--gallery", gallery, "--no-consent-required").exit_code == 0
    photos = sorted((fixtures / "people" / "obama").iterdir())
    assert run("enroll", "obama", *photos[:2], "--gallery", gallery).exit_code == 0
    assert run("subjects", "rename", "obama", "barack", "--gallery", gallery).exit_code == 0
    names = [s["name"] for s in json.loads(run("subjects", "list", "--gallery", gallery, "--json").stdout)["subjects"]]
    assert names == ["barack"]
    one_error_line(run("subjects", "rename", "obama", "x", "--gallery", gallery))  # not enrolled any more

    shown = json.loads(run("subjects", "show", "barack", "--gallery", gallery, "--json").stdout)
    ids = [t["id"] for t in shown["templates"]]
    assert len(ids) == 2
    line = one_error_line(run("subjects", "remove-template", "barack", "999", "--gallery", gallery))
    assert "no template 999" in line
    result = run("subjects", "remove-template", "barack", ids[0], "--gallery", gallery, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["removed_template"] == ids[0]
    shown = json.loads(run("subjects", "show", "barack", "--gallery", gallery, "--json").stdout)
    assert [t["id"] for t in shown["templates"]] == ids[1:]
    line = one_error_line(run("subjects", "remove-template", "barack", ids[1], "--gallery", gallery))
    assert "last one" in line and "subjects forget" in line
    actions = [e["action"] for e in json.loads(run("audit", "--gallery", gallery, "--json").stdout)["entries"]]
    assert "rename" in actions and "remove-template" in actions
    # The removed template no longer answers: the remaining one still does.
    assert run("subjects", "verify", "barack", photos[1], "--gallery", gallery).exit_code == 0


def test_demo_finds_the_fixtures_from_another_folder(tmp_path, monkeypatch, fixtures):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COUNTENANCE_SHARED", raising=False)
    from countenance import datasets

    assert datasets.fixtures_dir().resolve() == fixtures.resolve()
    line = one_error_line(run("demo", "--fixtures", tmp_path / "nowhere"))
    assert "--fixtures" in line


# ---------------------------------------------------------------- models, serve, gallery info


def test_models_list_says_what_each_model_is_for():
    document = json.loads(run("models", "list", "--json").stdout)
    uses = {m["name"]: m["use"] for m in document["models"]}
    assert all(uses.values()), uses
    assert "--detector yunet" in uses["yunet"] and "not used" in uses["sface"]
    assert "--embedder sface" in run("models", "list").stdout


def test_models_pull_offline_names_the_from_option(monkeypatch, tmp_path):
    monkeypatch.setenv("COUNTENANCE_MODEL_DIR", str(tmp_path / "models"))
    for variable in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # nothing listens there: "offline"
    result = run("models", "pull", "yunet")
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]  # after the model's licence and source lines
    assert line.startswith("error: ") and "models pull yunet --from FILE" in line and "<urlopen error" not in line


def test_serve_refuses_a_missing_gallery_and_a_busy_port(tmp_path):
    import socket

    line = one_error_line(run("serve", "--gallery", tmp_path / "missing"))
    assert "--gallery" in line and "gallery init" in line
    gallery = tmp_path / "g"
    assert run("gallery", "init", "--gallery", gallery).exit_code == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error_line(run("serve", "--gallery", gallery, "--port", port))
    assert f"--port {port}" in line and "choose another --port" in line


def _words(text: str) -> str:
    """A table's text as one line of words, without its borders (cells wrap over lines)."""
    return " ".join(re.sub(r"[│┃┌┐└┘─━┬┴┼├┤┏┓┗┛┡┩╇┳]", " ", text).split())


def test_gallery_info_is_coherent(tmp_path, gallery):
    empty = tmp_path / "g"
    assert run("gallery", "init", "--gallery", empty).exit_code == 0
    text = _words(run("gallery", "info", "--gallery", empty, width=120).stdout)
    assert "None" not in text and "True" not in text
    assert "none yet: nobody is enrolled" in text and "1.2137" not in text.split("opt-out distance")[0]
    text = _words(run("gallery", "info", "--gallery", gallery, width=200).stdout)
    info = json.loads(run("gallery", "info", "--gallery", gallery, "--json").stdout)
    assert f"opt-out distance {info['optout_distance']} (not set in the policy: the looser of the model's 1:1 threshold and the identification threshold)" in text
    assert "policy.optout_distance" not in text


def test_keys_list_wraps_instead_of_cutting(tmp_path):
    gallery = tmp_path / "g"
    assert run("gallery", "init", "--gallery", gallery).exit_code == 0
    name = "front-door-of-the-north-building-reception"
    created = run("keys", "create", "--scope", "identify,enroll,read", "--name", name, "--gallery", gallery, "--json")
    assert created.exit_code == 0, created.output
    result = run("keys", "list", "--gallery", gallery, width=60)
    assert result.exit_code == 0 and "…" not in result.stdout
    rows = [line.split("│") for line in result.stdout.splitlines() if line.startswith("│")]
    assert "".join(row[2].strip() for row in rows) == name  # the name column, read down
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", "".join(row[4].strip() for row in rows))


def test_eval_pairs_prints_words_not_a_python_dict(tmp_path, fixtures):
    for source in (fixtures / "people" / "obama" / "obama.jpg", fixtures / "people" / "obama" / "obama2.jpg",
                   fixtures / "people" / "biden" / "biden.jpg"):
        shutil.copy(source, tmp_path / source.name)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("file_x,file_y,same\nobama.jpg,obama2.jpg,1\nobama.jpg,biden.jpg,0\n")
    result = run("eval", "pairs", pairs, width=120)
    assert result.exit_code == 0, result.output
    assert "{" not in result.stdout and "'" not in result.stdout
    assert re.search(r"images / found by\s*│\s*3 / \w+ 3", result.stdout), result.stdout


# ---------------------------------------------------------------- one threshold story


def test_every_decision_names_its_threshold_rule(gallery, fixtures):
    """verify (two photos) and subjects verify (a claim against an enrolled person) may disagree
    near the line: each output says which threshold it used and why."""
    obama = fixtures / "people" / "obama" / "obama.jpg"
    probe = fixtures / "probes" / "obama1.jpg"
    pair = json.loads(run("verify", obama, probe, "--json").stdout)
    assert "fixed 1:1 threshold" in pair["threshold_rule"] and "subjects verify" in pair["threshold_rule"]
    claim = json.loads(run("subjects", "verify", "obama", probe, "--gallery", gallery, "--json").stdout)
    assert "per claim" in claim["threshold_rule"] and "the person's 3 template(s)" in claim["threshold_rule"]
    assert claim["threshold"] < pair["threshold"]  # stricter than the fixed 1:1 threshold, and it says so
    assert f"{pair['threshold']:g}" in claim["threshold_rule"]
    found = json.loads(run("identify", probe, "--gallery", gallery, "--json").stdout)
    assert "false-positive identification rate" in found["threshold_rule"] and "5 enrolled templates" in found["threshold_rule"]
    text = run("subjects", "verify", "obama", probe, "--gallery", gallery, width=200).stdout
    assert "per claim" in text
    assert "fixed 1:1 threshold" in run("verify", obama, probe).stderr


def test_gallery_check_says_whom_it_could_not_judge(tmp_path, fixtures):
    """One person enrolled under two names with one photo each: the checks cannot see it, and
    the answer says so instead of a bare "no findings"."""
    gallery = tmp_path / "g"
    assert run("gallery", "init", "--gallery", gallery, "--no-consent-required").exit_code == 0
    assert run("enroll", "obama", fixtures / "people" / "obama" / "obama.jpg", "--gallery", gallery).exit_code == 0
    assert run("enroll", "barack", fixtures / "people" / "obama" / "obama2.jpg", "--gallery", gallery,
               "--allow-duplicate").exit_code == 0
    result = run("gallery", "check", "--gallery", gallery, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["findings"] == []
    assert {(e["label"], e["items"]) for e in document["not_judged"]} == {("obama", 1), ("barack", 1)}
    assert "compared for being enrolled under two names" in document["not_judged"][0]["why"]
    text = run("gallery", "check", "--gallery", gallery)
    assert "not judged, too few templates: barack" in text.stderr


def test_make_install_needs_only_running_dependencies():
    """`make install` installs the package alone; `make test` adds the test extras; the slow
    fresh-venv install check has its own target."""
    from conftest import REPO

    def dry(target: str) -> str:
        return subprocess.run(["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, check=True).stdout

    install = dry("install")
    assert "pip install" in install and "-e ." in install and "[test]" not in install
    assert '-e ".[test]"' in dry("test")
    assert "COUNTENANCE_INSTALL_TEST=1" in dry("install-check")


def test_video_tag_on_a_broken_clip_prints_one_line_not_ffmpeg_noise(gallery, tmp_path):
    """Run as a user would (a new process): ffmpeg's messages reach the terminal's stderr
    directly, below Python, so only a subprocess shows them."""
    import os
    import sys

    broken = tmp_path / "clip.mp4"
    broken.write_text("not a video\n" * 10)
    script = Path(sys.executable).parent / "countenance"
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    done = subprocess.run([str(script), "video", "tag", str(broken), "--gallery", str(gallery)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not a video" in lines[0], done.stderr
