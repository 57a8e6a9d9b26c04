"""Aligned input (``--aligned``): decide once per image set whether faces are detected or the
images are ArcFace-aligned crops (:mod:`countenance.aligned`), for every command over a set.

``PipelineOptions.aligned`` is ``"none"`` (detect), ``"arcface112"`` (every image is an
aligned 112x112 or 112x96 crop; another size is that image's :class:`NotAlignedCrop` error) or
``"auto"`` (aligned when every image of the set has an aligned crop's size, read from the
file headers; detect otherwise). :func:`resolve_aligned` turns it into the pipeline's detector
and says what was chosen and why, for the command's output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..aligned import ALIGNED_ARCFACE112, ALIGNED_SIZES, is_aligned_size
from ..detection import AUTO
from ..errors import InvalidArgument
from .options import ALIGNED_CHOICES, PipelineOptions

__all__ = ["AlignedInput", "resolve_aligned", "image_size"]


@dataclass(frozen=True)
class AlignedInput:
    """What a set's run uses: ``pipeline`` (its detector is ``aligned-arcface112`` when
    ``aligned``), ``aligned`` (``"arcface112"`` or None) and ``how`` (``"option"``,
    ``"auto-detected"``, or None when faces are detected)."""

    pipeline: PipelineOptions
    aligned: str | None
    how: str | None
    images: int

    def describe(self) -> str | None:
        """One line for the output, or None when faces are detected."""
        if self.aligned is None:
            return None
        sizes = " or ".join(f"{w}x{h}" for w, h in ALIGNED_SIZES)
        if self.how == "auto-detected":
            return (f"aligned input ({self.aligned}), auto-detected: all {self.images} images are {sizes} "
                    "(width x height) face crops; no detection (--aligned none to detect)")
        return f"aligned input ({self.aligned}): no detection"

    def to_dict(self) -> dict[str, Any]:
        return {"aligned": self.aligned, "how": self.how}


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from ``path``'s header (nothing decoded), or None when unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def resolve_aligned(options: PipelineOptions, images: Iterable[Path]) -> AlignedInput:
    """The pipeline ``options`` mean for the set ``images`` (see the module doc).

    ``--aligned arcface112`` with a detector other than ``auto`` is refused (InvalidArgument):
    aligned input detects nothing. ``auto`` over an empty set detects.
    """
    if options.aligned not in ALIGNED_CHOICES:  # pragma: no cover - PipelineOptions checks it
        raise InvalidArgument(f"--aligned must be one of {', '.join(ALIGNED_CHOICES)}, got {options.aligned!r}")
    paths = list(images)
    if options.aligned == "none":
        return AlignedInput(options, None, None, len(paths))
    if options.aligned == "arcface112":
        if options.detector not in (AUTO, ALIGNED_ARCFACE112):
            raise InvalidArgument(f"--aligned arcface112 detects nothing: leave out --detector {options.detector}")
        return AlignedInput(replace(options, detector=ALIGNED_ARCFACE112), "arcface112", "option", len(paths))
    if options.detector != AUTO or not paths:
        return AlignedInput(options, None, None, len(paths))
    for path in paths:
        size = image_size(path)
        if size is None or not is_aligned_size(*size):
            return AlignedInput(options, None, None, len(paths))
    return AlignedInput(replace(options, detector=ALIGNED_ARCFACE112), "arcface112", "auto-detected", len(paths))
