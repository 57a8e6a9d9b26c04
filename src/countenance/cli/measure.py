"""``countenance eval budget|masks|degrade|groups``: the measurement toolkit (docs/MEASURE.md).

Thin commands over :mod:`countenance.service.measurement`. Each writes ``report.json`` and an
offline ``report.html`` into ``--report-dir`` and prints the headline figures (``--json``: the
report's JSON). Registered on the ``eval`` app by :func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import DetectorOpt, EmbedderOpt, JsonOpt, LfwDirOpt, WorkersOpt, pipeline_options
from .output import handle_errors, print_json, stderr, step_progress

__all__ = ["register"]

FoldsOpt = Annotated[str, typer.Option("--folds", help="LFW folds to use, 0-based ('0,1': 1,200 pairs), or 'all'.")]
ReportDirOpt = Annotated[
    Optional[Path], typer.Option("--report-dir", help="Folder for report.json and report.html (default: ./countenance-eval/<command>).")
]
CacheDirOpt = Annotated[
    Optional[Path], typer.Option("--cache-dir", help="Template cache (default: the user cache folder's measure/).")
]


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _finish(measurement: Any, json_output: bool, table: Table | None) -> None:
    if json_output:
        print_json(measurement.to_dict())
        return
    if table is not None:
        Console().print(table)
    stderr.print(f"report: {escape(str(measurement.html_path))} (JSON: {escape(str(measurement.json_path))})", highlight=False,
                 soft_wrap=True)


def _run(options_type: type, measure_name: str, json_output: bool, show, **options: Any) -> None:
    from ..service import measurement

    with step_progress() as on_progress:
        result = getattr(measurement, measure_name)(options_type(**options), on_progress)
    _finish(result, json_output, None if json_output else show(result.result.to_dict()))


def _conditions(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("condition", "accuracy", "FNMR @ FMR 1e-3 (own thr)", "FNMR @ clean thr", "FMR @ clean thr", "detected"):
        table.add_column(column)
    for r in rows:
        fixed = r.get("at_fixed_threshold") or {}
        table.add_row(escape(r["condition"]), _fmt(r["accuracy"]), _fmt(r["fnmr_at_fmr"]["fnmr"], 3),
                      _fmt(fixed.get("fnmr"), 3), _fmt(fixed.get("fmr")), _fmt(r.get("detection_rate"), 3))
    return table


def _show_budget(result: dict[str, Any]) -> Table:
    table = Table(title=f"Latency budgets ({escape(result['cpu'])}, one thread; LFW {result['pairs']} pairs)")
    for column in ("budget ms", "chosen pipeline", "median ms", "FNMR @ FMR 1e-3", "accuracy"):
        table.add_column(column)
    for budget in result["budgets"]:
        row = budget["chosen"]
        if row is None:
            table.add_row(f"{budget['budget_ms']:g}", "none fits", "-", "-", "-")
        else:
            table.add_row(f"{budget['budget_ms']:g}", escape(row["pipeline"]), _fmt(row["median_ms"], 1),
                          _fmt(row["fnmr_at_fmr"], 3), _fmt(row["accuracy"]))
    return table


def _show_masks(result: dict[str, Any]) -> Table:
    return _conditions(f"Masks (LFW {result['pairs']} pairs, {escape(result['pipeline']['name'])})", result["conditions"])


def _show_degrade(result: dict[str, Any]) -> Table:
    rows = [result["clean"]] + [r for curve in result["curves"] for r in curve["results"]]
    minimum = result["minimum_face_size"]
    size = "none" if minimum["iod_px"] is None else f"{minimum['iod_px']:g} px"
    return _conditions(f"Degradations (LFW {result['pairs']} pairs); minimum face size {size} between the eyes "
                       f"({escape(minimum['reason'])})", rows)


def _show_groups(result: dict[str, Any]) -> Table:
    table = Table(title=f"Per-group errors at threshold {result['threshold']:.4f} ({escape(result['threshold_source'])})")
    for column in ("group", "FMR", "impostors", "FNMR", "genuine"):
        table.add_column(column)
    for g in result["groups"]:
        table.add_row(escape(str(g["group"])), _fmt(g["fmr"]), str(g["impostors"]), _fmt(g["fnmr"]), str(g["genuine"]))
    for key in ("fmr_ratio", "fnmr_ratio"):
        ratio = result[key]
        table.caption = (table.caption + "; " if table.caption else "") + f"{key} max/min: {_fmt(ratio['value'], 2)}" + (
            f" ({escape(ratio['reason'])})" if ratio.get("reason") else "")
    return table


def _run_options(report_dir: Path | None, cache_dir: Path | None, workers: int):
    from ..service.measurement import MeasureRun

    return MeasureRun(report_dir, cache_dir, workers)


def _lfw(lfw_dir: Path | None, folds: str):
    from ..service.measurement import LfwFolds, parse_folds

    return LfwFolds(lfw_dir, parse_folds(folds))


@handle_errors
def eval_budget(
    budgets: Annotated[str, typer.Option("--budgets", help="Milliseconds per image on one thread, comma-separated.")] = "100,500,1000",
    repeats: Annotated[int, typer.Option("--repeats", min=1, max=100, help="Timed rounds over the timing images.")] = 3,
    lfw_dir: LfwDirOpt = None,
    folds: FoldsOpt = "0,1",
    report_dir: ReportDirOpt = None,
    cache_dir: CacheDirOpt = None,
    workers: WorkersOpt = 2,
    json_output: JsonOpt = False,
) -> None:
    """The most accurate pipeline within each latency budget (FRUITS-style, one CPU thread), and the frontier."""
    from ..service.measurement import BudgetEvalOptions, parse_budgets

    _run(BudgetEvalOptions, "measure_budget", json_output, _show_budget, budgets_ms=parse_budgets(budgets), repeats=repeats,
         lfw=_lfw(lfw_dir, folds), run=_run_options(report_dir, cache_dir, workers))


@handle_errors
def eval_masks(
    lfw_dir: LfwDirOpt = None,
    folds: FoldsOpt = "0,1",
    masked_dir: Annotated[
        Optional[Path], typer.Option("--masked-dir", help="Real masked photos: with_mask/ and without_mask/ (default: the fixtures').")
    ] = None,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    report_dir: ReportDirOpt = None,
    cache_dir: CacheDirOpt = None,
    workers: WorkersOpt = 2,
    json_output: JsonOpt = False,
) -> None:
    """Synthetic masks on LFW pairs (masked vs unmasked, masked vs masked), and detection on real masked photos."""
    from ..service.measurement import MasksEvalOptions

    _run(MasksEvalOptions, "measure_masks", json_output, _show_masks, lfw=_lfw(lfw_dir, folds),
         pipeline=pipeline_options(detector, embedder), masked_dir=masked_dir, run=_run_options(report_dir, cache_dir, workers))


@handle_errors
def eval_degrade(
    lfw_dir: LfwDirOpt = None,
    folds: FoldsOpt = "0,1",
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    report_dir: ReportDirOpt = None,
    cache_dir: CacheDirOpt = None,
    workers: WorkersOpt = 2,
    json_output: JsonOpt = False,
) -> None:
    """LFW pairs with the probe degraded (downscaled, blurred, JPEG, occluded); the smallest face the model handles."""
    from ..service.measurement import DegradeEvalOptions

    _run(DegradeEvalOptions, "measure_degrade", json_output, _show_degrade, lfw=_lfw(lfw_dir, folds),
         pipeline=pipeline_options(detector, embedder), run=_run_options(report_dir, cache_dir, workers))


@handle_errors
def eval_groups(
    image_dir: Annotated[Path, typer.Argument(help="Folder with one sub-folder of photos per person.")],
    labels: Annotated[Path, typer.Option("--labels", help="CSV with columns image (relative to the folder) and the group column.")],
    column: Annotated[str, typer.Option("--column", help="The CSV column holding the group labels.")] = "group",
    threshold: Annotated[
        Optional[float], typer.Option("--threshold", min=0.0, help="Distance threshold (default: the model's).")
    ] = None,
    samples: Annotated[int, typer.Option("--samples", min=10, max=100_000, help="Bootstrap resamples.")] = 1000,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    report_dir: ReportDirOpt = None,
    cache_dir: CacheDirOpt = None,
    workers: WorkersOpt = 1,
    json_output: JsonOpt = False,
) -> None:
    """FMR and FNMR per group (your labels) at one threshold, the cross-group matrix, max/min ratios."""
    from ..service.measurement import GroupsEvalOptions, measure_groups

    options = GroupsEvalOptions(image_dir, labels, column=column, threshold=threshold, samples=samples,
                                pipeline=pipeline_options(detector, embedder), run=_run_options(report_dir, cache_dir, workers))
    result = measure_groups(options)
    _finish(result, json_output, None if json_output else _show_groups(result.result.to_dict()))


def register(eval_app: typer.Typer) -> None:
    """Add ``budget``, ``masks``, ``degrade`` and ``groups`` to the ``eval`` app."""
    eval_app.command("budget")(eval_budget)
    eval_app.command("masks")(eval_masks)
    eval_app.command("degrade")(eval_degrade)
    eval_app.command("groups")(eval_groups)
