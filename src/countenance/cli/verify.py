"""``countenance verify``: are the largest faces of two images the same person? (1:1)"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from .options import DetectorOpt, EmbedderOpt, JsonOpt, pipeline_options
from .output import EXIT_DIFFERENT, handle_errors, print_json, stderr

__all__ = ["verify"]


@handle_errors
def verify(
    image_a: Annotated[Path, typer.Argument(help="First image (its largest face is used).")],
    image_b: Annotated[Path, typer.Argument(help="Second image (its largest face is used).")],
    json_output: JsonOpt = False,
    threshold: Annotated[
        Optional[str], typer.Option(help="Threshold name (e.g. 'default') or a distance; lower is stricter.")
    ] = None,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
) -> None:
    """Are the largest faces of two images the same person? (1:1 verification)

    Exit codes, like grep's: 0 the same person, 1 different people, 2 an error (e.g. a file
    that cannot be read, or no face in one of the images).
    """
    from ..service.verification import VerifyOptions, verify_images

    result = verify_images(VerifyOptions(image_a, image_b, threshold, pipeline_options(detector, embedder)))
    c = result.comparison
    if json_output:
        print_json(result.to_dict())
    else:
        verdict = "[green]same person[/]" if c.same else "[red]different people[/]"
        Console().print(
            f"{verdict}: distance {c.distance:.4f} ({c.metric}) vs threshold "
            f"{c.threshold:.4f} ({c.threshold_name}); cosine similarity {c.similarity:.4f}"
        )
        stderr.print(f"threshold: {result.to_dict()['threshold_rule']}", highlight=False, markup=False, soft_wrap=True)
    if not c.same:
        raise typer.Exit(EXIT_DIFFERENT)
