"""What a gallery is given: an image (read and embedded by a pipeline), or faces that already
carry templates (:class:`EmbeddedImage`, or one :class:`~countenance.faces.Face`).

Either way the gallery works on an :class:`EmbeddedImage`: the faces of one image, largest
first, with the sha256 that the audit log and the templates' provenance record.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import InvalidArgument, TemplateMismatch
from ..faces import Box, Face, ModelSpec
from ..hashing import sha256_bytes, sha256_file

__all__ = ["FacePipeline", "EmbeddedImage", "GalleryImage", "read_image", "source_of", "crop_jpeg"]


class FacePipeline(Protocol):
    """What a gallery needs from a pipeline (:class:`countenance.Pipeline` is one)."""

    @property
    def spec(self) -> ModelSpec: ...

    def load(self, image: Any) -> np.ndarray:
        """The image as ``(H, W, 3) uint8`` RGB."""
        ...

    def embed(self, image: Any) -> list[Face]:
        """Every face with its template, largest first."""
        ...


@dataclass(frozen=True, eq=False)
class EmbeddedImage:
    """The faces of one image, already embedded (by a pipeline, a cache, another process).

    ``faces``: largest first, each with a template of the gallery's model. ``sha256``: of the
    image file or bytes (the provenance and audit record; never the image itself). ``path``:
    the absolute path of the file, or None. ``pixels``: ``(H, W, 3) uint8`` RGB, used only to
    keep an enrolment crop; None keeps no crop.
    """

    faces: tuple[Face, ...]
    sha256: str
    path: str | None = None
    pixels: np.ndarray | None = None

    @property
    def label(self) -> str:
        """How errors name this image: its path, or ``"<image>"``."""
        return self.path or "<image>"

    @classmethod
    def from_pipeline(cls, pipeline: FacePipeline, image: Any, *, sha256: str | None = None) -> EmbeddedImage:
        """Read ``image`` (a path, encoded bytes or an ``(H, W, 3)`` array) and embed every face.

        ``sha256``: of the file when the caller has it already. Raises ImageNotFound /
        InvalidImage naming the path, InvalidArgument for another type of input.
        """
        if isinstance(image, (str, os.PathLike)):
            path = Path(image)
            pixels = pipeline.load(path)  # raises ImageNotFound / InvalidImage naming the path
            return cls(tuple(pipeline.embed(pixels)), sha256 or sha256_file(path), os.path.abspath(path), pixels)
        if isinstance(image, (bytes, bytearray, memoryview)):
            data = bytes(image)
            pixels = pipeline.load(data)
            return cls(tuple(pipeline.embed(pixels)), sha256_bytes(data), None, pixels)
        if isinstance(image, np.ndarray):
            pixels = pipeline.load(image)
            return cls(tuple(pipeline.embed(pixels)), sha256_bytes(np.ascontiguousarray(pixels).tobytes()), None, pixels)
        raise InvalidArgument(f"expected a path, bytes, an image array or faces with templates, got {type(image).__name__}")

    @classmethod
    def from_face(cls, face: Face) -> EmbeddedImage:
        """One face with its template and no image: its ``sha256`` is that of the template's
        little-endian float32 bytes (the closest thing to a source it has)."""
        if not isinstance(face, Face) or face.template is None:
            raise InvalidArgument("a face given to a gallery needs its template (use embed(), not detect())")
        vector = np.ascontiguousarray(face.template.vector, dtype="<f4")
        return cls((face,), sha256_bytes(vector.tobytes()))


#: Anything the gallery's enrol/identify/verify/opt-out accept as one image.
GalleryImage = str | os.PathLike[str] | bytes | bytearray | memoryview | np.ndarray | EmbeddedImage | Face


def source_of(image: GalleryImage) -> tuple[str | None, str | None]:
    """``(absolute path, sha256)`` of an image known before any embedding; ``(None, None)``
    when it needs reading first (bytes, arrays, a path that is not a file)."""
    if isinstance(image, EmbeddedImage):
        return image.path, image.sha256
    if isinstance(image, Face):
        return None, EmbeddedImage.from_face(image).sha256
    if isinstance(image, (str, os.PathLike)) and Path(image).is_file():
        return os.path.abspath(image), sha256_file(image)  # as typed, made absolute: not through symlinks
    return None, None


def read_image(image: GalleryImage, pipeline: Callable[[], FacePipeline], model: str, *, sha256: str | None = None) -> EmbeddedImage:
    """``image`` as an :class:`EmbeddedImage` whose faces all carry templates of ``model``.

    ``pipeline`` is called only when the image must be read and embedded. Raises
    TemplateMismatch for templates of another model.
    """
    if isinstance(image, EmbeddedImage):
        embedded = image
    elif isinstance(image, Face):
        embedded = EmbeddedImage.from_face(image)
    else:
        embedded = EmbeddedImage.from_pipeline(pipeline(), image, sha256=sha256)
    for face in embedded.faces:
        if face.template is None or face.template.model != model:
            got = face.template.model if face.template is not None else "no template"
            raise TemplateMismatch(f"this gallery holds templates of {model!r}, got {got!r}; move the gallery to "
                                   "another model with: countenance models migrate --to MODEL")
    return embedded


def crop_jpeg(pixels: np.ndarray, box: Box, *, margin: float = 0.25, max_side: int = 160) -> bytes:
    """A JPEG of the face box grown by ``margin`` on each side, at most ``max_side`` px."""
    from PIL import Image

    height, width = pixels.shape[:2]
    grow_x, grow_y = box.width * margin, box.height * margin
    left, top = int(max(0, box.left - grow_x)), int(max(0, box.top - grow_y))
    right, bottom = int(min(width, box.right + grow_x)), int(min(height, box.bottom + grow_y))
    image = Image.fromarray(pixels[top:max(bottom, top + 1), left:max(right, left + 1)])
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()
