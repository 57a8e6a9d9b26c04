"""Every error Countenance raises on purpose.

All derive from :class:`CountenanceError`, so a caller (or the CLI) can catch one
type and show ``str(error)``: a one-line message that names the input and the reason.
"""

from __future__ import annotations

import os

__all__ = [
    "CountenanceError",
    "ImageError",
    "ImageNotFound",
    "InvalidImage",
    "ImageTooLarge",
    "NoFaceFound",
    "TemplateMismatch",
    "InvalidPairsFile",
    "UnknownBackend",
]


class CountenanceError(Exception):
    """Base class of every error raised by Countenance."""


class ImageError(CountenanceError):
    """An image could not be used. ``path`` is the file (or ``"<bytes>"``), ``reason`` why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageNotFound(ImageError, FileNotFoundError):
    """The path does not exist."""

    def __init__(self, path: str | os.PathLike[str], reason: str = "no such file") -> None:
        ImageError.__init__(self, path, reason)


class InvalidImage(ImageError):
    """The file exists but is not a readable image: empty, corrupt, truncated, a folder, not an image."""


class ImageTooLarge(ImageError):
    """The image has more pixels than allowed (a guard against decompression bombs)."""


class NoFaceFound(CountenanceError):
    """An operation that needs a face (e.g. ``verify``) found none in ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: no face found")


class TemplateMismatch(CountenanceError):
    """Two templates from different models (or of different sizes) cannot be compared."""


class InvalidPairsFile(CountenanceError):
    """A pairs file (LFW pairs.txt or a pairs CSV) is malformed; the message names file and line."""


class UnknownBackend(CountenanceError):
    """A detector or embedder name that is not registered."""
