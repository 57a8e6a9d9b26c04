"""Which pipeline a measurement runs: detector (and its working size) x embedder (and precision).

:class:`PipelineChoice` is a small picklable value (it crosses into worker processes); the
models are built from it in each process by :func:`build_face_detector` and
:func:`build_embedder`. Embedders are named as everywhere
(:func:`countenance.embedding.make_embedder`: the registry's names and ``arcface:<model.onnx>``),
plus ``dlib-onnx-int8``, the measurement's own int8 copy of the ``dlib-onnx`` graph; their spec
is the built embedder's own. ONNX detector files come from the installed model registry when
they are installed there, else from ``<shared>/models`` (the project's test data folder);
nothing is downloaded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument, ModelError

if TYPE_CHECKING:
    from ..detection import FaceDetector
    from ..embedding import Embedder
    from ..faces import ModelSpec
    from ..pipeline import Pipeline

__all__ = [
    "PipelineChoice", "DETECTORS", "INT8", "detector_model_path", "build_face_detector", "build_embedder",
    "embedding_spec", "measure_cache_dir",
]

#: Detectors a measurement can run: dlib's HOG and the two ONNX detectors with a working size.
DETECTORS = ("hog", "yunet", "ultraface")
#: The int8 copy of ``dlib-onnx`` (made by :func:`countenance.evaluate.quantize.ensure_int8_model`).
INT8 = "dlib-onnx-int8"

# Registry name and file under <shared>/models for the ONNX detectors.
_YUNET = ("yunet", "yunet/face_detection_yunet_2023mar.onnx")
_ULTRAFACE = {
    320: ("ultraface-rfb-320", "ultraface/version-RFB-320.onnx"),
    640: ("ultraface-rfb-640", "ultraface/version-RFB-640.onnx"),
}
_DEFAULT_SIZE = {"yunet": 640, "ultraface": 320}


@dataclass(frozen=True)
class PipelineChoice:
    """One pipeline: ``detector`` (see :data:`DETECTORS`) at ``detector_size`` px, and ``embedder``.

    ``detector_size`` is YuNet's working long side (a multiple of 32; 640 by default) or
    UltraFace's model input width (320 or 640); None for HOG (which upsamples by its own
    policy). ``embedder``: a name of the embedder registry, ``arcface:<model.onnx>`` or
    :data:`INT8`; ``embedder_model`` is the ONNX file of :data:`INT8`; None otherwise.
    """

    detector: str = "yunet"
    embedder: str = "dlib-onnx"
    detector_size: int | None = None
    embedder_model: str | None = None

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise InvalidArgument(f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        _check_embedder(self.embedder)
        size = self.detector_size
        if self.detector == "hog":
            if size is not None:
                raise InvalidArgument("the hog detector takes no detector_size")
        else:
            size = _DEFAULT_SIZE[self.detector] if size is None else size
            if not isinstance(size, int) or size < 64 or size % 32:
                raise InvalidArgument(f"detector_size must be a multiple of 32 >= 64, got {size!r}")
            if self.detector == "ultraface" and size not in _ULTRAFACE:
                raise InvalidArgument(f"ultraface comes in input widths {sorted(_ULTRAFACE)}, got {size}")
            object.__setattr__(self, "detector_size", size)
        if (self.embedder == INT8) != (self.embedder_model is not None):
            raise InvalidArgument("embedder_model is the int8 ONNX file: required by dlib-onnx-int8, and only by it")

    @property
    def name(self) -> str:
        """e.g. ``yunet-320+dlib-onnx-int8``: the key of caches and report rows (an ArcFace-style
        model by its file's stem and a hash of its path, so the key is one file name)."""
        detector = self.detector if self.detector_size is None else f"{self.detector}-{self.detector_size}"
        embedder = self.embedder
        from ..embedding import ARCFACE_PREFIX

        if embedder.startswith(ARCFACE_PREFIX):
            from ..hashing import sha256_bytes

            path = embedder[len(ARCFACE_PREFIX) :]
            embedder = f"arcface-{Path(path).stem}-{sha256_bytes(path.encode())[:8]}"
        return f"{detector}+{embedder}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "detector": self.detector, "detector_size": self.detector_size, "embedder": self.embedder}

    @property
    def fingerprint(self) -> str:
        """The cache key of this pipeline's templates (a :class:`~countenance.ingest.PipelineSource`):
        the detector and its size, the embedder and the model its templates carry (an
        ``arcface:`` model by its file's hash; the int8 model by its file's stem)."""
        from ..embedding import ARCFACE_PREFIX, template_model

        detector = self.detector if self.detector_size is None else f"{self.detector}-{self.detector_size}"
        if self.embedder == INT8:
            return f"measure:{detector}+{INT8};model={Path(self.embedder_model or '').stem}"
        embedder = "arcface" if self.embedder.startswith(ARCFACE_PREFIX) else self.embedder
        return f"measure:{detector}+{embedder};model={template_model(self.embedder)}"

    def build(self) -> Pipeline:
        """The pipeline of this choice (default upsampling, rotations tried): what each worker of
        the batch-embedding layer builds."""
        from ..pipeline import Pipeline

        backend = "hog" if self.detector == "hog" else build_face_detector(self).backend
        return Pipeline(detector=backend, embedder=build_embedder(self))


def detector_model_path(choice: PipelineChoice) -> Path | None:
    """The ONNX file of ``choice``'s detector (None for HOG); ModelError when it is nowhere."""
    if choice.detector == "hog":
        return None
    from ..datasets import shared_dir
    from ..model_registry import installed_model_path

    registry_name, shared_file = _YUNET if choice.detector == "yunet" else _ULTRAFACE[choice.detector_size or 320]
    try:
        return installed_model_path(registry_name)
    except ModelError:
        path = shared_dir() / "models" / shared_file
        if path.is_file():
            return path
        raise ModelError(
            f"detector {choice.detector} needs {registry_name} (countenance models pull {registry_name}) or {path}"
        ) from None


def build_face_detector(choice: PipelineChoice, *, threads: int = 1) -> FaceDetector:
    """A :class:`~countenance.detection.FaceDetector` (default upsampling, rotations tried) for ``choice``."""
    from ..detection import FaceDetector

    path = detector_model_path(choice)
    if choice.detector == "hog":
        return FaceDetector("hog", threads=threads)
    if choice.detector == "yunet":
        from ..backends.yunet import YuNetDetector

        backend = YuNetDetector(path, input_long_side=choice.detector_size or 640, threads=threads)
    else:
        from ..backends.ultraface import UltraFaceDetector

        size = choice.detector_size or 320
        backend = UltraFaceDetector(path, model=_ULTRAFACE[size][0], input_long_side=size, threads=threads)
    return FaceDetector(backend, threads=threads)


def build_embedder(choice: PipelineChoice, *, threads: int = 1) -> Embedder:
    """The embedder of ``choice`` (ONNX ones with ``threads`` intra-op threads)."""
    from ..embedding import make_embedder

    if choice.embedder == INT8:
        from ..backends.dlib_onnx_embedder import DlibOnnxEmbedder

        return DlibOnnxEmbedder(model_path=choice.embedder_model, threads=threads)
    return make_embedder(choice.embedder, threads=threads)


@functools.lru_cache(maxsize=32)
def embedding_spec(choice: PipelineChoice) -> ModelSpec:
    """The :class:`~countenance.faces.ModelSpec` of ``choice``'s templates: its embedder's own
    (built once per choice, as the registry builds it; int8 templates carry the fp32 graph's spec)."""
    return build_embedder(choice).spec


def _check_embedder(name: str) -> None:
    """InvalidArgument (naming the choices) unless ``name`` is one the embedder registry builds or :data:`INT8`."""
    from ..embedding import ARCFACE_PREFIX, AUTO, EMBEDDERS

    if name in EMBEDDERS or name == INT8 or (name.startswith(ARCFACE_PREFIX) and len(name) > len(ARCFACE_PREFIX)):
        return
    known = ", ".join([*sorted(EMBEDDERS), INT8, f"{ARCFACE_PREFIX}<model.onnx>"])
    why = " (measurements name the backend they run)" if name == AUTO else ""
    raise InvalidArgument(f"embedder must be one of {known}, got {name!r}{why}")


def measure_cache_dir(explicit: str | Path | None = None) -> Path:
    """Where measurements cache templates and models: ``explicit``, else ``<cache_dir>/measure``."""
    if explicit is not None:
        return Path(explicit)
    from ..paths import cache_dir

    return cache_dir() / "measure"
