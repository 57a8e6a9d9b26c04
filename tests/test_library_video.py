"""``video tag``: who appears in the fixture clip and when, with alex_lacamoire and
lin-manuel-miranda enrolled from probes/ (as the issue's acceptance asks)."""

from __future__ import annotations

import json
import os

import pytest

from countenance.errors import InvalidArgument, InvalidImage
from countenance.gallery import Gallery, Policy
from countenance.library.video import VideoOptions, tag_video


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, fixtures):
    models = fixtures.parent.parent / "models" / "yunet"
    if models.is_dir():
        os.environ.setdefault("COUNTENANCE_MODEL_DIR", str(models))
    from countenance import Pipeline

    pipeline = Pipeline()
    gallery = Gallery.create(tmp_path_factory.mktemp("g") / "g", model=pipeline.spec, pipeline=pipeline,
                             actor="tester", policy=Policy(consent_required=False))
    probes = fixtures / "probes"
    gallery.enroll("alex_lacamoire", [probes / "alex_lacamoire1.jpg", probes / "alex-lacamoire.png"])
    gallery.enroll("lin-manuel-miranda", [probes / "lin-manuel-miranda.png"])
    yield gallery
    gallery.close()


def test_clip_names_both_people_with_time_ranges(gallery, fixtures):
    clip = fixtures / "video" / "short_hamilton_clip.mp4"
    result = tag_video(clip, gallery)
    assert 8.5 < result.duration_s < 9.5 and result.sampled_frames >= 40
    seen = {a.subject for a in result.appearances}
    assert seen == {"alex_lacamoire", "lin-manuel-miranda"}
    for appearance in result.appearances:
        assert 0.0 <= appearance.start_s <= appearance.end_s <= result.duration_s
        assert appearance.faces >= 2 and appearance.best_distance <= gallery.threshold()
    # At 5 s Lin-Manuel Miranda alone fills the frame (checked by eye on the clip).
    assert any(a.subject == "lin-manuel-miranda" and a.start_s <= 5.0 <= a.end_s for a in result.appearances)
    # Bystanders in the audience are tracked but stay unnamed.
    assert any(t.subject is None for t in result.tracks)
    document = json.loads(json.dumps(result.to_dict()))
    assert {a["subject"] for a in document["appearances"]} == seen
    table = result.table()
    assert "alex_lacamoire" in table and "lin-manuel-miranda" in table
    assert len(gallery.audit(action="identify")) > 0


def test_bad_clip_and_options(gallery, tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(InvalidImage):
        tag_video(bad, gallery)
    with pytest.raises(InvalidArgument):
        VideoOptions(sample_fps=0)
