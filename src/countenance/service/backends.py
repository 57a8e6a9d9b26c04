"""The backend names a user may choose, read from the registries (``detection.DETECTORS``,
``embedding.EMBEDDERS``, ``gallery.INDEX_BACKENDS``): the CLI's and the REST app's choices, so a
new backend needs no change there. A name outside them is UnknownBackend naming the choices."""

from __future__ import annotations

from ..detection import AUTO, DETECTORS
from ..embedding import ARCFACE_PREFIX, EMBEDDERS
from ..errors import UnknownBackend
from ..gallery.index import INDEX_BACKENDS

__all__ = ["DETECTOR_CHOICES", "EMBEDDER_CHOICES", "ARCFACE_FORM", "INDEX_CHOICES", "check_detector", "check_embedder",
           "check_index"]

#: ``auto`` (YuNet when its model is installed, else HOG) and every registered detector.
DETECTOR_CHOICES: tuple[str, ...] = (AUTO, *sorted(DETECTORS))
#: ``auto`` (dlib's model, ONNX when it runs) and every registered embedder; or :data:`ARCFACE_FORM`.
EMBEDDER_CHOICES: tuple[str, ...] = (AUTO, *sorted(EMBEDDERS))
#: An ArcFace-style ONNX model file (its spec in the JSON sidecar beside it).
ARCFACE_FORM = f"{ARCFACE_PREFIX}PATH"
INDEX_CHOICES: tuple[str, ...] = tuple(sorted(INDEX_BACKENDS))


def _check(kind: str, name: str, choices: tuple[str, ...], *more: str) -> str:
    if name in choices:
        return name
    raise UnknownBackend(f"unknown {kind} {name!r}; choose one of {', '.join((*choices, *more))}")


def check_detector(name: str) -> str:
    """``name`` if it is one of :data:`DETECTOR_CHOICES`; UnknownBackend naming them otherwise."""
    return _check("detector", name, DETECTOR_CHOICES)


def check_embedder(name: str) -> str:
    """``name`` if it is one of :data:`EMBEDDER_CHOICES` or ``arcface:<path>``; UnknownBackend otherwise."""
    if name.startswith(ARCFACE_PREFIX) and len(name) > len(ARCFACE_PREFIX):
        return name
    return _check("embedder", name, EMBEDDER_CHOICES, ARCFACE_FORM)


def check_index(name: str) -> str:
    """``name`` if it is one of :data:`INDEX_CHOICES`; UnknownBackend naming them otherwise."""
    return _check("index backend", name, INDEX_CHOICES)
