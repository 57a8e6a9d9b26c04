"""Small faces (issue 12, then issue 22): a face under the model's measured minimum inter-ocular
distance is searched and flagged low confidence (FMR does not rise below the minimum, only
misses do); a gallery whose policy sets ``min_face_px`` answers "too small to identify"
instead. The photo library's suggestions still name no such face; the same photo at full
size gets its name."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from countenance.errors import InvalidArgument
from countenance.faces import Box, Face, inter_ocular_px
from countenance.gallery import TOO_SMALL, Gallery, Policy

PROBE = "probes/obama1.jpg"  # obama alone, ~150 px between the eyes at full size


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, fixtures, pipeline):
    folder = tmp_path_factory.mktemp("small") / "g"
    with Gallery.create(folder, model=pipeline.spec, pipeline=pipeline, actor="t", policy=Policy(consent_required=False)) as g:
        for person in ("obama", "biden"):
            g.enroll(person, sorted((fixtures / "people" / person).iterdir()))
    return folder


@pytest.fixture(scope="module")
def probes(tmp_path_factory, fixtures, pipeline):
    """The probe at full size and downscaled so its face is 14 px between the eyes (model limit: 20)."""
    folder = tmp_path_factory.mktemp("probes")
    image = Image.open(fixtures / PROBE).convert("RGB")
    (face,) = pipeline.embed(np.asarray(image))
    scale = 14.0 / face.inter_ocular_px
    small = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    full_path, small_path = folder / "full.png", folder / "small.png"
    image.save(full_path)
    small.save(small_path)
    return full_path, small_path


def test_the_dlib_model_documents_its_limit(pipeline):
    assert pipeline.spec.min_interocular_px == 20.0
    spec = pipeline.spec
    with pytest.raises(InvalidArgument):
        dataclasses.replace(spec, min_interocular_px=0)
    with pytest.raises(InvalidArgument):
        dataclasses.replace(spec, min_interocular_px=float("nan"))
    assert dataclasses.replace(spec, min_interocular_px=None).min_interocular_px is None


def test_inter_ocular_distance_by_hand():
    # eye corners (0,0),(2,0) and (10,0),(12,0): centres 1 and 11 -> 10 px
    landmarks = np.array([[0, 0], [2, 0], [10, 0], [12, 0], [6, 8]], np.float32)
    assert inter_ocular_px(landmarks) == pytest.approx(10.0)
    assert Face(Box(0, 0, 20, 20), 1.0, landmarks).inter_ocular_px == pytest.approx(10.0)
    keypoints = np.array([[3, 4], [0, 0], [1, 2], [0, 5], [3, 5]], np.float32)
    assert Face(Box(0, 0, 20, 20), 1.0, keypoints=keypoints).inter_ocular_px == pytest.approx(5.0)
    assert Face(Box(0, 0, 20, 20), 1.0).inter_ocular_px is None


def test_small_face_is_flagged_not_refused(enrolled, probes, pipeline):
    full, small = probes
    with Gallery(enrolled, pipeline=pipeline, actor="t") as g:
        assert g.model.min_interocular_px == 20.0 and g.policy.min_face_px is None
        (named,) = g.identify(full).faces
        assert named.decision == "obama" and not named.low_confidence and named.low_confidence_reason is None
        (face,) = g.identify(small).faces
        assert not face.too_small and face.low_confidence and face.candidates  # searched, flagged
        assert face.candidates[0].subject == "obama" and "under the model's measured minimum of 20 px" in face.low_confidence_reason
        assert face.to_dict()["low_confidence"] is True


def test_small_face_is_too_small_when_the_policy_says_so(tmp_path, fixtures, probes, pipeline):
    full, small = probes
    folder = tmp_path / "strict"
    with Gallery.create(folder, model=pipeline.spec, pipeline=pipeline, actor="t",
                        policy=Policy(consent_required=False, min_face_px=20.0)) as g:
        g.enroll("obama", sorted((fixtures / "people" / "obama").iterdir()))
    with Gallery(folder, pipeline=pipeline, actor="t") as g:
        assert g.policy.min_face_px == 20.0
        assert g.model.min_interocular_px == 20.0
        (named,) = g.identify(full).faces
        assert named.decision == "obama" and named.outcome == "match" and named.inter_ocular_px > 100
        result = g.identify(small)
        (face,) = result.faces
        assert face.too_small and face.decision is None and face.name == TOO_SMALL
        assert face.outcome == "too-small" and face.candidates == ()
        assert 10 < face.inter_ocular_px < 20 and result.min_interocular_px == 20.0
        # The same face, not refused, is searched: the refusal is the limit, not a missed face.
        assert g.identify(small, threshold=2.0).faces[0].too_small
        (entry,) = [e for e in g.audit(action="identify") if e.result["faces"][0]["outcome"] == "too-small"][:1]
        assert entry.result["faces"][0]["candidates"] == []


def test_a_model_without_a_measured_limit_refuses_nothing(tmp_path, fixtures, probes, pipeline):
    unmeasured = dataclasses.replace(pipeline.spec, min_interocular_px=None)

    class Unmeasured:  # the same network, under a spec that has no limit (like a user's ArcFace model)
        spec = unmeasured
        load = staticmethod(pipeline.load)
        embed = staticmethod(pipeline.embed)

    with Gallery.create(tmp_path / "g", model=unmeasured, pipeline=Unmeasured(), actor="t",
                        policy=Policy(consent_required=False)) as g:
        g.enroll("obama", sorted((fixtures / "people" / "obama").iterdir()))
        assert g.model.min_interocular_px is None
        (face,) = g.identify(probes[1]).faces
        assert not face.too_small and face.outcome in ("match", "unknown")


def test_cli_identify_shows_low_confidence_and_too_small(enrolled, probes, tmp_path):
    from countenance.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["identify", str(probes[0]), str(probes[1]), "--gallery", str(enrolled),
                                 "--detector", "hog", "--embedder", "dlib-onnx", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    flags = {f["path"].rsplit("/", 1)[-1]: f["low_confidence"] for f in document["faces"]}
    assert flags == {"full.png": False, "small.png": True} and document["min_interocular_px"] == 20.0
    table = runner.invoke(app, ["identify", str(probes[1]), "--gallery", str(enrolled), "--detector", "hog",
                                "--embedder", "dlib-onnx"], terminal_width=200)
    words = " ".join(re.sub(r"[│┃┏┓┗┛┡┩━─└┘┌┐╇┳┴┬]", " ", table.stdout).split())  # the table's cells wrap
    assert table.exit_code == 0 and "(low confidence)" in words and "measured minimum of 20 px" in words
    strict = tmp_path / "strict"
    assert runner.invoke(app, ["gallery", "init", "--gallery", str(strict), "--no-consent-required", "--min-face-px", "20",
                               "--embedder", "dlib-onnx"]).exit_code == 0
    assert runner.invoke(app, ["enroll", "obama", str(probes[0]), "--gallery", str(strict), "--detector", "hog",
                               "--embedder", "dlib-onnx"]).exit_code == 0
    table = runner.invoke(app, ["identify", str(probes[1]), "--gallery", str(strict), "--detector", "hog",
                                "--embedder", "dlib-onnx"], terminal_width=200)
    words = " ".join(re.sub(r"[│┃┏┓┗┛┡┩━─└┘┌┐╇┳┴┬]", " ", table.stdout).split())
    assert table.exit_code == 0 and "too small to identify" in words and "--min-face-px" in words


def test_library_suggests_no_name_for_a_too_small_face(enrolled, probes, pipeline, tmp_path):
    import shutil

    from countenance.library import Library, QualityGate

    shutil.copytree(enrolled, tmp_path / "g")
    with Gallery(tmp_path / "g", pipeline=pipeline, actor="t") as g:
        # No quality gate: the model's limit alone keeps the small face from being named.
        with Library.open(tmp_path / "lib", gate=QualityGate(min_face_px=0, min_sharpness=0)) as library:
            library.index(list(probes), workers=1)
            assert len(library.store.faces()) == 2
            library.suggest(g)
            named = {library.store.photo(library.store.face(s.face_id).photo_id).path.rsplit("/", 1)[-1]: s.subject
                     for s in library.suggestions()}
            assert named == {"full.png": "obama"}
