"""Shutting a gallery down: every template, crop, index file, server table and record of it
removed, and a scan of what is left to show that none of it remains.

The gallery's own files (the database with its WAL and shared-memory files, the index files,
a Milvus Lite file kept in the folder, temporaries) are overwritten with zeros and deleted
(:func:`.wipe.wipe_path`); server indexes drop their table or collection. Anything else in the
folder is not the gallery's and is left, but scanned: for every subject's name, every source
path and photo sha256, the pseudonym key, and, when such files exist, every template's
float32 bytes and every crop. The folder is removed when nothing is left in it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Unsupported
from .core import DB_NAME, INDEX_FILES, GalleryCore
from .index import SERVER_BACKENDS
from .store import VECTOR_TABLES
from .wipe import wipe_path

__all__ = ["DestroyReport", "destroy"]


@dataclass(frozen=True)
class DestroyReport:
    """What ``destroy`` removed and what its scan found.

    ``removed``: ``(file name, bytes)`` of each gallery file zeroed and deleted; ``dropped``:
    server tables/collections dropped; ``remaining``: files left under the folder (not the
    gallery's), each scanned; ``traces``: ``"<file>: <what>"`` for every piece of the gallery
    the scan found in them (empty: nothing left); ``folder_removed``: the folder was empty
    and is gone; ``needles``: how many distinct byte strings the scan looked for.
    """

    path: str
    removed: tuple[tuple[str, int], ...]
    dropped: tuple[str, ...]
    remaining: tuple[str, ...]
    traces: tuple[str, ...]
    folder_removed: bool
    needles: int

    @property
    def clean(self) -> bool:
        return not self.traces

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "removed": [{"file": n, "bytes": b} for n, b in self.removed], "dropped": list(self.dropped),
            "remaining": list(self.remaining), "traces": list(self.traces), "folder_removed": self.folder_removed,
            "needles": self.needles, "clean": self.clean,
        }


def destroy(path: str | os.PathLike[str]) -> DestroyReport:
    """Destroy the gallery in ``path`` (see the module docstring). Other processes must have
    closed it: one that still writes would re-create files."""
    g = GalleryCore(path)
    folder = g.path
    try:
        own = _own_files(g)
        others = [p for p in folder.rglob("*") if p.is_file() and p not in own and not any(o in p.parents for o in own)]
        needles = _needles(g, with_vectors=bool(others))
        dropped: list[str] = []
        if g.index_backend in SERVER_BACKENDS:  # an embedded index is one of the folder's files
            for mirror in g.mirrors.values():
                drop = getattr(mirror.index, "drop", None)
                if drop is None:
                    raise Unsupported(f"the {g.index_backend} index backend cannot be dropped: remove its data by hand")
                dropped.extend(drop())
    finally:
        g.store.close()
        for mirror in g.mirrors.values():
            close = getattr(mirror.index, "close", None)
            if close is not None:
                close()
    removed = []
    for file in sorted(own):
        if file.exists():
            removed.append((file.name, wipe_path(file)))
    remaining = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    traces = [f"{p}: {what}" for p in remaining for what in _found(p.read_bytes(), needles)]
    folder_removed = False
    if folder.exists() and not any(folder.iterdir()):
        folder.rmdir()
        folder_removed = True
    return DestroyReport(str(folder), tuple(removed), tuple(dropped), tuple(map(str, remaining)), tuple(traces),
                         folder_removed, len(needles))


def _own_files(g: GalleryCore) -> set[Path]:
    """The files the gallery itself keeps in its folder."""
    folder = g.path
    names = [DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", *INDEX_FILES.values()]
    own = {folder / n for n in names if (folder / n).exists()}
    own |= {p for p in folder.glob("*.tmp") if p.is_file()}
    if g.index_backend == "milvus" and g.index_uri and "://" not in g.index_uri and not Path(g.index_uri).is_absolute():
        lite = folder / g.index_uri  # a Milvus Lite file in the folder, with its lock file
        own |= {p for p in (lite, lite.with_name(f".{lite.name}.lock")) if p.exists()}
    return own


def _needles(g: GalleryCore, *, with_vectors: bool) -> dict[bytes, str]:
    """Byte strings that must not survive, each with what it is (names, paths and hashes as
    UTF-8; with ``with_vectors`` also every template and opt-out vector and every crop)."""
    needles: dict[bytes, str] = {g.store.meta("pseudonym_key").encode(): "the pseudonym key"}
    for template in g.store.templates():
        needles[template.subject.encode()] = f"subject name {template.subject!r}"
        needles[template.source_sha256.encode()] = "a photo sha256"
        if template.source_path:
            needles[template.source_path.encode()] = "a source path"
    for subject in g.store.subjects():
        needles[subject.name.encode()] = f"subject name {subject.name!r}"
    for record in g.store.optouts():
        needles[record.source_sha256.encode()] = "an opt-out photo sha256"
    if with_vectors:
        for table in VECTOR_TABLES:
            for _, vectors in g.store.iter_vectors(table):
                for vector in vectors:
                    needles[vector.astype("<f4").tobytes()] = f"a vector of {table}"
        for template in g.store.templates():
            crop = g.store.crop(template.id)
            if crop:
                needles[crop] = "a face crop"
    return needles


def _found(data: bytes, needles: dict[bytes, str]) -> list[str]:
    return sorted({what for needle, what in needles.items() if needle in data})
