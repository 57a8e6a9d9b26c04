"""The whole flow for one image: load -> detect (+ landmarks) -> align + embed -> faces.

:class:`PipelineConfig` is how a pipeline is described everywhere above this module: a frozen,
picklable value whose fields are :class:`Pipeline`'s own parameters, resolved once ("auto"
decided), with a :attr:`~PipelineConfig.fingerprint` that keys template caches.
:class:`Pipeline` holds the models (loaded once, in the constructor). It is not
thread-safe (dlib detectors are not): use one per thread or process. The module-level
:func:`detect`, :func:`embed` and :func:`compare` use :func:`default_pipeline`: one per
thread, built on that thread's first use.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields, replace

from .aligned import ALIGNED_ARCFACE112, AlignedFaces
from .decide import compare_templates
from .detection import BoxDetector, FaceDetector, Upsample, largest_face, resolve_detector_name
from .backends.precision import AUTO as PRECISION_AUTO
from .backends.precision import F32, check_precision, resolve_precision
from .embedding import AUTO as AUTO_EMBEDDER
from .embedding import Embedder, embed_faces, make_embedder, resolve_embedder_name, template_model
from .errors import InvalidArgument, NoFaceFound
from .faces import Comparison, Face, ModelSpec, Template
from .image import DEFAULT_MAX_PIXELS, ImageInput, load_image

__all__ = ["PipelineConfig", "Pipeline", "default_pipeline", "detect", "embed", "compare"]


class Pipeline:
    """Detector + embedder, with the image loading policy.

    Parameters
    ----------
    detector: ``"auto"`` (default: ``"yunet"`` when its model is installed, else ``"hog"``),
        ``"hog"``, ``"cnn"``, ``"yunet"``, or a detector backend object; or
        ``"aligned-arcface112"``: the images are ArcFace-aligned 112x112 (or 112x96) face
        crops, nothing is detected (:class:`~countenance.aligned.AlignedFaces`; other sizes
        raise :class:`~countenance.errors.NotAlignedCrop`).
    embedder: ``"auto"`` (default: ``"dlib-onnx"`` when ONNX Runtime works, else ``"dlib"``;
        both give the same ``dlib-resnet-v1`` templates), ``"dlib"``, ``"dlib-onnx"``,
        ``"arcface:/path/to/model.onnx"``, or an embedder backend object.
    upsample, try_rotations: see :class:`~countenance.detection.FaceDetector`.
    max_pixels: images with more pixels are refused (decompression bomb guard).
    threads: intra-op threads of the ONNX backends built from names (1: all work on the
        calling thread; use more for one pipeline on a many-core machine, or keep 1 and run
        one pipeline per process).
    num_jitters: average each template over that many perturbed copies of the face (0: none;
        dlib and dlib-onnx only; N times the embedding cost for a little accuracy).
    precision: ``auto``, ``f32`` or ``bf16``: the dlib-onnx embedder's arithmetic (``auto``:
        bfloat16 where the CPU has it natively; see :mod:`countenance.backends.precision`).
    """

    def __init__(
        self,
        *,
        detector: str | BoxDetector = "auto",
        embedder: str | Embedder = "auto",
        upsample: Upsample = "auto",
        try_rotations: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int = 1,
        num_jitters: int = 0,
        precision: str = PRECISION_AUTO,
    ) -> None:
        self.face_detector: FaceDetector | AlignedFaces
        if detector == ALIGNED_ARCFACE112:
            self.face_detector = AlignedFaces()
        else:
            self.face_detector = FaceDetector(detector, upsample=upsample, try_rotations=try_rotations, threads=threads)
        if isinstance(embedder, str):
            self.embedder = make_embedder(embedder, threads=threads, num_jitters=num_jitters, precision=precision)
        else:
            self.embedder = embedder
        self.max_pixels = max_pixels

    @property
    def spec(self) -> ModelSpec:
        """The embedding model's spec: template size, metric and named thresholds."""
        return self.embedder.spec

    def load(self, image: ImageInput):
        return load_image(image, max_pixels=self.max_pixels)

    def detect(self, image: ImageInput) -> list[Face]:
        """Faces (box, landmarks, score) in ``image``, largest first, without templates."""
        return self.face_detector.detect(self.load(image))

    def embed(self, image: ImageInput) -> list[Face]:
        """Every face in ``image`` with its template, largest first; [] when there is none."""
        pixels = self.load(image)
        return embed_faces(self.embedder, pixels, self.face_detector.detect(pixels))

    def embed_largest(self, image: ImageInput) -> Face:
        """The largest face of ``image`` with its template; raises NoFaceFound if there is none."""
        pixels = self.load(image)
        face = largest_face(self.face_detector.detect(pixels))
        if face is None:
            raise NoFaceFound(os.fspath(image) if isinstance(image, (str, os.PathLike)) else "<image>")
        return embed_faces(self.embedder, pixels, [face])[0]

    def compare(self, a: Face | Template, b: Face | Template, threshold: str | float | None = None) -> Comparison:
        """Compare two templates of this pipeline's model at a named or numeric threshold."""
        return compare_templates(a, b, self.spec, threshold)


@dataclass(frozen=True)
class PipelineConfig:
    """A :class:`Pipeline` described by value: the fields are the constructor's parameters
    (detector and embedder by registry name), so nothing is renamed or dropped between a
    front end's options and the models. Picklable: it is what worker processes build from.

    :meth:`resolved` decides ``"auto"``: the detector through
    :func:`~countenance.detection.resolve_detector_name`, the embedder through
    :func:`~countenance.embedding.resolve_embedder_name` (dlib-onnx, or dlib when ONNX Runtime
    fails: the same templates), the one place each is decided. :attr:`fingerprint` names everything that changes the faces or
    templates a pipeline gives, for caches; ``threads`` changes only the speed and is left out.
    """

    detector: str = "auto"
    embedder: str = "auto"
    upsample: Upsample = "auto"
    try_rotations: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    threads: int = 1
    num_jitters: int = 0
    precision: str = PRECISION_AUTO

    def __post_init__(self) -> None:
        if not isinstance(self.detector, str) or not isinstance(self.embedder, str):
            raise InvalidArgument("PipelineConfig names its detector and embedder (registry names)")
        check_precision(self.precision)
        for name, low in (("max_pixels", 1), ("threads", 1), ("num_jitters", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgument(f"{name} must be an integer >= {low}, got {value!r}")

    def resolved(self) -> PipelineConfig:
        """This configuration with ``"auto"`` decided, detector, embedder and precision (what
        :meth:`build` would build; deciding the embedder may load it once in this process)."""
        embedder = resolve_embedder_name(self.embedder)
        return replace(self._detector_resolved(), embedder=embedder, precision=_precision_of(embedder, self.precision))

    def _detector_resolved(self) -> PipelineConfig:
        if self.detector == ALIGNED_ARCFACE112:
            return self
        return replace(self, detector=resolve_detector_name(self.detector))

    @property
    def fingerprint(self) -> str:
        """``detector=yunet;model=dlib-resnet-v1;upsample=auto;...``: every field that changes
        what the pipeline finds (auto resolved; embedders named by the model their templates
        carry, so ``dlib`` and ``dlib-onnx`` share entries), for cache keys. Computed on each
        call (an installed model may change between calls): keep it for a run. Loads no model."""
        config = self._detector_resolved()
        parts = [f"detector={config.detector}", f"model={template_model(config.embedder)}"]
        parts += [f"{f.name}={getattr(config, f.name)}" for f in fields(config)
                  if f.name not in ("detector", "embedder", "threads", "precision")]
        if _precision_of(config.embedder, config.precision) != F32:  # float32 keys are those from before precision existed
            parts.append(f"precision={_precision_of(config.embedder, config.precision)}")
        return ";".join(parts)

    def build(self) -> Pipeline:
        """A new :class:`Pipeline` of this configuration (models load here)."""
        return Pipeline(**{f.name: getattr(self, f.name) for f in fields(self)})


def _precision_of(embedder: str, precision: str) -> str:
    """The arithmetic embedder ``embedder`` runs in: only dlib-onnx (also what ``auto`` builds)
    has a choice; dlib and ArcFace models are float32."""
    return resolve_precision(precision) if embedder in (AUTO_EMBEDDER, "dlib-onnx") else F32


# One default pipeline per thread: dlib's detectors crash when two threads share one.
_per_thread = threading.local()


def default_pipeline() -> Pipeline:
    """The calling thread's default pipeline (``Pipeline()``), built on its first call.

    Each thread gets its own (models load once per thread); the same thread always gets the
    same one. A pipeline is freed when its thread ends.
    """
    pipeline = getattr(_per_thread, "pipeline", None)
    if pipeline is None:
        pipeline = Pipeline()
        _per_thread.pipeline = pipeline
    return pipeline


def detect(image: ImageInput, *, pipeline: Pipeline | None = None) -> list[Face]:
    """Faces in ``image`` (path, bytes or RGB array), largest first, without templates."""
    return (pipeline or default_pipeline()).detect(image)


def embed(image: ImageInput, *, pipeline: Pipeline | None = None) -> list[Face]:
    """Faces in ``image`` with their templates (128-d ``dlib-resnet-v1`` vectors by default), largest first."""
    return (pipeline or default_pipeline()).embed(image)


def compare(
    a: Face | Template, b: Face | Template, *, threshold: str | float | None = None, pipeline: Pipeline | None = None
) -> Comparison:
    """Compare two faces or templates; ``threshold`` is a name (``"default"``) or a distance."""
    return (pipeline or default_pipeline()).compare(a, b, threshold)
