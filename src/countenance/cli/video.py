"""``countenance video tag CLIP``: who appears in a clip, and when."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import ActorOpt, DetectorOpt, EmbedderOpt, GalleryOpt, JsonOpt, gallery_options, pipeline_options
from .output import handle_errors, print_json, stderr

__all__ = ["video_app"]

video_app = typer.Typer(help="Video: who appears in a clip, and when.", no_args_is_help=True)


@video_app.command("tag")
@handle_errors
def tag(
    clip: Annotated[Path, typer.Argument(help="A video file OpenCV can read (mp4, mkv, avi, ...).")],
    gallery: GalleryOpt = None,
    sample_fps: Annotated[float, typer.Option("--sample-fps", min=0.1, max=60.0, help="Frames looked at per second of video.")] = 5.0,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    actor: ActorOpt = None,
) -> None:
    """Sample frames, follow faces across them, and report each enrolled person's time ranges."""
    from ..service.video import VideoOptions, VideoTagOptions, tag_video

    # ffmpeg's own log lines ("moov atom not found") are not for the user: a clip OpenCV cannot
    # read is the one error line below. Read by OpenCV when it first opens a video in this process.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    options = VideoTagOptions(clip, gallery_options(gallery, actor), pipeline_options(detector, embedder),
                              VideoOptions(sample_fps=sample_fps))
    with stderr.status("Tagging the clip"):
        result = tag_video(options)
    if json_output:
        print_json(result.to_dict())
        return
    table = Table("subject", "from (s)", "to (s)", "faces", "best distance")
    for a in result.appearances:
        table.add_row(escape(a.subject), f"{a.start_s:.1f}", f"{a.end_s:.1f}", str(a.faces), f"{a.best_distance:.4f}")
    Console().print(table)
    unknown = sum(t.subject is None for t in result.tracks)
    stderr.print(f"{result.duration_s:.1f} s of video, {result.sampled_frames} frames sampled, {len(result.tracks)} face "
                 f"track(s), {unknown} unknown", highlight=False)
