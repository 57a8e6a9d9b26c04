"""Aligned input (``--aligned arcface112``): ArcFace-aligned 112 px crops made from the fixture
photos by the project's own alignment go through every command over an image set without
detection, one face per crop; their templates agree with the source photos'; a photo that is
not such a crop is a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from countenance import Pipeline, errors
from countenance.align import arcface_crop
from countenance.aligned import ALIGNED_ARCFACE112, AlignedFaces
from countenance.cli import app
from countenance.detection import FaceDetector, largest_face, resolve_detector_name
from countenance.image import load_image
from countenance.pipeline import PipelineConfig
from countenance.service.error_table import rule_for

runner = CliRunner()
# Two fixture photos per person, for pairs, probes and the identity checks.
PAIRED = ("biden", "kit_harington", "obama")


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def yunet_detector(models):
    from countenance.backends.yunet import YuNetDetector

    return FaceDetector(YuNetDetector(model_path=models / "yunet" / "face_detection_yunet_2023mar.onnx"))


@pytest.fixture(scope="module")
def crops(tmp_path_factory, fixtures, yunet_detector):
    """``people/<name>/<photo>.png``: the largest face of every fixture photo of people/,
    warped onto the ArcFace template at 112x112 (PNG: lossless). Returns (root, {crop: source})."""
    root = tmp_path_factory.mktemp("aligned") / "people"
    sources = {}
    for photo in sorted((fixtures / "people").rglob("*")):
        if not photo.is_file():
            continue
        pixels = load_image(photo)
        face = largest_face(yunet_detector.detect(pixels))
        assert face is not None and face.keypoints is not None, photo
        target = root / photo.parent.name / f"{photo.stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arcface_crop(pixels, face.keypoints, 112)).save(target)
        sources[target] = photo
    return root, sources


@pytest.fixture(scope="module")
def aligned_pipeline():
    return Pipeline(detector=ALIGNED_ARCFACE112, embedder="dlib-onnx")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_one_face_per_crop_covering_it(crops, aligned_pipeline):
    root, sources = crops
    for crop in sources:
        faces = aligned_pipeline.embed(crop)
        assert len(faces) == 1
        assert faces[0].box.to_list() == [0.0, 0.0, 112.0, 112.0]
        assert faces[0].detector == ALIGNED_ARCFACE112 and faces[0].template is not None


def test_templates_agree_with_the_source_photos(crops, aligned_pipeline, yunet_detector):
    """Measured on these 14 crops: cosine median >= 0.99, lowest >= 0.98 (docs/MEASURE.md:
    median 0.9961, lowest 0.985 over 120 LFW faces); dlib's landmarks placed by its predictor
    on the template's box do better than the template's mean positions."""
    from countenance.embedding import embed_faces

    _, sources = crops
    fixed = AlignedFaces(refine=False)
    refined, plain = [], []
    for crop, photo in sources.items():
        pixels = load_image(photo)
        source = embed_faces(aligned_pipeline.embedder, pixels, [largest_face(yunet_detector.detect(pixels))])[0]
        crop_pixels = load_image(crop)
        refined.append(_cosine(source.template.vector, aligned_pipeline.embed(crop_pixels)[0].template.vector))
        face = embed_faces(aligned_pipeline.embedder, crop_pixels, fixed.detect(crop_pixels))[0]
        plain.append(_cosine(source.template.vector, face.template.vector))
    assert np.median(refined) >= 0.99, refined
    assert min(refined) >= 0.98, refined
    assert np.mean(refined) > np.mean(plain), (refined, plain)


def test_an_onnx_recogniser_takes_the_crop_as_its_own_input(crops, models, yunet_detector):
    """An ArcFace-style recogniser's input is the template crop itself: from a lossless crop,
    the template equals the source photo's (the test-only MobileFaceNet, never shipped)."""
    from countenance.backends.arcface_onnx import ArcFaceOnnxEmbedder, ArcFaceSpec
    from countenance.embedding import embed_faces

    spec = ArcFaceSpec(name="mobilefacenet-test", embedding_size=128, thresholds={"default": 0.70}, input_size=112,
                       mean=(127.5,) * 3, std=(128.0,) * 3, colour_order="RGB", layout="NCHW")
    embedder = ArcFaceOnnxEmbedder(models / "test-only" / "mobilefacenet_112_128d.onnx", spec)
    pipeline = Pipeline(detector=ALIGNED_ARCFACE112, embedder=embedder)
    _, sources = crops
    for crop, photo in sources.items():
        pixels = load_image(photo)
        source = embed_faces(embedder, pixels, [largest_face(yunet_detector.detect(pixels))])[0]
        assert _cosine(source.template.vector, pipeline.embed(crop)[0].template.vector) >= 0.999


def test_112x96_crop_is_accepted_and_matches_its_112x112_crop(crops, aligned_pipeline, tmp_path):
    root, sources = crops
    crop = next(iter(sources))
    narrow = tmp_path / "narrow.png"
    Image.open(crop).crop((8, 0, 104, 112)).save(narrow)  # 96 wide, 112 high: the SphereFace crop
    face = aligned_pipeline.embed(narrow)[0]
    assert face.box.to_list() == [0.0, 0.0, 96.0, 112.0]
    assert _cosine(face.template.vector, aligned_pipeline.embed(crop)[0].template.vector) >= 0.98


def test_a_photo_given_as_aligned_input_is_a_clear_error(fixtures, aligned_pipeline, crops, tmp_path):
    photo = fixtures / "people" / "obama" / "obama.jpg"
    with pytest.raises(errors.NotAlignedCrop, match="not an aligned face crop"):
        aligned_pipeline.embed(photo)
    rule = rule_for(errors.NotAlignedCrop("x"))
    assert (rule.exit_code, rule.http_status) == (2, 422)
    # Through a command: the photo is skipped with that message (exit 1), the crop enrolled.
    folder = tmp_path / "mixed" / "obama"
    folder.mkdir(parents=True)
    shutil.copy(photo, folder / "photo.jpg")
    shutil.copy(crops[0] / "obama" / "obama.png", folder / "crop.png")
    result = run("gallery", "init", "--gallery", tmp_path / "g")
    assert result.exit_code == 0, result.output
    result = run("enroll-folder", tmp_path / "mixed", "--aligned", "arcface112", "--gallery", tmp_path / "g",
                 "--consent-file", _consent(tmp_path), "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["enrolled"] == 1
    assert [Path(f["path"]).name for f in document["failed"]] == ["photo.jpg"]
    assert "is not an aligned face crop" in document["failed"][0]["error"]
    # Aligned input detects nothing: another detector with it is refused.
    result = run("clean", tmp_path / "mixed", "--aligned", "arcface112", "--detector", "hog")
    assert result.exit_code == 2 and "leave out --detector" in result.output
    # Auto-detection does not take a set holding a photo for crops: the photo's face is detected.
    result = run("enroll-folder", tmp_path / "mixed", "--gallery", tmp_path / "g2",
                 "--consent-file", _consent(tmp_path), "--json")
    assert "aligned input" not in result.stderr


def _consent(tmp_path: Path) -> Path:
    path = tmp_path / "consent.json"
    path.write_text(json.dumps({"*": {"text": "I agree to be enrolled", "consenter": "self"}}))
    return path


def test_clean_takes_every_crop_as_one_face(crops):
    root, sources = crops
    result = run("clean", root, "--json", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert f"aligned input (arcface112), auto-detected: all {len(sources)} images" in result.stderr
    report = json.loads(result.stdout)["report"] if "report" in json.loads(result.stdout) else json.loads(result.stdout)
    assert report["photos"] == len(sources)
    assert report["detector"] == ALIGNED_ARCFACE112
    assert report["counts"].get("no_face", 0) == 0 and report["counts"].get("ambiguous_face", 0) == 0


def test_eval_pairs_and_identify_and_calibrate_on_crops(crops, tmp_path):
    root, _ = crops
    rows = ["file_x,file_y,same"]
    for name in PAIRED:
        first, second = sorted((root / name).iterdir())[:2]
        rows.append(f"{first},{second},1")
    people = sorted(p for p in root.iterdir())
    for a, b in zip(people, people[1:]):
        rows.append(f"{next(a.iterdir())},{next(b.iterdir())},0")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("\n".join(rows) + "\n")
    result = run("eval", "pairs", pairs, "--json")
    assert result.exit_code == 0, result.output
    assert "auto-detected" in result.stderr
    report = json.loads(result.stdout)
    assert report["failed_images"] == [] and report["failures"] == 0
    assert report["accuracy"] == 1.0

    gallery_dir, probe_dir = tmp_path / "gallery", tmp_path / "probes"
    for name in PAIRED:
        first, second = sorted((root / name).iterdir())[:2]
        for folder, photo in ((gallery_dir, first), (probe_dir, second)):
            (folder / name).mkdir(parents=True)
            shutil.copy(photo, folder / name / photo.name)
    unenrolled = tmp_path / "unenrolled"  # non-mated probes (without any, FPIR is undefined: exit 1)
    for person in people:
        if person.name not in PAIRED:
            shutil.copytree(person, unenrolled / person.name)
    result = run("eval", "identify", "--gallery-dir", gallery_dir, "--probe-dir", probe_dir, "--unenrolled-dir", unenrolled,
                 "--ranks", "2", "--json")
    assert result.exit_code == 0, result.output
    assert "auto-detected" in result.stderr
    report = json.loads(result.stdout)
    assert report["probes_without_face"] == 0 and report["templates"] == len(PAIRED)
    assert report["cmc"][0] == 1.0

    result = run("calibrate", "--folders", root, "--json")
    assert result.exit_code == 0, result.output
    assert f"auto-detected: all {len(crops[1])} images" in result.stderr
    table = json.loads(result.stdout)
    assert (table["images"], table["failed_images"]) == (len(crops[1]), 0)


def test_library_index_and_enroll_folder_on_crops(crops, tmp_path):
    root, sources = crops
    result = run("library", "index", root, "--library", tmp_path / "library", "--workers", "1", "--json")
    assert result.exit_code == 0, result.output
    assert "auto-detected" in result.stderr
    index = json.loads(result.stdout)["index"]
    assert index["faces_total"] == len(sources)
    assert run("gallery", "init", "--gallery", tmp_path / "g").exit_code == 0
    result = run("enroll-folder", root, "--gallery", tmp_path / "g", "--consent-file", _consent(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert "auto-detected" in result.stderr
    assert json.loads(result.stdout)["enrolled"] == len(sources)


def test_auto_detector_is_decided_in_one_place(models, monkeypatch):
    """"auto" is HOG without YuNet installed and YuNet with it, for the pipeline, the cleaning
    cache key and the measurement toolkit alike."""
    from countenance.clean.templates import TemplateOptions
    from countenance.detection import make_box_detector
    from countenance.service.measurement import _choice
    from countenance.service.options import PipelineOptions

    for model_dir, expected in ((models / "nowhere", "hog"), (models / "yunet", "yunet")):
        monkeypatch.setenv("COUNTENANCE_MODEL_DIR", str(model_dir))
        assert resolve_detector_name("auto") == expected
        assert make_box_detector("auto").name == expected
        assert f"detector={expected};" in TemplateOptions().cache_key()
        assert PipelineConfig().resolved().detector == expected
        assert _choice(PipelineOptions()).detector == expected


def test_library_index_with_the_explicit_aligned_flag(crops, fixtures, tmp_path):
    """``library index --aligned arcface112`` as the other commands take it: every crop one face
    without detection; a photo that is not a crop is that file's error (exit 1), not a traceback."""
    root, sources = crops
    result = run("library", "index", root, "--aligned", "arcface112", "--library", tmp_path / "library",
                 "--workers", "1", "--json")
    assert result.exit_code == 0, result.output
    assert "aligned input (arcface112): no detection" in result.stderr
    index = json.loads(result.stdout)["index"]
    assert (index["detected"], index["faces_total"], index["skipped"]) == (len(sources), len(sources), [])

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(fixtures / "people" / "obama" / "obama.jpg", mixed / "photo.jpg")
    shutil.copy(root / "obama" / "obama.png", mixed / "crop.png")
    result = run("library", "index", mixed, "--aligned", "arcface112", "--library", tmp_path / "mixed-library",
                 "--workers", "1", "--json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    index = json.loads(result.stdout)["index"]
    assert index["faces_total"] == 1
    assert [Path(s["path"]).name for s in index["skipped"]] == ["photo.jpg"]
    assert "is not an aligned face crop" in index["skipped"][0]["reason"]
    assert "photo.jpg" in result.stderr and "is not an aligned face crop" in result.stderr
    # Aligned input detects nothing: another detector with it is refused, as in the other commands.
    result = run("library", "index", mixed, "--aligned", "arcface112", "--detector", "hog",
                 "--library", tmp_path / "refused")
    assert result.exit_code == 2 and "leave out --detector" in result.output
