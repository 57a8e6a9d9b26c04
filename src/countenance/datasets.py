"""Where the benchmark data and fixtures live: ``../shared`` next to the project, by default.

``COUNTENANCE_SHARED`` overrides the shared folder and ``COUNTENANCE_LFW_DIR`` the LFW folder.
Nothing here downloads anything.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["shared_dir", "lfw_dir", "fixtures_dir"]


def shared_dir() -> Path:
    """``$COUNTENANCE_SHARED``, else ``../shared`` relative to the working directory."""
    return Path(os.environ.get("COUNTENANCE_SHARED") or Path.cwd().parent / "shared")


def lfw_dir() -> Path:
    """``$COUNTENANCE_LFW_DIR``, else ``<shared>/data/lfw`` (holds pairs.txt and images/)."""
    return Path(os.environ.get("COUNTENANCE_LFW_DIR") or shared_dir() / "data" / "lfw")


def fixtures_dir() -> Path:
    """``<shared>/data/fixtures``: people/, probes/, groups/, rotated/, ..."""
    return shared_dir() / "data" / "fixtures"
