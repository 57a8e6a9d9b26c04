"""``countenance eval lfw|pairs``: verification accuracy; ``eval identify``: open-set identification."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import AlignedOpt, DetectorOpt, EmbedderOpt, JittersOpt, JsonOpt, LfwDirOpt, RootOpt, WorkersOpt, pipeline_options
from .output import EXIT_PARTIAL, short_paths, counter_progress, handle_errors, note_aligned, print_json, stderr

__all__ = ["eval_app"]

eval_app = typer.Typer(help="Measure verification accuracy (LFW protocol or a pairs CSV).", no_args_is_help=True)


def _figure(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "not measurable"


def _show(report, json_output: bool, title: str) -> None:
    """The report (JSON or a table); failed pairs listed; exit 1 when any pair failed (they
    count as wrong, so the figures are a lower bound)."""
    if json_output:
        print_json(report.to_dict())
    else:
        table = Table(title=title, show_header=False)
        table.add_row("accuracy", f"{report.accuracy:.4f} ± {report.accuracy_std:.4f}")
        table.add_row("AUC", _figure(report.auc))
        for fmr, fnmr in report.fnmr_at_fmr.items():
            table.add_row(f"FNMR @ FMR={fmr}", _figure(fnmr))
        table.add_row("threshold (mean)", f"{report.threshold:.4f}")
        table.add_row("pairs / failed pairs", f"{report.pairs} / {report.failures}")
        found_by = report.found_by
        if isinstance(found_by, dict):  # {detector: images}: words, not a Python dict
            found_by = ", ".join(f"{name} {count}" for name, count in found_by.items()) or "none"
        table.add_row("images / found by", f"{report.images} / {found_by}")
        table.add_row("seconds", f"{report.seconds:.1f}")
        Console().print(table)
        if report.failed_pairs:
            failed = Table(title=f"{report.failures} pair(s) could not be measured (counted as wrong)")
            failed.add_column("failed pair", overflow="fold")
            failed.add_column("same")
            failed.add_column("why", overflow="fold")
            names = short_paths([p for pair in report.failed_pairs for p in (pair.path_x, pair.path_y)])
            for pair in report.failed_pairs:
                failed.add_row(escape(f"{names[pair.path_x]}, {names[pair.path_y]}"), "yes" if pair.same else "no", escape(pair.error))
            Console().print(failed)
    if report.failures:
        stderr.print(f"{report.failures} of {report.pairs} pairs could not be measured and count as wrong", highlight=False)
        raise typer.Exit(EXIT_PARTIAL)


@eval_app.command("lfw")
@handle_errors
def eval_lfw(
    lfw_dir: LfwDirOpt = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    workers: WorkersOpt = 2,
    jitters: JittersOpt = 0,
    aligned: AlignedOpt = "auto",
    per_fold: Annotated[
        Optional[int], typer.Option("--per-fold", min=2, help="Use only the first N pairs of each class in each fold (a quick run).")
    ] = None,
) -> None:
    """LFW verification: official pairs.txt, 10 folds, threshold chosen on 9, tested on the 10th."""
    from ..service.evaluation import EvaluationRun, LfwEvalOptions, evaluate_lfw

    run = EvaluationRun(pipeline_options(detector, embedder, jitters=jitters, aligned=aligned), workers)
    with counter_progress("Embedding") as (on_start, on_progress):
        report = evaluate_lfw(LfwEvalOptions(lfw_dir, per_fold, run), on_start=on_start, on_progress=on_progress,
                              on_aligned=note_aligned)
    _show(report, json_output, "LFW verification")


@eval_app.command("pairs")
@handle_errors
def eval_pairs(
    pairs_csv: Annotated[Path, typer.Argument(help="CSV with columns file_x,file_y,same.")],
    root: RootOpt = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    workers: WorkersOpt = 1,
    jitters: JittersOpt = 0,
    aligned: AlignedOpt = "auto",
) -> None:
    """Verification accuracy on your own labelled pairs (stratified k-fold, k <= 10)."""
    from ..service.evaluation import EvaluationRun, PairsEvalOptions, evaluate_pairs_csv

    run = EvaluationRun(pipeline_options(detector, embedder, jitters=jitters, aligned=aligned), workers)
    with counter_progress("Embedding") as (on_start, on_progress):
        report = evaluate_pairs_csv(PairsEvalOptions(pairs_csv, root, run), on_start=on_start, on_progress=on_progress,
                                    on_aligned=note_aligned)
    _show(report, json_output, f"Pairs verification ({pairs_csv.name})")


@eval_app.command("identify")
@handle_errors
def eval_identify(
    gallery_dir: Annotated[Path, typer.Option("--gallery-dir", help="A folder per person, every image enrolled.")],
    probe_dir: Annotated[Path, typer.Option("--probe-dir", help="A folder per person to search for (not enrolled: non-mated).")],
    unenrolled_dir: Annotated[Optional[Path], typer.Option("--unenrolled-dir", help="A folder per person never enrolled (non-mated probes).")] = None,
    ranks: Annotated[int, typer.Option("--ranks", min=1, max=100, help="CMC up to this rank.")] = 10,
    fpirs: Annotated[str, typer.Option("--fpirs", help="FPIRs at which FNIR is measured (comma-separated).")] = "0.01,0.001",
    targets: Annotated[str, typer.Option("--targets", help="Target FPIRs at which the gallery's own threshold is checked.")] = "0.01,0.001",
    calibration: Annotated[Optional[Path], typer.Option("--calibration", help="Calibration table (from `countenance calibrate`).")] = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    workers: WorkersOpt = 1,
    aligned: AlignedOpt = "auto",
) -> None:
    """Open-set identification on your folders: CMC, FNIR at FPIR, and the gallery's own threshold checked."""
    from ..service.evaluation import EvaluationRun
    from ..service.identification_eval import IdentifyEvalOptions, evaluate_identification, parse_rates

    options = IdentifyEvalOptions(
        gallery_dir, probe_dir, unenrolled_dir, ranks, parse_rates(fpirs, "--fpirs"), parse_rates(targets, "--targets"),
        calibration, EvaluationRun(pipeline_options(detector, embedder, aligned=aligned), workers),
    )
    with counter_progress("Embedding") as (on_start, on_progress):
        report = evaluate_identification(options, on_start=on_start, on_progress=on_progress, on_aligned=note_aligned)
    undefined = report.undefined()
    if json_output:
        print_json(report.to_dict())
    else:
        _show_identification(report, undefined)
    if undefined:  # a partial result: some rates had nothing to be measured on
        for why in sorted(set(undefined.values())):
            stderr.print(f"{', '.join(k for k, v in undefined.items() if v == why)} undefined: {escape(why)}",
                         highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_PARTIAL)


def _show_identification(report, undefined: dict[str, str]) -> None:
    def rate(value: float, field: str, digits: int = 4) -> str:
        if math.isfinite(value):
            return f"{value:.{digits}f}"
        return f"undefined ({undefined[field].split(' (')[0]})" if field in undefined else "undefined"

    table = Table(title=f"Open-set identification ({report.subjects} subjects, {report.templates} templates)", show_header=False)
    table.add_row("probes mated / non-mated / without a face", f"{report.mated_probes} / {report.non_mated_probes} / {report.probes_without_face}")
    table.add_row("CMC rank 1..", rate(report.cmc[0], "cmc") if "cmc" in undefined else " ".join(f"{v:.3f}" for v in report.cmc))
    for p in report.fnir_at_fpir:
        table.add_row(f"FNIR @ FPIR={p.fpir}", rate(p.fnir, "fnir_at_fpir") + (
            f" (threshold {p.threshold:.4f})" if math.isfinite(p.threshold) else ""))
    for p in report.at_gallery_threshold:
        table.add_row(f"gallery threshold for FPIR {p.target_fpir}",
                      f"{p.threshold:.4f}: measured FPIR {rate(p.measured_fpir, 'measured_fpir')}"
                      + (f" ({p.false_positives}; {p.false_names} named)" if report.non_mated_probes else "")
                      + f", FNIR {rate(p.fnir, 'fnir')}")
    Console().print(table)
