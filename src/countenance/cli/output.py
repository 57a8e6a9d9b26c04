"""How every CLI command prints and fails: JSON on stdout, tables and progress on stderr or
stdout, one error line from the error table, and internal errors logged, not shown.

Every command takes ``--json`` and then prints exactly one JSON document on stdout; progress
bars and messages go to stderr.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .. import paths
from ..service.error_table import EXIT_FAILED, EXIT_INTERNAL, EXIT_PARTIAL, describe

__all__ = [
    "EXIT_PARTIAL", "EXIT_DIFFERENT", "EXIT_FAILED", "stderr", "fail", "handle_errors", "report_skipped", "note_aligned", "print_json", "emit", "progress",
    "counter_progress", "step_progress", "write_crash_log", "short_paths", "folded",
]

stderr = Console(stderr=True)

#: A 1:1 verification answered "different people" (like grep's 1: ran fine, no match).
EXIT_DIFFERENT = 1


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` on stderr; the caller raises the returned Exit."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    return typer.Exit(code)


def write_crash_log(error: BaseException) -> Path:
    """Write ``error``'s traceback to a new file under ``<cache_dir>/logs`` (a temporary file if
    that folder cannot be written) and return its path."""
    text = "".join(traceback.format_exception(error))
    name = f"countenance-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder = paths.cache_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text(text)
        return path
    except OSError:
        handle, temporary = tempfile.mkstemp(prefix="countenance-", suffix=".log")
        with os.fdopen(handle, "w") as file:
            file.write(text)
        return Path(temporary)


def _json_error(message: str, kind: str, exit_code: int) -> None:
    """With ``--json`` a failed command still prints one JSON document on stdout (the error),
    so a caller parsing stdout never meets an empty string."""
    print_json({"error": {"message": message, "kind": kind, "exit_code": exit_code}})


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors of the error table into their one line on stderr and exit code; any other
    exception (a bug) into one line naming the log file its traceback went to (exit 3), or the
    traceback itself with ``countenance --debug``. With ``--json`` (a ``json_output`` parameter)
    the error is also a JSON document on stdout: ``{"error": {"message", "kind", "exit_code"}}``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        context: typer.Context | None = kwargs.pop(_CONTEXT, None)
        json_output = bool(kwargs.get("json_output"))
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            described = describe(error)
            if described is not None:
                rule, message = described
                if json_output:
                    _json_error(message, rule.title, rule.exit_code)
                raise fail(_escape(message), rule.exit_code) from None
            if context is not None and context.find_root().params.get("debug"):
                raise
            log = write_crash_log(error)
            message = (f"internal error ({type(error).__name__}); this is a bug. The traceback is in {log}; "
                       "run with `countenance --debug ...` to see it")
            if json_output:
                _json_error(message, "internal error", EXIT_INTERNAL)
            raise fail(_escape(message), EXIT_INTERNAL) from None

    # Typer passes the click context to a parameter annotated typer.Context: add one (keyword
    # only, invisible on the command line) to read the root's --debug from.
    signature = inspect.signature(command, eval_str=True)
    extra = inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])  # type: ignore[attr-defined]
    return wrapper


_CONTEXT = "countenance_context"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def report_skipped(messages: list[str]) -> None:
    """Each skipped input's error on stderr, then exit 1 (some inputs failed) if there were any."""
    for message in messages:
        stderr.print(f"[yellow]skipped[/] {_escape(message)}", highlight=False, soft_wrap=True)
    if messages:
        raise typer.Exit(EXIT_PARTIAL)


def note_aligned(aligned: Any) -> None:
    """One line on stderr when a run takes its images as aligned face crops (``--aligned``):
    ``aligned`` is the service's ``AlignedInput``."""
    line = aligned.describe()
    if line:
        stderr.print(f"[cyan]note[/] {_escape(line)}", highlight=False, soft_wrap=True)


def short_paths(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """Each path as a table shows it: without the folder that all of them share (a single
    path: its file name), so rows differ where they differ. Keys are ``str(path)``."""
    unique = list(dict.fromkeys(str(p) for p in paths))
    if not unique:
        return {}
    absolute = {p: os.path.abspath(p) for p in unique}
    try:
        common = os.path.commonpath([os.path.dirname(a) for a in absolute.values()])
    except ValueError:  # relative and absolute mixed on another drive: keep them whole
        return {p: p for p in unique}
    return {p: os.path.relpath(a, common) for p, a in absolute.items()}


def folded(table: Any) -> Any:
    """``table`` with every column wrapping its long words over lines instead of cutting them
    with "…" (ids, paths, timestamps and JSON must be read whole); returns the table."""
    for column in table.columns:
        column.overflow = "fold"
    return table


def print_json(document: Any) -> None:
    """One JSON document on stdout (NaN is refused: results turn it into null first)."""
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit(document: Any, json_output: bool, human: Any = None) -> None:
    """``document`` as JSON with ``--json``; otherwise ``human`` (text or a rich renderable),
    or the document pretty-printed when there is none."""
    if json_output:
        print_json(document)
    elif human is not None:
        Console().print(human)
    else:
        Console().print_json(json.dumps(document, default=str))


def _new_progress() -> Progress:
    # Only on a terminal: redirected, a bar is noise, and its transient display still leaves
    # an empty line before the error line a script reads.
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=stderr, transient=True, disable=not stderr.is_terminal,
    )


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr, shown only for jobs long enough to need one; yields ``advance(n=1)``."""
    bar = _new_progress()
    bar.disable = bar.disable or (total is not None and total <= 1)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda *_, n=1: bar.advance(task, n)


@contextmanager
def counter_progress(description: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A progress bar whose total comes later: yields ``(on_start(total), on_progress(n))``."""
    bar = _new_progress()
    with bar:
        task = bar.add_task(description, total=None)
        # Like progress(): a job of one item shows no bar.
        # Like progress(): a job of one item shows no bar. A second start begins a new count.
        yield (lambda total: bar.reset(task, total=total, visible=total > 1)), (lambda n: bar.advance(task, n))


@contextmanager
def step_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar for a run of named steps: yields ``on_progress(step, done, total)``; the bar
    shows the current step and starts again when the step changes."""
    bar = _new_progress()
    with bar:
        task = bar.add_task("starting", total=None)
        current: list[str] = [""]

        def update(step: str, done: int, total: int) -> None:
            if step != current[0]:
                current[0] = step
                bar.reset(task, total=max(total, 1), description=step)
            bar.update(task, completed=done, total=max(total, 1))

        yield update
