"""``countenance detect``: the faces in images and folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import DetectorOpt, JsonOpt, RotateOpt, UpsampleOpt, pipeline_options
from .output import EXIT_PARTIAL, counter_progress, handle_errors, print_json, stderr

__all__ = ["detect"]


@handle_errors
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    upsample: UpsampleOpt = "auto",
    rotate: RotateOpt = True,
) -> None:
    """Find the faces in images: boxes (left, top, right, bottom), landmarks, scores."""
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
        table = Table("image", "faces", "boxes (left, top, right, bottom)", "rotation")
        for image in run.images:
            boxes = "; ".join(", ".join(f"{v:.0f}" for v in face.box.to_list()) for face in image.faces)
            rotations = sorted({face.rotation for face in image.faces})
            table.add_row(image.path, str(len(image.faces)), boxes or "-", ", ".join(map(str, rotations)) or "-")
        Console().print(table)
        if run.errors:
            stderr.print(f"{len(run.errors)} file(s) skipped", highlight=False)
    if run.errors:
        raise typer.Exit(EXIT_PARTIAL)
