"""The batch-embedding layer: many images through one pipeline configuration, in worker
processes started once and reused, the faces of many images embedded in one network batch.

:class:`BatchEmbedder` starts its workers at construction (``workers - 1`` processes, this one
being the last; none with one worker), each building the pipeline once. :meth:`BatchEmbedder.embed`
hands them chunks of images: each image is decoded (its bytes read once: pixels and EXIF
orientation), its faces chosen (:mod:`~countenance.ingest.stages`: every face, the largest, or
a caller's rule), then the chosen faces of the whole chunk are embedded together
(:func:`countenance.embedding.embed_faces_many`) and the face stages add their extras. A bad
file never stops a run: its record carries the error.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import CountenanceError, ImageError
from .pool import WorkerPool
from .records import FaceRecord, ImageJob, ImageRecord
from .stages import ALL_FACES, FaceChoice, FaceStage

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["PipelineSource", "BatchEmbedder", "CHUNK"]

#: Images a worker takes at once: their faces are embedded in one batch.
CHUNK = 16


class PipelineSource(Protocol):
    """What a batch embedder builds its pipelines from: :class:`countenance.pipeline.PipelineConfig`
    (or a measurement's own picklable choice of backends): ``build()`` and a cache ``fingerprint``."""

    @property
    def fingerprint(self) -> str: ...

    def build(self) -> Pipeline: ...


# Per process: the pipelines of the batch embedders that run here, by token (a worker process
# holds its one embedder's; this process those of its in-process embedders, until closed).
_pipelines: dict[str, Any] = {}
_tokens = itertools.count()


def _init(token: str, source: PipelineSource) -> None:
    _pipelines[token] = source.build()


@dataclass(frozen=True)
class _Chunk:
    token: str
    choice: FaceChoice
    stages: tuple[FaceStage, ...]
    jobs: tuple[ImageJob, ...]


def _orientation(data: bytes) -> int:
    """The EXIF orientation tag (1..8) in the file's bytes already read; 1 when there is none."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:  # parses the header only; decodes nothing
            return int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - orientation is informative; the loader reports real errors
        return 1


def _decode(pipeline: Pipeline, job: ImageJob) -> tuple[np.ndarray, bytes]:
    """The upright pixels of the job's image and its bytes, reading the file once; errors name the path."""
    path = job.path
    if job.data is not None:
        data = job.data
    else:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return pipeline.load(path), b""  # raises the loader's typed error for this path
    try:
        return pipeline.load(data), data
    except ImageError as error:
        try:
            named = type(error)(path, error.reason)  # the loader named it "<bytes>"
        except TypeError:  # an error type built another way: as it is
            raise error from None
        raise named from None


def _extras(stages: tuple[FaceStage, ...], pixels: np.ndarray, face: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stage in stages:
        value = stage(pixels, face)
        out.update(value if isinstance(value, dict) else {stage.name: value})
    return out


def _embed_chunk(chunk: _Chunk) -> list[ImageRecord]:
    """Decode and choose the faces of every image of ``chunk``, then embed them all in one batch."""
    from ..embedding import embed_faces_many

    pipeline = _pipelines[chunk.token]
    records: list[ImageRecord | None] = []
    chosen: list[tuple[int, ImageJob, np.ndarray, int, list[str], list, float]] = []
    for job in chunk.jobs:
        start = time.perf_counter()
        try:
            pixels, data = _decode(pipeline, job)
        except CountenanceError as error:
            records.append(ImageRecord(job.path, job.name, error=str(error), readable=False,
                                       seconds=time.perf_counter() - start))
            continue
        height, width = pixels.shape[:2]
        try:
            pixels, found = chunk.choice.choose(pipeline, pixels, job)
        except CountenanceError as error:  # e.g. aligned input that is not an aligned crop
            records.append(ImageRecord(job.path, job.name, (), width, height, _orientation(data), error=str(error),
                                       seconds=time.perf_counter() - start))
            continue
        chosen.append((len(records), job, pixels, _orientation(data), [how for _, how in found],
                       [face for face, _ in found], time.perf_counter() - start))
        records.append(None)
    start = time.perf_counter()
    embedded = embed_faces_many(pipeline.embedder, [(pixels, faces) for _, _, pixels, _, _, faces, _ in chosen])
    share = (time.perf_counter() - start) / max(1, len(chosen))
    for (i, job, pixels, orientation, hows, _, seconds), faces in zip(chosen, embedded):
        height, width = pixels.shape[:2]
        start = time.perf_counter()
        found = tuple(
            FaceRecord(face.box, float(face.detection_score), face.template.vector, face.template.model,
                       face.landmarks, face.rotation, how, _extras(chunk.stages, pixels, face))
            for face, how in zip(faces, hows) if face.template is not None
        )
        records[i] = ImageRecord(job.path, job.name, found, width, height, orientation,
                                 seconds=seconds + share + time.perf_counter() - start)
    return [record for record in records if record is not None]


def _chunk_bounds(count: int, size: int, workers: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each chunk of ``count`` jobs: ``size`` each, but with several workers
    the last few are a quarter of that, so the processes run out of work together instead of
    one waiting for another's last full chunks (a worker holds two queued)."""
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < count:
        step = size if workers == 1 or count - start > 3 * workers * size else max(1, size // 4)
        bounds.append((start, min(count, start + step)))
        start += step
    return bounds


class BatchEmbedder:
    """Images through the pipeline of ``source`` in ``workers`` processes (this one included),
    started now (with ``lazy``: on the first :meth:`embed` that has images, so that a run served
    wholly from a cache loads no model) and reused by every :meth:`embed` until :meth:`close`
    (also a context manager). With one worker everything runs in this process.
    ``fingerprint``: the pipeline's, taken once."""

    def __init__(self, source: PipelineSource, *, workers: int = 1, lazy: bool = False) -> None:
        from ..errors import InvalidArgument

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidArgument(f"workers must be an int >= 1, got {workers!r}")
        self.source = source
        self.fingerprint = source.fingerprint
        self.workers = workers
        self._token = f"{os.getpid()}-{next(_tokens)}"
        self._pool: WorkerPool | None = None
        self._closed = False
        if not lazy:
            self._start()

    def _start(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(workers=self.workers, initializer=_init, initargs=(self._token, self.source),
                                    local=True)
        return self._pool

    def embed(
        self,
        jobs: Sequence[ImageJob],
        *,
        choice: FaceChoice = ALL_FACES,
        stages: Sequence[FaceStage] = (),
        chunk: int = CHUNK,
        on_progress: Callable[[int], None] | None = None,
    ) -> Iterator[ImageRecord]:
        """An :class:`ImageRecord` per job, in completion order (in order with one worker);
        ``on_progress(n)`` after each chunk of ``n`` images."""
        if self._closed:
            raise RuntimeError("this BatchEmbedder is closed")
        jobs = list(jobs)
        if not jobs:
            return
        pool = self._start()
        size = max(1, min(chunk, -(-len(jobs) // self.workers)))  # every worker gets a share of a small run
        parts = [_Chunk(self._token, choice, tuple(stages), tuple(jobs[start:end]))
                 for start, end in _chunk_bounds(len(jobs), size, self.workers)]
        for records in pool.map(_embed_chunk, parts):
            yield from records
            if on_progress:
                on_progress(len(records))

    def embed_images(self, images: Sequence[str | bytes], *, choice: FaceChoice = ALL_FACES,
                     contexts: Sequence[Any] | None = None) -> list[ImageRecord]:
        """A record per image (a path, or the bytes of one that is not a file), in order; each
        with ``contexts[i]`` for the face choice (e.g. :class:`~.stages.GivenFace` s)."""
        jobs = [ImageJob(image if isinstance(image, str) else f"<bytes #{i}>", f"#{i}",
                         None if contexts is None else contexts[i], None if isinstance(image, str) else bytes(image))
                for i, image in enumerate(images)]
        records = {record.name: record for record in self.embed(jobs, choice=choice)}
        return [records[job.name] for job in jobs]

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        _pipelines.pop(self._token, None)

    def __enter__(self) -> BatchEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
