"""Where Countenance keeps things on the user's machine: the one place for user directories.

Each function reads its environment override first, then the XDG base directory (only when it
is an absolute path, as the XDG spec requires), then the usual default under the home folder.
Nothing here creates a folder; callers create what they write.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "cache_dir", "model_dir", "gallery_dir", "library_dir"]


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
