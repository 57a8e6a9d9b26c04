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
(:func:`cut_from_calibration`). An item left out is ambiguous when a second face also fits
and the margin between the two is small; otherwise it is judged against the other labels:

- ``mislabel`` when some face of the item agrees with another label: its RMS distance to
  that label's kept items is within ``agree_distance`` AND smaller than its labelled face's
  distance to its own label by at least ``mislabel_margin``. A photo filed under the wrong
  name agrees with its true person's label, and that agreement is the evidence
  (``suggested_label``; the face is the one that agrees). Both conditions are needed: a
  stranger's face is far from every label, and with many labels one of them is nearer than
  its own by chance (Alex Lacamoire filed under Kit Harington: 0.868 from Kit's photos, 0.735
  from Obama's);
- ``outlier`` otherwise: it agrees with no label. That is a hard photo of the label's person
  (make-up, profile, old video, which a 128-d model puts beyond the cut) or someone who has no
  label at all; the check cannot tell which, so it says so, with a lower confidence, and a
  cleaned copy keeps the photo. On a real data set a photo of a person without a folder is
  an ``outlier``, which is the honest answer: there is no right folder to suggest.

Being beyond the cut alone is weak evidence (on LFW with 5% of photos moved, about 15 of 230
such photos were hard photos of the right person; nearly all of them agree with no other
folder); agreement with another label is strong. With ``mislabel_margin=None`` every item
beyond the cut is a ``mislabel`` (the rule of a single cut, which the gallery and library
checks use, where a template enrolled under a name it does not match is the error whoever it
shows). Two labels hold the same person
when their kept centres are close and their cross pairs of items are about as close as the
pairs within each label: the median cross distance is within the cut and at most
``duplicate_within_ratio`` times the larger of the two labels' median distances within. (A
ratio, not the cut alone: lookalike strangers, e.g. many people of one ethnicity for dlib's
model, have most cross pairs within the cut, but still farther apart than one person's photos.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import CalibrationMissing, InvalidArgument
from .findings import AMBIGUOUS_FACE, DUPLICATE_IDENTITY, MISLABEL, NO_FACE, OUTLIER, Finding

__all__ = ["IdentityOptions", "IdentityCheck", "check_identities", "cut_from_calibration"]


@dataclass(frozen=True)
class IdentityOptions:
    """Settings of :func:`check_identities`; distances are in the model's metric.

    ``cut_distance``: the pair cut (see the module doc); ``ambiguity_margin``: how much lower
    (in distance) the best face's score must be than the second face's for the best to be
    taken; ``min_items``: labels with fewer items are not judged; ``duplicate_centre_distance``:
    label pairs whose kept centres are farther apart are not compared image by image;
    ``duplicate_within_ratio``: see the module doc; ``mislabel_margin``: how much closer (in
    Euclidean distance between the templates, unit-normalised for a cosine model) an item left
    out must be to another label than to its own to be a ``mislabel`` rather than an
    ``outlier`` (None: every item left out is a ``mislabel``; see the module doc);
    ``agree_distance``: the largest RMS distance (model metric) from the item to another
    label's kept items for it to agree with that label (None: no limit).
    """

    cut_distance: float
    metric: str = "euclidean"
    ambiguity_margin: float = 0.06
    min_items: int = 3
    max_iterations: int = 30
    duplicate_centre_distance: float = 0.45
    duplicate_within_ratio: float = 1.1
    mislabel_margin: float | None = None
    agree_distance: float | None = None

    def __post_init__(self) -> None:
        if self.metric not in ("euclidean", "cosine"):
            raise InvalidArgument(f"metric must be 'euclidean' or 'cosine', got {self.metric!r}")
        if not (self.cut_distance > 0 and math.isfinite(self.cut_distance)):
            raise InvalidArgument(f"cut_distance must be a positive distance, got {self.cut_distance!r}")
        if self.min_items < 2:
            raise InvalidArgument(f"min_items must be at least 2, got {self.min_items}")
        if not self.duplicate_within_ratio > 0:
            raise InvalidArgument(f"duplicate_within_ratio must be positive, got {self.duplicate_within_ratio}")
        if self.mislabel_margin is not None and not (self.mislabel_margin >= 0 and math.isfinite(self.mislabel_margin)):
            raise InvalidArgument(f"mislabel_margin must be a distance >= 0 or None, got {self.mislabel_margin!r}")
        if self.agree_distance is not None and not (self.agree_distance > 0 and math.isfinite(self.agree_distance)):
            raise InvalidArgument(f"agree_distance must be a positive distance or None, got {self.agree_distance!r}")

    def carried(self, cuts: Any) -> IdentityOptions:
        """These options with the margins and ``duplicate_centre_distance``, written in dlib's
        units, carried to the model of ``cuts`` (a :class:`~countenance.calibration.cuts.Cuts`)."""
        if cuts.identity:
            return self
        mislabel = self.mislabel_margin
        return replace(self, ambiguity_margin=cuts.margin(self.ambiguity_margin, euclidean=True),
                       duplicate_centre_distance=cuts.distance(self.duplicate_centre_distance),
                       mislabel_margin=None if mislabel is None else cuts.margin(mislabel, euclidean=True))


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
    calibration table of ``model`` (installed or shipped). Raises CalibrationMissing when it has none."""
    from ..calibration import load_calibration

    if not 0.0 < fmr < 1.0:
        raise InvalidArgument(f"a false-match rate must be in (0, 1), got {fmr!r}")
    calibration = load_calibration(model)
    if calibration is None:
        raise CalibrationMissing(model)
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


def _best_other_label(faces: np.ndarray, own: str, kept_faces: dict[str, np.ndarray]) -> tuple[str | None, float, int]:
    """The other label whose kept set is nearest (RMS distance) to any of the item's ``faces``
    ``(F, D)``: (label, distance, face index); (None, inf, -1) when there is no other label.
    Every face counts: in a photo filed under the wrong name, the face nearest the wrong
    folder is often a bystander, and the true person's face is another one."""
    best, best_score, best_face = None, math.inf, -1
    for label, rows in kept_faces.items():
        if label == own:
            continue
        mean = rows.mean(0)
        square_mean = float((rows * rows).sum(1).mean())
        scores = np.sqrt(np.maximum((faces * faces).sum(1) - 2.0 * faces @ mean + square_mean, 0.0))
        face = int(np.argmin(scores))
        if scores[face] < best_score:
            best, best_score, best_face = label, float(scores[face]), face
    return best, best_score, best_face


def _beyond_cut(item: str, label: str, faces: np.ndarray, chosen: int, score: float, cut: float,
                kept_faces: dict[str, np.ndarray], options: IdentityOptions) -> Finding:
    """The finding for an item whose face is beyond its label's cut: mislabel or outlier."""
    metric = options.metric
    shown = _from_euclidean(score, metric)
    other, other_score, other_face = _best_other_label(faces, label, kept_faces)
    reason = (f"face is {shown:.3f} from the folder's photos (RMS distance; cut {_from_euclidean(cut, metric):.3f})"
              + (f"; {len(faces)} faces" if len(faces) > 1 else ""))
    if options.mislabel_margin is None:  # the single-cut rule
        if other is not None and other_score <= cut:
            reason += f"; agrees with {other!r} ({_from_euclidean(other_score, metric):.3f})"
        else:
            other = None
        return Finding(MISLABEL, _confidence(score - cut, 0.03), reason, (item,), (label,), (chosen,), shown, other)
    gain = score - other_score  # how much closer the other label is (Euclidean)
    agree = math.inf if options.agree_distance is None else _to_euclidean(options.agree_distance, metric)
    if other is not None and gain >= options.mislabel_margin and other_score <= agree:
        which = f"face {other_face}" if len(faces) > 1 else "it"
        reason += (f"; {which} is {_from_euclidean(other_score, metric):.3f} from the photos of {other!r}, "
                   f"{gain:.3f} closer (margin {options.mislabel_margin})")
        # Sure when the photo is well beyond its own cut AND clearly nearer the other label.
        confidence = min(_confidence(score - cut, 0.03), _confidence(gain - options.mislabel_margin, 0.03))
        return Finding(MISLABEL, confidence, reason, (item,), (label,), (other_face,), shown, other)
    if other is not None:
        reason += (f"; no other folder agrees (nearest {other!r}, {_from_euclidean(other_score, metric):.3f}; "
                   f"needs <= {_from_euclidean(min(agree, score - options.mislabel_margin), metric):.3f})")
    reason += ": a hard photo of the folder's person, or someone who has no folder"
    # At most 0.5: the photo may well show the folder's person.
    return Finding(OUTLIER, 0.5 * _confidence(score - cut, 0.03), reason, (item,), (label,), (chosen,), shown)


def _item_findings(states: dict[str, _LabelState], kept_faces: dict[str, np.ndarray], cut: float,
                   options: IdentityOptions) -> list[Finding]:
    metric = options.metric
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
            findings.append(_beyond_cut(item, label, faces, int(state.chosen[k]), score, cut, kept_faces, options))
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
