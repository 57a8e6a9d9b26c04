"""Many images through the pipeline on every core: one pipeline per worker process.

``process_map`` is the shared pool runner (evaluation uses it too); ``embed_paths`` runs the
full pipeline over a list of files and yields, per file, its faces with templates or the
error that made it skip. Workers are started with ``spawn``: a ``fork`` of a process where
dlib's CNN already ran can hang, and dlib objects cannot be shared between processes anyway.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import CountenanceError
from .faces import Face

__all__ = ["process_map", "WorkerPool", "ImageFaces", "embed_paths"]

T = TypeVar("T")
R = TypeVar("R")


def process_map(
    function: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...] = (),
    chunk: int = 8,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[R]:
    """``function(item)`` for every item, in ``workers`` processes, yielded as chunks finish.

    ``initializer(*initargs)`` runs once per worker (load models there). With one worker
    everything runs in this process, after ``initializer``. Results come in completion order.
    """
    chunks = [list(items[i : i + chunk]) for i in range(0, len(items), chunk)]
    if workers <= 1:
        initializer(*initargs)
        for part in chunks:
            yield from (function(item) for item in part)
            if on_progress:
                on_progress(len(part))
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=initializer, initargs=initargs
    ) as pool:
        futures = [pool.submit(_run_chunk, function, part) for part in chunks]
        for future in concurrent.futures.as_completed(futures):
            results = future.result()
            yield from results
            if on_progress:
                on_progress(len(results))


class WorkerPool:
    """Worker processes started once, at construction, and reused by every :meth:`map` until
    :meth:`close` (also a context manager).

    Each worker runs ``initializer(*initargs)`` once (load models there); the processes are
    started at once, so they load while the caller goes on with other work. With ``local``,
    this process is one of the ``workers`` (``workers - 1`` are started; one process start
    and its model loading fewer): :meth:`map` keeps the others fed and runs an item itself
    whenever they are busy. With ``workers=1`` everything runs in this process.
    """

    def __init__(self, *, workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...] = (),
                 local: bool = False) -> None:
        self.workers = max(1, int(workers))
        self.local = local or self.workers == 1
        self._started = self.workers - 1 if self.local else self.workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if self._started:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._started, mp_context=multiprocessing.get_context("spawn"), initializer=initializer,
                initargs=initargs,
            )
            for _ in range(self._started):  # one task each: every worker process is started now
                self._pool.submit(_ready)
        if self.local:
            initializer(*initargs)  # while the started ones load

    def map(self, function: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """``function(item)`` for every item, yielded in completion order (in order with one worker)."""
        if self._pool is None:
            yield from (function(item) for item in items)
            return
        waiting = collections.deque(items)
        running: set[concurrent.futures.Future[R]] = set()
        try:
            while waiting or running:
                # Keep two items queued per started worker; take one here when they are all busy.
                while waiting and len(running) < 2 * self._started:
                    running.add(self._pool.submit(function, waiting.popleft()))
                finished = {future for future in running if future.done()}
                if not finished and waiting and self.local:
                    yield function(waiting.popleft())
                    continue
                if not finished:
                    finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    running.discard(future)
                    yield future.result()
        finally:
            for future in running:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ready() -> None:
    """Nothing: submitted once per worker so that each is started (and initialised) at once."""


def _run_chunk(function: Callable[[T], R], part: list[T]) -> list[R]:
    return [function(item) for item in part]


@dataclass(frozen=True)
class ImageFaces:
    """The faces found in one file (with templates), or why it was skipped."""

    path: str
    faces: list[Face]
    width: int = 0
    height: int = 0
    error: str | None = None
    seconds: float = 0.0


_worker: dict[str, Any] = {}


def _init_pipeline(pipeline_options: dict[str, Any]) -> None:
    from .pipeline import Pipeline

    _worker["pipeline"] = Pipeline(**pipeline_options)


def _embed_path(path: str) -> ImageFaces:
    pipeline = _worker["pipeline"]
    start = time.perf_counter()
    try:
        pixels = pipeline.load(path)
        faces = pipeline.embed(pixels)
    except CountenanceError as error:
        return ImageFaces(path, [], error=str(error), seconds=time.perf_counter() - start)
    height, width = pixels.shape[:2]
    return ImageFaces(path, faces, width, height, seconds=time.perf_counter() - start)


def embed_paths(
    paths: Sequence[str],
    *,
    workers: int = 1,
    pipeline_options: dict[str, Any] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[ImageFaces]:
    """Every face of every file with its template, ``workers`` processes at once.

    ``pipeline_options`` are keyword arguments of :class:`~countenance.Pipeline` (built once
    per worker). Bad files are yielded with ``error`` set; they never stop the run.
    """
    yield from process_map(
        _embed_path,
        [str(p) for p in paths],
        workers=workers,
        initializer=_init_pipeline,
        initargs=(dict(pipeline_options or {}),),
        on_progress=on_progress,
    )
