"""Stage 2: align each face and turn it into a template (a fixed-size vector).

An :class:`Embedder` owns its alignment (dlib's 150 px chip, ArcFace's 112 px crop, ...)
because the alignment is part of what the model was trained on. Its :class:`ModelSpec`
says how its templates are compared.

Backends by name (:func:`make_embedder`): ``dlib`` (dlib's ResNet run by dlib), ``dlib-onnx``
(the same network run by ONNX Runtime, ~12x faster; same :class:`ModelSpec`, so the two
give interchangeable templates), ``arcface:<path to model.onnx>`` (any ArcFace-style ONNX
model described by a JSON sidecar, see :mod:`countenance.backends.arcface_onnx`), and
``"auto"``: ``dlib-onnx`` when ONNX Runtime is there and the conversion works, else ``dlib``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np

from .backends._ort import check_threads
from .backends.precision import AUTO as PRECISION_AUTO
from .backends.precision import resolve_precision
from .errors import InvalidArgument, UnknownBackend
from .faces import Face, ModelSpec, Template

__all__ = [
    "Embedder", "ChipEmbedder", "EMBEDDERS", "AUTO", "ARCFACE_PREFIX", "make_embedder", "resolve_embedder_name", "template_spec",
    "template_model", "embed_faces", "embed_faces_many",
]

_log = logging.getLogger(__name__)


class Embedder(Protocol):
    """An embedding backend."""

    spec: ModelSpec

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Templates for ``faces`` of ``image`` (aligned from their landmarks/keypoints):
        ``(N, spec.embedding_size) float32``, one row per face, in order."""
        ...


class ChipEmbedder(Embedder, Protocol):
    """An embedder whose work splits into cutting chips from an image and running the network
    on chips (``dlib-onnx``): :func:`embed_faces_many` then runs the faces of many images in
    one batch. ``num_jitters`` must be 0 for that (jittered templates are made per face)."""

    num_jitters: int

    def chips(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Aligned chips of ``faces``: ``(N, S, S, 3) uint8``."""
        ...

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Templates of ready-made chips: ``(N, spec.embedding_size) float32``."""
        ...


def _dlib(threads: int, num_jitters: int, precision: str = PRECISION_AUTO) -> Embedder:
    from .backends.dlib_backend import DlibResNetEmbedder

    return DlibResNetEmbedder(num_jitters=num_jitters)


def _dlib_onnx(threads: int, num_jitters: int, precision: str = PRECISION_AUTO) -> Embedder:
    from .backends.dlib_onnx_embedder import DlibOnnxEmbedder

    return DlibOnnxEmbedder(threads=threads, num_jitters=num_jitters, precision=precision)


#: Embedding backends by name: each entry builds one given the number of intra-op threads
#: (used by ONNX backends; dlib runs on one thread and ignores it), of jitters (test-time
#: averaging over perturbed chips; 0 = none) and the arithmetic precision (dlib-onnx; dlib
#: is float32 and ignores it: see :mod:`countenance.backends.precision`).
EMBEDDERS: dict[str, Callable[[int, int, str], Embedder]] = {
    "dlib": _dlib,
    "dlib-onnx": _dlib_onnx,
}

#: The embedder name that picks the fastest working backend for dlib's model.
AUTO = "auto"
#: ``arcface:<path>`` names an ArcFace-style ONNX model file (spec in its JSON sidecar).
ARCFACE_PREFIX = "arcface:"


_UNKNOWN = "unknown embedder {name!r}; choose one of {known}, 'auto' or 'arcface:/path/to/model.onnx'"
# What "auto" became in this process (decided once: see resolve_embedder_name).
_auto: dict[str, str] = {}


def _decide_auto(threads: int, num_jitters: int, precision: str = PRECISION_AUTO) -> tuple[str, Embedder]:
    """``("dlib-onnx", it)`` when it builds here, else (warned) ``("dlib", it)``: the same model,
    so the templates are the same either way. The one place "auto" is decided."""
    try:
        embedder, name = _dlib_onnx(threads, num_jitters, precision), "dlib-onnx"
    except Exception as error:  # noqa: BLE001 - any failure of the optional fast path (ONNX Runtime raises plain Exceptions)
        _log.warning("dlib-onnx embedder unavailable (%s); using dlib's own, slower ResNet", error)
        embedder, name = _dlib(threads, num_jitters), "dlib"
    _auto[AUTO] = name
    return name, embedder


def resolve_embedder_name(name: str) -> str:
    """``name`` with ``"auto"`` decided (``dlib-onnx`` when ONNX Runtime works and the model
    converts, else ``dlib``; tried once per process, by building it); other names as they are."""
    if name != AUTO:
        return name
    return _auto.get(AUTO) or _decide_auto(1, 0)[0]


def make_embedder(name: str, *, threads: int = 1, num_jitters: int = 0, precision: str = PRECISION_AUTO) -> Embedder:
    """Build the embedding backend called ``name`` (see the module doc); ONNX ones use ``threads``.

    ``num_jitters`` > 0 averages each template over that many perturbed copies of the face
    (dlib and dlib-onnx only; N times slower, slightly more accurate). ``precision``: ``auto``,
    ``f32`` or ``bf16`` for dlib-onnx (:mod:`countenance.backends.precision`); other backends
    run float32.

    ``"auto"``: see :func:`resolve_embedder_name` (a failing dlib-onnx falls back to dlib).
    """
    check_threads(threads)
    if name.startswith(ARCFACE_PREFIX):
        from .backends.arcface_onnx import ArcFaceOnnxEmbedder

        path = name[len(ARCFACE_PREFIX) :]
        if not path:
            raise UnknownBackend(f"embedder {name!r} names no model; use arcface:/path/to/model.onnx")
        if num_jitters:
            raise InvalidArgument("num_jitters is supported by the dlib and dlib-onnx embedders only")
        return ArcFaceOnnxEmbedder(path, threads=threads)
    precision = resolve_precision(precision)  # an unavailable bf16 is an error, not a fallback
    if name == AUTO:
        # Building is deciding: a dlib-onnx that fails now (its cache unwritable, say) still falls
        # back to dlib, whatever an earlier call in this process decided.
        return _decide_auto(threads, num_jitters, precision)[1]
    try:
        factory = EMBEDDERS[name]
    except KeyError:
        raise UnknownBackend(_UNKNOWN.format(name=name, known=", ".join(sorted(EMBEDDERS)))) from None
    return factory(threads, num_jitters, precision)


def template_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of the templates embedder ``name`` gives, without loading it:
    ``auto``, ``dlib`` and ``dlib-onnx`` all give ``dlib-resnet-v1`` templates; an
    ``arcface:<path>`` model's spec is read from its sidecar, named by its file's hash."""
    if name.startswith(ARCFACE_PREFIX):
        from .backends.arcface_onnx import ArcFaceSpec, sidecar_path, template_model_name

        path = name[len(ARCFACE_PREFIX) :]
        model = template_model_name(path)  # ModelError when the file or its sidecar is missing
        return replace(ArcFaceSpec.from_json(sidecar_path(path)), name=model)
    if name != AUTO and name not in EMBEDDERS:
        raise UnknownBackend(_UNKNOWN.format(name=name, known=", ".join(sorted(EMBEDDERS))))
    from .backends.dlib_backend import DLIB_RESNET_SPEC

    return DLIB_RESNET_SPEC


def template_model(name: str) -> str:
    """The model name (``spec.name``) the templates of embedder ``name`` carry, without loading
    it (see :func:`template_spec`)."""
    return template_spec(name).name


def embed_faces(embedder: Embedder, image: np.ndarray, faces: list[Face]) -> list[Face]:
    """``faces`` with their ``template`` set, in one batched call to the embedder.

    Every face must have landmarks (``FaceDetector`` sets them).
    """
    if not faces:
        return []
    missing = [i for i, face in enumerate(faces) if face.landmarks is None]
    if missing:
        raise InvalidArgument(f"faces {missing} have no landmarks; detect them with FaceDetector first")
    vectors = embedder.embed(image, faces)
    name = embedder.spec.name
    return [replace(face, template=Template(vector, name)) for face, vector in zip(faces, vectors)]


def _is_chip_embedder(embedder: Embedder) -> bool:
    return (callable(getattr(embedder, "chips", None)) and callable(getattr(embedder, "embed_chips", None))
            and getattr(embedder, "num_jitters", 0) == 0)


def embed_faces_many(embedder: Embedder, items: list[tuple[np.ndarray, list[Face]]]) -> list[list[Face]]:
    """:func:`embed_faces` for many images at once: ``items`` is ``[(image, faces)]``, the
    answer one list of faces with templates per item, in order.

    A :class:`ChipEmbedder` (``dlib-onnx``) cuts every image's chips first and runs the
    network once over all of them (batches of its ``batch_size``), which costs less per face
    than one image at a time; the templates are the same as :func:`embed_faces` gives (up to
    float rounding: cosine >= 0.9999). Other embedders run image by image.
    """
    if not _is_chip_embedder(embedder):
        return [embed_faces(embedder, image, faces) for image, faces in items]
    for _, faces in items:
        if any(face.landmarks is None for face in faces):
            raise InvalidArgument("a face has no landmarks; detect faces with FaceDetector first")
    chips = [embedder.chips(image, faces) for image, faces in items if faces]  # type: ignore[attr-defined]
    if not chips:
        return [[] for _ in items]
    vectors = embedder.embed_chips(np.concatenate(chips))  # type: ignore[attr-defined]
    name = embedder.spec.name
    out: list[list[Face]] = []
    start = 0
    for _, faces in items:
        out.append([replace(face, template=Template(vector, name))
                    for face, vector in zip(faces, vectors[start : start + len(faces)])])
        start += len(faces)
    return out
