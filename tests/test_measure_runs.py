"""The run entries on real fixtures: per-group errors on a small labelled set, budget selection, reports."""

from __future__ import annotations

import json

import pytest

from countenance.errors import InvalidArgument
from countenance.evaluate.choice import PipelineChoice
from countenance.evaluate.quantize import template_agreement
from countenance.evaluate.run_budget import PipelineRow, choose_for_budget, cpu_model, frontier, time_pipeline
from countenance.evaluate.run_groups import GroupsOptions, run_groups

# The test's own labels for the fixture people (the toolkit never makes labels up).
SET_1 = ("obama", "biden", "alex_lacamoire", "kate_siegel", "paul_rudd")


@pytest.fixture(scope="module")
def labelled(fixtures, tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    people = fixtures / "people"
    lines = ["image,group"]
    for image in sorted(people.glob("*/*")):
        lines.append(f"{image.parent.name}/{image.name},{'set-1' if image.parent.name in SET_1 else 'set-2'}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return people, folder


def test_groups_on_fixture_people(labelled, tmp_path):
    people, folder = labelled
    result = run_groups(GroupsOptions(people, folder / "labels.csv", samples=200, cache_dir=tmp_path))
    assert result.images == 14 and not result.without_face and not result.unlabelled
    groups = {g.group: g for g in result.report.groups}
    # set-1: obama x3, biden x2, one image each of three others -> 3 + 1 mated pairs, 28 - 4 impostors
    assert (groups["set-1"].genuine, groups["set-1"].impostors) == (4, 24)
    # set-2: kit x2, rose x2, angelina, shea -> 2 mated, 15 - 2 impostors
    assert (groups["set-2"].genuine, groups["set-2"].impostors) == (2, 13)
    matrix = result.report.matrix
    assert matrix.impostors[0][1] == matrix.impostors[1][0] == 8 * 6
    assert result.threshold_source.endswith("default threshold")
    # at dlib's 0.6 these well-separated celebrities hardly ever match each other
    assert all(g.fmr <= 0.1 for g in groups.values())
    document = json.dumps(result.to_dict(), allow_nan=False)
    assert "set-1" in document
    # the intervals resample people: all_pairs knows who is in each image
    assert result.to_dict()["bootstrap"]["unit"] == "subject, resampled within each group"
    assert groups["set-1"].fmr_interval.low <= groups["set-1"].fmr <= groups["set-1"].fmr_interval.high


def test_groups_refuses_labels_for_missing_images(labelled, tmp_path):
    people, _ = labelled
    labels = tmp_path / "bad.csv"
    labels.write_text("image,group\nnobody/1.jpg,x\n")
    with pytest.raises(InvalidArgument, match="not under"):
        run_groups(GroupsOptions(people, labels, cache_dir=tmp_path))


def _row(name: str, ms: float, fnmr: float | None, accuracy: float = 0.99, admitted: bool = True) -> PipelineRow:
    detector, embedder = name.split("+")
    return PipelineRow(PipelineChoice(detector, embedder), ms, ms, ms, accuracy, fnmr, name, admitted)


def test_frontier_and_budget_choice_by_hand():
    rows = [
        _row("hog+dlib", 400.0, 0.10),
        _row("hog+dlib-onnx", 90.0, 0.10),
        _row("yunet+dlib-onnx", 30.0, 0.12),
        _row("ultraface+dlib-onnx", 20.0, 0.30),
        _row("ultraface+dlib", 300.0, 0.05, admitted=False),  # not admitted: never chosen
    ]
    assert [r.pipeline.name for r in frontier(rows)] == ["ultraface-320+dlib-onnx", "yunet-640+dlib-onnx", "hog+dlib-onnx"]
    assert choose_for_budget(rows, 100).row.pipeline.name == "hog+dlib-onnx"
    assert choose_for_budget(rows, 50).row.pipeline.name == "yunet-640+dlib-onnx"
    assert choose_for_budget(rows, 10).row is None
    # equal FNMR: the more accurate wins, then the faster
    tie = [_row("hog+dlib", 400.0, 0.10, 0.995), _row("hog+dlib-onnx", 90.0, 0.10, 0.99)]
    assert choose_for_budget(tie, 1000).row.pipeline.embedder == "dlib"


def test_time_pipeline_one_thread(fixtures):
    data = [(fixtures / "people" / "obama" / "obama.jpg").read_bytes()]
    times = time_pipeline(PipelineChoice("yunet", detector_size=320), data, repeats=2, warmup=1)
    assert len(times) == 2 and all(t > 0 for t in times)
    assert cpu_model() != ""


def test_template_agreement_by_hand():
    agreement = template_agreement([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
    assert agreement.cosine_min == pytest.approx(2**-0.5)
    assert agreement.cosine_median == pytest.approx((1 + 2**-0.5) / 2)
    with pytest.raises(InvalidArgument):
        template_agreement([[1.0, 0.0]], [[1.0, 0.0, 0.0]])


def test_pipeline_choice_validation():
    assert PipelineChoice("yunet", detector_size=160).name == "yunet-160+dlib-onnx"
    with pytest.raises(InvalidArgument):
        PipelineChoice("hog", detector_size=320)
    with pytest.raises(InvalidArgument):
        PipelineChoice("ultraface", detector_size=480)
    with pytest.raises(InvalidArgument):
        PipelineChoice("yunet", "dlib-onnx-int8")  # needs its model file
    with pytest.raises(InvalidArgument, match="dlib-onnx, dlib-onnx-int8, arcface:"):
        PipelineChoice("yunet", "facenet")  # names come from the embedder registry


def test_pipeline_choice_takes_the_real_spec_of_its_embedder(models, tmp_path):
    """Any registered embedder, not dlib's spec for all: the test-only ArcFace-style model."""
    import json

    from countenance.evaluate.choice import embedding_spec

    model = tmp_path / "mobilefacenet.onnx"
    model.symlink_to(models / "test-only" / "mobilefacenet_112_128d.onnx")
    (tmp_path / "mobilefacenet.json").write_text(json.dumps(
        {"name": "mobilefacenet-test", "embedding_size": 128, "thresholds": {"default": 0.7}, "std": [128.0] * 3}))
    choice = PipelineChoice("yunet", f"arcface:{model}")
    spec = embedding_spec(choice)
    assert spec.name.startswith("arcface-mobilefacenet-test-") and spec.metric == "cosine" and spec.embedding_size == 128
    assert "/" not in choice.name and choice.name.startswith("yunet-640+arcface-mobilefacenet-")
    assert embedding_spec(PipelineChoice("hog", "dlib-onnx")).name == "dlib-resnet-v1"


def test_report_writes_json_and_offline_html(labelled, tmp_path):
    from countenance.evaluate.report import write_report

    people, folder = labelled
    result = run_groups(GroupsOptions(people, folder / "labels.csv", samples=50, cache_dir=tmp_path))
    json_path, html_path = write_report({"groups": result.to_dict()}, tmp_path / "out")
    assert json.loads(json_path.read_text())["groups"]["groups"][0]["group"] == "set-1"
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 2 and "http" not in page.replace("http-equiv", "")


def _condition(name: str, fnmr: float, fmr: float):
    from countenance.evaluate.condition_pairs import ConditionResult
    from countenance.calibration.rates import ErrorRates, OperatingPoint

    point = OperatingPoint(1e-3, 0.5, 1e-3, fnmr, 10_000, 300, True)
    rates = ErrorRates(0.5, fmr, fnmr, int(fmr * 10_000), 10_000, int(fnmr * 300), 300)
    return ConditionResult(name, 600, 0.99, 0.01, point, rates, 1.0, 0, 40.0, 0.6)


def test_minimum_face_size_by_hand():
    from countenance.evaluate.run_degrade import Curve, minimum_face_size

    clean = _condition("clean", 0.10, 1e-3)
    limits = dict(target_fmr=1e-3, fnmr_margin=0.02, fmr_factor=2.0)  # FNMR <= 0.12, FMR <= 0.002
    curve = Curve("iod", (32, 24, 16, 12), (
        _condition("iod-32", 0.10, 1e-3), _condition("iod-24", 0.12, 0.0019),
        _condition("iod-16", 0.15, 1e-3), _condition("iod-12", 0.11, 1e-3),  # 12 passes, but 16 failed first
    ))
    found = minimum_face_size(clean, curve, **limits)
    assert found.iod_px == 24 and "16 px" in found.reason
    assert found.fnmr_limit == pytest.approx(0.12) and found.fmr_limit == pytest.approx(0.002)
    too_many_false_matches = Curve("iod", (32,), (_condition("iod-32", 0.10, 0.003),))
    assert minimum_face_size(clean, too_many_false_matches, **limits).iod_px is None
    all_pass = Curve("iod", (24, 16), (_condition("a", 0.1, 1e-3), _condition("b", 0.1, 1e-3)))
    result = minimum_face_size(clean, all_pass, **limits)
    assert result.iod_px == 16 and "may be smaller" in result.reason


def test_reembed_keeps_the_faces_and_changes_only_the_embedder(fixtures, tmp_path):
    import numpy as np

    from countenance.evaluate.variant_templates import Variant, embed_variant, reembed

    root = fixtures / "people"
    names = ["obama/obama.jpg", "biden/biden.jpg"]
    onnx = embed_variant(root, names, PipelineChoice("yunet"), Variant("clean"), cache_dir=tmp_path, choose="largest")
    again = reembed(root, onnx, PipelineChoice("yunet", "dlib"), made_by=PipelineChoice("yunet"), cache_dir=tmp_path)
    for name in names:
        assert np.array_equal(again[name].face.landmarks, onnx[name].face.landmarks)
        a, b = again[name].vector, onnx[name].vector
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.9999  # dlib and dlib-onnx: one network
    assert (tmp_path / "templates.sqlite").is_file()


def test_cli_eval_groups_writes_reports_and_prints_json(labelled, tmp_path):
    from typer.testing import CliRunner

    from countenance.cli import app

    people, folder = labelled
    out = tmp_path / "report"
    args = ["eval", "groups", str(people), "--labels", str(folder / "labels.csv"), "--samples", "50",
            "--report-dir", str(out), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(app, args + ["--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    groups = {g["group"]: g for g in document["groups"]["groups"]}
    assert (groups["set-1"]["genuine"], groups["set-1"]["impostors"]) == (4, 24)
    assert document["report"] == {"json": str(out / "report.json"), "html": str(out / "report.html")}
    assert json.loads((out / "report.json").read_text())["groups"]["images"] == 14
    assert "data:image/png;base64," in (out / "report.html").read_text()
    table = CliRunner().invoke(app, args)  # templates cached: fast
    assert table.exit_code == 0 and "set-2" in table.stdout and "report.html" in table.stderr
    # A labels file naming images that are not there: one error line, exit 2.
    bad = tmp_path / "bad.csv"
    bad.write_text("image,group\nnobody/1.jpg,x\n")
    refused = CliRunner().invoke(app, ["eval", "groups", str(people), "--labels", str(bad), "--report-dir", str(out)])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: ") and "not under" in refused.stderr


def test_measurement_options_are_checked(tmp_path):
    from countenance.service.measurement import (BudgetEvalOptions, LfwFolds, MasksEvalOptions, MeasureRun, measure_masks,
                                                 parse_budgets, parse_folds)
    from countenance.service.options import PipelineOptions

    assert parse_folds("1,0,1") == (0, 1) and parse_folds("all") is None
    assert parse_budgets("100, 500") == (100.0, 500.0)
    for bad in ("", "10", "a", "-1"):
        with pytest.raises(InvalidArgument):
            parse_folds(bad)
    for bad in ("", "0", "x", "inf"):
        with pytest.raises(InvalidArgument):
            parse_budgets(bad)
    with pytest.raises(InvalidArgument):
        BudgetEvalOptions(repeats=0)
    with pytest.raises(InvalidArgument):
        LfwFolds(folds=(12,))
    with pytest.raises(InvalidArgument):
        MeasureRun(workers=0)
    # Pipelines the toolkit cannot run are refused before anything runs (no report folder made).
    for bad in (PipelineOptions(detector="cnn"), PipelineOptions(jitters=2), PipelineOptions(embedder="dlib-onnx-int8")):
        with pytest.raises(InvalidArgument):
            measure_masks(MasksEvalOptions(pipeline=bad, run=MeasureRun(report_dir=tmp_path / "r")))
    assert not (tmp_path / "r").exists()
