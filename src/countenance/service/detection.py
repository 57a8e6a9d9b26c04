"""Detect faces in files and folders: the ``detect`` use case."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CountenanceError, ImageNotFound
from ..faces import Face
from .options import ImageInput, PipelineFactory, PipelineOptions, build_pipeline, image_source

if TYPE_CHECKING:
    from ..pipeline import Pipeline as FacePipeline

__all__ = ["collect_image_files", "DetectOptions", "ImageDetections", "FileError", "DetectionRun", "detect_files", "detect_image"]


def collect_image_files(inputs: Sequence[Path]) -> list[Path]:
    """The files to process: each input file as given, each folder's images (searched recursively).

    Raises :class:`~countenance.errors.ImageNotFound` (one input) or
    :class:`~countenance.errors.CountenanceError` when there is nothing to process.
    """
    from ..image import iter_image_files

    files: list[Path] = []
    for item in inputs:
        if Path(item).is_dir():
            files.extend(iter_image_files(item))
        else:
            files.append(Path(item))
    if not files:
        if len(inputs) == 1:
            raise ImageNotFound(inputs[0], "no image files found")
        raise CountenanceError("no image files found")
    return files


@dataclass(frozen=True)
class FileError:
    """One input that could not be used, and why (one line)."""

    path: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error}


@dataclass(frozen=True)
class ImageDetections:
    """The faces found in one image (largest first); ``width_px`` x ``height_px`` as loaded."""

    path: str
    width_px: int
    height_px: int
    faces: tuple[Face, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "width": self.width_px,
            "height": self.height_px,
            "faces": [face.to_dict() for face in self.faces],
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class DetectOptions:
    """Image files or folders (searched recursively), and the pipeline to detect with."""

    inputs: tuple[Path, ...]
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)


@dataclass(frozen=True)
class DetectionRun:
    """Every image that could be read, with its faces, and every input that could not."""

    images: tuple[ImageDetections, ...]
    errors: tuple[FileError, ...]

    @property
    def faces(self) -> int:
        return sum(len(image.faces) for image in self.images)

    def to_dict(self) -> dict[str, Any]:
        return {"images": [i.to_dict() for i in self.images], "errors": [e.to_dict() for e in self.errors], "faces": self.faces}


def detect_files(
    options: DetectOptions,
    *,
    pipelines: PipelineFactory = build_pipeline,
    on_start: Callable[[int], None] | None = None,
    on_file: Callable[[Path, FileError | None], None] | None = None,
) -> DetectionRun:
    """Detect the faces of every file of ``options.inputs``.

    A bad file among several is recorded in ``errors`` and the run goes on; when a single
    file was given its error is raised. ``on_start(n_files)`` and ``on_file(path, error)``
    report progress.
    """
    files = collect_image_files(options.inputs)
    pipeline = pipelines(options.pipeline)
    if on_start:
        on_start(len(files))
    images, failures = [], []
    for path in files:
        try:
            detections = _detect_one(pipeline, path)
        except CountenanceError as error:
            if len(files) == 1:
                raise
            failure = FileError(str(path), str(error))
            failures.append(failure)
            if on_file:
                on_file(path, failure)
            continue
        images.append(detections)
        if on_file:
            on_file(path, None)
    return DetectionRun(tuple(images), tuple(failures))


def detect_image(image: ImageInput, options: PipelineOptions, *, pipelines: PipelineFactory = build_pipeline) -> ImageDetections:
    """The faces of one image (a file or uploaded bytes); its errors are raised."""
    return _detect_one(pipelines(options), image)


def _detect_one(pipeline: FacePipeline, image: ImageInput) -> ImageDetections:
    start = time.perf_counter()
    pixels = pipeline.load(image_source(image))
    faces = pipeline.detect(pixels)
    height, width = pixels.shape[:2]
    return ImageDetections(str(image), int(width), int(height), tuple(faces), time.perf_counter() - start)
