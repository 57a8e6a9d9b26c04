"""Verification error rates over comparison scores, as pure functions (ISO/IEC 19795-1 terms).

Scores are *distances*: lower is more alike, and a comparison is a match iff
``distance <= threshold`` (the project's rule, :mod:`countenance.decide`). ``genuine`` holds
the distances of mated comparisons (same person), ``impostor`` those of non-mated ones.

- FMR(t)  = share of impostor distances ``<= t`` (false matches).
- FNMR(t) = share of genuine distances ``> t`` (false non-matches).

Thresholds at a target FMR are *conservative*: :func:`threshold_at_fmr` never places a
threshold inside a run of equal impostor distances; it rejects the whole run, so the FMR
achieved is at most the target (it can be lower when ties straddle the target), never above.
With ``n`` impostors the smallest FMR that can be told apart from 0 is ``1/n``; a target below
that gives a threshold under every impostor (achieved FMR 0), and the result says so through
``resolvable``.

Undefined figures raise :class:`~countenance.errors.InvalidArgument` (an FMR with no impostor
scores, an FNMR with no genuine scores); nothing here returns NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument

__all__ = [
    "ErrorRates",
    "OperatingPoint",
    "DetCurve",
    "as_scores",
    "split_scores",
    "rates_at_threshold",
    "threshold_at_fmr",
    "fnmr_at_fmr",
    "det_curve",
    "best_accuracy_threshold",
]


def as_scores(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array of finite distances; InvalidArgument otherwise."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise InvalidArgument(f"{name} must be a 1-D array of distances, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidArgument(f"{name} holds {int((~np.isfinite(array)).sum())} non-finite distance(s)")
    return array


def split_scores(distances: Any, same: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(genuine, impostor)`` distances from ``distances`` (N,) and ``same`` (N,) bool labels."""
    d = as_scores(distances, "distances")
    y = np.asarray(same)
    if y.shape != d.shape:
        raise InvalidArgument(f"same has shape {y.shape}, distances {d.shape}: they must match")
    y = y.astype(bool)
    return d[y], d[~y]


def _need(scores: np.ndarray, name: str, what: str) -> None:
    if scores.size == 0:
        raise InvalidArgument(f"no {name} distances: {what} is undefined")


def _check_fmr(target_fmr: float) -> float:
    value = float(target_fmr)
    if not 0.0 < value < 1.0:
        raise InvalidArgument(f"target FMR must lie in (0, 1), got {target_fmr!r}")
    return value


@dataclass(frozen=True)
class ErrorRates:
    """FMR and FNMR at one ``threshold`` (distance), with the counts behind them."""

    threshold: float
    fmr: float
    fnmr: float
    false_matches: int
    impostors: int
    false_non_matches: int
    genuine: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "fmr": self.fmr,
            "fnmr": self.fnmr,
            "false_matches": self.false_matches,
            "impostors": self.impostors,
            "false_non_matches": self.false_non_matches,
            "genuine": self.genuine,
        }


def rates_at_threshold(genuine: Any, impostor: Any, threshold: float) -> ErrorRates:
    """FMR and FNMR at ``threshold``; both score sets must be non-empty."""
    g = as_scores(genuine, "genuine")
    i = as_scores(impostor, "impostor")
    _need(g, "genuine", "FNMR")
    _need(i, "impostor", "FMR")
    t = float(threshold)
    false_matches = int((i <= t).sum())
    false_non_matches = int((g > t).sum())
    return ErrorRates(t, false_matches / i.size, false_non_matches / g.size, false_matches, i.size, false_non_matches, g.size)


def threshold_at_fmr(impostor: Any, target_fmr: float) -> float:
    """The largest distance threshold whose FMR on ``impostor`` is at most ``target_fmr``.

    With the impostor distances sorted ascending as ``s`` and ``k = floor(target * n)``, the
    threshold is the float just below ``s[k]``: every impostor strictly closer than ``s[k]`` is
    accepted (at most ``k`` of them; fewer when ``s[k]`` ties with earlier ones) and every one at
    ``s[k]`` or beyond is rejected. ``k >= n`` cannot happen for a target below 1.
    """
    i = np.sort(as_scores(impostor, "impostor"))
    _need(i, "impostor", "a threshold at a target FMR")
    target = _check_fmr(target_fmr)
    allowed = int(np.floor(target * i.size + 1e-9))  # the 1e-9 keeps 0.3 * 10 from flooring to 2
    return float(np.nextafter(i[allowed], -np.inf))


@dataclass(frozen=True)
class OperatingPoint:
    """FNMR at the threshold set for ``target_fmr`` (the NIST FRTE 1:1 headline figure).

    ``fmr`` is the FMR achieved on the impostors (<= target); ``resolvable`` is False when
    ``target_fmr < 1 / impostors``: too few impostor comparisons to measure that FMR, and the
    threshold sits below every impostor.
    """

    target_fmr: float
    threshold: float
    fmr: float
    fnmr: float
    impostors: int
    genuine: int
    resolvable: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_fmr": self.target_fmr,
            "threshold": self.threshold,
            "fmr": self.fmr,
            "fnmr": self.fnmr,
            "impostors": self.impostors,
            "genuine": self.genuine,
            "resolvable": self.resolvable,
        }


def fnmr_at_fmr(genuine: Any, impostor: Any, target_fmr: float) -> OperatingPoint:
    """FNMR at the conservative threshold for ``target_fmr`` (see :func:`threshold_at_fmr`)."""
    threshold = threshold_at_fmr(impostor, target_fmr)
    rates = rates_at_threshold(genuine, impostor, threshold)
    target = float(target_fmr)
    return OperatingPoint(
        target, threshold, rates.fmr, rates.fnmr, rates.impostors, rates.genuine,
        resolvable=target * rates.impostors >= 1.0 - 1e-9,
    )


@dataclass(frozen=True)
class DetCurve:
    """FMR and FNMR at every distinct distance used as a threshold, thresholds ascending.

    ``thresholds`` (K,) float64; ``fmr`` (K,) rises and ``fnmr`` (K,) falls with them. The
    first point is below every score (FMR 0, FNMR 1); each further one is a distinct score.
    """

    thresholds: np.ndarray
    fmr: np.ndarray
    fnmr: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": [float(v) for v in self.thresholds],
            "fmr": [float(v) for v in self.fmr],
            "fnmr": [float(v) for v in self.fnmr],
        }


def det_curve(genuine: Any, impostor: Any) -> DetCurve:
    """The DET (and ROC) points of the score sets: one per distinct distance, plus a start point."""
    g = np.sort(as_scores(genuine, "genuine"))
    i = np.sort(as_scores(impostor, "impostor"))
    _need(g, "genuine", "FNMR")
    _need(i, "impostor", "FMR")
    values = np.unique(np.concatenate([g, i]))
    thresholds = np.concatenate([[np.nextafter(values[0], -np.inf)], values])
    fmr = np.searchsorted(i, thresholds, side="right") / i.size
    fnmr = 1.0 - np.searchsorted(g, thresholds, side="right") / g.size
    return DetCurve(thresholds, fmr, fnmr)


def best_accuracy_threshold(genuine: Any, impostor: Any) -> tuple[float, float]:
    """``(threshold, accuracy)``: the distance threshold with the highest share of correct decisions.

    Accuracy counts genuine distances ``<= t`` and impostor distances ``> t`` over all
    comparisons. Candidates are the DET thresholds; ties go to the smallest threshold.
    """
    curve = det_curve(genuine, impostor)
    n_g, n_i = np.asarray(genuine).size, np.asarray(impostor).size
    correct = (1.0 - curve.fnmr) * n_g + (1.0 - curve.fmr) * n_i
    k = int(np.argmax(correct))
    return float(curve.thresholds[k]), float(correct[k] / (n_g + n_i))
