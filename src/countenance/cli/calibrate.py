"""``countenance calibrate``: a model's threshold table (distance -> FMR, FNMR) from your labelled images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import AlignedOpt, DetectorOpt, EmbedderOpt, JittersOpt, JsonOpt, RootOpt, WorkersOpt, pipeline_options
from .output import EXIT_PARTIAL, counter_progress, handle_errors, note_aligned, print_json, stderr

__all__ = ["calibrate"]


@handle_errors
def calibrate(
    directory: Annotated[Optional[Path], typer.Argument(help="A folder per person (LFW's layout); same as --folders.",
                                                        show_default=False)] = None,
    pairs: Annotated[Optional[Path], typer.Option("--pairs", help="CSV with columns file_x,file_y,same.")] = None,
    folders: Annotated[Optional[Path], typer.Option("--folders", help="A folder per person: every pair of images is a comparison.")] = None,
    root: RootOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the table here (JSON, as the gallery reads it).")] = None,
    install: Annotated[bool, typer.Option("--install", help="Install the table as the model's own: every later command uses it.")] = False,
    max_people: Annotated[Optional[int], typer.Option("--max-people", min=1, help="Only the first N people (by folder name).")] = None,
    max_images_per_person: Annotated[Optional[int], typer.Option("--max-images-per-person", min=1,
                                                                 help="Only the first N images of each person.")] = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    workers: WorkersOpt = 1,
    jitters: JittersOpt = 0,
    aligned: AlignedOpt = "auto",
) -> None:
    """Build the table (threshold -> FMR, FNMR; with a folder per person also the effective number
    of templates of a subject with several) for the chosen model from LFW or your own labelled
    images; --install makes it the model's table (thresholds, library and cleaning cuts)."""
    from ..service.calibration import CalibrateOptions, calibrate as run_calibrate
    from ..service.evaluation import EvaluationRun

    from ..errors import InvalidArgument

    if directory is not None and folders is not None:
        raise InvalidArgument("give the folder per person once: DIR or --folders DIR")
    run = EvaluationRun(pipeline_options(detector, embedder, jitters=jitters, aligned=aligned), workers)
    options = CalibrateOptions(pairs, folders or directory, root, out, run, install, max_people, max_images_per_person)
    with counter_progress("Embedding") as (on_start, on_progress):
        result = run_calibrate(options, on_start=on_start, on_progress=on_progress, on_aligned=note_aligned)
    undefined = result.undefined()
    if json_output:
        print_json(result.to_dict())
    else:
        _show(result, undefined)
    if undefined:  # a partial result: the FMR side is measured (and written), FNMR is not
        stderr.print("; ".join(f"{k.upper()} undefined: {escape(why)}" for k, why in undefined.items()), highlight=False,
                     soft_wrap=True)
        raise typer.Exit(EXIT_PARTIAL)


def _show(result, undefined: dict[str, str]) -> None:
    no_fnmr = f"undefined ({undefined['fnmr'].split(' (')[0]})" if "fnmr" in undefined else "-"
    table = Table(title=f"Calibration of {result.model} ({result.impostor_pairs} impostor, {result.genuine_pairs} genuine pairs)")
    for column in ("FMR", "distance", "FNMR"):
        table.add_column(column, justify="right")
    for p in result.points:
        table.add_row(f"{p.fmr:g}", f"{p.distance:.4f}", no_fnmr if p.fnmr is None else f"{p.fnmr:.4f}")
    console = Console(stderr=True)
    console.print(table)
    if result.effective_templates:
        console.print("effective templates at FMR 1e-3: " + ", ".join(f"{k}: {v:.2f}" for k, v in result.effective_templates))
    if result.installed:
        console.print(f"installed for {result.model}: {result.installed}")
    if result.out or not result.installed:
        console.print(f"written to {result.out}" if result.out else "not written (give --out FILE or --install)")
