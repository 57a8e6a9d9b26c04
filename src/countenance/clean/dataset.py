"""Reading a folder-per-person data set: ``ROOT/<label>/<photo>``.

Each sub-folder of the root is one person (its name is the label); the images directly inside
it are that person's photos. Hidden files and folders (a leading dot) are skipped, and so are
files directly in the root and deeper sub-folders: a label is one folder level, nothing is
guessed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument

__all__ = ["IMAGE_SUFFIXES", "Photo", "Dataset", "read_dataset"]

#: File name endings read as photos (lower-cased before comparing).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff", ".gif"})


@dataclass(frozen=True)
class Photo:
    """One photo of the data set: ``path`` the file, ``label`` its folder's name,
    ``relpath`` the path relative to the data set root with ``/`` separators."""

    path: Path
    label: str
    relpath: str


@dataclass(frozen=True)
class Dataset:
    """The photos of a data set in a stable order (label, then file name)."""

    root: Path
    photos: tuple[Photo, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels that hold at least one photo, sorted."""
        return tuple(sorted({photo.label for photo in self.photos}))


def read_dataset(root: str | os.PathLike[str]) -> Dataset:
    """The photos under ``root`` (one folder per person).

    Raises InvalidArgument if ``root`` is not a folder or holds no photo in any sub-folder.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise InvalidArgument(f"{folder}: not a folder (expected one sub-folder of photos per person)")
    photos: list[Photo] = []
    for person in sorted(folder.iterdir(), key=lambda p: p.name):
        if person.name.startswith(".") or not person.is_dir():
            continue
        for file in sorted(person.iterdir(), key=lambda p: p.name):
            if file.name.startswith(".") or not file.is_file() or file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            photos.append(Photo(file, person.name, f"{person.name}/{file.name}"))
    if not photos:
        raise InvalidArgument(f"{folder}: no photos found in its sub-folders (expected ROOT/<person>/<photo>)")
    return Dataset(folder, tuple(photos))
