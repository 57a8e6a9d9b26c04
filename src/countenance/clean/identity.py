"""Checks over templates grouped by label: mislabelled items, ambiguous faces, duplicate identities.

Works on templates alone, so a data set (:func:`countenance.clean.clean_dataset`), a gallery
or a photo library's named people can all use it. Input: for each label, for each item (a
photo, an enrolled template), the ``(F, D) float32`` templates of the item's candidate faces
(largest first; ``F == 0`` means no face was found; a ``(D,)`` vector is one face).

The loop, per label (the spirit of WebFace260M's CAST, over templates instead of retraining):

1. a robust start: the geometric median of the items' faces (single-face items when there
   are at least three), and the half of the items nearest to it as the first kept set;
2. each item's score: the root-mean-square distance from its face to the kept items' faces
   (its expected distance to a photo of the folder's person), leaving the item itself out;
   an item with several faces uses the face with the lowest score;
3. the kept set becomes the items whose score is at most the cut, and step 2 is repeated
   until the kept set no longer changes.

The cut is a pair distance, so it comes from the model's calibration: the distance at which
a chosen fraction of comparisons between two strangers (the FMR) fall closer
(:func:`cut_from_calibration`). Items left out are mislabelled (or ambiguous when a second
face also fits and the margin between the two is small). Two labels hold the same person
when their kept centres are close and their cross pairs of items are about as close as the
pairs within each label: the median cross distance is within the cut and at most
``duplicate_within_ratio`` times the larger of the two labels' median distances within. (A
ratio, not the cut alone: lookalike strangers, e.g. many people of one ethnicity for dlib's
model, have most cross pairs within the cut, but still farther apart than one person's photos.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidArgument
from .findings import AMBIGUOUS_FACE, DUPLICATE_IDENTITY, MISLABEL, NO_FACE, Finding

__all__ = ["IdentityOptions", "IdentityCheck", "check_identities", "cut_from_calibration"]


@dataclass(frozen=True)
class IdentityOptions:
    """Settings of :func:`check_identities`; distances are in the model's metric.

    ``cut_distance``: the pair cut (see the module doc); ``ambiguity_margin``: how much lower
    (in distance) the best face's score must be than the second face's for the best to be
    taken; ``min_items``: labels with fewer items are not judged; ``duplicate_centre_distance``:
    label pairs whose kept centres are farther apart are not compared image by image;
    ``duplicate_within_ratio``: see the module doc.
    """

    cut_distance: float
    metric: str = "euclidean"
    ambiguity_margin: float = 0.06
    min_items: int = 3
    max_iterations: int = 30
    duplicate_centre_distance: float = 0.45
    duplicate_within_ratio: float = 1.1

    def __post_init__(self) -> None:
        if self.metric not in ("euclidean", "cosine"):
            raise InvalidArgument(f"metric must be 'euclidean' or 'cosine', got {self.metric!r}")
        if not (self.cut_distance > 0 and math.isfinite(self.cut_distance)):
            raise InvalidArgument(f"cut_distance must be a positive distance, got {self.cut_distance!r}")
        if self.min_items < 2:
            raise InvalidArgument(f"min_items must be at least 2, got {self.min_items}")
        if not self.duplicate_within_ratio > 0:
            raise InvalidArgument(f"duplicate_within_ratio must be positive, got {self.duplicate_within_ratio}")


@dataclass(frozen=True, eq=False)
class IdentityCheck:
    """What :func:`check_identities` found and kept.

    ``chosen_face``: item -> index of the face taken as the labelled person (-1: none);
    ``kept``: label -> the items kept; ``centres``: label -> ``(D,) float32`` mean template of
    the kept items (labels with none kept are absent); ``iterations``: label -> loop rounds.
    """

    findings: tuple[Finding, ...]
    chosen_face: Mapping[str, int]
    kept: Mapping[str, tuple[str, ...]]
    centres: Mapping[str, np.ndarray]
    iterations: Mapping[str, int] = field(default_factory=dict)


def cut_from_calibration(model: str, fmr: float) -> float:
    """The distance at which a fraction ``fmr`` of stranger comparisons fall closer, from the
    calibration table shipped for ``model``. Raises InvalidArgument when none ships."""
    from ..gallery.calibration import load_calibration

    if not 0.0 < fmr < 1.0:
        raise InvalidArgument(f"a false-match rate must be in (0, 1), got {fmr!r}")
    calibration = load_calibration(model)
    if calibration is None:
        raise InvalidArgument(f"no calibration ships for model {model!r}; give the cut as a distance")
    return calibration.distance_at_fmr(fmr)


def _to_euclidean(distance: float, metric: str) -> float:
    # Cosine distance of unit vectors u, v is 1 - u.v; their Euclidean distance is sqrt(2 (1 - u.v)).
    return math.sqrt(2.0 * distance) if metric == "cosine" else distance


def _from_euclidean(distance: float, metric: str) -> float:
    return distance * distance / 2.0 if metric == "cosine" else distance


def _as_faces(value: np.ndarray, metric: str) -> np.ndarray:
    faces = np.asarray(value, dtype=np.float64)
    if faces.ndim == 1:
        faces = faces[None, :]
    if faces.ndim != 2:
        raise InvalidArgument(f"templates must be (F, D) or (D,), got shape {faces.shape}")
    if metric == "cosine" and len(faces):
        faces = faces / np.maximum(np.linalg.norm(faces, axis=1, keepdims=True), 1e-12)
    return faces


def _geometric_median(points: np.ndarray, rounds: int = 50) -> np.ndarray:
    """Weiszfeld's iteration from the coordinate-wise median; ``points`` is (N, D)."""
    centre = np.median(points, axis=0)
    for _ in range(rounds):
        distances = np.maximum(np.linalg.norm(points - centre, axis=1), 1e-9)
        weights = 1.0 / distances
        moved = (points * weights[:, None]).sum(0) / weights.sum()
        if np.linalg.norm(moved - centre) < 1e-7:
            return moved
        centre = moved
    return centre


def _rms_scores(faces: np.ndarray, owner_kept: bool, own: np.ndarray, total: np.ndarray, square_total: float,
                count: int) -> np.ndarray:
    """RMS distance from each row of ``faces`` (F, D) to the kept set, leaving ``own`` (the
    item's current face) out when the item is kept. ``total`` is the sum of kept faces,
    ``square_total`` the sum of their squared norms, ``count`` their number."""
    if owner_kept:
        total = total - own
        square_total = square_total - float(own @ own)
        count -= 1
    if count <= 0:
        return np.full(len(faces), np.inf)
    mean = total / count
    squares = (faces * faces).sum(1) - 2.0 * faces @ mean + square_total / count
    return np.sqrt(np.maximum(squares, 0.0))


@dataclass
class _LabelState:
    items: list[str]
    faces: list[np.ndarray]
    chosen: np.ndarray  # (N,) face index per item, -1 without faces
    kept: np.ndarray  # (N,) bool
    scores: np.ndarray  # (N,) RMS distance of the chosen face to the kept set
    second: np.ndarray  # (N,) score of the second-best face (inf if none)
    iterations: int = 0


def _clean_label(items: list[str], faces: list[np.ndarray], cut: float, options: IdentityOptions) -> _LabelState:
    n = len(items)
    has_face = np.array([len(f) > 0 for f in faces])
    state = _LabelState(items, faces, np.where(has_face, 0, -1), np.zeros(n, bool), np.full(n, np.inf),
                        np.full(n, np.inf))
    usable = np.flatnonzero(has_face)
    if len(usable) < options.min_items:
        # Too few to tell who is wrong: keep them all (not judged), so the label still has a
        # centre for the duplicate-identity check.
        state.kept[usable] = True
        return state
    single = [i for i in usable if len(faces[i]) == 1]
    seed_items = single if len(single) >= 3 else list(usable)
    centre = _geometric_median(np.stack([faces[i][0] for i in seed_items]))
    for i in usable:
        state.chosen[i] = int(np.argmin(np.linalg.norm(faces[i] - centre, axis=1)))
    start = np.array([np.linalg.norm(faces[i][state.chosen[i]] - centre) for i in usable])
    nearest = usable[np.argsort(start, kind="stable")[: max(2, (len(usable) + 1) // 2)]]
    state.kept[nearest] = True
    for round_number in range(1, options.max_iterations + 1):
        state.iterations = round_number
        chosen_faces = {i: faces[i][state.chosen[i]] for i in usable}
        kept_rows = np.stack([chosen_faces[i] for i in np.flatnonzero(state.kept)])
        total, square_total, count = kept_rows.sum(0), float((kept_rows * kept_rows).sum()), len(kept_rows)
        new_kept = np.zeros(n, bool)
        for i in usable:
            scores = _rms_scores(faces[i], bool(state.kept[i]), chosen_faces[i], total, square_total, count)
            order = np.argsort(scores, kind="stable")
            state.chosen[i] = int(order[0])
            state.scores[i] = scores[order[0]]
            state.second[i] = scores[order[1]] if len(order) > 1 else np.inf
            clear = state.second[i] > cut or state.second[i] - state.scores[i] >= options.ambiguity_margin
            new_kept[i] = state.scores[i] <= cut and clear
        if new_kept.sum() < 2 or np.array_equal(new_kept, state.kept):
            state.kept = new_kept if new_kept.sum() >= 2 else state.kept
            break
        state.kept = new_kept
    return state


def _confidence(excess: float, scale: float) -> float:
    """0.5 at the cut, towards 1 as ``excess`` (distance beyond the cut) grows; ``scale`` sets how fast."""
    return float(1.0 / (1.0 + math.exp(-excess / scale)))


def check_identities(
    candidates: Mapping[str, Mapping[str, np.ndarray]],
    options: IdentityOptions,
) -> IdentityCheck:
    """Mislabelled items, ambiguous faces, items without a face, and labels holding the same person.

    ``candidates``: label -> item id -> ``(F, D)`` templates of the item's faces (largest
    first; F may be 0) or a ``(D,)`` template. Item ids must be unique across labels.
    Findings come sorted by kind, then by confidence (highest first).
    """
    metric = options.metric
    cut = _to_euclidean(options.cut_distance, metric)
    seen: set[str] = set()
    states: dict[str, _LabelState] = {}
    for label in sorted(candidates):
        items = list(candidates[label])
        duplicates = seen.intersection(items)
        if duplicates:
            raise InvalidArgument(f"item ids must be unique across labels; {sorted(duplicates)[0]!r} repeats")
        seen.update(items)
        states[label] = _clean_label(items, [_as_faces(candidates[label][i], metric) for i in items], cut, options)

    centres: dict[str, np.ndarray] = {}
    kept_faces: dict[str, np.ndarray] = {}
    for label, state in states.items():
        rows = [state.faces[i][state.chosen[i]] for i in np.flatnonzero(state.kept)]
        if rows:
            kept_faces[label] = np.stack(rows)
            centres[label] = kept_faces[label].mean(0)

    findings: list[Finding] = []
    findings += _item_findings(states, kept_faces, cut, options)
    findings += _duplicate_identities(centres, kept_faces, cut, options)
    findings.sort(key=lambda f: (f.kind, -f.confidence, f.labels, f.items))
    return IdentityCheck(
        findings=tuple(findings),
        chosen_face={item: int(state.chosen[k]) for state in states.values() for k, item in enumerate(state.items)},
        kept={label: tuple(s.items[k] for k in np.flatnonzero(s.kept)) for label, s in states.items()},
        centres={label: c.astype(np.float32) for label, c in centres.items()},
        iterations={label: s.iterations for label, s in states.items()},
    )


def _best_other_label(face: np.ndarray, own: str, kept_faces: dict[str, np.ndarray], cut: float) -> tuple[str | None, float]:
    """The other label whose kept set is nearest to ``face`` (RMS distance), if within ``cut``."""
    best, best_score = None, math.inf
    for label, rows in kept_faces.items():
        if label == own:
            continue
        score = float(np.sqrt(max(np.mean(((rows - face) ** 2).sum(1)), 0.0)))
        if score < best_score:
            best, best_score = label, score
    return (best, best_score) if best_score <= cut else (None, best_score)


def _item_findings(states: dict[str, _LabelState], kept_faces: dict[str, np.ndarray], cut: float,
                   options: IdentityOptions) -> list[Finding]:
    metric = options.metric
    cut_shown = _from_euclidean(cut, metric)
    findings: list[Finding] = []
    for label, state in states.items():
        judged = len([f for f in state.faces if len(f)]) >= options.min_items and state.kept.sum() >= 2
        for k, item in enumerate(state.items):
            faces = state.faces[k]
            if len(faces) == 0:
                findings.append(Finding(NO_FACE, 1.0, "no face found in the photo", (item,), (label,), (-1,)))
                continue
            if not judged or state.kept[k]:
                continue
            score, second = float(state.scores[k]), float(state.second[k])
            shown = _from_euclidean(score, metric)
            if score <= cut:
                margin = _from_euclidean(second, metric) - shown
                findings.append(Finding(
                    AMBIGUOUS_FACE, _confidence(options.ambiguity_margin - (second - score), options.ambiguity_margin / 3),
                    f"{len(faces)} faces; two agree with the folder (distances {shown:.3f} and "
                    f"{_from_euclidean(second, metric):.3f}, margin {margin:.3f} < {options.ambiguity_margin})",
                    (item,), (label,), (int(state.chosen[k]),), shown,
                ))
                continue
            other, other_score = _best_other_label(faces[state.chosen[k]], label, kept_faces, cut)
            reason = (f"face is {shown:.3f} from the folder's photos (RMS distance; cut {cut_shown:.3f})"
                      + (f"; {len(faces)} faces, the nearest taken" if len(faces) > 1 else ""))
            if other is not None:
                reason += f"; agrees with {other!r} ({_from_euclidean(other_score, metric):.3f})"
            findings.append(Finding(MISLABEL, _confidence(score - cut, 0.03), reason, (item,), (label,),
                                    (int(state.chosen[k]),), shown, other))
    return findings


def _pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0))


def _duplicate_identities(centres: dict[str, np.ndarray], kept_faces: dict[str, np.ndarray], cut: float,
                          options: IdentityOptions) -> list[Finding]:
    metric = options.metric
    labels = sorted(label for label in centres if len(kept_faces[label]) >= 2)
    if len(labels) < 2:
        return []
    within = {}
    for label in labels:
        rows = kept_faces[label]
        within[label] = float(np.median(_pair_distances(rows, rows)[np.triu_indices(len(rows), 1)]))
    matrix = np.stack([centres[label] for label in labels])
    centre_distances = _pair_distances(matrix, matrix)
    prefilter = _to_euclidean(options.duplicate_centre_distance, metric)
    findings: list[Finding] = []
    for a, b in zip(*np.nonzero(np.triu(centre_distances <= prefilter, k=1))):
        label_a, label_b = labels[a], labels[b]
        median = float(np.median(_pair_distances(kept_faces[label_a], kept_faces[label_b])))
        ratio = median / max(within[label_a], within[label_b], 1e-9)
        if median > cut or ratio > options.duplicate_within_ratio:
            continue
        findings.append(Finding(
            DUPLICATE_IDENTITY, _confidence(options.duplicate_within_ratio - ratio, 0.03),
            f"centres {_from_euclidean(float(centre_distances[a, b]), metric):.3f} apart; median cross distance "
            f"{_from_euclidean(median, metric):.3f} is {ratio:.2f}x the median within the folders "
            f"({_from_euclidean(within[label_a], metric):.3f}, {_from_euclidean(within[label_b], metric):.3f})",
            (), (label_a, label_b), (), _from_euclidean(median, metric),
        ))
    return findings
