"""Countenance: consent-first, offline face recognition.

    >>> import countenance
    >>> faces = countenance.embed("photo.jpg")          # detect, align, embed
    >>> countenance.compare(faces[0], other_faces[0])    # distance, similarity, same?
"""

from . import errors
from .faces import Box, Comparison, Face, ModelSpec, Template
from .image import load_image
from .pipeline import Pipeline, compare, detect, embed

__all__ = [
    "Box",
    "Comparison",
    "Face",
    "ModelSpec",
    "Pipeline",
    "Template",
    "compare",
    "detect",
    "embed",
    "errors",
    "load_image",
]
__version__ = "0.1.0"
