"""Verify two images (1:1): are their largest faces the same person?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument
from ..faces import Comparison, Face
from .options import GalleryOptions, ImageInput, ImageBytes, PipelineFactory, PipelineOptions, build_pipeline, image_source

__all__ = ["parse_threshold", "VerifyOptions", "VerifyResult", "verify_images"]


def parse_threshold(text: str | float | None, named: Mapping[str, float]) -> str | float | None:
    """A threshold as a user gives it: None (the model's default), one of ``named`` (the model's
    named thresholds), or a distance (a number). Anything else is an InvalidArgument."""
    if text is None or isinstance(text, float | int) and not isinstance(text, bool):
        return text
    if text in named:
        return text
    try:
        return float(text)
    except (TypeError, ValueError):
        known = ", ".join(sorted(named))
        raise InvalidArgument(f"--threshold {text!r} is neither a number nor a known name ({known})") from None


@dataclass(frozen=True)
class VerifyOptions:
    """Two images (the largest face of each is used), and a threshold: None (the model's
    default), a named threshold of the model, or a distance (lower is stricter). ``audit``: a
    gallery whose audit log records the comparison (the images' sha256s, never the images),
    None for none (a local comparison)."""

    image_a: ImageInput
    image_b: ImageInput
    threshold: str | float | None = None
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    audit: GalleryOptions | None = None


@dataclass(frozen=True)
class VerifyResult:
    """The comparison of the two largest faces, and the faces (box, landmarks, template)."""

    comparison: Comparison
    path_a: str
    face_a: Face
    path_b: str
    face_b: Face

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.comparison.to_dict(),
            "threshold_rule": (f"the model's fixed 1:1 threshold {self.comparison.threshold_name!r}, the same for every pair; "
                               "`subjects verify` holds a false-match rate per claim over the person's templates instead "
                               "(usually stricter)"),
            "a": {"path": self.path_a, **self.face_a.to_dict()},
            "b": {"path": self.path_b, **self.face_b.to_dict()},
        }


def verify_images(options: VerifyOptions, *, pipelines: PipelineFactory = build_pipeline) -> VerifyResult:
    """Compare the largest faces of ``options.image_a`` and ``image_b``; NoFaceFound if one has none."""
    pipeline = pipelines(options.pipeline)
    threshold = parse_threshold(options.threshold, pipeline.spec.thresholds)
    face_a = pipeline.embed_largest(image_source(options.image_a))
    face_b = pipeline.embed_largest(image_source(options.image_b))
    comparison = pipeline.compare(face_a, face_b, threshold)
    result = VerifyResult(comparison, str(options.image_a), face_a, str(options.image_b), face_b)
    if options.audit is not None:
        from .gallery import open_gallery

        query = {"sha256": [_sha256(options.image_a), _sha256(options.image_b)]}
        with open_gallery(options.audit) as gallery:
            gallery.record("verify-pair", query, {"same": comparison.same, "distance": round(comparison.distance, 6)})
    return result


def _sha256(image: ImageInput) -> str:
    from ..hashing import sha256_bytes, sha256_file

    return sha256_bytes(image.data) if isinstance(image, ImageBytes) else sha256_file(image)
