"""The CLI's options shared by several commands, declared once, and what they build.

Backend names are checked against the registries when the pipeline is built, so a new
backend needs no CLI change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..service.options import GalleryOptions, PipelineOptions

__all__ = [
    "JsonOpt",
    "DetectorOpt",
    "EmbedderOpt",
    "UpsampleOpt",
    "RotateOpt",
    "WorkersOpt",
    "JittersOpt",
    "GalleryOpt",
    "ActorOpt",
    "AlignedOpt",
    "pipeline_options",
    "gallery_options",
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
DetectorOpt = Annotated[str, typer.Option("--detector", help="Face detector backend (hog, cnn, yunet, ...).")]
EmbedderOpt = Annotated[str, typer.Option("--embedder", help="Face embedding backend (dlib, dlib-onnx, ...).")]
UpsampleOpt = Annotated[
    str, typer.Option("--upsample", help="Times to double the image before detecting (0-3), or 'auto'.")
]
RotateOpt = Annotated[bool, typer.Option(help="Try the other rotations when no face is found upright.")]
AlignedOpt = Annotated[
    str,
    typer.Option(
        "--aligned",
        help="Images are faces already aligned to the ArcFace 5-point template: 'arcface112' "
        "(112x112 or 112x96 crops, no detection), 'none' (detect faces), or 'auto' (aligned when "
        "every image is 112x112 or 112x96).",
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Parallel processes.")]
JittersOpt = Annotated[
    int, typer.Option("--jitters", min=0, max=1000, help="Average each template over N perturbed copies (dlib models; N times slower).")
]
# $COUNTENANCE_GALLERY is read by countenance.paths.gallery_dir (the one place for user
# directories); the option only names it in --help.
GalleryOpt = Annotated[
    Optional[Path],
    typer.Option("--gallery", help="Gallery directory (default: $COUNTENANCE_GALLERY, else ~/.local/share/countenance/gallery)."),
]
ActorOpt = Annotated[
    Optional[str], typer.Option("--actor", help="Who is acting, for the audit log (default: the local user).")
]


def pipeline_options(
    detector: str = "auto", embedder: str = "auto", upsample: str = "auto", rotate: bool = True, jitters: int = 0,
    aligned: str = "none",
) -> PipelineOptions:
    """The service's pipeline options from the CLI's (checked there: a bad value is InvalidArgument)."""
    return PipelineOptions(detector=detector, embedder=embedder, upsample=upsample, rotate=rotate, jitters=jitters,
                           aligned=aligned)


def gallery_options(gallery: Path | None = None, actor: str | None = None) -> GalleryOptions:
    return GalleryOptions(path=gallery, actor=actor)
