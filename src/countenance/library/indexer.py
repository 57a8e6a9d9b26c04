"""Index folders of photos: find and embed every face, incrementally and resumably.

What a run does, per file under the roots (JPEG, PNG, WebP, HEIC, TIFF, ...):

- same path, size and mtime as stored: skipped without reading it (``unchanged``);
- otherwise its sha256 is taken: the same content as a stored photo whose file is gone is a
  move (the row takes the new path; faces, names and decisions stay); the same content as a
  stored photo at this path is an mtime change only (``unchanged``); anything else is detected
  and embedded, in ``workers`` processes (this one and ``workers - 1`` started for the run);
- stored photos under the roots whose files are gone are dropped, with their faces.

Results are written in batches, each batch one transaction (a photo with all its faces, or
nothing), so a run killed at any point leaves every stored face exactly once, and the next run
resumes with the photos not yet stored. Re-detected faces keep the id of the stored face of the
same photo they overlap most (IoU >= 0.5), so the user's decisions survive a full re-index.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..hashing import sha256_file
from ..image import IMAGE_SUFFIXES
from ..ingest import WorkerPool
from ..faces import ModelRecord
from .model import record_model
from .quality import QualityGate, face_sharpness
from .store import LibraryStore

__all__ = ["IndexProgress", "IndexSummary", "SkippedFile", "index_folders", "FAST_PIPELINE"]

#: The fast pipeline (YuNet when installed, else HOG; dlib's ResNet on ONNX Runtime).
FAST_PIPELINE: dict[str, Any] = {"detector": "auto", "embedder": "auto"}

_MATCH_IOU = 0.5


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not indexed and why (``unreadable: ...`` or ``duplicate of PATH``)."""

    path: str
    reason: str


@dataclass(frozen=True)
class IndexProgress:
    """Where a run is: ``done`` of ``total`` files to detect, after ``elapsed_s`` seconds."""

    done: int
    total: int
    faces: int
    elapsed_s: float

    @property
    def rate_per_s(self) -> float:
        """Files per second so far (0.0 before the first)."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first file."""
        rate = self.rate_per_s
        return (self.total - self.done) / rate if rate > 0 else None


@dataclass(frozen=True)
class IndexSummary:
    """What one run did. ``detected``: files read and run through the detector this time."""

    files: int
    detected: int
    unchanged: int
    moved: int
    deleted: int
    faces_added: int
    faces_total: int
    gated: int
    skipped: tuple[SkippedFile, ...]
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.detected / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files, "detected": self.detected, "unchanged": self.unchanged, "moved": self.moved,
            "deleted": self.deleted, "faces_added": self.faces_added, "faces_total": self.faces_total,
            "gated": self.gated, "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3), "images_per_second": round(self.images_per_second, 2),
        }


@dataclass(frozen=True, eq=False)
class _FoundFace:
    box: tuple[float, float, float, float]
    score: float
    rotation: int
    landmarks: np.ndarray | None
    template: np.ndarray
    model: str
    sharpness: float


@dataclass(frozen=True, eq=False)
class _PhotoResult:
    path: str
    sha256: str
    size_bytes: int
    mtime_ns: int
    width_px: int = 0
    height_px: int = 0
    orientation: int = 1
    faces: list[_FoundFace] = field(default_factory=list)
    error: str | None = None
    model: ModelRecord | None = None  # of the pipeline that embedded the faces


@dataclass(frozen=True)
class _Task:
    path: str
    sha256: str
    size_bytes: int
    mtime_ns: int


_worker: dict[str, Any] = {}

#: Photos a worker takes at once: their faces are embedded in one batch (see
#: :func:`countenance.embedding.embed_faces_many`).
_CHUNK = 16


def _init_worker(pipeline_options: dict[str, Any]) -> None:
    from ..pipeline import Pipeline

    _worker["pipeline"] = Pipeline(**pipeline_options)


def _orientation(data: bytes) -> int:
    """The EXIF orientation tag (1..8) in the file's bytes already read; 1 when there is none."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:  # parses the header only; decodes nothing
            return int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - orientation is informative; the loader reports real errors
        return 1


def _decode(pipeline: Any, path: str) -> tuple[np.ndarray, bytes]:
    """The upright pixels of ``path`` and its bytes, reading the file once; errors name the path."""
    from ..errors import ImageError

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


def _index_chunk(tasks: list[_Task]) -> list[_PhotoResult]:
    """Detect every photo of ``tasks``, then embed all their faces in one batch."""
    from ..embedding import embed_faces_many
    from ..errors import CountenanceError

    pipeline = _worker["pipeline"]
    results: list[_PhotoResult | None] = []
    decoded: list[tuple[_Task, np.ndarray, int, list]] = []
    for task in tasks:
        try:
            pixels, data = _decode(pipeline, task.path)
            faces = pipeline.face_detector.detect(pixels)
        except CountenanceError as error:
            results.append(_PhotoResult(task.path, task.sha256, task.size_bytes, task.mtime_ns, error=str(error)))
            continue
        decoded.append((task, pixels, _orientation(data), faces))
        results.append(None)
    embedded = embed_faces_many(pipeline.embedder, [(pixels, faces) for _, pixels, _, faces in decoded])
    done = iter(zip(decoded, embedded))
    for i, result in enumerate(results):
        if result is not None:
            continue
        (task, pixels, orientation, _), faces = next(done)
        found = [
            _FoundFace(tuple(face.box.to_list()), float(face.detection_score), face.rotation, face.landmarks,
                       face.template.vector, face.template.model, face_sharpness(pixels, tuple(face.box.to_list())))
            for face in faces if face.template is not None
        ]
        height, width = pixels.shape[:2]
        results[i] = _PhotoResult(task.path, task.sha256, task.size_bytes, task.mtime_ns, width, height,
                                  orientation, found, model=ModelRecord.of(pipeline.spec))
    return [result for result in results if result is not None]


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _write(store: LibraryStore, result: _PhotoResult, gate: QualityGate) -> tuple[int, int]:
    """Store one photo and its faces (inside the caller's transaction); ``(faces added, gated)``.
    Raises TemplateMismatch, before writing anything, for templates of another model than the library's."""
    if result.model is not None:
        record_model(store, result.model)
    photo_id = store.upsert_photo(result.path, result.sha256, result.size_bytes, result.mtime_ns,
                                  result.width_px, result.height_px, result.orientation, result.error)
    old = {f.id: f.box_ltrb_px for f in store.faces(photo_id=photo_id)}
    added = gated = 0
    # Greedy by overlap: each re-detected face takes the stored face it overlaps most.
    pairs = sorted(((_iou(face.box, box), fid, i) for i, face in enumerate(result.faces) for fid, box in old.items()),
                   reverse=True)
    reuse: dict[int, int] = {}
    for iou, fid, i in pairs:
        if iou >= _MATCH_IOU and i not in reuse and fid not in reuse.values():
            reuse[i] = fid
    for i, face in enumerate(result.faces):
        reason = gate.reason(face.box, face.sharpness)
        gated += reason is not None
        face_id = reuse.get(i)
        added += face_id is None
        store.write_face(face_id, photo_id, face.box, face.score, face.sharpness, face.rotation, face.landmarks,
                         face.template, face.model, reason)
    store.delete_faces([fid for fid in old if fid not in reuse.values()])
    return added, gated


def _walk(root: str) -> Iterator[tuple[str, tuple[int, int] | None]]:
    """``(path, (size, mtime_ns))`` of every image file under ``root`` (an absolute path, not
    resolved through symlinks), with the stat ``os.scandir`` already made; ``None`` for a file
    that vanished.

    Paths are ``root`` joined with the names found, so nothing is resolved per file (a symbolic
    link to a file keeps the link's path; its stat is the target's). Like
    :func:`countenance.image.iter_image_files`: by suffix, hidden files left out, folders
    behind symbolic links not entered; a file root yields itself.
    """
    if not os.path.isdir(root):
        yield root, _stat(root)
        return
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                if entry.name.startswith(".") or os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
                    continue
                if entry.is_symlink():
                    if os.path.isfile(entry.path):  # kept under the link's own path (the one the user sees)
                        yield entry.path, _stat(entry.path)
                    continue
                stat = entry.stat()
            except OSError:
                yield entry.path, None
                continue
            yield entry.path, (stat.st_size, stat.st_mtime_ns)


def _stat(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _results(pool: WorkerPool | None, tasks: list[_Task], workers: int) -> Iterator[_PhotoResult]:
    """Every task's result from ``pool``, in chunks of up to :data:`_CHUNK` photos; the pool is
    closed when this ends, normally or not (also when the caller drops it half-way)."""
    if pool is None:
        return
    chunk = max(1, min(_CHUNK, -(-len(tasks) // workers)))  # every worker gets a share of a small run
    try:
        for part in pool.map(_index_chunk, [tasks[i : i + chunk] for i in range(0, len(tasks), chunk)]):
            yield from part
    finally:
        pool.close()


def index_folders(
    store: LibraryStore,
    roots: Iterable[str | os.PathLike[str]],
    *,
    workers: int = 2,
    pipeline_options: dict[str, Any] | None = None,
    gate: QualityGate | None = None,
    full: bool = False,
    batch_size: int = 32,
    on_progress: Callable[[IndexProgress], None] | None = None,
) -> IndexSummary:
    """Index every image under ``roots`` into ``store`` (see the module docstring).

    ``pipeline_options``: keyword arguments of :class:`countenance.Pipeline`, built once per
    worker (default :data:`FAST_PIPELINE`). ``full``: re-detect files even when unchanged.
    ``batch_size``: photos per transaction. ``on_progress`` is called after each photo.
    """
    from ..errors import InvalidArgument

    if not isinstance(workers, int) or workers < 1:
        raise InvalidArgument(f"workers must be an int >= 1, got {workers!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgument(f"batch_size must be an int >= 1, got {batch_size!r}")
    gate = gate or QualityGate()
    start = time.perf_counter()
    # Absolute, but not resolved through symlinks: the library shows the paths the user gave.
    root_paths = [os.path.abspath(Path(r).expanduser()) for r in roots]
    for root in root_paths:
        if not Path(root).exists():
            raise InvalidArgument(f"{root}: no such file or folder to index")
    found = {path: stat for root in root_paths for path, stat in _walk(root)}
    files = sorted(found)
    stored = {p.path: p for p in store.photos()}
    present = set(files)
    missing = {path: row for path, row in stored.items() if path not in present and _under(path, root_paths)}
    missing = {path: row for path, row in missing.items() if not Path(path).exists()}
    missing_by_sha = {row.sha256: row for row in missing.values()}
    tasks: list[_Task] = []
    skipped: list[SkippedFile] = []
    unchanged = moved = 0
    moves: list[tuple[int, str, int]] = []
    touched: list[tuple[int, int]] = []
    seen_sha: dict[str, str] = {}
    pool: WorkerPool | None = None
    options = dict(FAST_PIPELINE if pipeline_options is None else pipeline_options)
    for path in files:
        stat = found[path]
        if stat is None:
            skipped.append(SkippedFile(path, "unreadable: vanished while indexing"))
            continue
        size, mtime = stat
        row = stored.get(path)
        if row is not None and not full and row.size_bytes == size and row.mtime_ns == mtime:
            unchanged += 1
            seen_sha[row.sha256] = path
            continue
        try:
            sha = sha256_file(path)
        except OSError as error:
            skipped.append(SkippedFile(path, f"unreadable: {error.strerror or error}"))
            continue
        if row is not None and not full and row.sha256 == sha:
            touched.append((row.id, mtime))
            unchanged += 1
        elif row is None and sha in missing_by_sha:
            gone = missing_by_sha.pop(sha)
            del missing[gone.path]
            moves.append((gone.id, path, mtime))
            moved += 1
        elif row is None and sha in seen_sha:
            skipped.append(SkippedFile(path, f"duplicate of {seen_sha[sha]}"))
        else:
            tasks.append(_Task(path, sha, size, mtime))
            if pool is None and workers > 1:
                # The first photo to detect starts the workers (this process is one of them):
                # the others load their models while the rest of the folder is hashed.
                pool = WorkerPool(workers=workers, initializer=_init_worker, initargs=(options,), local=True)
        seen_sha.setdefault(sha, path)
    with store.transaction():
        for photo_id, path, mtime in moves:
            store.move_photo(photo_id, path, mtime)
        for photo_id, mtime in touched:
            store.connection.execute("UPDATE photos SET mtime_ns=? WHERE id=?", (mtime, photo_id))
        store.delete_photos([row.id for row in missing.values()])
    faces_added = gated = done = 0
    pending: list[_PhotoResult] = []

    def flush() -> None:
        nonlocal faces_added, gated
        with store.transaction():
            for result in pending:
                added, low = _write(store, result, gate)
                faces_added += added
                gated += low
        pending.clear()

    if pool is None and tasks:
        pool = WorkerPool(workers=1, initializer=_init_worker, initargs=(options,))
    results = _results(pool, tasks, workers)
    last_flush = time.perf_counter()
    for result in results:
        done += 1
        if result.error is not None:
            skipped.append(SkippedFile(result.path, f"unreadable: {result.error}"))
        pending.append(result)
        if len(pending) >= batch_size or time.perf_counter() - last_flush > 2.0:
            flush()
            last_flush = time.perf_counter()
        if on_progress is not None:
            on_progress(IndexProgress(done, len(tasks), faces_added, time.perf_counter() - start))
    if pending:
        flush()
    total = int(store.connection.execute("SELECT COUNT(*) FROM faces").fetchone()[0])
    return IndexSummary(len(files), len(tasks), unchanged, moved, len(missing), faces_added, total, gated,
                        tuple(skipped), time.perf_counter() - start)
