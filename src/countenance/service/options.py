"""Options shared by several use cases, declared once: how to build a pipeline, which gallery.

The CLI builds these from its options (declared once in :mod:`countenance.cli.options`); the
REST app will build them from its request models. Values are checked here, at the boundary,
and a bad one raises :class:`~countenance.errors.InvalidArgument`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from ..errors import InvalidArgument

if TYPE_CHECKING:
    from ..gallery import FacePipeline
    from ..pipeline import Pipeline

__all__ = ["PipelineOptions", "GalleryOptions", "PipelineFactory", "build_pipeline", "parse_upsample"]

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


@dataclass(frozen=True)
class PipelineOptions:
    """Which detector and embedder (registry names; ``"auto"`` picks), and how to detect.

    ``upsample``: ``"auto"`` or 0..3 doublings; ``rotate``: try the other rotations when no face
    is found upright; ``threads``: ONNX intra-op threads per pipeline; ``jitters``: average each
    template over that many perturbed copies (dlib models).
    """

    detector: str = "auto"
    embedder: str = "auto"
    upsample: int | str = "auto"
    rotate: bool = True
    threads: int = 1
    jitters: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "upsample", parse_upsample(self.upsample))
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise InvalidArgument(f"threads must be an integer >= 1, got {self.threads!r}")
        if isinstance(self.jitters, bool) or not isinstance(self.jitters, int) or self.jitters < 0:
            raise InvalidArgument(f"jitters must be an integer >= 0, got {self.jitters!r}")


def build_pipeline(options: PipelineOptions) -> Pipeline:
    """A new :class:`~countenance.pipeline.Pipeline` for ``options`` (models load here)."""
    from ..pipeline import Pipeline

    return Pipeline(
        detector=options.detector, embedder=options.embedder, upsample=options.upsample,
        try_rotations=options.rotate, threads=options.threads, num_jitters=options.jitters,
    )


@dataclass(frozen=True)
class GalleryOptions:
    """Which gallery, and who is acting (for its audit log).

    ``path`` None: :func:`countenance.paths.gallery_dir` (``$COUNTENANCE_GALLERY``, else the
    user's data folder). ``actor`` None: the local login name.
    """

    path: Path | None = None
    actor: str | None = None

    @property
    def resolved_path(self) -> Path:
        return Path(self.path) if self.path is not None else paths.gallery_dir()
