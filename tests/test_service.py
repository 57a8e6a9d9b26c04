"""The service layer without the CLI: option checks, parsing at the boundary, typed results."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from countenance.errors import GalleryError, ImageNotFound, InvalidArgument
from countenance.service.detection import DetectOptions, collect_image_files, detect_files
from countenance.service.enrolment import read_consent_file
from countenance.service.options import GalleryOptions, PipelineOptions
from countenance.service.privacy import parse_since
from countenance.service.verification import VerifyOptions, parse_threshold, verify_images


def test_pipeline_options_are_checked_once():
    assert PipelineOptions(upsample="2").upsample == 2 and PipelineOptions().upsample == "auto"
    for bad in ({"upsample": "4"}, {"upsample": "lots"}, {"threads": 0}, {"jitters": -1}, {"threads": True}):
        with pytest.raises(InvalidArgument):
            PipelineOptions(**bad)


def test_gallery_path_default_is_paths_gallery_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("COUNTENANCE_GALLERY", str(tmp_path / "g"))
    assert GalleryOptions().resolved_path == tmp_path / "g"
    assert GalleryOptions(path=tmp_path / "other").resolved_path == tmp_path / "other"


def test_parse_threshold():
    named = {"default": 0.6, "strict": 0.5}
    assert parse_threshold(None, named) is None
    assert parse_threshold("strict", named) == "strict"
    assert parse_threshold("0.42", named) == 0.42
    with pytest.raises(InvalidArgument, match="neither a number nor a known name"):
        parse_threshold("lenient", named)


def test_parse_since():
    now = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    assert parse_since("24h", now=now) == now - timedelta(hours=24)
    assert parse_since("2w", now=now) == now - timedelta(weeks=2)
    assert parse_since("2026-04-01") == datetime(2026, 4, 1, tzinfo=timezone.utc)
    with pytest.raises(InvalidArgument):
        parse_since("yesterday-ish")


def test_consent_files(tmp_path):
    csv_file = tmp_path / "consent.csv"
    csv_file.write_text("subject,text,evidence\n*,I agree,sheet 1\nbob,Bob agrees,form 7\n")
    consents = read_consent_file(csv_file)
    assert consents["*"].evidence == "sheet 1" and consents["bob"].text == "Bob agrees"
    json_file = tmp_path / "consent.json"
    json_file.write_text(json.dumps({"ann": {"text": "yes", "given_at": "2026-01-02"}}))
    assert read_consent_file(json_file)["ann"].given_at == "2026-01-02"
    for content, reason in [
        ({"ann": {"text": "yes", "colour": "red"}}, "unknown field"),
        ({"ann": {"evidence": "x"}}, "needs its text"),
        ({"ann": {"text": "yes", "given_at": "soon"}}, "ISO 8601"),
        (["not", "a", "mapping"], "expected a JSON object"),
    ]:
        json_file.write_text(json.dumps(content))
        with pytest.raises(GalleryError, match=reason):
            read_consent_file(json_file)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("name,statement\nbob,yes\n")
    with pytest.raises(GalleryError, match="bad.csv:1"):
        read_consent_file(bad_csv)


def test_detect_files_keeps_going_and_raises_for_a_single_file(tmp_path, fixtures, pipeline):
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "couple.jpg").write_bytes((fixtures / "groups" / "couple.jpg").read_bytes())
    run = detect_files(DetectOptions((tmp_path,)), pipelines=lambda _: pipeline)
    assert [len(image.faces) for image in run.images] == [2] and run.faces == 2
    assert [e.path for e in run.errors] == [str(tmp_path / "text.png")]
    assert json.loads(json.dumps(run.to_dict()))["images"][0]["width"] == run.images[0].width_px
    with pytest.raises(ImageNotFound):
        detect_files(DetectOptions((tmp_path / "missing.jpg",)), pipelines=lambda _: pipeline)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageNotFound, match="no image files found"):
        collect_image_files([tmp_path / "empty"])


def test_verify_images_result_is_frozen_and_serialisable(fixtures, pipeline):
    people = fixtures / "people"
    result = verify_images(VerifyOptions(people / "obama" / "obama.jpg", people / "biden" / "biden.jpg"), pipelines=lambda _: pipeline)
    assert result.comparison.same is False
    with pytest.raises(AttributeError):
        result.path_a = "x"  # frozen
    document = result.to_dict()
    assert document["a"]["path"].endswith("obama.jpg") and "vector" not in json.dumps(document)
