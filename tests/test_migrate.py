"""``models migrate``: a fixture gallery and a fixture library moved from dlib to the test-only
ArcFace-style recogniser and back, the first run killed with SIGKILL midway and resumed.

Checked: every subject, consent, opt-out, name, decision and face id is kept; the new model
names the enrolled probe; a rollback gives the old model's answers exactly; erasure (a forget,
a photo dropped) during and after the migration leaves none of the copies on disk; prune
removes the old templates from the files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from countenance import Pipeline
from countenance.cli import app
from countenance.errors import OptedOut
from countenance.gallery import Consent, Gallery
from countenance.gallery.images import EmbeddedImage
from countenance.library import Library
from countenance.library.model import library_model
from countenance.library.store import LibraryStore
from countenance.pipeline import PipelineConfig

from support import run_cli_json

SIDECAR = {"name": "mobilefacenet-test", "embedding_size": 128, "thresholds": {"default": 0.70}, "input_size": 112,
           "mean": [127.5] * 3, "std": [128.0] * 3, "colour_order": "RGB", "layout": "NCHW", "metric": "cosine"}
PROBES = ("obama1.jpg", "johnsnow_test1.jpg", "lin-manuel-miranda.png")


@pytest.fixture(scope="module")
def arcface(models, fixtures, tmp_path_factory) -> str:
    """The test-only recogniser with its spec in a sidecar, as ``--to`` takes it, calibrated on
    the fixture people by ``countenance calibrate --install`` (a library moves only to a model
    with a table) into this module's own calibration folder."""
    folder = tmp_path_factory.mktemp("mfn")
    shutil.copyfile(models / "test-only" / "mobilefacenet_112_128d.onnx", folder / "mfn.onnx")
    (folder / "mfn.json").write_text(json.dumps(SIDECAR))
    embedder = f"arcface:{folder / 'mfn.onnx'}"
    shutil.copytree(fixtures / "people", folder / "people", ignore=shutil.ignore_patterns("obama3.jpg"))  # 3 MP: slow
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COUNTENANCE_CALIBRATION_DIR", str(folder / "calibration"))
        run_cli_json("calibrate", folder / "people", "--embedder", embedder, "--detector", "hog", "--install")
        yield embedder


def rows(db_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as db:
        return db.execute(sql).fetchall()


def scan(folder: Path, needles: dict[bytes, str]) -> list[str]:
    """``"<file>: <what>"`` for each needle found in a file under ``folder``."""
    return [f"{p.name}: {what}" for p in sorted(folder.rglob("*")) if p.is_file()
            for needle, what in needles.items() if needle in p.read_bytes()]


def start_killed_run(args: list[str], db_path: Path, table: str, at_least: int) -> None:
    """Run ``countenance models migrate ARGS --batch-size 1`` in a process and SIGKILL it once
    ``table`` holds ``at_least`` committed rows."""
    process = subprocess.Popen([sys.executable, "-m", "countenance.cli", "models", "migrate", *args, "--batch-size", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if rows(db_path, f"SELECT count(*) FROM {table}")[0][0] >= at_least:
                    break
            except sqlite3.OperationalError:  # the table is not there yet
                pass
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL, "the migration ended before it could be killed"


def migrate(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["models", "migrate", *args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def answers(gallery: Path, probes: list[EmbeddedImage]) -> list:
    """Name and nearest distance of each face of ``probes`` (embedded once, by the gallery's model)."""
    with Gallery(gallery) as g:
        return [[(f.name, f.candidates[0].distance if f.candidates else None) for f in g.identify(probe).faces]
                for probe in probes]


GALLERY_KEPT = {
    "subjects": "SELECT * FROM subjects ORDER BY id",
    "consents": "SELECT * FROM consents ORDER BY id",
    "forgotten": "SELECT * FROM forgotten ORDER BY pseudonym",
    "templates": "SELECT id, subject_id, consent_id, source_path, source_sha256, box, crop, created_at, enrolled_by "
                 "FROM templates ORDER BY id",
    "optouts": "SELECT id, source_sha256, box, note, created_at, recorded_by FROM optouts ORDER BY id",
}


def test_gallery_migrates_to_arcface_and_back(tmp_path, fixtures, pipeline, arcface):
    photos, optout_photos, folder = tmp_path / "photos", tmp_path / "optout-photos", tmp_path / "g"
    for name in ("biden", "kit_harington", "obama"):  # obama3.jpg left out: 3 MP, slow to detect
        shutil.copytree(fixtures / "people" / name, photos / name, ignore=shutil.ignore_patterns("obama3.jpg"))
    shutil.copytree(fixtures / "people" / "rose_leslie", optout_photos)
    db = folder / "gallery.sqlite3"
    with Gallery.create(folder, model=pipeline.spec, pipeline=pipeline) as g:
        # Enrolled from a face alone: no photo, no crop, so it cannot be re-embedded.
        kate = g.enroll("kate", [pipeline.embed_largest(next((fixtures / "people" / "kate_siegel").iterdir()))],
                        consent=Consent("I agree", consenter="kate")).templates[0]
        kate_dlib = {g.subject_templates()["kate"][kate.id].astype("<f4").tobytes(): "kate's template"}
        g.enroll_folder(photos, {"*": Consent("I agree", consenter="x", evidence="form 1")})
        g.optout(next(optout_photos.iterdir()))
        g.rename("kit_harington", "kit")
        kit_dlib = {v.astype("<f4").tobytes(): f"kit dlib {i}" for i, v in g.subject_templates()["kit"].items()}
    moved = sorted((photos / "obama").iterdir())[0]  # gone from its path: re-embedded from its crop
    moved.rename(tmp_path / moved.name)

    start_killed_run(["--to", arcface, "--gallery", str(folder), "--detector", "hog", "--sources", str(optout_photos)],
                     db, "model_vectors", 3)
    status = CliRunner().invoke(app, ["models", "migrate", "--status", "--gallery", str(folder), "--json"])
    underway = json.loads(status.stdout)
    assert underway["model"] == pipeline.spec.name and underway["migrating_to"].startswith("arcface-")
    done = rows(db, "SELECT count(*) FROM model_vectors")[0][0]
    assert done >= 3

    # Forgotten while the migration is under way: their new vectors go too.
    biden_new = {blob: f"biden new {i}" for i, blob in rows(
        db, "SELECT v.id, v.vector FROM model_vectors v JOIN templates t ON t.id = v.id JOIN subjects s ON "
            "s.id = t.subject_id WHERE s.name = 'biden'")}
    assert biden_new  # biden's photos are the first re-embedded
    with Gallery(folder, pipeline=pipeline) as g:  # the old model answers meanwhile
        g.forget("biden")
    assert scan(folder, {**biden_new, b"biden": "name"}) == []
    before = {table: rows(db, sql) for table, sql in GALLERY_KEPT.items()}
    dlib_probes = [EmbeddedImage.from_pipeline(pipeline, fixtures / "probes" / p) for p in PROBES]
    old_answers = answers(folder, dlib_probes)
    assert [a[0][0] for a in old_answers] == ["obama", "kit", "unknown"]

    code, report = migrate("--to", arcface, "--gallery", str(folder), "--detector", "hog", "--sources", str(optout_photos))
    remaining = rows(db, "SELECT count(*) FROM model_vectors WHERE model LIKE 'arcface%'")  # none: switched in
    assert remaining == [(0,)] and report["cut_over"] and code == 1
    assert report["already"] == done - len(biden_new)  # nothing re-embedded twice
    assert report["embedded"] + report["already"] == report["templates"] + report["optouts"] == 4 + 1
    (failed,) = report["not_reembedded"]
    assert (failed["table"], failed["outcome"], report["parked"]) == ("templates", "no-source", 1)
    kept = {table: rows(db, sql) for table, sql in GALLERY_KEPT.items()}
    parked = rows(db, "SELECT id FROM parked_templates")
    assert [r for r in before["templates"] if (r[0],) not in parked] == kept["templates"]
    assert {k: v for k, v in kept.items() if k != "templates"} == {k: v for k, v in before.items() if k != "templates"}

    arc = Pipeline(detector="hog", embedder=arcface)
    arc_probes = [EmbeddedImage.from_pipeline(arc, fixtures / "probes" / p) for p in PROBES]
    new_answers = answers(folder, arc_probes)
    assert [a[0][0] for a in new_answers] == ["obama", "kit", "unknown"]
    with Gallery(folder, pipeline=arc) as g, pytest.raises(OptedOut):  # the opt-out holds under the new model
        g.enroll("rose", [next(optout_photos.iterdir())], consent=Consent("I agree", consenter="rose"))

    code, report = migrate("--rollback", "--gallery", str(folder))
    assert code == 0 and report["to_model"] == pipeline.spec.name and report["unparked"] == 1
    assert answers(folder, dlib_probes) == old_answers  # exactly
    assert {table: rows(db, sql) for table, sql in GALLERY_KEPT.items()} == before

    code, report = migrate("--to", arcface, "--gallery", str(folder), "--detector", "hog")
    assert report["embedded"] == 0 and report["already"] == 5  # the vectors kept for the rollback
    with Gallery(folder, pipeline=arc) as g:
        kit_new = {v.astype("<f4").tobytes(): f"kit new {i}" for i, v in g.subject_templates()["kit"].items()}
        obama_new = g.subject_templates()["obama"]
        g.forget("kit")  # after the cut-over: the copies kept for a rollback go too
    assert scan(folder, {**kit_dlib, **kit_new, b"kit_harington": "name"}) == []

    # Retention reaches parked templates: kate's (enrolled first) goes, nobody else's.
    with Gallery(folder) as g:
        pruned = g.prune(older_than_days=1, now=datetime.fromisoformat(kate.created_at) + timedelta(days=1, microseconds=1))
    assert pruned.templates_removed == 0 and rows(db, "SELECT count(*) FROM parked_templates") == [(0,)]
    assert scan(folder, kate_dlib) == []
    obama_old = rows(db, "SELECT v.vector FROM model_vectors v JOIN templates t ON t.id = v.id AND v.vector_table = 'templates'")
    assert len(obama_old) == len(obama_new) == 2
    code, report = migrate("--prune", "--gallery", str(folder))
    assert report["pruned_vectors"] == 2 + 1 and report["pruned_rows"] == 0  # obama's and the opt-out's
    assert scan(folder, {blob: "an old template" for (blob,) in obama_old}) == []
    assert CliRunner().invoke(app, ["models", "migrate", "--rollback", "--gallery", str(folder)]).exit_code == 2
    assert [a[0][0] for a in answers(folder, arc_probes)] == ["obama", "unknown", "unknown"]


def test_dlib_and_dlib_onnx_are_one_model(tmp_path, pipeline):
    Gallery.create(tmp_path / "g", model=pipeline.spec).close()
    result = CliRunner().invoke(app, ["models", "migrate", "--to", "dlib", "--gallery", str(tmp_path / "g")])
    assert result.exit_code == 0 and "already dlib-resnet-v1: nothing to migrate" in result.output


LIBRARY_KEPT = {
    "persons": "SELECT * FROM persons ORDER BY id",
    "assignments": "SELECT * FROM assignments ORDER BY face_id",
    "rejections": "SELECT * FROM rejections ORDER BY face_id",
    "operations": "SELECT * FROM operations ORDER BY id",
    "operation_changes": "SELECT * FROM operation_changes ORDER BY seq",
    "face_origins": "SELECT * FROM face_origins ORDER BY face_id",
    "faces": "SELECT id, photo_id, left_px, top_px, right_px, bottom_px, landmarks FROM faces ORDER BY id",
}


def test_library_migrates_to_arcface_and_back(tmp_path, fixtures, pipeline, arcface):
    photos, folder = tmp_path / "photos", tmp_path / "lib"
    shutil.copytree(fixtures / "people" / "obama", photos / "obama", ignore=shutil.ignore_patterns("obama3.jpg"))
    shutil.copyfile(fixtures / "groups" / "two_people.jpg", photos / "two_people.jpg")
    db = folder / "library.sqlite3"
    with Library.open(folder) as library:
        library.index([photos], workers=1, pipeline=PipelineConfig(detector="hog", embedder="dlib-onnx"))
        library.recluster()
        people = sorted(library.people(), key=lambda p: -p.faces)
        library.name(people[0].id, "obama", confirm_all=True)
        assigned = [r[0] for r in rows(db, f"SELECT face_id FROM assignments WHERE person_id = {people[0].id}")]
        library.not_this_person(assigned[-1])
        library.add_face(photos / "obama" / "obama2.jpg", (0, 0, 120, 120), pipeline, name="drawn by hand")

    start_killed_run(["--to", arcface, "--library", str(folder)], db, "model_templates", 2)
    done = rows(db, "SELECT face_id, template FROM model_templates")
    # A photo dropped from the library while the migration is under way takes its new templates.
    first = rows(db, f"SELECT p.path FROM photos p JOIN faces f ON f.photo_id = p.id WHERE f.id = {done[0][0]}")[0][0]
    Path(first).unlink()
    with Library.open(folder) as library:
        library.index([photos], workers=1, pipeline=PipelineConfig(detector="hog", embedder="dlib-onnx"))
    dropped = [blob for face_id, blob in done if not rows(db, f"SELECT 1 FROM faces WHERE id = {face_id}")]
    assert dropped and rows(db, "SELECT count(*) FROM model_templates") == [(len(done) - len(dropped),)]
    store = LibraryStore.open(db)
    store.erase_freed()  # the library empties its WAL (as a forget does)
    store.close()
    assert scan(folder, {blob: "template of a dropped photo" for blob in dropped}) == []
    before = {table: rows(db, sql) for table, sql in LIBRARY_KEPT.items()}
    assert all(before.values())  # a name, a confirmation, a rejection, a face added by hand, their log
    old_templates = rows(db, "SELECT id, template, model, gate FROM faces ORDER BY id")
    missing = photos / "two_people.jpg"
    missing.unlink()  # still in the library: its faces cannot be re-embedded

    code, report = migrate("--to", arcface, "--library", str(folder))
    assert code == 1 and report["cut_over"] and report["already"] == len(done) - len(dropped)
    assert report["embedded"] + report["already"] + len(report["not_reembedded"]) == report["templates"]
    assert {r["outcome"] for r in report["not_reembedded"]} == {"missing-file"}
    assert {table: rows(db, sql) for table, sql in LIBRARY_KEPT.items()} == before
    models = dict(rows(db, "SELECT gate IS 'not-migrated', group_concat(DISTINCT model) FROM faces GROUP BY 1"))
    assert models[0].startswith("arcface-") and models[1] == "dlib-resnet-v1"
    with Library.open(folder) as library:  # the library's recorded model moved too (its cuts follow it)
        assert library_model(library.store).name == models[0]

    code, report = migrate("--rollback", "--library", str(folder))
    assert rows(db, "SELECT id, template, model, gate FROM faces ORDER BY id") == old_templates  # exactly
    with Library.open(folder) as library:
        assert library_model(library.store).name == "dlib-resnet-v1"
    code, report = migrate("--to", arcface, "--library", str(folder))
    assert report["embedded"] == 0
    code, report = migrate("--prune", "--library", str(folder))
    kept_old = {row[1] for row in rows(db, "SELECT id, template FROM faces WHERE gate = 'not-migrated'")}
    old = {blob: "an old template" for _, blob, _, _ in old_templates if blob not in kept_old}
    assert report["pruned_vectors"] == len(old_templates) and old and scan(folder, old) == []


def test_library_migration_in_worker_processes_gives_the_same_templates(tmp_path, fixtures, arcface):
    """``--workers 2`` (two processes, started once) stores what one process stores."""
    photos, one, two = tmp_path / "photos", tmp_path / "one", tmp_path / "two"
    shutil.copytree(fixtures / "people" / "obama", photos, ignore=shutil.ignore_patterns("obama3.jpg"))
    with Library.open(one) as library:
        library.index([photos], workers=1, pipeline=PipelineConfig(detector="hog", embedder="dlib-onnx"))
    shutil.copytree(one, two)
    (_, first), (_, second) = (migrate("--to", arcface, "--library", str(folder), "--workers", workers)
                               for folder, workers in ((one, "1"), (two, "2")))
    assert first["embedded"] == second["embedded"] == first["templates"] >= 2 and not second["not_reembedded"]
    query = "SELECT id, model, template FROM faces ORDER BY id"
    for (id1, model1, blob1), (id2, model2, blob2) in zip(rows(one / "library.sqlite3", query),
                                                          rows(two / "library.sqlite3", query), strict=True):
        a, b = np.frombuffer(blob1, np.float32), np.frombuffer(blob2, np.float32)
        assert (id1, model1) == (id2, model2) and model1.startswith("arcface-")
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.9999


def test_a_subject_left_with_parked_templates_only_is_kept(tmp_path, fixtures, pipeline, arcface):
    """After a cut-over, a subject whose templates are all parked (not re-embedded) survives a
    removal of someone else's template (only forget deletes a subject), and a rollback brings
    their template back."""
    folder = tmp_path / "g"
    with Gallery.create(folder, model=pipeline.spec, pipeline=pipeline) as g:
        g.enroll("kate", [pipeline.embed_largest(next((fixtures / "people" / "kate_siegel").iterdir()))],
                 consent=Consent("I agree", consenter="kate"))  # a face alone: it cannot be re-embedded
        g.enroll("biden", sorted((fixtures / "people" / "biden").iterdir()), consent=Consent("I agree", consenter="biden"))
    code, report = migrate("--to", arcface, "--gallery", str(folder), "--detector", "hog")
    assert code == 1 and report["cut_over"] and report["parked"] == 1
    with Gallery(folder) as g:
        g.remove_template("biden", g.subject("biden").templates[0].id)
        assert sorted(s.name for s in g.subjects()) == ["biden", "kate"]
    code, report = migrate("--rollback", "--gallery", str(folder))
    assert code == 0 and report["unparked"] == 1
    with Gallery(folder) as g:
        assert len(g.subject_templates()["kate"]) == 1


def test_a_library_is_not_moved_to_a_model_without_a_calibration_table(tmp_path, fixtures, arcface, monkeypatch):
    """Its clustering needs the model's table: refused before anything is re-embedded, naming
    the command that measures one; --status says the same of a migration under way."""
    photos, folder = tmp_path / "photos", tmp_path / "lib"
    shutil.copytree(fixtures / "people" / "biden", photos)
    with Library.open(folder) as library:
        library.index([photos], workers=1, pipeline=PipelineConfig(detector="hog", embedder="dlib-onnx"))
    uncalibrated = arcface.replace("mfn.onnx", "uncalibrated.onnx")
    shutil.copyfile(arcface.removeprefix("arcface:"), uncalibrated.removeprefix("arcface:"))
    Path(uncalibrated.removeprefix("arcface:")).with_suffix(".json").write_text(json.dumps({**SIDECAR, "name": "uncalibrated"}))
    result = CliRunner().invoke(app, ["models", "migrate", "--to", uncalibrated, "--library", str(folder)])
    assert result.exit_code == 2, result.output
    assert f"countenance calibrate DIR --embedder {uncalibrated} --install" in " ".join(result.stderr.split())
    assert rows(folder / "library.sqlite3", "SELECT count(*) FROM sqlite_master WHERE name = 'model_templates'") == [(0,)]
    assert run_cli_json("models", "migrate", "--status", "--library", folder)["calibration_missing"] is None

    # Moved to a calibrated model whose table is then gone (another machine, a deleted file).
    assert migrate("--to", arcface, "--library", str(folder))[1]["cut_over"]
    monkeypatch.setenv("COUNTENANCE_CALIBRATION_DIR", str(tmp_path / "no-tables"))
    missing = run_cli_json("models", "migrate", "--status", "--library", folder)["calibration_missing"]
    assert "countenance calibrate DIR --embedder" in missing and "--install" in missing
