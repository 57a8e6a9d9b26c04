"""Where calibration tables are kept, and reading and writing them.

A model's table is found, in order: the file a caller names (``path=``); the table the user
installed (:func:`install_calibration`: ``<calibration_dir>/<model>.json``, see
:func:`countenance.paths.calibration_dir`); the table shipped in this package
(``countenance/calibration/<model>.json``, package data). An installed table therefore
replaces a shipped one: it is what the user measured for their model and photos.

Installed and saved tables are private files (0600 in a 0700 folder): a table measured on the
user's own labelled folders is derived from people's faces.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

from ..errors import GalleryError, InvalidArgument
from ..paths import calibration_dir, open_private, private_folder
from .table import Calibration

__all__ = ["load_calibration", "save_calibration", "install_calibration", "installed_calibration_path"]

# A model name is a file name here: letters, digits and ._+- (e.g. arcface-mobilefacenet-0a1b2c3d4e5f).
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def installed_calibration_path(model: str) -> Path:
    """Where :func:`install_calibration` puts ``model``'s table (it may not exist)."""
    if not _MODEL_NAME.fullmatch(model):
        raise InvalidArgument(f"{model!r} is not a model name a calibration table can be stored under")
    return calibration_dir() / f"{model}.json"


def load_calibration(model: str, path: str | os.PathLike[str] | None = None) -> Calibration | None:
    """The calibration table of ``model``: from ``path``, else the installed one, else the one
    shipped in the package (module docstring).

    None when there is none for this model (a model nobody calibrated). Raises GalleryError if
    the file is for another model or unreadable.
    """
    if path is None:
        installed = installed_calibration_path(model) if _MODEL_NAME.fullmatch(model) else None
        if installed is not None and installed.is_file():
            path = installed
        else:
            resource = resources.files(__package__).joinpath(f"{model}.json")
            if not resource.is_file():
                return None
            return _parse(resource.read_text(), model, f"package calibration {model}.json")
    where = os.fspath(path)
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise GalleryError(f"{where}: cannot read calibration ({error.strerror or error})") from None
    return _parse(text, model, where)


def _parse(text: str, model: str, where: str) -> Calibration:
    try:
        calibration = Calibration.from_dict(json.loads(text))
    except json.JSONDecodeError as error:
        raise GalleryError(f"{where}: not JSON ({error})") from None
    if calibration.model != model:
        raise GalleryError(f"{where}: calibration is for model {calibration.model!r}, not {model!r}")
    return calibration


def save_calibration(calibration: Calibration, path: str | os.PathLike[str]) -> Path:
    """Write ``calibration`` to ``path`` as JSON, a private file (0600), replaced atomically
    (a reader never sees half a table). Returns the path."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with open_private(partial, "w") as out:
            out.write(json.dumps(calibration.to_dict(), indent=1) + "\n")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def install_calibration(calibration: Calibration) -> Path:
    """Install ``calibration`` as its model's table (``<calibration_dir>/<model>.json``, the
    folder created private): from then on :func:`load_calibration` of that model, and so every
    gallery of it, reads this table. Returns where it was written."""
    target = installed_calibration_path(calibration.model)
    private_folder(target.parent)
    return save_calibration(calibration, target)
