"""Search a gallery: who is in these photos (1:N, open set), and is this the enrolled person (1:1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ImageError, InvalidArgument
from ..gallery import FaceIdentification, Verification
from .detection import FileError, collect_image_files
from .gallery import open_gallery
from .options import GalleryOptions, ImageBytes, ImageInput, PipelineFactory, PipelineOptions, build_pipeline, image_source

__all__ = ["IdentifyOptions", "IdentifiedFace", "IdentifiedImage", "IdentifyRun", "identify_images", "VerifySubjectOptions", "verify_subject"]


def _check_rate(value: float | None, what: str) -> None:
    if value is not None and not 0 < value <= 0.5:
        raise InvalidArgument(f"{what} must be in (0, 0.5], got {value!r}")


@dataclass(frozen=True)
class IdentifyOptions:
    """Photos or folders of photos (searched recursively) to identify, every face of each;
    ``top_k`` candidates per face and the target false-positive identification rate ``fpir``
    (None: the gallery policy's)."""

    images: tuple[ImageInput, ...]
    top_k: int | None = None
    fpir: float | None = None
    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)

    def __post_init__(self) -> None:
        if not self.images:
            raise InvalidArgument("give at least one photo to identify")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or not 1 <= self.top_k <= 100):
            raise InvalidArgument(f"top_k must be an integer in 1..100, got {self.top_k!r}")
        _check_rate(self.fpir, "fpir")


@dataclass(frozen=True)
class IdentifiedFace:
    """One face of one photo: its decision and candidates."""

    path: str
    face: FaceIdentification

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, **self.face.to_dict()}


@dataclass(frozen=True)
class IdentifiedImage:
    """One photo searched: its sha256 (as audited) and how many faces it held."""

    path: str
    sha256: str
    faces: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "faces": self.faces}


@dataclass(frozen=True)
class IdentifyRun:
    """Every face of every photo, the photos, and the threshold used (a distance) for
    ``target_fpir`` over ``templates`` enrolled templates; photos that could not be read;
    ``min_interocular_px``: the model's smallest identifiable face (None: no limit)."""

    faces: tuple[IdentifiedFace, ...]
    images: tuple[IdentifiedImage, ...]
    threshold: float
    target_fpir: float | None
    templates: int
    errors: tuple[FileError, ...]
    min_interocular_px: float | None = None

    @property
    def without_faces(self) -> tuple[str, ...]:
        """The photos read in which no face was found."""
        return tuple(i.path for i in self.images if i.faces == 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "faces": [f.to_dict() for f in self.faces],
            "images": [i.to_dict() for i in self.images],
            "notes": [f"{path}: no face found" for path in self.without_faces],
            "threshold": round(self.threshold, 6),
            "threshold_rule": (f"per gallery: the distance that keeps the false-positive identification rate at "
                               f"{self.target_fpir} over {self.templates} enrolled templates (each person counted by "
                               "their templates)"),
            "target_fpir": self.target_fpir,
            "templates": self.templates,
            "min_interocular_px": self.min_interocular_px,
            "errors": [e.to_dict() for e in self.errors],
        }


def identify_images(
    options: IdentifyOptions,
    *,
    pipelines: PipelineFactory = build_pipeline,
    on_start: Callable[[int], None] | None = None,
    on_image: Callable[[ImageInput], None] | None = None,
    on_skipped: Callable[[FileError], None] | None = None,
) -> IdentifyRun:
    """Identify every face of every photo (each search is audited); folders are searched
    recursively. ``on_start(n_photos)``, ``on_image(path)`` and ``on_skipped(error)`` report progress.

    A photo that cannot be read is recorded in ``errors`` and the run goes on (any other error
    stops it); when a single photo file was given, its error is raised.
    """
    uploads = [image for image in options.images if isinstance(image, ImageBytes)]
    paths = [Path(image) for image in options.images if not isinstance(image, ImageBytes)]
    files: list[ImageInput] = [*uploads, *(collect_image_files(paths) if paths else [])]
    single = len(files) == 1 and len(options.images) == 1 and not (paths and paths[0].is_dir())
    faces, images, errors, results = [], [], [], []
    with open_gallery(options.gallery, options.pipeline, pipelines=pipelines) as gallery:
        if on_start:
            on_start(len(files))
        for path in files:
            try:
                result = gallery.identify(image_source(path), k=options.top_k, fpir=options.fpir)
            except ImageError as error:  # this file only
                if single:
                    raise
                errors.append(FileError(str(path), str(error)))
                if on_skipped:
                    on_skipped(errors[-1])
                if on_image:
                    on_image(path)
                continue
            results.append(result)
            images.append(IdentifiedImage(str(path), result.query_sha256, len(result.faces)))
            faces.extend(IdentifiedFace(str(path), face) for face in result.faces)
            if on_image:
                on_image(path)
        if results:
            threshold, target, templates = results[0].threshold, results[0].target_fpir, results[0].templates
        else:
            threshold, target, templates = gallery.threshold(), None, gallery.template_count
        min_iod = gallery.model.min_interocular_px
    return IdentifyRun(tuple(faces), tuple(images), float(threshold), target, templates, tuple(errors), min_iod)


@dataclass(frozen=True)
class VerifySubjectOptions:
    """Is the largest face of ``image`` the enrolled ``subject``? At a false-match rate per
    claim ``fmr`` (None: the gallery policy's)."""

    subject: str
    image: ImageInput
    fmr: float | None = None
    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)

    def __post_init__(self) -> None:
        _check_rate(self.fmr, "fmr")


def verify_subject(options: VerifySubjectOptions, *, pipelines: PipelineFactory = build_pipeline) -> Verification:
    """1:1 against an enrolled person (audited); NotEnrolled, NoFaceFound as the gallery raises them."""
    with open_gallery(options.gallery, options.pipeline, pipelines=pipelines) as gallery:
        return gallery.verify(image_source(options.image), options.subject, fmr=options.fmr)
