"""Too small to identify (issue 12): a face under the model's measured minimum inter-ocular
distance gets "too small to identify" instead of a name, from the gallery, the CLI and the
photo library's suggestions; the same photo at full size gets its name."""

from __future__ import annotations

import dataclasses
import json

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


def test_small_face_is_too_small_full_size_is_named(enrolled, probes, pipeline):
    full, small = probes
    with Gallery(enrolled, pipeline=pipeline, actor="t") as g:
        assert g.min_interocular_px == 20.0
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
        assert g.min_interocular_px is None
        (face,) = g.identify(probes[1]).faces
        assert not face.too_small and face.outcome in ("match", "unknown")


def test_cli_identify_shows_too_small(enrolled, probes):
    from countenance.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["identify", str(probes[0]), str(probes[1]), "--gallery", str(enrolled),
                                 "--detector", "hog", "--embedder", "dlib-onnx", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    decisions = {f["path"].rsplit("/", 1)[-1]: f["decision"] for f in document["faces"]}
    assert decisions == {"full.png": "obama", "small.png": TOO_SMALL} and document["min_interocular_px"] == 20.0
    table = runner.invoke(app, ["identify", str(probes[1]), "--gallery", str(enrolled), "--detector", "hog",
                                "--embedder", "dlib-onnx"])
    assert table.exit_code == 0 and "too small to identify" in table.stdout and "under the model's 20 px" in table.stdout


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
