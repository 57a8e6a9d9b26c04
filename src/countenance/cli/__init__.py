"""The ``countenance`` command: thin Typer commands over :mod:`countenance.service`.

Every command takes ``--json`` and then prints exactly one JSON document on stdout; tables,
progress bars and messages go to stderr. An expected error becomes one line on stderr and
the exit code of :mod:`countenance.service.error_table`, never a traceback; an unexpected one
(a bug) one line naming the log file with its traceback (``countenance --debug`` shows it).
Exit codes: 0 success, 1 some inputs of a multi-input run failed (they are reported, the rest
is done), 2 the command failed, 3 an internal error.

Command modules: :mod:`.detect`, :mod:`.verify`, :mod:`.evaluation`, :mod:`.gallery`,
:mod:`.models`, :mod:`.demo`, :mod:`.clean`; shared options in :mod:`.options`, printing in :mod:`.output`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import gallery
from .calibrate import calibrate
from .clean import clean
from .demo import demo
from .detect import detect
from .evaluation import eval_app
from .models import models_app
from .verify import verify

__all__ = ["app", "main"]

app = typer.Typer(
    name="countenance",
    help="Consent-first, offline face recognition: detect, verify, identify, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="On an internal error, show the traceback instead of logging it.")] = False,
) -> None:
    """Consent-first, offline face recognition: detect, verify, identify, evaluate."""
    # The commands read --debug from the root context when an error reaches them.


app.command()(detect)
app.command()(verify)
app.add_typer(eval_app, name="eval")
app.command()(demo)
app.command()(clean)
app.add_typer(models_app, name="models")
app.command()(calibrate)
gallery.register(app)


def main() -> None:
    """Entry point of the ``countenance`` script."""
    app()


if __name__ == "__main__":
    main()
