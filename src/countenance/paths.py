"""Where Countenance keeps things on the user's machine: the one place for user directories.

Each function reads its environment override first, then the XDG base directory (only when it
is an absolute path, as the XDG spec requires), then the usual default under the home folder.
Nothing here creates a folder; callers create what they write, and what holds people's data
(a gallery, its keys, a photo library, an export) they create private to its owner with
:func:`private_folder` and :func:`private_file` (folders 0700, files 0600, whatever the umask).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "data_dir", "cache_dir", "model_dir", "gallery_dir", "library_dir", "calibration_dir",
    "PRIVATE_FOLDER_MODE", "PRIVATE_FILE_MODE", "private_folder", "private_file", "open_private",
]

#: Modes of what holds people's data: only its owner may read, write or list it.
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _xdg(variable: str, fallback: tuple[str, ...]) -> Path:
    value = os.environ.get(variable)
    if value and Path(value).is_absolute():
        return Path(value) / "countenance"
    return Path.home().joinpath(*fallback, "countenance")


def data_dir() -> Path:
    """``$XDG_DATA_HOME/countenance``, else ``~/.local/share/countenance``."""
    return _xdg("XDG_DATA_HOME", (".local", "share"))


def cache_dir() -> Path:
    """Converted models and other rebuildable files: ``$COUNTENANCE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/countenance``, else ``~/.cache/countenance``."""
    explicit = os.environ.get("COUNTENANCE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return _xdg("XDG_CACHE_HOME", (".cache",))


def model_dir() -> Path:
    """Pulled ONNX models: ``$COUNTENANCE_MODEL_DIR``, else ``<data_dir>/models``."""
    explicit = os.environ.get("COUNTENANCE_MODEL_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return data_dir() / "models"


def gallery_dir() -> Path:
    """The default gallery: ``$COUNTENANCE_GALLERY``, else ``<data_dir>/gallery``."""
    explicit = os.environ.get("COUNTENANCE_GALLERY")
    if explicit:
        return Path(explicit).expanduser()
    return data_dir() / "gallery"


def library_dir() -> Path:
    """The default photo library folder: ``$COUNTENANCE_LIBRARY``, else ``<data_dir>/library``."""
    explicit = os.environ.get("COUNTENANCE_LIBRARY")
    if explicit:
        return Path(explicit).expanduser()
    return data_dir() / "library"


def calibration_dir() -> Path:
    """Calibration tables the user measured and installed: ``$COUNTENANCE_CALIBRATION_DIR``,
    else ``<data_dir>/calibration``."""
    explicit = os.environ.get("COUNTENANCE_CALIBRATION_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return data_dir() / "calibration"


def private_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` as a folder only its owner can enter (0700): created with the parents it lacks
    (each of those 0700 as well), or made 0700 if it exists and is ours (another user's folder
    is left as it is). Returns it."""
    folder = Path(path)
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, PRIVATE_FOLDER_MODE)
    if not missing:
        _tighten(folder, PRIVATE_FOLDER_MODE)
    return folder


def private_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a file only its owner can read (0600): created empty if missing (so that
    SQLite, which gives its WAL and shared-memory files the database file's mode, makes those
    0600 too), else its mode tightened. Returns it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        _tighten(Path(path), PRIVATE_FILE_MODE)
        return Path(path)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return Path(path)


def _tighten(path: Path, mode: int) -> None:
    """``chmod`` an existing file or folder of ours to ``mode``; another user's is left alone."""
    try:
        os.chmod(path, mode)
    except PermissionError:
        pass


def open_private(path: str | os.PathLike[str], mode: str = "wb"):
    """``open(path, mode)`` for writing a new private file (0600, whatever the umask; truncated)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return os.fdopen(fd, mode)
