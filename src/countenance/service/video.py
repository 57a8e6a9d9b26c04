"""Who appears in a video clip, and when: ``video tag`` over :func:`countenance.library.tag_video`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImageNotFound, InvalidImage
from ..image import IMAGE_SUFFIXES
from ..library import VideoOptions, VideoTagResult
from ..library import tag_video as _tag_video
from .gallery import open_gallery
from .options import GalleryOptions, PipelineFactory, PipelineOptions, build_pipeline

__all__ = ["VideoTagOptions", "VideoOptions", "tag_video"]


@dataclass(frozen=True)
class VideoTagOptions:
    """A clip, the gallery whose enrolled people to look for, the pipeline that detects and
    embeds the sampled frames, and the sampling and tracking settings."""

    clip: Path
    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    video: VideoOptions = field(default_factory=VideoOptions)


def tag_video(options: VideoTagOptions, *, pipelines: PipelineFactory = build_pipeline) -> VideoTagResult:
    """The enrolled people seen in the clip and their time ranges (every search audited by the
    gallery; opted-out people stay unknown). ImageNotFound / InvalidImage for a missing or
    unreadable clip."""
    clip = Path(options.clip)
    if not clip.is_file():
        raise ImageNotFound(str(options.clip))
    if clip.suffix.lower() in IMAGE_SUFFIXES:
        raise InvalidImage(clip, "a still image, not a video clip: use `countenance identify` for photos")
    with open_gallery(options.gallery, options.pipeline, pipelines=pipelines) as gallery:
        result = _tag_video(options.clip, gallery, options=options.video)
    if result.sampled_frames == 0:  # OpenCV "opened" it but no frame decodes: not a video
        raise InvalidImage(clip, "no video frame could be read (not a video clip, or an empty one)")
    return result
