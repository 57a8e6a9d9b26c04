"""Where the benchmark data and fixtures live: ``../shared`` next to the project, by default.

``COUNTENANCE_SHARED`` overrides the shared folder and ``COUNTENANCE_LFW_DIR`` the LFW folder.
Nothing here downloads anything.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["shared_dir", "lfw_dir", "fixtures_dir"]


def shared_dir() -> Path:
    """``$COUNTENANCE_SHARED``, else the first ``shared`` folder holding ``data/`` found beside
    the working directory or any folder above it, or beside the installed package or any
    folder above it (a checkout next to ``shared/``, its ``.venv``, a venv anywhere under the
    checkout's parent); else ``../shared`` relative to the working directory (which may not
    exist: callers name it in their error)."""
    explicit = os.environ.get("COUNTENANCE_SHARED")
    if explicit:
        return Path(explicit).expanduser()
    default = Path.cwd().parent / "shared"
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            candidate = folder / "shared"
            if (candidate / "data").is_dir():
                return candidate
    return default


def lfw_dir() -> Path:
    """``$COUNTENANCE_LFW_DIR``, else ``<shared>/data/lfw`` (holds pairs.txt and images/)."""
    return Path(os.environ.get("COUNTENANCE_LFW_DIR") or shared_dir() / "data" / "lfw")


def fixtures_dir() -> Path:
    """``<shared>/data/fixtures``: people/, probes/, groups/, rotated/, ..."""
    return shared_dir() / "data" / "fixtures"
