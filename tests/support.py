"""Small helpers shared by several test modules (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

#: A fixed start for tests that move a clock.
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Clock:
    """A clock a test moves by hand (``clock.now += timedelta(...)``)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run_cli(*args: object):
    """The CLI's result for ``args`` (each turned into a string), stdout and stderr apart."""
    from typer.testing import CliRunner

    from countenance.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def run_cli_json(*args: object) -> dict:
    """The JSON document a successful ``args --json`` prints."""
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_error_line(result, code: int = 2) -> str:
    """The CLI result failed with ``code`` and exactly one line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def folder_of_faces(library) -> dict[int, str]:
    """Each face id of a library to the name of its photo's folder (an LFW person)."""
    paths = {p.id: Path(p.path).parent.name for p in library.store.photos()}
    return {f.id: paths[f.photo_id] for f in library.store.faces()}


def open_library_copy(indexed: Path, tmp_path: Path):
    """A copy of the library folder ``indexed``, opened (a fixture's body: yields the library)."""
    from countenance.library import Library

    shutil.copytree(indexed, tmp_path / "lib")
    with Library.open(tmp_path / "lib") as library:
        yield library
