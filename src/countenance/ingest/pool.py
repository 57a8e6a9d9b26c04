"""Worker processes: :class:`WorkerPool` (started once, reused) and :func:`process_map` (a pool
for one map).

Workers are started with ``spawn``: a ``fork`` of a process where dlib's CNN already ran can
hang, and dlib objects cannot be shared between processes anyway.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["process_map", "WorkerPool"]

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
