"""The root command group: plain help and one-line usage errors for every command.

One setting for the whole tree, so a command module needs nothing of its own:

- Help is click's plain help (``--gallery PATH``, ``--workers INTEGER RANGE``), wrapped to
  the terminal: option names are never cut, and flags show no type.
- A usage error (an unknown option, a missing argument, a value of the wrong type) is one
  line on stderr, ``error: <what> (see `countenance <command> --help`)``, exit 2; with
  ``--json`` on the command line it is also the JSON document every failure prints.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from typer.core import TyperGroup

try:  # recent Typer carries its own copy of click; older ones use click itself
    from typer._click import echo
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click import echo  # type: ignore[no-redef]
    from click.exceptions import ClickException  # type: ignore[no-redef]
from typer import Abort

from ..service.error_table import EXIT_FAILED
from .output import fail, print_json

__all__ = ["RootGroup"]


_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "bool": "", "path": "PATH", "file": "FILE",
               "directory": "FOLDER", "int range": "INTEGER", "float range": "NUMBER", "datetime": "DATE"}


def _readable_type(label: str | None) -> str | None:
    """Typer's ``<list[Path]>`` as ``PATH...``, ``<str>`` as ``TEXT``, ``<bool>`` as nothing."""
    if not label or not (label.startswith("<") and label.endswith(">")):
        return label
    inner, suffix = label[1:-1], ""
    if inner.startswith("list[") and inner.endswith("]"):
        inner, suffix = inner[5:-1], "..."
    word = _TYPE_WORDS.get(inner.lower(), inner.upper() if "|" not in inner else inner)
    return (word + suffix) if word else None


def _plain_help(command: Any) -> None:
    """Turn off Rich help and error boxes on ``command`` and everything under it, and show
    parameter types as words (TEXT, PATH, INTEGER) rather than Python types."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None  # type: ignore[attr-defined]
    for param in getattr(command, "params", ()):
        shown = getattr(param, "display_type_rich", None)
        if shown is not None and not getattr(shown, "_readable", False):
            def readable(ctx: Any, _shown: Any = shown) -> str | None:
                return _readable_type(_shown(ctx))

            readable._readable = True  # type: ignore[attr-defined]
            param.display_type_rich = readable
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


def _usage_line(error: ClickException) -> str:
    message = " ".join(error.format_message().split())
    context = getattr(error, "ctx", None)
    if context is not None:
        message += f" (see `{context.command_path} --help`)"
    return message


class RootGroup(TyperGroup):
    """The ``countenance`` group: every error click raises becomes one line (see the module)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        _plain_help(self)
        arguments = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(
                args=arguments, prog_name=prog_name or "countenance", complete_var=complete_var, standalone_mode=False, **extra
            )
        except ClickException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # a group named alone: its help
                echo(error.format_message())
                return self._finish(0, standalone_mode)
            message = _usage_line(error)
            code = error.exit_code if error.exit_code else EXIT_FAILED
            if "--json" in arguments:
                print_json({"error": {"message": message, "kind": "usage error", "exit_code": code}})
            try:
                raise fail(message.replace("[", r"\["), code)
            except Exception as exit_:  # typer.Exit, raised by fail() for its printing
                code = getattr(exit_, "exit_code", code)
        except Abort:
            echo("aborted", err=True)
            code = 1
        else:
            code = result if isinstance(result, int) else 0
        return self._finish(code, standalone_mode)

    @staticmethod
    def _finish(code: int, standalone_mode: bool) -> int:
        if not standalone_mode:
            return code
        sys.exit(code)
