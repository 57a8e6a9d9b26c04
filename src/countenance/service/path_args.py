"""Path arguments checked before a use case touches them: the one rule for every command.

A file where a folder is expected, a missing parent, a folder that cannot be written: each is an
:class:`~countenance.errors.InvalidArgument` whose one-line message names the option (``what``,
e.g. ``--gallery``), the path and the reason, instead of an ``OSError`` from deep inside.

Writability is probed, not guessed from permission bits: ``os.access`` answers yes to root
everywhere, also on ``/proc`` and ``/sys``, where nothing can be created.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvalidArgument

__all__ = ["existing_file", "existing_folder", "writable_folder", "writing"]


def _fail(what: str, path: Path, reason: str) -> InvalidArgument:
    return InvalidArgument(f"{what} {path}: {reason}")


def _blocking_file(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists and is not a folder (``a.jpg`` of ``a.jpg/x``)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _missing(path: Path, what: str, kind: str, hint: str) -> InvalidArgument:
    blocking = _blocking_file(path)
    if blocking is not None:
        return _fail(what, path, f"{blocking} is a file, not a folder")
    parent = next((p for p in path.parents if p.exists()), None)
    suffix = f"; {hint}" if hint else ""
    if parent is not None and parent != path.parent:
        return _fail(what, path, f"no such {kind} (its folder {path.parent} does not exist){suffix}")
    return _fail(what, path, f"no such {kind}{suffix}")


def existing_file(path: str | os.PathLike[str], what: str, *, hint: str = "") -> Path:
    """``path`` if it is a readable file; InvalidArgument naming ``what`` and the reason otherwise
    (``hint``, what to do, is added when it is missing)."""
    path = Path(path)
    if path.is_dir():
        raise _fail(what, path, "is a folder, not a file")
    if not path.exists():
        raise _missing(path, what, "file", hint)
    if not path.is_file():
        raise _fail(what, path, "is not a regular file")
    if not os.access(path, os.R_OK):
        raise _fail(what, path, "cannot be read (permission denied)")
    return path


def existing_folder(path: str | os.PathLike[str], what: str, *, hint: str = "") -> Path:
    """``path`` if it is a folder that can be listed; InvalidArgument otherwise (``hint`` as above)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise _fail(what, path, "is a file, not a folder")
    if not path.exists():
        raise _missing(path, what, "folder", hint)
    if not os.access(path, os.R_OK | os.X_OK):
        raise _fail(what, path, "cannot be read (permission denied)")
    return path


def writable_folder(path: str | os.PathLike[str], what: str, *, create: bool = False) -> Path:
    """``path`` if it is, or can become, a folder to write into; created when ``create``.

    Missing folders are fine when their nearest existing ancestor is a folder that can be
    written (tested by creating an unnamed temporary file there, which leaves nothing behind).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise _fail(what, path, "is a file, not a folder")
    blocking = _blocking_file(path)
    if blocking is not None:
        raise _fail(what, path, f"{blocking} is a file, not a folder")
    existing = path if path.exists() else next((p for p in path.parents if p.exists()), Path("."))
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        if existing == path:
            raise _fail(what, path, f"cannot write into this folder ({reason})") from None
        raise _fail(what, path, f"cannot create it: {existing} cannot be written ({reason})") from None
    if create:
        with writing(path, what):
            path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def writing(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Turn an ``OSError`` while writing under ``path`` (disk full, a folder removed meanwhile)
    into an InvalidArgument naming ``what``; the checks above cannot foresee everything."""
    try:
        yield
    except OSError as error:
        name = error.filename if error.filename is not None else path
        raise _fail(what, Path(path), f"cannot write {name} ({error.strerror or error})") from None
