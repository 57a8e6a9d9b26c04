"""Which photo libraries name people into a gallery, so that forgetting a subject reaches them.

A library that names people into a gallery (``library name``) or takes suggestions from it
(``library suggest``) is recorded in the gallery's folder, in ``libraries.json``
(``{"libraries": ["/abs/library/folder", ...]}``), and the library records the gallery in its
own metadata. :func:`forget_in_libraries`, called by the gallery's forget use case
(:func:`countenance.service.privacy.forget_subject`), then removes the name, its
confirmations and suggestions from each of those libraries; the XMP regions the library wrote
for it go on that library's next ``xmp write``.

The list lives beside the gallery, not inside its database, so the gallery itself needs no
change to know about libraries; a library folder that no longer exists is skipped.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GalleryError
from ..paths import open_private

__all__ = ["LIBRARIES_FILE", "LibraryForget", "attach_library", "attached_libraries", "forget_in_libraries"]

LIBRARIES_FILE = "libraries.json"


@dataclass(frozen=True)
class LibraryForget:
    """A name forgotten in one library: how many faces the person had there (0: not named there)."""

    library: Path
    faces: int

    def to_dict(self) -> dict[str, Any]:
        return {"library": str(self.library), "faces": self.faces}


def attached_libraries(gallery_path: Path) -> tuple[Path, ...]:
    """The library folders recorded in ``gallery_path/libraries.json`` (none when it is absent)."""
    path = Path(gallery_path) / LIBRARIES_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GalleryError(f"{path}: cannot read the list of attached photo libraries ({error})") from None
    folders = document.get("libraries") if isinstance(document, dict) else None
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise GalleryError(f"{path}: expected {{\"libraries\": [folder, ...]}}")
    return tuple(Path(f) for f in folders)


def attach_library(gallery_path: Path, library_path: Path) -> None:
    """Record ``library_path`` in the gallery's list (once). Written to a temporary file and
    renamed, so a crash never leaves half a list (the gallery removes stale ``*.<pid>.tmp``)."""
    folder = Path(gallery_path)
    library = str(Path(library_path).expanduser().resolve())
    known = [str(p) for p in attached_libraries(folder)]
    if library in known:
        return
    temporary = folder / f"{LIBRARIES_FILE}.{os.getpid()}.tmp"
    with open_private(temporary, "w") as handle:  # 0600 like every file of the gallery
        handle.write(json.dumps({"libraries": [*known, library]}, indent=2) + "\n")
    os.replace(temporary, folder / LIBRARIES_FILE)


def forget_in_libraries(gallery_path: Path, name: str) -> tuple[LibraryForget, ...]:
    """Forget ``name`` in every library attached to the gallery that still exists (see the
    module docstring); the name's bytes are erased from each library's database."""
    from ..library import DB_NAME, Library, LibraryError

    done = []
    for folder in attached_libraries(gallery_path):
        if not (folder / DB_NAME).is_file():
            continue
        try:
            with Library.open(folder, create=False) as library:
                done.append(LibraryForget(folder, library.forget(name)))
        except sqlite3.Error as error:
            raise LibraryError(f"{folder}: the photo library could not forget {name!r} ({error}); "
                               "nothing was deleted from the gallery, run the command again") from None
    return tuple(done)
