"""The CLI's options shared by several commands, declared once, and what they build.

Backend options are choices read from the registries (:mod:`countenance.service.backends`):
``--help`` lists them, a name outside them is a one-line usage error, and a new backend needs
no CLI change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UnknownBackend
from ..service import backends
from ..service.options import GalleryOptions, PipelineOptions

__all__ = [
    "JsonOpt",
    "DetectorOpt",
    "EmbedderOpt",
    "IndexOpt",
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


def _choice(check: Callable[[str], str]) -> Callable[[str], str]:
    """A parser that lets through the names ``check`` accepts: any other is a usage error (exit 2)."""

    def parse(value: str) -> str:
        try:
            return check(value)
        except UnknownBackend as error:
            raise typer.BadParameter(str(error)) from None

    return parse


def _metavar(*choices: str) -> str:
    return "[" + "|".join(choices) + "]"


DetectorOpt = Annotated[str, typer.Option(
    "--detector", parser=_choice(backends.check_detector), metavar=_metavar(*backends.DETECTOR_CHOICES),
    help="Face detector backend ('auto': yunet when its model is installed, else hog).")]
EmbedderOpt = Annotated[str, typer.Option(
    "--embedder", parser=_choice(backends.check_embedder),
    metavar=_metavar(*backends.EMBEDDER_CHOICES, backends.ARCFACE_FORM),
    help="Face embedding backend ('auto': dlib's model, on ONNX Runtime when it runs), or arcface:PATH "
         "(an ArcFace-style ONNX model file).")]
IndexOpt = Annotated[str, typer.Option(
    "--index", parser=_choice(backends.check_index), metavar=_metavar(*backends.INDEX_CHOICES),
    help="Vector index: faiss (embedded) or a server's (pgvector, milvus: give --index-uri).")]
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
FaceOpt = Annotated[Optional[int], typer.Option(
    "--face", min=1, help="In a photo with several faces, use face N (as `countenance detect` lists them, largest first, from 1).")]
LargestOpt = Annotated[bool, typer.Option("--largest", help="In a photo with several faces, use the largest.")]
LfwDirOpt = Annotated[
    Optional[Path], typer.Option("--lfw-dir", help="LFW folder with pairs.txt and images/ (default: ../shared/data/lfw).")
]
RootOpt = Annotated[Optional[Path], typer.Option("--root", help="Folder the CSV's file names are relative to (default: the CSV's).")]
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
