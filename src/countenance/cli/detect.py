"""``countenance detect``: the faces in images and folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import DetectorOpt, JsonOpt, RotateOpt, UpsampleOpt, pipeline_options
from .output import EXIT_PARTIAL, counter_progress, handle_errors, print_json, short_paths, stderr

__all__ = ["detect"]


@handle_errors
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    upsample: UpsampleOpt = "auto",
    rotate: RotateOpt = True,
) -> None:
    """Find the faces in images: boxes (left, top, right, bottom), landmarks, scores.

    `rotation` is the clockwise turn (0, 90, 180, 270 degrees) that makes a face upright: a
    photo turned a quarter clockwise (head to the right) reports 270. Boxes stay in the
    coordinates of the image as given. Exit codes: 0 done, 1 some files skipped, 2 failed.
    """
    from ..service.detection import DetectOptions, FileError, detect_files

    options = DetectOptions(tuple(images), pipeline_options(detector, upsample=upsample, rotate=rotate))
    with counter_progress("Detecting") as (on_start, advance):

        def on_file(path: Path, failure: FileError | None) -> None:
            if failure is not None:
                stderr.print(f"[yellow]skipped[/] {escape(failure.error)}", highlight=False, soft_wrap=True)
            advance(1)

        run = detect_files(options, on_start=on_start, on_file=on_file)
    if json_output:
        print_json(run.to_dict())
    else:
        names = short_paths(image.path for image in run.images)
        table = Table()
        table.add_column("image", overflow="fold")
        table.add_column("faces")
        table.add_column("boxes (left, top, right, bottom)", overflow="fold")
        table.add_column("turn to upright (° clockwise)")
        for image in run.images:
            boxes = "; ".join(", ".join(f"{v:.0f}" for v in face.box.to_list()) for face in image.faces)
            rotations = sorted({face.rotation for face in image.faces})
            table.add_row(escape(names[image.path]), str(len(image.faces)), boxes or "-", ", ".join(map(str, rotations)) or "-")
        Console().print(table)
        if not run.faces:
            stderr.print("no face found" + (" in any image" if len(run.images) > 1 else ""), highlight=False)
        if run.errors:
            stderr.print(f"{len(run.errors)} file(s) skipped", highlight=False)
    if run.errors:
        raise typer.Exit(EXIT_PARTIAL)
