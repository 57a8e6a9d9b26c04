"""Test helpers around a real pipeline (no fakes): a cache of embedded images keyed by content."""

from __future__ import annotations

import hashlib

import numpy as np


def image_key(pixels: np.ndarray) -> str:
    """A key naming an image by its content: sha256 of its bytes, with its shape and dtype.

    (``str(array)`` is not one: NumPy prints large arrays as their corners, so two different
    photos, e.g. obama at 240p and at 720p, can print the same.)
    """
    array = np.ascontiguousarray(pixels)
    return f"{hashlib.sha256(array.tobytes()).hexdigest()}-{array.shape}-{array.dtype}"


class CachingPipeline:
    """The real pipeline, embedding each distinct image once (by :func:`image_key`)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cache: dict[str, list] = {}

    @property
    def spec(self):
        return self.inner.spec

    def load(self, image):
        return self.inner.load(image)

    def embed(self, image):
        pixels = self.inner.load(image)
        key = image_key(pixels)
        if key not in self.cache:
            self.cache[key] = self.inner.embed(pixels)
        return self.cache[key]
