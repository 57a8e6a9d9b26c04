"""Suggestions: which enrolled subject each library face may be, for a person to review.

The search goes through the gallery's own :meth:`~countenance.gallery.Gallery.identify`, so
the gallery's opt-out list suppresses a face (an opted-out person is never suggested) and
every search is in the gallery's audit log. The library already holds each face's template and
each photo's sha256, so the gallery is given them as an
:class:`~countenance.gallery.EmbeddedImage`: nothing is read, hashed or embedded again, and a
gallery of another model refuses them (TemplateMismatch).

A suggestion has its own threshold, separate from the gallery's decision threshold: a person
reviews it, so it may be looser. It is set as a false-positive identification rate
(``target_fpir``, calibrated for the gallery's size) or as a distance. Within one photo each
subject is suggested at most once: the faces and subjects of a photo are matched by
:func:`scipy.optimize.linear_sum_assignment` on their distances, not face by face. A face the
user confirmed gets no suggestion, a subject already confirmed in the photo is not suggested
for its other faces, and a rejected (face, subject) pair is never suggested again. A face
smaller than the model's minimum (``ModelSpec.min_interocular_px``, from its stored
landmarks) gets no suggestion: the gallery answers "too small to identify" and names no
candidate for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..faces import Box, Face, Template
from .store import LibraryStore

__all__ = ["SuggestOptions", "SuggestSummary", "suggest", "DEFAULT_SUGGEST_FPIR"]

#: Suggestions are reviewed by a person, so they may be looser than the gallery's automatic
#: decision (whose policy default is an FPIR of 0.01).
DEFAULT_SUGGEST_FPIR = 0.05


@dataclass(frozen=True)
class SuggestOptions:
    """``target_fpir``: the suggestion threshold as a false-positive identification rate over
    the gallery's templates; ``max_distance``: a distance instead (overrides ``target_fpir``)."""

    target_fpir: float = DEFAULT_SUGGEST_FPIR
    max_distance: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.target_fpir < 1.0:
            raise InvalidArgument(f"target_fpir must be in (0, 1), got {self.target_fpir!r}")
        if self.max_distance is not None and not (math.isfinite(self.max_distance) and self.max_distance > 0):
            raise InvalidArgument(f"max_distance must be a distance > 0, got {self.max_distance!r}")


@dataclass(frozen=True)
class SuggestSummary:
    """One suggestion run: photos searched, open suggestions made, the threshold (a distance)."""

    photos: int
    suggestions: int
    threshold: float


def suggest(store: LibraryStore, gallery: Any, options: SuggestOptions | None = None,
            *, photo_ids: list[int] | None = None) -> SuggestSummary:
    """Make open suggestions for the eligible, unconfirmed faces of every photo (or ``photo_ids``).

    ``gallery``: an open :class:`countenance.gallery.Gallery`. Open suggestions made earlier
    are replaced; accepted and rejected ones are kept.
    """
    from scipy.optimize import linear_sum_assignment

    from ..gallery import EmbeddedImage

    options = options or SuggestOptions()
    threshold = options.max_distance if options.max_distance is not None else gallery.threshold(fpir=options.target_fpir)
    assignments = store.assignments()
    decided = {(f, s) for f, s, _, _, state in store.suggestions() if state != "open"}
    names = {pid: name for pid, name, _, _ in store.persons() if name is not None}
    made = searched = 0
    photos = [p for p in store.photos() if p.error is None and (photo_ids is None or p.id in photo_ids)]
    for photo in photos:
        faces = store.faces(photo_id=photo.id, eligible_only=True)
        store.clear_open_suggestions([f.id for f in faces])
        confirmed_here = {names.get(assignments[f.id][0]) for f in store.faces(photo_id=photo.id)
                          if f.id in assignments and assignments[f.id][1]} - {None}
        open_faces = [f for f in faces if not (f.id in assignments and assignments[f.id][1])]
        if not open_faces:
            continue
        # The landmarks go along: the gallery measures each face's size from them.
        faces_here = tuple(Face(Box(*f.box_ltrb_px), f.detection_score, f.landmarks_5x2, template=Template(f.template, f.model))
                           for f in open_faces)
        searched += 1
        result = gallery.identify(EmbeddedImage(faces_here, photo.sha256, photo.path), threshold=threshold)
        subjects = sorted({c.subject for face in result.faces for c in face.candidates} - confirmed_here)
        if not subjects:
            continue
        cost = np.full((len(open_faces), len(subjects)), np.inf)
        fmr: dict[tuple[int, int], float | None] = {}
        for row, (face, found) in enumerate(zip(open_faces, result.faces, strict=True)):
            if found.low_confidence:  # under the model's minimum size: no suggestion (see above)
                continue
            for candidate in found.candidates:
                if candidate.subject not in subjects or (face.id, candidate.subject) in decided:
                    continue
                if candidate.distance <= threshold:
                    col = subjects.index(candidate.subject)
                    cost[row, col] = candidate.distance
                    fmr[(row, col)] = candidate.expected_false_match_rate
        allowed = np.isfinite(cost)
        if not allowed.any():
            continue
        rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
        with store.transaction():
            for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
                if allowed[row, col]:
                    store.put_suggestion(open_faces[row].id, subjects[col], float(cost[row, col]), fmr[(row, col)])
                    made += 1
    return SuggestSummary(searched, made, float(threshold))
