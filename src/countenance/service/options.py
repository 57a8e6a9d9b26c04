"""Options shared by several use cases, declared once: how to build a pipeline, which gallery.

The CLI builds these from its options (declared once in :mod:`countenance.cli.options`); the
REST app will build them from its request models. Values are checked here, at the boundary,
and a bad one raises :class:`~countenance.errors.InvalidArgument`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .. import paths
from ..errors import InvalidArgument

if TYPE_CHECKING:
    from ..gallery import FacePipeline
    from ..pipeline import Pipeline, PipelineConfig
    from ..gallery import Gallery

__all__ = [
    "PipelineOptions",
    "ALIGNED_CHOICES",
    "GalleryOptions",
    "GalleryLender",
    "PipelineFactory",
    "build_pipeline",
    "parse_upsample",
    "ImageBytes",
    "ImageInput",
    "image_source",
]

#: How a use case gets a pipeline for its options: :func:`build_pipeline`, or a caller's own
#: (a server keeping one pipeline per thread, a test with a caching pipeline).
PipelineFactory = Callable[["PipelineOptions"], "FacePipeline"]


def parse_upsample(value: str | int) -> int | str:
    """``"auto"`` or a number of times (0..3) to double the image before detecting."""
    if value == "auto":
        return "auto"
    try:
        times = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"--upsample must be 'auto' or 0..3, got {value!r}") from None
    if not 0 <= times <= 3:
        raise InvalidArgument(f"--upsample must be 'auto' or 0..3, got {value!r}")
    return times


#: ``PipelineOptions.aligned``: detect faces, every image is an ArcFace-aligned crop, or
#: decide per image set (:func:`countenance.service.aligned_input.resolve_aligned`).
ALIGNED_CHOICES = ("none", "arcface112", "auto")


@dataclass(frozen=True)
class PipelineOptions:
    """Which detector and embedder (registry names; ``"auto"`` picks), and how to detect.

    ``upsample``: ``"auto"`` or 0..3 doublings; ``rotate``: try the other rotations when no face
    is found upright; ``threads``: ONNX intra-op threads per pipeline; ``jitters``: average each
    template over that many perturbed copies (dlib models); ``max_pixels``: larger images are
    refused (ImageTooLarge) before they are decoded (None: the pipeline's default, 64 MP);
    ``aligned``: one of :data:`ALIGNED_CHOICES` (commands over an image set resolve ``"auto"``
    per set; a single image is detected unless ``"arcface112"``); ``precision``: the dlib-onnx
    embedder's arithmetic (``auto``, ``f32``, ``bf16``; the CLI's is ``$COUNTENANCE_PRECISION``).
    """

    detector: str = "auto"
    embedder: str = "auto"
    upsample: int | str = "auto"
    rotate: bool = True
    threads: int = 1
    jitters: int = 0
    max_pixels: int | None = None
    aligned: str = "none"
    precision: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "upsample", parse_upsample(self.upsample))
        if self.aligned not in ALIGNED_CHOICES:
            raise InvalidArgument(f"--aligned must be one of {', '.join(ALIGNED_CHOICES)}, got {self.aligned!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise InvalidArgument(f"threads must be an integer >= 1, got {self.threads!r}")
        if isinstance(self.jitters, bool) or not isinstance(self.jitters, int) or self.jitters < 0:
            raise InvalidArgument(f"jitters must be an integer >= 0, got {self.jitters!r}")
        if self.max_pixels is not None and (
                isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 1):
            raise InvalidArgument(f"max_pixels must be an integer >= 1, got {self.max_pixels!r}")

    def config(self) -> PipelineConfig:
        """These options as the pipeline's own configuration: the one translation from the
        front ends' names (``rotate``, ``jitters``, ``aligned``) to the pipeline's; every
        field reaches the pipeline (``--aligned arcface112`` is its detector)."""
        from ..aligned import ALIGNED_ARCFACE112
        from ..pipeline import PipelineConfig

        detector = ALIGNED_ARCFACE112 if self.aligned == "arcface112" else self.detector
        return PipelineConfig(
            detector=detector, embedder=self.embedder, upsample=self.upsample, try_rotations=self.rotate,
            threads=self.threads, num_jitters=self.jitters, precision=self.precision,
            **({"max_pixels": self.max_pixels} if self.max_pixels is not None else {}),
        )


def build_pipeline(options: PipelineOptions) -> Pipeline:
    """A new :class:`~countenance.pipeline.Pipeline` for ``options`` (models load here)."""
    return options.config().build()


class GalleryLender(Protocol):
    """Lends an already open gallery to one call (:class:`~countenance.service.sessions.GallerySessions`)."""

    def borrow(self, path: Path, actor: str | None) -> AbstractContextManager[Gallery]: ...


@dataclass(frozen=True)
class GalleryOptions:
    """Which gallery, and who is acting (for its audit log).

    ``path`` None: :func:`countenance.paths.gallery_dir` (``$COUNTENANCE_GALLERY``, else the
    user's data folder). ``actor`` None: the local login name. ``sessions``: galleries kept
    open per thread by a server (:class:`~countenance.service.sessions.GallerySessions`);
    None opens the gallery for the call and closes it after.
    """

    path: Path | None = None
    actor: str | None = None
    sessions: GalleryLender | None = field(default=None, compare=False, repr=False)

    @property
    def resolved_path(self) -> Path:
        return Path(self.path) if self.path is not None else paths.gallery_dir()


@dataclass(frozen=True)
class ImageBytes:
    """An image received as encoded bytes (an upload), and the name to report it by."""

    data: bytes = field(repr=False)
    name: str = "<upload>"

    def __str__(self) -> str:
        return self.name


#: One image given to a use case: a file, or encoded bytes with a name.
ImageInput = Path | ImageBytes


def image_source(image: ImageInput) -> Path | bytes:
    """What the gallery and the pipeline read: the path, or the encoded bytes."""
    return image.data if isinstance(image, ImageBytes) else Path(image)
