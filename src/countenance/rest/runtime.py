"""What one server process holds for its lifetime: worker threads with their pipelines and
open galleries, the key store, the rate limiter and the outcomes of timed-out requests (both
shared with the server's other processes); built and closed by the app's lifespan."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException

from ..service.error_table import describe
from ..service.keys import ApiKey, KeyStore
from ..service.options import GalleryOptions, PipelineOptions
from ..service.server import ServerSettings
from ..service.server_state import OutcomeStore, SharedRateLimiter
from ..service.sessions import GallerySessions, ThreadPipelines

__all__ = ["Runtime", "StillRunning", "ThumbnailCache", "THUMBNAIL_BUDGET"]

T = TypeVar("T")
THUMBNAIL_BUDGET = 25


class ThumbnailCache:
    """The last ``size`` face crops (JPEG bytes) by key, in memory, shared by the threads."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[Any, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: Any, data: bytes) -> None:
        with self._lock:
            self._items[key] = data
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class StillRunning(HTTPException):
    """A 503 for work that had started and goes on: ``outcome`` is the id to ask about."""

    def __init__(self, outcome: str, timeout_s: float) -> None:
        super().__init__(503, f"the request took longer than {timeout_s:g} s; it was not cancelled and will finish: "
                              f"GET /v1/outcomes/{outcome} tells whether it succeeded",
                         headers={"Retry-After": "5", "Location": f"/v1/outcomes/{outcome}"})
        self.outcome = outcome


class Runtime:
    """``settings.threads`` worker threads, each with its own pipeline and open gallery, both
    made at start (models load and the vector index is read once per thread, not on a first
    request). Every model and gallery
    call runs on them, never on the event loop; :meth:`run` bounds its wait by the timeout."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.pipelines = ThreadPipelines()
        self.sessions = GallerySessions()
        folder = settings.gallery_options.resolved_path
        self.keys = KeyStore(folder)
        self.limiter = SharedRateLimiter(folder, settings.rate_per_s, settings.burst)
        # Face crops of the page's lists: their own budget, THUMBNAIL_BUDGET times the
        # requests', so a page of faces never eats the key's budget nor is refused.
        self.thumbnail_limiter = SharedRateLimiter(folder, settings.rate_per_s * THUMBNAIL_BUDGET,
                                                   settings.burst * THUMBNAIL_BUDGET)
        self.thumbnails = ThumbnailCache()
        self.outcomes = OutcomeStore(folder)
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
            self.limiter.close()
            self.thumbnail_limiter.close()
            self.outcomes.close()

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` on a worker thread, answered 503 after ``timeout_s``.

        The 503 tells the truth: work still queued then is cancelled (it never runs: nothing
        was done), work already running cannot be interrupted and finishes, so its 503 carries
        an outcome id (:class:`StillRunning`) that ``GET /v1/outcomes/{id}`` answers."""
        future = self.executor.submit(function, *args, **kwargs)
        waited = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(asyncio.shield(waited), self.settings.timeout_s)
        except asyncio.TimeoutError:
            waited.add_done_callback(lambda done: done.cancelled() or done.exception())  # read here: recorded below
            if future.cancel():
                raise HTTPException(503, f"the server was busy for {self.settings.timeout_s:g} s and did not start the "
                                         "request; nothing was done: try again later",
                                    headers={"Retry-After": "5"}) from None
            outcome = self.outcomes.start()
            future.add_done_callback(functools.partial(self._record, outcome))
            raise StillRunning(outcome, self.settings.timeout_s) from None

    def _record(self, outcome: str, future: Future[Any]) -> None:
        error = future.exception()
        if error is None:
            self.outcomes.finish(outcome)
            return
        described = describe(error)
        if described is None:
            self.outcomes.finish(outcome, 500, "internal error")
        else:
            self.outcomes.finish(outcome, described[0].http_status, described[0].title)
