"""Long-lived models and galleries for a server: one pipeline and one open gallery per thread.

A command opens its gallery and builds its pipeline for one call. A server answering many
calls keeps them: loading a pipeline costs models, and opening a gallery reads its vector
index (tens of MB at 100k templates). Neither may be shared between threads (dlib's detectors
release the GIL and crash; a SQLite connection belongs to its thread), so each worker thread
holds its own, made on its first call (a server opens them at start, :meth:`GallerySessions.open`):

    pipelines = ThreadPipelines()
    sessions = GallerySessions()
    options = GalleryOptions(path, actor="key:ab12", sessions=sessions)
    identify_images(IdentifyOptions(images, gallery=options), pipelines=pipelines)

A gallery kept open stays current: it compares its index with SQLite before every search
(inserts are added, a deletion by another thread or process makes it rebuild from SQLite).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CountenanceError
from .options import PipelineOptions, build_pipeline

if TYPE_CHECKING:
    from ..gallery import FacePipeline, Gallery

__all__ = ["ThreadPipelines", "GallerySessions"]


class ThreadPipelines:
    """A pipeline factory (:data:`~countenance.service.options.PipelineFactory`) that builds one
    pipeline per thread and per options, then returns that thread's pipeline again."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, options: PipelineOptions) -> FacePipeline:
        cache: dict[PipelineOptions, FacePipeline] = self._local.__dict__.setdefault("pipelines", {})
        pipeline = cache.get(options)
        if pipeline is None:
            pipeline = cache[options] = build_pipeline(options)
        return pipeline


class GallerySessions:
    """Open galleries per thread and per folder, lent to one call at a time with its actor."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _galleries(self) -> dict[Path, Gallery]:
        return self._local.__dict__.setdefault("galleries", {})

    @contextmanager
    def borrow(self, path: Path, actor: str | None) -> Iterator[Gallery]:
        """This thread's open gallery at ``path`` (opened on first use), acting as ``actor``
        for the audit log during the call. A gallery that raised anything but an expected
        error is closed and dropped: the next call opens it afresh."""
        from ..gallery import Gallery

        galleries = self._galleries()
        key = Path(path).resolve()
        gallery = galleries.get(key)
        if gallery is None:
            gallery = galleries[key] = Gallery(key, actor=actor)
        opened_as = gallery.actor
        if actor is not None:
            gallery.actor = gallery.log.actor = actor
        try:
            yield gallery
            gallery.flush()
        except CountenanceError:
            raise
        except BaseException:
            galleries.pop(key, None)
            try:
                gallery.close()
            finally:
                raise
        finally:
            gallery.actor = gallery.log.actor = opened_as

    def open(self, path: Path) -> None:
        """Open this thread's gallery at ``path`` now, its vector index read into memory and
        its identification threshold worked out (a server does this on every worker thread at
        start, so no request pays for it)."""
        with self.borrow(path, None) as gallery:
            gallery.threshold()

    def opened(self) -> list[Path]:
        """The galleries this thread holds open."""
        return sorted(self._galleries())

    def close_thread(self) -> None:
        """Close the galleries this thread opened (call it on each worker thread at shutdown)."""
        galleries = self._galleries()
        while galleries:
            _, gallery = galleries.popitem()
            gallery.close()
