"""``countenance models``: list, pull, verify and locate the optional ONNX models.

A thin shell over :mod:`countenance.model_registry`. As everywhere in the CLI, ``--json``
prints exactly one JSON document on stdout, progress and messages go to stderr, and a
Countenance error is one line on stderr with exit status 2.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

# Defined before importing the shared helpers from ``cli``: ``cli`` imports this module to
# register the sub-app, and must find ``models_app`` even when this module is imported first.
models_app = typer.Typer(
    help="Optional ONNX models (detectors, recognisers): list, pull with a pinned sha256, verify.",
    no_args_is_help=True,
)

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from . import model_registry as registry  # noqa: E402
from .cli import JsonOpt, _print_json, handle_errors, stderr  # noqa: E402
from .errors import ModelError  # noqa: E402

__all__ = ["models_app"]


def _entry_document(entry: registry.ModelEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "task": entry.task,
        "filename": entry.filename,
        "size": entry.size,
        "sha256": entry.sha256,
        "licence": entry.licence,
        "commercial_use": entry.licence_commercial_use,
        "source_url": entry.source_url,
        "description": entry.description,
    }


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


@models_app.command("list")
@handle_errors
def list_command(json_output: JsonOpt = False) -> None:
    """The models that can be pulled: name, task, size, licence, whether installed."""
    folder = registry.model_dir()
    rows = registry.list_models()
    if json_output:
        _print_json(
            {
                "model_dir": str(folder),
                "models": [
                    {**_entry_document(entry), "installed": installed, "path": str(folder / entry.filename) if installed else None}
                    for entry, installed in rows
                ],
            }
        )
        return
    table = Table(caption=f"model folder: {folder}")
    for header in ("name", "task", "MB", "licence", "commercial", "installed"):
        table.add_column(header, no_wrap=True, justify="right" if header == "MB" else "left")
    for entry, installed in rows:
        table.add_row(
            entry.name, entry.task, f"{entry.size / 1e6:.1f}", entry.licence,
            _yes_no(entry.licence_commercial_use), _yes_no(installed),
        )
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
    entry = registry.get_entry(name)
    origin = entry.source_url if source is None else source
    stderr.print(
        f"{entry.name}: licence {entry.licence} (commercial use: {_yes_no(entry.licence_commercial_use)}), "
        f"{entry.size:,} bytes, sha256 {entry.sha256}",
        highlight=False, soft_wrap=True,
    )
    try:
        registry.installed_model_path(entry)
        already = True
    except ModelError:
        already = False
    if not already:
        stderr.print(f"from {origin}", highlight=False, soft_wrap=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=stderr, transient=True, disable=already,
    )
    with progress:
        task = progress.add_task(f"Pulling {entry.name}", total=entry.size)
        path = registry.pull(
            entry, source, accept_licence=accept_licence,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if json_output:
        _print_json({**_entry_document(entry), "path": str(path), "source": origin, "already_installed": already})
        return
    stderr.print(f"{entry.name}: {'already installed' if already else 'installed'} at {path}", highlight=False, soft_wrap=True)


@models_app.command("verify")
@handle_errors
def verify_command(
    name: Annotated[Optional[str], typer.Argument(help="Model name (default: every installed model).")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Re-hash installed models against their pinned sha256. Exit 1 if any does not match."""
    if name is not None:
        results = [registry.verify(name)]
    else:
        results = [registry.verify(entry) for entry, installed in registry.list_models() if installed]
    if json_output:
        _print_json(
            {
                "ok": all(results),
                "models": [
                    {"name": r.entry.name, "path": str(r.path), "ok": r.ok, "expected": r.expected, "actual": r.actual}
                    for r in results
                ],
            }
        )
    else:
        if not results:
            stderr.print(f"no models installed in {registry.model_dir()}", highlight=False, soft_wrap=True)
        for r in results:
            if r.ok:
                stderr.print(f"[green]ok[/] {r.entry.name} {r.path}", highlight=False, soft_wrap=True)
            else:
                stderr.print(
                    f"[bold red]mismatch[/] {r.entry.name} {r.path}: expected {r.expected}, actual {r.actual}; "
                    f"reinstall it with: countenance models pull {r.entry.name}",
                    highlight=False, soft_wrap=True,
                )
    if not all(results):
        raise typer.Exit(1)


@models_app.command("path")
@handle_errors
def path_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    json_output: JsonOpt = False,
) -> None:
    """Print the path of an installed (and verified) model; exit 2 with the install command if missing."""
    path = registry.installed_model_path(name)
    if json_output:
        _print_json({"name": name, "path": str(path)})
        return
    typer.echo(str(path))
