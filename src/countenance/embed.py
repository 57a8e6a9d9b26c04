"""Stage 2: align each face and turn it into a template (a fixed-size vector).

An :class:`Embedder` owns its alignment (dlib's 150 px chip, ArcFace's 112 px crop, ...)
because the alignment is part of what the model was trained on. Its :class:`ModelSpec`
says how its templates are compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np

from .backends.dlib_backend import DlibResNetEmbedder
from .errors import UnknownBackend
from .faces import Face, ModelSpec, Template

__all__ = ["Embedder", "EMBEDDERS", "make_embedder", "embed_faces"]


class Embedder(Protocol):
    """An embedding backend."""

    spec: ModelSpec

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Templates for ``faces`` of ``image`` (aligned from their landmarks/keypoints):
        ``(N, spec.embedding_size) float32``, one row per face, in order."""
        ...


#: Embedding backends by name.
EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "dlib": DlibResNetEmbedder,
}


def make_embedder(name: str) -> Embedder:
    """Build the embedding backend registered as ``name``."""
    try:
        factory = EMBEDDERS[name]
    except KeyError:
        raise UnknownBackend(f"unknown embedder {name!r}; choose one of {', '.join(sorted(EMBEDDERS))}") from None
    return factory()


def embed_faces(embedder: Embedder, image: np.ndarray, faces: list[Face]) -> list[Face]:
    """``faces`` with their ``template`` set, in one batched call to the embedder.

    Every face must have landmarks (``FaceDetector`` sets them).
    """
    if not faces:
        return []
    missing = [i for i, face in enumerate(faces) if face.landmarks is None]
    if missing:
        raise ValueError(f"faces {missing} have no landmarks; detect them with FaceDetector first")
    vectors = embedder.embed(image, faces)
    name = embedder.spec.name
    return [replace(face, template=Template(vector, name)) for face, vector in zip(faces, vectors)]
