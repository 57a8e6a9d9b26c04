"""Issue 10, safe at the edges: a forget that sticks (also against an enrolment running in
another process), erasure that leaves no name, path, photo hash, template or crop in any
gallery file (after forget and after prune), ``gallery destroy``, and one face, one person
(face choice, duplicate identities, ambiguous ties). Real photos, real SQLite + FAISS, the
real CLI (in-process, and as separate processes for the race)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from countenance.cli import app
from countenance.errors import DuplicateIdentity, GalleryError, MultipleFaces, SubjectForgotten
from countenance.gallery import Consent, Gallery, Policy
from countenance.gallery.gallery import DB_NAME
from support import Clock, T0

runner = CliRunner()




def consent_for(name: str, given_at: str | None = None) -> Consent:
    return Consent("I agree to be recognised at the office door", consenter=name, evidence=f"form-{name}", given_at=given_at)


def enrol_people(g: Gallery, people: Path, faces, only: tuple[str, ...] | None = None) -> None:
    for folder in sorted(p for p in people.iterdir() if p.is_dir() and (only is None or p.name in only)):
        g.enroll(folder.name, [faces[p] for p in sorted(folder.iterdir())], consent=consent_for(folder.name))


def traces(g: Gallery, name: str) -> dict[bytes, str]:
    """Everything the gallery holds that identifies ``name``: the name (UTF-8), the source
    paths and the sha256 hex of their photos, their templates' float32 bytes and crops."""
    details = g.subject(name)
    ids = [t.id for t in details.templates]
    vectors = g.store.vectors("templates", ids)
    found = {name.encode(): "name"}
    for t in details.templates:
        found[t.source_path.encode()] = f"path {t.source_path}"
        found[hashlib.sha256(Path(t.source_path).read_bytes()).hexdigest().encode()] = f"sha256 of {t.source_path}"
        found[vectors[t.id].astype("<f4").tobytes()] = f"template {t.id}"
        found[g.store.crop(t.id)] = f"crop {t.id}"
    return found


def scan(folder: Path, needles: dict[bytes, str]) -> list[str]:
    """``"<file>: <what>"`` for every needle found in every file under ``folder``."""
    return [f"{p.name}: {what}" for p in sorted(folder.rglob("*")) if p.is_file()
            for needle, what in needles.items() if needle in p.read_bytes()]


# ---------------------------------------------------------------- forget wins


_PAUSING_LAUNCH = """
import os, pathlib, time
import countenance.gallery.enrolment as enrolment

original = enrolment._prepare
started, go = pathlib.Path(os.environ["TEST_STARTED"]), pathlib.Path(os.environ["TEST_GO"])

def pausing(g, name, image, choice):
    if name == "obama" and not started.exists():  # the run has reached obama: let the test forget them
        started.touch()
        while not go.exists():
            time.sleep(0.02)
    return original(g, name, image, choice)

enrolment._prepare = pausing
from countenance.cli import app
app()
"""


def test_a_forget_during_a_running_enrol_folder_is_not_undone(tmp_path, fixtures):
    """The race of issue 10 with two real processes: obama is enrolled (one photo), and
    `enroll-folder F/people` has reached obama's photos when `subjects forget obama -y` runs;
    the enrolment then commits obama's photos. They are refused (the run began before the
    forget), and obama is gone."""
    gallery_dir = tmp_path / "G"
    consent = tmp_path / "all.json"
    consent.write_text(json.dumps({"*": {"text": "I agree", "evidence": "sheet 1"}}))
    env = {**os.environ, "COUNTENANCE_GALLERY": str(gallery_dir),
           "TEST_STARTED": str(tmp_path / "started"), "TEST_GO": str(tmp_path / "go")}
    cli = [sys.executable, "-c", "from countenance.cli import app; app()"]
    subprocess.run(cli + ["gallery", "init"], env=env, check=True, capture_output=True)
    subprocess.run(cli + ["enroll", "obama", fixtures / "people" / "obama" / "obama.jpg", "--consent", "I agree"],
                   env=env, check=True, capture_output=True)
    enrol = subprocess.Popen([sys.executable, "-c", _PAUSING_LAUNCH, "enroll-folder", fixtures / "people",
                              "--consent-file", consent, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "started").exists():
            assert enrol.poll() is None and time.monotonic() < deadline, enrol.stderr.read() if enrol.poll() is not None else "timeout"
            time.sleep(0.02)
        forget = subprocess.run(cli + ["subjects", "forget", "obama", "-y", "--json"], env=env, capture_output=True, text=True)
        assert forget.returncode == 0, forget.stderr
        assert json.loads(forget.stdout)["templates_removed"] == 1
    finally:
        (tmp_path / "go").touch()
    out, err = enrol.communicate(timeout=300)
    assert enrol.returncode == 1, err  # some photos failed: obama's
    document = json.loads(out)
    refused = [f for f in document["failed"] if f["subject"] == "obama"]
    assert len(refused) == 3 and all("was forgotten" in f["error"] and "began before" in f["error"] for f in refused)
    assert document["enrolled"] == 14 - 3  # the 11 photos of the others
    with sqlite3.connect(gallery_dir / DB_NAME) as db:
        assert db.execute("SELECT count(*) FROM subjects WHERE name = 'obama'").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM consents WHERE consenter = 'obama'").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM templates").fetchone()[0] == 11
        assert db.execute("SELECT count(*) FROM forgotten").fetchone()[0] == 1
    listed = subprocess.run(cli + ["subjects", "list", "--json"], env=env, capture_output=True, text=True, check=True)
    assert "obama" not in {s["name"] for s in json.loads(listed.stdout)["subjects"]}
    info = json.loads(subprocess.run(cli + ["gallery", "info", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    assert info["templates"] == info["index"]["vectors"] == 11
    for path in gallery_dir.iterdir():
        assert b"obama" not in path.read_bytes(), path.name


def test_reenrolment_after_a_forget_needs_a_consent_given_after_it(tmp_path, real_pipeline, fixtures, faces):
    people = fixtures / "people"
    clock = Clock(T0)
    with Gallery.create(tmp_path / "g", model=real_pipeline.spec, pipeline=real_pipeline, clock=clock, actor="t") as g:
        g.enroll("obama", [faces[people / "obama" / "obama.jpg"]], consent=consent_for("obama"))
        clock.now = T0 + timedelta(days=1)
        g.forget("obama")
        clock.now = T0 + timedelta(days=2)
        for name in ("obama", "Obama"):  # the tombstone is by pseudonym of the case-folded name
            with pytest.raises(SubjectForgotten, match="consent record given after"):
                g.enroll(name, [faces[people / "obama" / "obama2.jpg"]], consent=consent_for(name, given_at="2026-01-01T12:00:00Z"))
        with pytest.raises(SubjectForgotten):  # consent given at the very moment of the forget is not after it
            g.enroll("obama", [faces[people / "obama" / "obama2.jpg"]], consent=consent_for("obama", given_at="2026-01-02"))
        assert g.subjects() == []
        result = g.enroll("obama", [faces[people / "obama" / "obama2.jpg"]], consent=consent_for("obama", given_at="2026-01-02T09:00:00Z"))
        assert len(result.templates) == 1
        # Later photos are covered by that new consent.
        assert g.enroll("obama", [faces[people / "obama" / "obama3.jpg"]]).templates
    with Gallery.create(tmp_path / "g2", model=real_pipeline.spec, pipeline=real_pipeline, clock=clock,
                        policy=Policy(consent_required=False)) as g:
        g.enroll("obama", [faces[people / "obama" / "obama.jpg"]])
        g.forget("obama")
        clock.now = T0 + timedelta(days=3)
        with pytest.raises(SubjectForgotten):  # even where consent is optional, coming back needs one
            g.enroll("obama", [faces[people / "obama" / "obama.jpg"]])


# ---------------------------------------------------------------- erasure


def test_forget_leaves_no_name_path_hash_template_or_crop_in_any_gallery_file(tmp_path, real_pipeline, fixtures, faces):
    """Issue 10 item 2: `strings gallery.sqlite3 | grep -c biden` found 21 hits after a forget."""
    people, probes = fixtures / "people", fixtures / "probes"
    with Gallery.create(tmp_path / "g", model=real_pipeline.spec, pipeline=real_pipeline, actor="t") as g:
        enrol_people(g, people, faces)
        for probe in ("obama_and_biden.jpg", "obama1.jpg"):
            g.identify(faces[probes / probe])  # audit rows that name biden among the candidates
        g.verify(faces[probes / "obama_and_biden.jpg"], "biden")
        g.export("biden", tmp_path / "export")
        needles = traces(g, "biden")
        control = traces(g, "obama")
        assert len(needles) == 1 + 4 * 2 and len(scan(g.path, needles)) >= len(needles)  # the scan sees them all before
        result = g.forget("biden")
        assert result.erased and result.templates_removed == 2
        assert scan(g.path, needles) == []
        assert len(scan(g.path, control)) >= len(control) - 1  # obama's are all still there (the WAL may be empty)
        alias = g.store.pseudonym("biden")
        kept = g.audit(subject="biden")  # found by name through the pseudonym
        assert [e.action for e in kept] == ["enrol", "enrol", "identify", "identify", "verify", "export", "forget"]
        assert all(alias in json.dumps(e.to_dict()) for e in kept)
        by_action = {e.action: e for e in kept}
        assert kept[0].query == {"path": "[erased]", "sha256": "[erased]"} and kept[0].result["subject"] == alias
        identify = by_action["identify"].result["faces"]
        assert alias in {c["subject"] for f in identify for c in f["candidates"]}  # which search returned them
        assert by_action["export"].result["folder"] == "[erased]"
        assert by_action["forget"].query == {"subject": alias}
        assert [s.name for s in g.subjects()].count("obama") == 1
    # Reopened: the same, and nothing in the files.
    with Gallery(tmp_path / "g", pipeline=real_pipeline) as g:
        assert "biden" not in {s.name for s in g.subjects()}
    assert scan(tmp_path / "g", needles) == []


def test_prune_leaves_no_trace_of_the_subjects_it_removes(tmp_path, real_pipeline, fixtures, faces):
    people = fixtures / "people"
    clock = Clock(T0)
    with Gallery.create(tmp_path / "g", model=real_pipeline.spec, pipeline=real_pipeline, clock=clock,
                        policy=Policy(retention_days=30), actor="t") as g:
        enrol_people(g, people, faces, only=("biden",))
        clock.now = T0 + timedelta(days=20)
        enrol_people(g, people, faces, only=("obama",))
        g.identify(faces[fixtures / "probes" / "obama_and_biden.jpg"])
        needles, control = traces(g, "biden"), traces(g, "obama")
        clock.now = T0 + timedelta(days=40)
        result = g.prune()
        assert result.subjects_removed == ("biden",) and result.templates_removed == 2 and result.erased
        assert scan(g.path, needles) == []
        assert len(scan(g.path, control)) >= len(control) - 1
        (entry,) = g.audit(action="prune")
        assert entry.result["subjects_removed"] == [g.store.pseudonym("biden")]
        # Pruned, not forgotten: they may be enrolled again with a new consent.
        assert g.enroll("biden", [faces[people / "biden" / "biden.jpg"]], consent=consent_for("biden")).templates


# ---------------------------------------------------------------- gallery destroy


def test_gallery_destroy_leaves_nothing(cli, tmp_path, fixtures):
    people, probes = fixtures / "people", fixtures / "probes"
    consent = tmp_path / "all.json"
    consent.write_text(json.dumps({"*": {"text": "I agree"}}))
    assert cli("gallery", "init").exit_code == 0
    assert cli("enroll-folder", people, "--consent-file", consent, "--json").exit_code == 0
    assert cli("optout", "add", probes / "lin-manuel-miranda.png").exit_code == 0
    assert cli("identify", probes / "obama_and_biden.jpg").exit_code == 0
    folder = tmp_path / "G"
    with Gallery(folder) as g:
        needles = {}
        for subject in g.subjects():
            needles.update(traces(g, subject.name))
        needles.update({v.astype("<f4").tobytes(): "opt-out" for _, vs in g.store.iter_vectors("optouts") for v in vs})
        assert g.audit() and g.optouts()
    assert scan(folder, needles)
    refused = cli("gallery", "destroy", input="n\n")  # asks first; "no" keeps everything
    assert refused.exit_code == 1 and (folder / DB_NAME).exists()
    result = cli("gallery", "destroy", "-y", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clean"] and report["folder_removed"] and report["traces"] == [] and report["remaining"] == []
    assert {f["file"] for f in report["removed"]} >= {DB_NAME, "templates.faiss", "optouts.faiss"}
    assert not folder.exists()
    gone = cli("gallery", "info", "--json")
    assert gone.exit_code == 2 and "no gallery" in gone.stderr


def test_gallery_destroy_scans_what_it_leaves(tmp_path, real_pipeline, fixtures, faces):
    """Files that are not the gallery's stay, and are scanned: a copy of a name is reported."""
    with Gallery.create(tmp_path / "g", model=real_pipeline.spec, pipeline=real_pipeline, actor="t") as g:
        enrol_people(g, fixtures / "people", faces, only=("obama", "biden"))
    (tmp_path / "g" / "notes.txt").write_text("call obama's office\n")
    (tmp_path / "g" / "empty.txt").write_text("nothing here\n")
    report = Gallery.destroy(tmp_path / "g")
    assert not report.clean and report.traces == (f"{tmp_path / 'g' / 'notes.txt'}: subject name 'obama'",)
    assert not report.folder_removed and sorted(p.name for p in (tmp_path / "g").iterdir()) == ["empty.txt", "notes.txt"]
    assert report.needles > 5 + 5 * 2  # names, paths, hashes, key, and (with files left) vectors and crops


# ---------------------------------------------------------------- one face, one person


def test_a_group_photo_is_not_enrolled_without_choosing_the_face(cli, tmp_path, fixtures):
    """Issue 10 item 4: `enroll someone F/groups/t1.jpg --consent "I agree"` (six faces)."""
    t1 = fixtures / "groups" / "t1.jpg"
    assert cli("gallery", "init").exit_code == 0
    result = cli("enroll", "someone", t1, "--consent", "I agree")
    assert result.exit_code == 2 and "6 faces" in result.stderr and "--face" in result.stderr and "--largest" in result.stderr
    assert json.loads(cli("subjects", "list", "--json").stdout)["subjects"] == []
    boxes = [f["box"] for f in json.loads(runner.invoke(app, ["detect", str(t1), "--detector", "hog", "--json"]).stdout)["images"][0]["faces"]]
    assert len(boxes) == 6
    chosen = json.loads(cli("enroll", "someone", t1, "--consent", "I agree", "--face", "3", "--json").stdout)
    assert chosen["templates"][0]["box"] == pytest.approx(boxes[2], abs=0.1)  # the third face `detect` lists
    largest = json.loads(cli("enroll", "other", t1, "--consent", "I agree", "--largest", "--json").stdout)
    assert largest["templates"][0]["box"] == pytest.approx(boxes[0], abs=0.1)
    entry = [e for e in json.loads(cli("audit", "--action", "enrol", "--json").stdout)["entries"]]
    assert [e["result"]["face"] for e in entry] == [{"number": 3, "of": 6, "chosen": "face"}, {"number": 1, "of": 6, "chosen": "largest"}]
    assert cli("enroll", "x", t1, "--consent", "I agree", "--face", "7").exit_code == 2
    assert cli("enroll", "x", t1, t1, "--consent", "I agree", "--face", "1").exit_code == 2
    # enroll-folder skips such a photo, with the reason, and enrols the rest.
    folder = tmp_path / "people"
    (folder / "stranger").mkdir(parents=True)
    (folder / "stranger" / "t1.jpg").symlink_to(t1)
    (folder / "kate_siegel").mkdir()
    (folder / "kate_siegel" / "1.jpg").symlink_to(fixtures / "people" / "kate_siegel" / "1.jpg")
    consent = tmp_path / "all.json"
    consent.write_text(json.dumps({"*": {"text": "I agree"}}))
    run = cli("enroll-folder", folder, "--consent-file", consent, "--json")
    assert run.exit_code == 1
    document = json.loads(run.stdout)
    assert document["enrolled"] == 1 and [f["subject"] for f in document["failed"]] == ["stranger"]
    assert "6 faces" in document["failed"][0]["error"]


def test_one_face_is_not_enrolled_under_two_names(cli, tmp_path, fixtures):
    """Issue 10 item 3: `enroll paul2 F/people/paul_rudd/1.jpg` after paul_rudd is enrolled."""
    photo = fixtures / "people" / "paul_rudd" / "1.jpg"
    assert cli("gallery", "init").exit_code == 0
    consent = tmp_path / "all.json"
    consent.write_text(json.dumps({"*": {"text": "I agree"}}))
    assert cli("enroll-folder", fixtures / "people", "--consent-file", consent).exit_code == 0
    result = cli("enroll", "paul2", photo, "--consent", "I agree")
    assert result.exit_code == 2 and "'paul_rudd'" in result.stderr and "'paul2'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "paul2" not in {s["name"] for s in json.loads(cli("subjects", "list", "--json").stdout)["subjects"]}
    # Another photo of an enrolled person under their own name is not a duplicate.
    assert cli("enroll", "obama", fixtures / "probes" / "obama1.jpg", "--json").exit_code == 0
    # The override is explicit and on the record; the same face then is an ambiguous probe.
    assert cli("enroll", "paul2", photo, "--consent", "I agree", "--allow-duplicate").exit_code == 0
    (entry,) = [e for e in json.loads(cli("audit", "--subject", "paul2", "--action", "enrol", "--json").stdout)["entries"]]
    assert entry["result"]["duplicate_override"]["subject"] == "paul_rudd"
    assert entry["result"]["duplicate_override"]["distance"] == pytest.approx(0.0, abs=1e-6)
    (face,) = json.loads(cli("identify", photo, "--json").stdout)["faces"]
    assert face["decision"] == "ambiguous" and face["outcome"] == "ambiguous"
    assert {c["subject"] for c in face["candidates"][:2]} == {"paul_rudd", "paul2"}
    # Real probes of other people are still decided (their runner-ups are far from them).
    decided = json.loads(cli("identify", fixtures / "probes" / "obama_and_biden.jpg", "--json").stdout)["faces"]
    assert sorted(f["decision"] for f in decided) == ["biden", "obama", "unknown"]


def test_duplicate_and_face_choice_in_the_python_api(tmp_path, real_pipeline, fixtures, faces):
    people = fixtures / "people"
    with Gallery.create(tmp_path / "g", model=real_pipeline.spec, pipeline=real_pipeline, actor="t") as g:
        g.enroll("paul_rudd", [faces[people / "paul_rudd" / "1.jpg"]], consent=consent_for("paul_rudd"))
        with pytest.raises(DuplicateIdentity) as refused:
            g.enroll("paul2", [faces[people / "paul_rudd" / "1.jpg"]], consent=consent_for("paul2"))
        assert refused.value.existing == "paul_rudd" and refused.value.subject == "paul2" and refused.value.distance < 1e-6
        assert [s.name for s in g.subjects()] == ["paul_rudd"]
        with pytest.raises(MultipleFaces) as several:
            g.enroll("x", [fixtures / "groups" / "two_people.jpg"], consent=consent_for("x"))
        assert several.value.count == 2


def test_a_gallery_of_the_previous_schema_is_upgraded_on_open(tmp_path):
    from countenance.backends.dlib_backend import DLIB_RESNET_SPEC

    Gallery.create(tmp_path / "g", model=DLIB_RESNET_SPEC).close()
    with sqlite3.connect(tmp_path / "g" / DB_NAME) as db:  # as a version-1 gallery was
        db.execute("DROP TABLE forgotten")
        db.execute("DELETE FROM meta WHERE key IN ('pseudonym_key', 'tie_margin')")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Gallery(tmp_path / "g") as g:
        assert g.store.meta("schema_version") == "3" and len(g.store.meta("pseudonym_key")) == 64
        assert g.store.forgotten_at("anyone") is None and g.model.tie_margin == 0.0
    with sqlite3.connect(tmp_path / "g" / DB_NAME) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(GalleryError, match="schema version 99"):
        Gallery(tmp_path / "g")
