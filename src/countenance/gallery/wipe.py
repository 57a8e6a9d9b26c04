"""Deleting a file so that a program reading the disk through the file system cannot find its
bytes: overwrite it with zeros, fsync, then unlink. What the storage keeps below the file
system (journal copies, SSD wear levelling, snapshots, backups) is out of a program's reach:
use an encrypted volume for galleries (docs/GALLERY.md)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["wipe_file", "wipe_path"]

_CHUNK = 1 << 20


def wipe_file(path: Path) -> int:
    """Overwrite ``path`` with zeros, fsync it and delete it; returns its size in bytes."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        zeros = bytes(min(size, _CHUNK))
        left = size
        while left > 0:
            left -= handle.write(zeros[:min(left, _CHUNK)])
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
    return size


def wipe_path(path: Path) -> int:
    """:func:`wipe_file` for a file, or for every file under a folder (then the folder is
    removed: a Milvus Lite "file" is one); returns the bytes wiped."""
    if not path.is_dir() or path.is_symlink():
        return wipe_file(path)
    size = sum(wipe_path(child) for child in sorted(path.iterdir()))
    path.rmdir()
    return size
