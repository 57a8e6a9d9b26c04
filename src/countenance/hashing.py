"""The one sha256 helper for files and bytes (gallery sources, model files, caches)."""

from __future__ import annotations

import hashlib
import os

__all__ = ["sha256_file", "sha256_bytes"]

_CHUNK_BYTES = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Lowercase hex sha256 of a file's bytes, read in 1 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Lowercase hex sha256 of in-memory bytes."""
    return hashlib.sha256(data).hexdigest()
