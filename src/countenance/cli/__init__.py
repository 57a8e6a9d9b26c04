"""The ``countenance`` command: thin Typer commands over :mod:`countenance.service`.

Every command takes ``--json`` and then prints exactly one JSON document on stdout; tables,
progress bars and messages go to stderr. An expected error becomes one line on stderr and
the exit code of :mod:`countenance.service.error_table`, never a traceback; an unexpected one
(a bug) one line naming the log file with its traceback (``countenance --debug`` shows it).
Exit codes: 0 success, 1 some inputs of a multi-input run failed (they are reported, the rest
is done) or, for ``verify``/``subjects verify``, different people (like grep's "no match"),
2 the command failed, 3 an internal error.

Command modules: :mod:`.detect`, :mod:`.verify`, :mod:`.evaluation`, :mod:`.gallery`,
:mod:`.models`, :mod:`.demo`, :mod:`.clean`, :mod:`.measure`, :mod:`.library`, :mod:`.video`, :mod:`.keys`, :mod:`.serve`; shared options in :mod:`.options`, printing in :mod:`.output`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import gallery, library, library_review, measure
from .calibrate import calibrate
from .clean import clean
from .demo import demo
from .detect import detect
from .evaluation import eval_app
from .frame import RootGroup
from .keys import keys_app
from .models import models_app
from .serve import serve
from .verify import verify
from .video import video_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="countenance",
    cls=RootGroup,  # plain help, one-line usage errors (cli/frame.py)
    help="Consent-first, offline face recognition: detect, verify, identify, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("countenance")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from .. import __version__ as number
        typer.echo(f"countenance {number}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="On an internal error, show the traceback instead of logging it.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Consent-first, offline face recognition: detect, verify, identify, evaluate."""
    # The commands read --debug from the root context when an error reaches them.


app.command()(detect)
app.command()(verify)
app.add_typer(eval_app, name="eval")
measure.register(eval_app)  # eval budget|masks|degrade|groups
app.command()(demo)
app.command()(clean)
app.add_typer(models_app, name="models")
app.command()(calibrate)
gallery.register(app)
library.register(app)
library_review.register(library.library_app)  # library person|confirm|undo|log|merges|add-face
app.add_typer(video_app, name="video")
app.add_typer(keys_app, name="keys")
app.command()(serve)


def main() -> None:
    """Entry point of the ``countenance`` script."""
    app()


if __name__ == "__main__":
    main()
