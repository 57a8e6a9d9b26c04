"""Dataset cleaning on real fixture photos: a planted mislabel, a near-duplicate, a split
identity, a photo without a face, an unreadable file, a multi-face photo; the template cache,
the manifest, the cleaned copy and the offline HTML report."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from countenance.clean import (AMBIGUOUS_FACE, DUPLICATE_IDENTITY, MISLABEL, NEAR_DUPLICATE, NO_FACE, OUTLIER, UNREADABLE,
                               CleanOptions, IdentityOptions, apply_report, check_identities, check_records,
                               clean_dataset, read_dataset, write_html, write_manifest)
from countenance.clean.near_duplicates import HashedItem, NearDuplicateOptions, find_near_duplicates
from countenance.errors import InvalidArgument
from countenance.pipeline import PipelineConfig


@pytest.fixture(scope="module")
def yunet_models(fixtures, tmp_path_factory):
    """YuNet installed (sha256-verified) into a private model folder, as `models pull --from FILE`."""
    from countenance.model_registry import pull

    folder = tmp_path_factory.mktemp("models")
    patch = pytest.MonkeyPatch()
    patch.setenv("COUNTENANCE_MODEL_DIR", str(folder))
    pull("yunet", fixtures.parent.parent / "models" / "yunet" / "face_detection_yunet_2023mar.onnx")
    yield folder
    patch.undo()


def _near_copy(source: Path, target: Path) -> None:
    image = Image.open(source).convert("RGB")
    w, h = image.size
    image = image.crop((int(0.05 * w), int(0.04 * h), int(0.96 * w), int(0.97 * h)))
    image = image.resize((int(image.width * 0.6), int(image.height * 0.6)), Image.BICUBIC)
    image.save(target, "JPEG", quality=70)


def _side_by_side(a: Path, b: Path, target: Path) -> None:
    left, right = Image.open(a).convert("RGB"), Image.open(b).convert("RGB")
    height = 400
    left = left.resize((left.width * height // left.height, height))
    right = right.resize((right.width * height // right.height, height))
    canvas = Image.new("RGB", (left.width + right.width, height))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    canvas.save(target, "JPEG", quality=92)


@pytest.fixture(scope="module")
def dataset(fixtures, tmp_path_factory) -> Path:
    """Folders of real photos with known problems planted (see the module doc)."""
    root = tmp_path_factory.mktemp("dataset")
    people, probes = fixtures / "people", fixtures / "probes"
    layout = {
        "obama": [people / "obama" / n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")] + [probes / "obama_and_biden.jpg"],
        "barack": [probes / "obama1.jpg", probes / "obama-720p.jpg"],  # the same man under a second name
        "kit_harington": [people / "kit_harington" / "john1.jpeg", people / "kit_harington" / "john2.jpeg",
                          probes / "johnsnow_test1.jpg", probes / "kit_with_rose.jpg",
                          people / "rose_leslie" / "img1.jpg"],  # the planted mislabel
        "rose_leslie": [people / "rose_leslie" / "img2.jpg"],
        "biden": [people / "biden" / "biden.jpg", people / "biden" / "biden2.jpg"],
        "misc": [fixtures / "noface" / "no_face.png"],
    }
    for label, files in layout.items():
        (root / label).mkdir()
        for file in files:
            shutil.copyfile(file, root / label / file.name)
    _near_copy(people / "biden" / "biden.jpg", root / "biden" / "biden_copy.jpg")
    _side_by_side(people / "obama" / "obama2.jpg", people / "obama" / "obama3.jpg", root / "obama" / "two_obamas.jpg")
    (root / "misc" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.jpg").write_bytes(b"skipped")
    return root


@pytest.fixture(scope="module")
def options(yunet_models, tmp_path_factory) -> CleanOptions:
    return CleanOptions(PipelineConfig(detector="yunet", embedder="dlib-onnx"), workers=1,
                        cache_path=tmp_path_factory.mktemp("cache") / "templates.sqlite")


@pytest.fixture(scope="module")
def report(dataset, options):
    return clean_dataset(dataset, options)


def _items(report, kind):
    return sorted(item for f in report.of_kind(kind) for item in f.items)


def test_read_dataset_skips_hidden_and_orders(dataset):
    data = read_dataset(dataset)
    assert data.labels == ("barack", "biden", "kit_harington", "misc", "obama", "rose_leslie")
    assert all(not p.relpath.startswith(".") for p in data.photos)
    assert [p.relpath for p in data.photos] == sorted(p.relpath for p in data.photos)
    with pytest.raises(InvalidArgument):
        read_dataset(dataset / "misc" / "no_face.png")


def test_planted_problems_are_found(report):
    assert report.photos == 18 and report.labels == 6
    assert _items(report, MISLABEL) == ["kit_harington/img1.jpg"]
    assert _items(report, NO_FACE) == ["misc/no_face.png"]
    assert _items(report, UNREADABLE) == ["misc/broken.jpg"]
    assert _items(report, AMBIGUOUS_FACE) == ["obama/two_obamas.jpg"]
    near = {f.items for f in report.of_kind(NEAR_DUPLICATE)}
    # The planted copy (the larger original first); the side-by-side photo, which holds a
    # resized copy of obama3.jpg; and one the fixtures already hold: probes/obama-720p.jpg
    # is people/obama/obama.jpg at another size.
    assert ("biden/biden.jpg", "biden/biden_copy.jpg") in near
    assert {frozenset(items) for items in near} == {frozenset({"biden/biden.jpg", "biden/biden_copy.jpg"}),
                                                   frozenset({"obama/obama3.jpg", "obama/two_obamas.jpg"}),
                                                   frozenset({"obama/obama.jpg", "barack/obama-720p.jpg"})}
    (same,) = report.of_kind(DUPLICATE_IDENTITY)
    assert same.labels == ("barack", "obama")
    mislabel = report.of_kind(MISLABEL)[0]
    assert mislabel.suggested_label == "rose_leslie" and 0.5 <= mislabel.confidence <= 1.0
    assert mislabel.distance > report.cut_distance and "rose_leslie" in mislabel.reason


def test_multi_face_photo_keeps_the_face_that_agrees_with_its_folder(report):
    records = {r.photo.relpath: r for r in report.records}
    for item in ("kit_harington/kit_with_rose.jpg", "obama/obama_and_biden.jpg"):
        assert len(records[item].faces) >= 2
        assert item not in report.removed_items()
    # kit_with_rose: Kit is not the largest face in every detector's order; the chosen face
    # must be the one nearest Kit's other photos.
    kit = np.stack([records[f"kit_harington/{n}"].faces[0].vector for n in ("john1.jpeg", "john2.jpeg")]).mean(0)
    faces = records["kit_harington/kit_with_rose.jpg"].faces
    nearest = int(np.argmin([np.linalg.norm(f.vector - kit) for f in faces]))
    assert report.chosen_faces["kit_harington/kit_with_rose.jpg"] == nearest


def test_second_run_reads_every_template_from_the_cache(dataset, options, report, tmp_path):
    again = clean_dataset(dataset, options)
    assert report.computed == 18 and report.cache_hits == 0
    assert again.computed == 0 and again.cache_hits == 18
    assert [f.to_dict() for f in again.findings] == [f.to_dict() for f in report.findings]
    # A changed file is computed again; a moved one is not (the key is its content).
    changed = tmp_path / "ds"
    shutil.copytree(dataset, changed)
    (changed / "misc" / "broken.jpg").write_bytes(b"still not a jpeg")
    (changed / "biden" / "biden2.jpg").rename(changed / "rose_leslie" / "biden2.jpg")
    third = clean_dataset(changed, options)
    assert third.computed == 1 and third.cache_hits == 17
    assert "rose_leslie/biden2.jpg" in _items(third, MISLABEL) or third.of_kind(DUPLICATE_IDENTITY)


def test_other_thresholds_rerun_without_templates(report):
    strict = check_records(report.records, CleanOptions(cut_fmr=1e-4))
    assert strict.cut_distance < report.cut_distance
    assert len([f for f in strict.findings if f.kind == MISLABEL]) >= len(report.of_kind(MISLABEL))
    with pytest.raises(InvalidArgument):
        check_records(report.records, CleanOptions(cut_fmr=1.5))


def test_json_report_has_no_templates(report):
    document = json.loads(json.dumps(report.to_dict()))
    assert document["counts"][MISLABEL] == 1 and document["photos"] == 18
    assert document["removed"] == len(report.removed_items()) == 6
    assert "vector" not in json.dumps(document)


def test_manifest_and_cleaned_copy(report, dataset, tmp_path):
    manifest = write_manifest(report, tmp_path / "clean.csv")
    rows = list(csv.DictReader(manifest.open()))
    assert len(rows) == 18
    actions = {row["path"]: row["action"] for row in rows}
    assert actions["kit_harington/img1.jpg"] == "remove" and actions["biden/biden_copy.jpg"] == "remove"
    assert actions["biden/biden.jpg"] == "keep" and actions["obama/obama.jpg"] == "keep"
    assert {row["same_person_as"] for row in rows if row["label"] == "barack"} == {"obama"}
    result = apply_report(report, tmp_path / "out")
    copied = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert result.copied == len(copied) == 12 and result.left_out == 6
    assert "kit_harington/img1.jpg" not in copied and "biden/biden.jpg" in copied
    assert len([p for p in dataset.rglob("*") if p.is_file()]) == 19  # untouched: 18 photos + 1 hidden file
    with pytest.raises(InvalidArgument):
        apply_report(report, tmp_path / "out")  # not empty
    with pytest.raises(InvalidArgument):
        apply_report(report, dataset / "cleaned")  # inside the data set


def test_html_report_is_offline_and_shows_crops(report, tmp_path):
    page = write_html(report, tmp_path / "report.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    crops = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(crops) >= 10
    import base64

    assert Image.open(io.BytesIO(base64.b64decode(crops[0]))).size[0] <= 112
    assert "kit_harington/img1.jpg" in page and "rose_leslie" in page


def test_check_identities_over_templates_alone():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 128))
    centres *= 1.2 / np.linalg.norm(centres, axis=1, keepdims=True)
    people = {}
    for p, centre in enumerate(centres):
        people[f"p{p}"] = {f"p{p}/{i}": centre + rng.normal(scale=0.025, size=128) for i in range(8)}
    people["p0"]["p0/intruder"] = centres[1] + rng.normal(scale=0.025, size=128)
    people["p2_again"] = {f"p2b/{i}": centres[2] + rng.normal(scale=0.025, size=128) for i in range(5)}
    check = check_identities(people, IdentityOptions(cut_distance=0.6))
    kinds = {(f.kind, f.items, f.labels) for f in check.findings}
    assert kinds == {(MISLABEL, ("p0/intruder",), ("p0",)), (DUPLICATE_IDENTITY, (), ("p2", "p2_again"))}
    (intruder,) = [f for f in check.findings if f.kind == MISLABEL]
    assert intruder.suggested_label == "p1"
    assert "p0/intruder" not in check.kept["p0"] and len(check.kept["p0"]) == 8
    with pytest.raises(InvalidArgument):
        check_identities({"a": {"x": centres[0]}, "b": {"x": centres[1]}}, IdentityOptions(cut_distance=0.6))
    with pytest.raises(InvalidArgument):
        IdentityOptions(cut_distance=-1)


def test_photo_of_someone_without_a_folder_is_an_outlier_not_a_mislabel(fixtures, options, tmp_path):
    """A photo beyond its folder's cut is a mislabel only when it agrees with another folder:
    Biden filed under obama agrees with the biden folder (mislabel, suggested biden); Alex
    Lacamoire filed under kit_harington has no folder anywhere (outlier, kept, to review)."""
    people, probes = fixtures / "people", fixtures / "probes"
    layout = {
        "obama": [people / "obama" / n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")] + [people / "biden" / "biden2.jpg"],
        "biden": [people / "biden" / "biden.jpg"],
        "kit_harington": [people / "kit_harington" / "john1.jpeg", people / "kit_harington" / "john2.jpeg",
                          probes / "johnsnow_test1.jpg", probes / "alex_lacamoire1.jpg"],
    }
    for label, files in layout.items():
        (tmp_path / "ds" / label).mkdir(parents=True)
        for file in files:
            shutil.copyfile(file, tmp_path / "ds" / label / file.name)
    report = clean_dataset(tmp_path / "ds", options)
    (mislabel,) = report.of_kind(MISLABEL)
    assert mislabel.items == ("obama/biden2.jpg",) and mislabel.suggested_label == "biden"
    assert 0.5 <= mislabel.confidence <= 1.0 and "biden" in mislabel.reason
    (outlier,) = report.of_kind(OUTLIER)
    assert outlier.items == ("kit_harington/alex_lacamoire1.jpg",) and outlier.suggested_label is None
    assert outlier.distance > report.cut_distance and outlier.confidence <= 0.5
    assert "kit_harington/alex_lacamoire1.jpg" not in report.removed_items()
    assert set(report.review_items()) == {"kit_harington/alex_lacamoire1.jpg"}
    rows = {row["path"]: row for row in csv.DictReader(write_manifest(report, tmp_path / "m.csv").open())}
    assert rows["kit_harington/alex_lacamoire1.jpg"]["action"] == "review"
    assert rows["kit_harington/alex_lacamoire1.jpg"]["kind"] == OUTLIER
    assert rows["obama/biden2.jpg"]["action"] == "remove"
    assert json.loads(json.dumps(report.to_dict()))["counts"][OUTLIER] == 1
    page = write_html(report, tmp_path / "r.html").read_text()
    assert "outlier (1)" in page and "kit_harington/alex_lacamoire1.jpg" in page
    # The single-cut rule (mislabel_margin None) calls both photos mislabels.
    from dataclasses import replace

    single = check_records(report.records, replace(options, mislabel_margin=None))
    assert sorted(f.items[0] for f in single.findings if f.kind == MISLABEL) == [
        "kit_harington/alex_lacamoire1.jpg", "obama/biden2.jpg"]
    assert not [f for f in single.findings if f.kind == OUTLIER]


def test_outlier_or_mislabel_over_templates_alone():
    """The margin rule on synthetic templates: an intruder from p1 is a mislabel (suggested
    p1), a stranger nobody has a label for is an outlier; both left out of p0's kept set."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 128))
    centres *= 1.2 / np.linalg.norm(centres, axis=1, keepdims=True)
    people = {f"p{p}": {f"p{p}/{i}": c + rng.normal(scale=0.025, size=128) for i in range(8)} for p, c in enumerate(centres[:2])}
    people["p0"]["p0/intruder"] = centres[1] + rng.normal(scale=0.025, size=128)
    people["p0"]["p0/stranger"] = centres[2] + rng.normal(scale=0.025, size=128)
    check = check_identities(people, IdentityOptions(cut_distance=0.6, mislabel_margin=0.1))
    kinds = {(f.kind, f.items, f.suggested_label) for f in check.findings}
    assert kinds == {(MISLABEL, ("p0/intruder",), "p1"), (OUTLIER, ("p0/stranger",), None)}
    assert len(check.kept["p0"]) == 8
    with pytest.raises(InvalidArgument):
        IdentityOptions(cut_distance=0.6, mislabel_margin=-0.1)


def test_near_duplicates_need_template_hash_and_correlation():
    thumb = np.arange(256, dtype=np.uint8).reshape(16, 16)
    vector = np.ones(128) / np.sqrt(128)
    items = [HashedItem("a", "x", vector, "ffff0000ffff0000", thumb, 100),
             HashedItem("b", "x", vector + 0.01, "ffff0000ffff0001", thumb, 400),
             HashedItem("c", "x", vector, "0000ffff0000ffff", thumb, 100)]  # a different picture's hash
    (finding,) = find_near_duplicates(items, NearDuplicateOptions())
    assert finding.items == ("b", "a")
    # The two templates are 0.113 apart (0.01 on each of 128 coordinates).
    assert find_near_duplicates(items[:2], NearDuplicateOptions(template_distance=0.12)) != []
    assert find_near_duplicates(items[:2], NearDuplicateOptions(template_distance=0.11)) == []
    assert find_near_duplicates(items[:2], NearDuplicateOptions(hash_bits=0)) == []
    flat = HashedItem("d", "x", vector, "ffff0000ffff0000", np.zeros((16, 16), np.uint8))
    assert find_near_duplicates([items[0], flat], NearDuplicateOptions()) == []


def test_clean_command_writes_what_was_asked(dataset, options, report, tmp_path):
    from dataclasses import replace

    from countenance.clean import clean_command

    outcome = clean_command(dataset, options=options, html_path=tmp_path / "r.html", manifest_path=tmp_path / "m.csv")
    assert outcome.exit_code == 1  # broken.jpg could not be read
    assert outcome.report.computed == 0  # every template came from the cache
    assert (tmp_path / "r.html").is_file() and (tmp_path / "m.csv").is_file() and outcome.applied is None
    document = json.loads(json.dumps(outcome.to_dict()))
    assert document["manifest"] == str(tmp_path / "m.csv") and document["counts"] == report.counts()
    with pytest.raises(InvalidArgument):
        clean_command(dataset, options=replace(options, workers=0))


def test_cli_clean_reports_the_same_findings_as_json(dataset, yunet_models, report, tmp_path):
    """`countenance clean --json` goes through the service layer to the same checks: the same
    findings as the library call, the manifest written, exit 1 because one file is unreadable."""
    from typer.testing import CliRunner

    from countenance.cli import app

    manifest = tmp_path / "clean.csv"
    run = CliRunner().invoke(app, ["clean", str(dataset), "--json", "--detector", "yunet", "--embedder", "dlib-onnx",
                                   "--workers", "1", "--manifest", str(manifest)])
    assert run.exit_code == 1, run.output
    document = json.loads(run.stdout)
    assert document["manifest"] == str(manifest) and manifest.is_file()
    found = {(f["kind"], tuple(f["items"]), tuple(f["labels"])) for f in document["findings"]}
    assert found == {(f.kind, f.items, f.labels) for f in report.findings}
