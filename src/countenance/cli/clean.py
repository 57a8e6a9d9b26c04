"""``countenance clean``: find mislabelled photos, duplicate identities and near-duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import AlignedOpt, DetectorOpt, EmbedderOpt, JsonOpt, WorkersOpt, pipeline_options
from .output import EXIT_PARTIAL, counter_progress, handle_errors, note_aligned, print_json

__all__ = ["clean"]


@handle_errors
def clean(
    dataset: Annotated[Path, typer.Argument(help="A data set: one folder of photos per person.")],
    report: Annotated[Optional[Path], typer.Option("--report", help="Write an offline HTML report with face crops.")] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", help="Write a CSV manifest: every photo, kept or not, and why.")] = None,
    apply_to: Annotated[Optional[Path], typer.Option("--apply", help="Write a cleaned copy of the data set to this new folder.")] = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    workers: WorkersOpt = 2,
    aligned: AlignedOpt = "auto",
) -> None:
    """Find photos that disagree with their folder, folders that hold the same person, and
    near-duplicate photos. Nothing in DATASET is moved or deleted; templates are cached, so a
    re-run costs seconds."""
    from ..service.cleaning import CleanDatasetOptions, clean_dataset

    options = CleanDatasetOptions(Path(dataset), pipeline_options(detector, embedder, aligned=aligned), workers, report, manifest, apply_to)
    with counter_progress("Embedding") as (on_start, advance):
        seen = [0, -1]  # photos done, total announced

        def on_progress(done: int, total: int) -> None:
            if total != seen[1]:
                on_start(total)
                seen[:] = [0, total]
            advance(done - seen[0])
            seen[0] = done

        outcome = clean_dataset(options, progress=on_progress, on_aligned=note_aligned)
    if json_output:
        print_json(outcome.to_dict())
    else:
        result = outcome.report
        table = Table("finding", "confidence", "items", "reason")
        for finding in sorted(result.findings, key=lambda f: (f.kind, -f.confidence)):
            items = ", ".join(finding.items or finding.labels)
            table.add_row(finding.kind, f"{finding.confidence:.2f}", escape(items), escape(finding.reason))
        Console().print(table)
        counts = ", ".join(f"{kind} {n}" for kind, n in result.counts().items() if n)
        Console(stderr=True).print(
            f"{result.photos} photos of {result.labels} people: {counts or 'nothing found'} "
            f"({result.computed} templates computed, {result.cache_hits} from the cache)", highlight=False)
        for written in (outcome.html_path, outcome.manifest_path):
            if written is not None:
                Console(stderr=True).print(f"wrote {escape(str(written))}", highlight=False)
    if outcome.exit_code:
        raise typer.Exit(EXIT_PARTIAL)
