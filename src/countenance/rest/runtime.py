"""What one server process holds for its lifetime: worker threads with their pipelines and
open galleries, the key store and the rate limiter; built and closed by the app's lifespan."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException

from ..service.keys import ApiKey, KeyStore
from ..service.options import GalleryOptions, PipelineOptions
from ..service.server import ServerSettings
from ..service.sessions import GallerySessions, ThreadPipelines
from .limits import RateLimiter

__all__ = ["Runtime"]

T = TypeVar("T")


class Runtime:
    """``settings.threads`` worker threads, each with its own pipeline and open gallery, both
    made at start (models load and the vector index is read once per thread, not on a first
    request). Every model and gallery
    call runs on them, never on the event loop; :meth:`run` bounds its wait by the timeout."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.pipelines = ThreadPipelines()
        self.sessions = GallerySessions()
        self.keys = KeyStore(settings.gallery_options.resolved_path)
        self.limiter = RateLimiter(settings.rate_per_s, settings.burst)
        self.executor = ThreadPoolExecutor(settings.threads, thread_name_prefix="countenance-worker")

    @property
    def pipeline_options(self) -> PipelineOptions:
        return self.settings.pipeline_options

    def gallery(self, key: ApiKey) -> GalleryOptions:
        """The served gallery, acting as ``key`` (``key:<id>`` in the audit log)."""
        return GalleryOptions(path=self.settings.gallery, actor=key.actor, sessions=self.sessions)

    def _on_every_thread(self, job: Callable[[], None]) -> None:
        """Run ``job`` once on each worker thread: each waits at a barrier until all have
        started, so no thread takes two."""
        barrier = threading.Barrier(self.settings.threads)

        def once() -> None:
            barrier.wait(timeout=600)
            job()

        for future in [self.executor.submit(once) for _ in range(self.settings.threads)]:
            future.result()

    def start(self) -> None:
        """Load the models and open the gallery on every worker thread (the first request does
        not pay for them)."""
        options = self.pipeline_options
        gallery = self.settings.gallery_options.resolved_path

        def prepare() -> None:
            self.pipelines(options)
            self.sessions.open(gallery)

        self._on_every_thread(prepare)
        if self.settings.library is not None:
            # The served library forgets a subject when the gallery does (service.privacy.forget_subject).
            from ..service.library_links import attach_library

            attach_library(self.settings.gallery_options.resolved_path, Path(self.settings.library))

    def close(self) -> None:
        """Close each thread's galleries (on that thread), then the threads and the key store."""
        try:
            self._on_every_thread(self.sessions.close_thread)
        finally:
            self.executor.shutdown(wait=True)
            self.keys.close()

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` on a worker thread. After ``timeout_s`` the request is
        answered 503 (the thread finishes its work, which cannot be interrupted, and is then
        free again)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, functools.partial(function, *args, **kwargs))
        try:
            return await asyncio.wait_for(future, self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(503, f"the request took longer than {self.settings.timeout_s:g} s; try again later",
                                headers={"Retry-After": "5"}) from None
