"""What the batch-embedding layer takes and gives: one job per image, one record per image, one
record per face (the package's one ``FaceRecord``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..faces import Box

__all__ = ["ImageJob", "FaceRecord", "ImageRecord"]


@dataclass(frozen=True)
class ImageJob:
    """One image to embed: ``path``; ``name`` the caller's key for it (default: the path);
    ``context`` what the face choice needs for this image (e.g. measure's anchor face), which
    must follow from the file's content (the cache is keyed by content); ``data`` the image's
    bytes when it is not a file (e.g. a stored face crop: ``path`` then only names it; such a
    job is never cached)."""

    path: str
    name: str = ""
    context: Any = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", str(self.path))
        if not self.name:
            object.__setattr__(self, "name", self.path)


@dataclass(frozen=True, eq=False)
class FaceRecord:
    """One embedded face: ``box`` in the pixels of the image the pipeline saw, ``vector``
    ``(D,) float32`` of model ``model``, ``landmarks`` ``(5, 2) float32`` (None when the
    detector gave none), ``rotation`` as :attr:`countenance.Face.rotation`; ``how`` the face
    was found (``detected``, or a fallback named by the face choice); ``extras`` what the
    face stages added, by stage name (e.g. ``sharpness``, ``face_hash``, ``thumbnail``)."""

    box: Box
    detection_score: float
    vector: np.ndarray
    model: str
    landmarks: np.ndarray | None = None
    rotation: int = 0
    how: str = "detected"
    extras: Mapping[str, Any] = field(default_factory=dict)  # a plain dict: it crosses process boundaries


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """Everything the layer found in one image: its faces (in the face choice's order; largest
    first for all faces), size in pixels and EXIF ``orientation`` (1..8), or ``error`` (then
    ``readable`` says whether the file itself could be read: False for a missing file or not
    an image, True when it was read and held no usable face). ``sha256`` is the file's content
    hash when a cache was used; ``seconds`` the time spent on it (0.0 from the cache)."""

    path: str
    name: str
    faces: tuple[FaceRecord, ...] = ()
    width_px: int = 0
    height_px: int = 0
    orientation: int = 1
    error: str | None = None
    readable: bool = True
    sha256: str = ""
    seconds: float = 0.0

    @property
    def model(self) -> str:
        """The template model of the faces ("" when there is none)."""
        return self.faces[0].model if self.faces else ""

    @property
    def face(self) -> FaceRecord | None:
        """The first face (the chosen one, for a choice of one face), or None."""
        return self.faces[0] if self.faces else None

    @property
    def vector(self) -> np.ndarray | None:
        """The first face's template ``(D,) float32``, or None when there is no face."""
        return self.faces[0].vector if self.faces else None

    @property
    def how(self) -> str:
        """How the first face was found (``detected``, a choice's fallback), or ``failed``."""
        return self.faces[0].how if self.faces else "failed"
