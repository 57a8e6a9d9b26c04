"""Index folders of photos: find and embed every face, incrementally and resumably.

What a run does, per file under the roots (JPEG, PNG, WebP, HEIC, TIFF, ...):

- same path, size and mtime as stored: skipped without reading it (``unchanged``);
- otherwise its sha256 is taken: the same content as a stored photo whose file is gone is a
  move (the row takes the new path; faces, names and decisions stay); the same content as a
  stored photo at this path is an mtime change only (``unchanged``); anything else is detected
  and embedded through the batch-embedding layer (:class:`countenance.ingest.BatchEmbedder`:
  ``workers`` processes, this one and ``workers - 1`` started for the run; the faces of many
  photos embedded in one network batch);
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..faces import Box
from ..hashing import sha256_file
from ..image import IMAGE_SUFFIXES
from ..ingest import BatchEmbedder, ImageJob, ImageRecord, Sharpness
from ..pipeline import PipelineConfig
from ..faces import ModelRecord
from ..embedding import template_spec
from .model import record_model
from .quality import QualityGate
from .store import LibraryStore

__all__ = ["IndexProgress", "IndexSummary", "SkippedFile", "index_folders", "FAST_PIPELINE"]

#: The fast pipeline (YuNet when installed, else HOG; dlib's ResNet on ONNX Runtime).
FAST_PIPELINE = PipelineConfig()

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


@dataclass(frozen=True)
class _Task:
    path: str
    sha256: str
    size_bytes: int
    mtime_ns: int


#: The extras the library keeps per face: the quality gate's sharpness.
_STAGES = (Sharpness(),)


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _write(store: LibraryStore, task: _Task, result: ImageRecord, gate: QualityGate) -> tuple[int, int]:
    """Store one photo and its faces (inside the caller's transaction); ``(faces added, gated)``."""
    photo_id = store.upsert_photo(task.path, task.sha256, task.size_bytes, task.mtime_ns,
                                  result.width_px, result.height_px, result.orientation, result.error)
    old = {f.id: Box(*f.box_ltrb_px) for f in store.faces(photo_id=photo_id)}
    boxes = [tuple(face.box.to_list()) for face in result.faces]
    added = gated = 0
    # Greedy by overlap: each re-detected face takes the stored face it overlaps most.
    pairs = sorted(((face.box.iou(box), fid, i) for i, face in enumerate(result.faces) for fid, box in old.items()),
                   reverse=True)
    reuse: dict[int, int] = {}
    for iou, fid, i in pairs:
        if iou >= _MATCH_IOU and i not in reuse and fid not in reuse.values():
            reuse[i] = fid
    for i, face in enumerate(result.faces):
        sharpness = float(face.extras["sharpness"])
        reason = gate.reason(boxes[i], sharpness)
        gated += reason is not None
        face_id = reuse.get(i)
        added += face_id is None
        store.write_face(face_id, photo_id, boxes[i], face.detection_score, sharpness, face.rotation, face.landmarks,
                         face.vector, face.model, reason)
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


def _results(embedder: BatchEmbedder | None, tasks: list[_Task]) -> Iterator[tuple[_Task, ImageRecord]]:
    """Every task's record from ``embedder``, in chunks of photos whose faces are embedded in one
    batch; the workers are stopped when this ends, normally or not (also when the caller drops
    it half-way)."""
    if embedder is None:
        return
    by_path = {task.path: task for task in tasks}
    try:
        for record in embedder.embed([ImageJob(task.path) for task in tasks], stages=_STAGES):
            yield by_path[record.path], record
    finally:
        embedder.close()


def index_folders(
    store: LibraryStore,
    roots: Iterable[str | os.PathLike[str]],
    *,
    workers: int = 2,
    pipeline: PipelineConfig | None = None,
    gate: QualityGate | None = None,
    full: bool = False,
    batch_size: int = 32,
    on_progress: Callable[[IndexProgress], None] | None = None,
) -> IndexSummary:
    """Index every image under ``roots`` into ``store`` (see the module docstring).

    ``pipeline``: the :class:`~countenance.pipeline.PipelineConfig` built once per
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
    embedder: BatchEmbedder | None = None
    config = FAST_PIPELINE if pipeline is None else pipeline
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
            if embedder is None:
                with store.transaction():  # another model's templates are refused before any is made
                    record_model(store, ModelRecord.of(template_spec(config.embedder)))
                # The first photo to detect starts the workers (this process is one of them):
                # the others load their models while the rest of the folder is hashed.
                embedder = BatchEmbedder(config, workers=workers)
        seen_sha.setdefault(sha, path)
    with store.transaction():
        for photo_id, path, mtime in moves:
            store.move_photo(photo_id, path, mtime)
        for photo_id, mtime in touched:
            store.connection.execute("UPDATE photos SET mtime_ns=? WHERE id=?", (mtime, photo_id))
        store.delete_photos([row.id for row in missing.values()])
    faces_added = gated = done = 0
    pending: list[tuple[_Task, ImageRecord]] = []

    def flush() -> None:
        nonlocal faces_added, gated
        with store.transaction():
            for task, result in pending:
                added, low = _write(store, task, result, gate)
                faces_added += added
                gated += low
        pending.clear()

    last_flush = time.perf_counter()
    for task, result in _results(embedder, tasks):
        done += 1
        if result.error is not None:
            skipped.append(SkippedFile(task.path, f"unreadable: {result.error}"))
        pending.append((task, result))
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
