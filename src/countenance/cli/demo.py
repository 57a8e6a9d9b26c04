"""``countenance demo``: enrol a folder of people in memory and name the faces in probe photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import DetectorOpt, JsonOpt, pipeline_options
from .output import counter_progress, handle_errors, print_json, stderr

__all__ = ["demo"]


@handle_errors
def demo(
    people: Annotated[Optional[Path], typer.Option(help="One folder per person (default: FIXTURES/people).")] = None,
    probes: Annotated[Optional[Path], typer.Option(help="Photos to identify (default: FIXTURES/probes).")] = None,
    fixtures: Annotated[Optional[Path], typer.Option(help=(
        "The demo photos (default: $COUNTENANCE_SHARED/data/fixtures, else the shared/data/fixtures folder "
        "found beside the working directory or the installed package, or above them)."))] = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
) -> None:
    """Enrol a folder of people in memory and name every face in the probe photos."""
    from ..service.demo import DemoOptions, run_demo

    with counter_progress("Enrolling, then identifying") as (on_start, advance):
        result = run_demo(
            DemoOptions(people, probes, pipeline_options(detector), fixtures=fixtures),
            on_enrol_start=on_start, on_probe_start=on_start, on_image=lambda _: advance(1),
        )
    if json_output:
        print_json(result.to_dict())
        return
    console = Console()
    labels = result.enrolled.labels
    console.print(f"Enrolled {len(labels)} photos of {len(set(labels))} people from {result.people_dir}")
    table = Table()
    table.add_column("probe", overflow="fold")  # wrapped, never cut: the name tells rows apart
    table.add_column("face box")
    for title in ("decision", "nearest enrolled"):
        table.add_column(title, overflow="fold")
    table.add_column("distance", no_wrap=True)
    for r in result.faces:
        box = ", ".join(f"{v:.0f}" for v in r.face.box.to_list())
        style = "green" if r.decision.label else "yellow"
        table.add_row(Path(r.path).name, box, f"[{style}]{escape(r.name)}[/]", r.decision.nearest_label or "-", f"{r.decision.distance:.3f}")
    console.print(table)
    console.print(f"'unknown' = nearest enrolled face farther than {result.threshold} ({result.metric} distance)")
    for _, error in result.failed:
        stderr.print(f"[yellow]skipped[/] {escape(error)}", highlight=False)
