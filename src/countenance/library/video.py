"""Who appears in a video clip, and when: ``countenance video tag CLIP``.

Frames are sampled with OpenCV (``sample_fps`` a second), every face in them is detected and
embedded, faces are linked into *tracks* from one sampled frame to the next (per frame, an
assignment on template distance among pairs whose boxes overlap or whose templates are close,
so a track survives a short occlusion of up to ``max_gap_s``), and each face is identified
against the gallery through :meth:`~countenance.gallery.Gallery.identify` (opt-outs and the
audit log apply; the faces already embedded are handed over, not detected again). A track is
named by the subject most of its faces were identified as (at least ``min_frames`` of them);
a subject's tracks then become time ranges, merged across gaps up to ``max_gap_s``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..calibration.cuts import cuts_for
from ..errors import InvalidArgument, InvalidImage
from ..faces import Box

__all__ = ["VideoOptions", "Track", "Appearance", "VideoTagResult", "tag_video"]


@dataclass(frozen=True)
class VideoOptions:
    """``sample_fps``: frames looked at per second of video; ``max_gap_s``: the longest gap a
    track or a time range bridges; ``min_frames``: identified faces a track needs to be named;
    ``link_distance``: the largest template distance linking a face to a track without overlap
    (Euclidean in dlib-resnet-v1's units, carried to the gallery's model through its
    calibration: :mod:`countenance.calibration.cuts`)."""

    sample_fps: float = 5.0
    max_gap_s: float = 1.0
    min_frames: int = 2
    link_distance: float = 0.5

    def __post_init__(self) -> None:
        for name in ("sample_fps", "max_gap_s", "link_distance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
                raise InvalidArgument(f"{name} must be a number > 0, got {value!r}")
        if not isinstance(self.min_frames, int) or self.min_frames < 1:
            raise InvalidArgument(f"min_frames must be an int >= 1, got {self.min_frames!r}")


@dataclass(frozen=True)
class Track:
    """One face followed across sampled frames: seconds from the clip's start, faces seen, the
    subject it was named (None: unknown) and that subject's smallest distance."""

    id: int
    start_s: float
    end_s: float
    faces: int
    subject: str | None
    best_distance: float | None


@dataclass(frozen=True)
class Appearance:
    """A subject on screen from ``start_s`` to ``end_s`` (seconds), over ``faces`` identified faces."""

    subject: str
    start_s: float
    end_s: float
    faces: int
    best_distance: float
    false_match_rate: float | None


@dataclass(frozen=True)
class VideoTagResult:
    """Everything ``video tag`` reports for one clip."""

    path: str
    duration_s: float
    sampled_frames: int
    tracks: tuple[Track, ...]
    appearances: tuple[Appearance, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "duration_s": round(self.duration_s, 3), "sampled_frames": self.sampled_frames,
            "appearances": [{"subject": a.subject, "start_s": round(a.start_s, 2), "end_s": round(a.end_s, 2),
                             "faces": a.faces, "best_distance": round(a.best_distance, 4),
                             "false_match_rate": a.false_match_rate} for a in self.appearances],
            "tracks": [{"id": t.id, "start_s": round(t.start_s, 2), "end_s": round(t.end_s, 2), "faces": t.faces,
                        "subject": t.subject} for t in self.tracks],
        }

    def table(self) -> str:
        """A plain-text table: subject, from, to, faces."""
        rows = [f"{'subject':<24} {'from':>8} {'to':>8} {'faces':>6}"]
        rows += [f"{a.subject:<24} {a.start_s:>7.1f}s {a.end_s:>7.1f}s {a.faces:>6}" for a in self.appearances]
        return "\n".join(rows)


@dataclass(eq=False)
class _OpenTrack:
    id: int
    last_box: tuple[float, float, float, float]
    last_template: np.ndarray
    start_s: float
    end_s: float
    decisions: list[tuple[str | None, float | None, float | None]] = field(default_factory=list)




def tag_video(path: str | os.PathLike[str], gallery: Any, *, pipeline: Any = None,
              options: VideoOptions | None = None) -> VideoTagResult:
    """Who appears in the clip at ``path`` and when (see the module docstring).

    ``gallery``: an open :class:`countenance.gallery.Gallery`; ``pipeline``: the detector and
    embedder (default: the gallery's). Raises InvalidImage when OpenCV cannot read the clip.
    """
    import cv2
    from scipy.optimize import linear_sum_assignment

    from ..gallery import EmbeddedImage
    from ..hashing import sha256_bytes

    options = options or VideoOptions()
    pipeline = pipeline or gallery.pipeline
    link_distance = cuts_for(gallery.model.name, gallery.model.metric, gallery.calibration).euclidean(options.link_distance)
    capture = cv2.VideoCapture(os.fspath(path))
    if not capture.isOpened():
        raise InvalidImage(path, "not a video OpenCV can read")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    step = max(1, int(round(fps / options.sample_fps)))
    open_tracks: list[_OpenTrack] = []
    closed: list[_OpenTrack] = []
    sampled = frame_index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if frame_index % step:
                frame_index += 1
                continue
            now = frame_index / fps
            frame_index += 1
            sampled += 1
            rgb = np.ascontiguousarray(frame[:, :, ::-1])
            faces = [f for f in pipeline.embed(rgb) if f.template is not None]
            for track in [t for t in open_tracks if now - t.end_s > options.max_gap_s]:
                open_tracks.remove(track)
                closed.append(track)
            if not faces:
                continue
            # The frame's faces are embedded already: the gallery searches them as they are.
            found = gallery.identify(EmbeddedImage(tuple(faces), sha256_bytes(rgb.tobytes()), None, rgb)).faces
            cost = np.full((len(faces), max(1, len(open_tracks))), np.inf)
            for i, face in enumerate(faces):
                for j, track in enumerate(open_tracks):
                    distance = float(np.linalg.norm(face.template.vector - track.last_template))
                    if face.box.iou(Box(*track.last_box)) >= 0.3 or distance <= link_distance:
                        cost[i, j] = distance
            links: dict[int, _OpenTrack] = {}
            if open_tracks and np.isfinite(cost).any():
                rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
                links = {r: open_tracks[c] for r, c in zip(rows.tolist(), cols.tolist()) if np.isfinite(cost[r, c])}
            for i, (face, result) in enumerate(zip(faces, found, strict=True)):
                track = links.get(i)
                if track is None:
                    track = _OpenTrack(len(open_tracks) + len(closed), tuple(face.box.to_list()),
                                       face.template.vector, now, now)
                    open_tracks.append(track)
                track.last_box, track.last_template, track.end_s = tuple(face.box.to_list()), face.template.vector, now
                best = next((c for c in result.candidates if c.subject == result.decision), None)
                track.decisions.append((result.decision, best.distance if best else None,
                                        best.expected_false_match_rate if best else None))
    finally:
        capture.release()
    tracks = []
    for track in sorted(closed + open_tracks, key=lambda t: t.id):
        votes = Counter(d for d, _, _ in track.decisions if d is not None)
        subject, count = votes.most_common(1)[0] if votes else (None, 0)
        if count < options.min_frames:
            subject = None
        distances = [dist for d, dist, _ in track.decisions if d == subject and dist is not None]
        tracks.append(Track(track.id, track.start_s, track.end_s, len(track.decisions), subject,
                            min(distances) if distances else None))
    return VideoTagResult(os.fspath(path), total / fps if fps else 0.0, sampled, tuple(tracks),
                          _appearances(closed + open_tracks, tracks, options))


def _appearances(raw: list[_OpenTrack], tracks: list[Track], options: VideoOptions) -> tuple[Appearance, ...]:
    by_id = {t.id: t for t in raw}
    spans: dict[str, list[tuple[float, float, int, float, float | None]]] = {}
    for track in tracks:
        if track.subject is None:
            continue
        fmrs = [f for d, _, f in by_id[track.id].decisions if d == track.subject and f is not None]
        spans.setdefault(track.subject, []).append(
            (track.start_s, track.end_s, sum(d == track.subject for d, _, _ in by_id[track.id].decisions),
             track.best_distance if track.best_distance is not None else math.inf, min(fmrs) if fmrs else None))
    out = []
    for subject, items in spans.items():
        items.sort()
        start, end, faces, best, fmr = items[0]
        for s, e, n, d, f in items[1:]:
            if s - end <= options.max_gap_s:
                end, faces, best = max(end, e), faces + n, min(best, d)
                fmr = f if fmr is None else (fmr if f is None else min(fmr, f))
                continue
            out.append(Appearance(subject, start, end, faces, best, fmr))
            start, end, faces, best, fmr = s, e, n, d, f
        out.append(Appearance(subject, start, end, faces, best, fmr))
    return tuple(sorted(out, key=lambda a: (a.start_s, a.subject)))
