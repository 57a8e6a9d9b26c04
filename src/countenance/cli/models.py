"""``countenance models``: list, pull, verify and locate the optional ONNX models; migrate a gallery or
a library to another recogniser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from ..errors import InvalidArgument
from ..service import models as service
from .options import DetectorOpt, JsonOpt, WorkersOpt
from .output import EXIT_PARTIAL, handle_errors, print_json, stderr

__all__ = ["models_app"]

models_app = typer.Typer(
    help="Optional ONNX models (detectors, recognisers): list, pull with a pinned sha256, verify.",
    no_args_is_help=True,
)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


@models_app.command("list")
@handle_errors
def list_command(json_output: JsonOpt = False) -> None:
    """The models that can be pulled: name, task, size, licence, whether installed, and what uses it."""
    listing = service.list_models()
    if json_output:
        print_json(listing.to_dict())
        return
    table = Table(caption=f"model folder: {listing.model_dir}")
    for header in ("name", "MB", "licence", "installed"):
        table.add_column(header, no_wrap=True, justify="right" if header == "MB" else "left")
    table.add_column("what it is for", overflow="fold")
    for m in listing.models:
        e = m.entry
        licence = e.licence if e.licence_commercial_use else f"{e.licence} (no commercial use)"
        table.add_row(e.name, f"{e.size / 1e6:.1f}", licence, _yes_no(m.installed), escape(f"{e.task}: {e.use}"))
    Console().print(table)


@models_app.command("pull")
@handle_errors
def pull_command(
    name: Annotated[str, typer.Argument(help="Model name (see `countenance models list`).")],
    source: Annotated[
        Optional[str],
        typer.Option("--from", help="Pull from this http(s):// or file:// URL or local file instead of upstream."),
    ] = None,
    accept_licence: Annotated[
        bool, typer.Option("--accept-licence", help="Accept a licence that does not allow commercial use.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Install a model, checking its sha256 against the pinned one. Never runs implicitly."""
    entry = service.model_entry(name)
    service.check_pull(source)
    stderr.print(
        f"{entry.name}: licence {entry.licence} (commercial use: {_yes_no(entry.licence_commercial_use)}), "
        f"{entry.size:,} bytes, sha256 {entry.sha256}",
        highlight=False, soft_wrap=True,
    )
    already = service.is_installed(entry)
    if not already:
        stderr.print(f"from {entry.source_url if source is None else source}", highlight=False, soft_wrap=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=stderr, transient=True, disable=already,
    )
    with progress:
        task = progress.add_task(f"Pulling {entry.name}", total=entry.size)
        result = service.pull_model(
            name, source, accept_licence=accept_licence,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if json_output:
        print_json(result.to_dict())
        return
    state = "already installed" if result.already_installed else "installed"
    stderr.print(f"{entry.name}: {state} at {result.path}", highlight=False, soft_wrap=True)


@models_app.command("verify")
@handle_errors
def verify_command(
    name: Annotated[Optional[str], typer.Argument(help="Model name (default: every installed model).")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Re-hash installed models against their pinned sha256. Exit 1 if any does not match."""
    checks = service.verify_models(name)
    ok = all(c.ok for c in checks)
    if json_output:
        print_json({"ok": ok, "models": [c.to_dict() for c in checks]})
    else:
        if not checks:
            stderr.print(f"no models installed in {service.list_models().model_dir}", highlight=False, soft_wrap=True)
        for c in checks:
            if c.ok:
                stderr.print(f"[green]ok[/] {c.name} {c.path}", highlight=False, soft_wrap=True)
            else:
                stderr.print(
                    f"[bold red]mismatch[/] {c.name} {c.path}: expected {c.expected}, actual {c.actual}; "
                    f"reinstall it with: countenance models pull {c.name}",
                    highlight=False, soft_wrap=True,
                )
    if not ok:
        raise typer.Exit(EXIT_PARTIAL)


@models_app.command("path")
@handle_errors
def path_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    json_output: JsonOpt = False,
) -> None:
    """Print the path of an installed (and verified) model; exit 2 with the install command if missing."""
    path = service.model_path(name)
    if json_output:
        print_json({"name": name, "path": str(path)})
        return
    typer.echo(str(path))


@models_app.command("migrate")
@handle_errors
def migrate_command(
    to: Annotated[Optional[str], typer.Option("--to", help="The embedder to move to (dlib, dlib-onnx, arcface:PATH, auto).")] = None,
    gallery: Annotated[Optional[Path], typer.Option("--gallery", help="The gallery folder to migrate.")] = None,
    library: Annotated[Optional[Path], typer.Option("--library", help="The library folder to migrate.")] = None,
    detector: DetectorOpt = "auto",
    sources: Annotated[Optional[Path], typer.Option(
        "--sources", help="Gallery: a folder searched by content for enrolment photos that moved and for opt-out photos.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=10_000, help="Rows per committed batch.")] = 32,
    workers: WorkersOpt = 1,
    rollback: Annotated[bool, typer.Option("--rollback", help="Switch back to the model migrated from.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Erase the other models' templates (no rollback after).")] = False,
    show_status: Annotated[bool, typer.Option("--status", help="Show the model, a migration under way, the rollback.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Move a gallery or a library to another recogniser: re-embed from the stored photos (a
    gallery's crops when a photo is gone), beside the old templates; cut over in one
    transaction. Killed midway, run it again: it continues. Exit 1 when some rows could not be
    re-embedded (listed; kept under the old model until --prune)."""
    from ..service import migration

    target = migration.MigrationTarget(gallery=gallery, library=library)
    chosen = [name for name, on in (("--to", to is not None), ("--rollback", rollback), ("--prune", prune),
                                     ("--status", show_status)) if on]
    if len(chosen) != 1:
        raise InvalidArgument("give one of --to MODEL, --rollback, --prune, --status")
    if show_status:
        document = migration.status(target)
        if json_output:
            print_json(document)
        else:
            for key, value in document.items():
                stderr.print(f"{key}: {value}", highlight=False, soft_wrap=True)
        return
    if rollback:
        report = migration.rollback(target)
    elif prune:
        report = migration.prune(target)
    else:
        options = migration.MigrateOptions(to=to, detector=detector, sources=sources, batch_size=batch_size,
                                           workers=workers)
        report = migration.migrate(target, options, on_batch=None if json_output else _progress)
    if json_output:
        print_json(migration.report_document(report))
    else:
        stderr.print(report.message, highlight=False, soft_wrap=True)
        for row in report.not_reembedded:
            stderr.print(f"not re-embedded: {row.table} {row.id}: {row.outcome} ({row.detail}); {row.then}",
                         highlight=False, soft_wrap=True)
    if report.not_reembedded:
        raise typer.Exit(EXIT_PARTIAL)


def _progress(done: int, total: int) -> None:
    stderr.print(f"re-embedded {done} of {total}", highlight=False, soft_wrap=True)
