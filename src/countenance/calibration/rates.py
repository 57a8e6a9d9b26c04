"""Error rates over comparison scores, as pure functions: the one vocabulary (ISO/IEC 19795-1).

Verification (1:1): FMR and FNMR. Open-set identification (1:N): FPIR and FNIR. No TAR/FAR:
a true accept rate is ``1 - FNMR``. Each rate has one function here and nowhere else; the
counts behind them come from :func:`error_counts` (one threshold) or :func:`_at_or_below`
(many), and every "threshold at a target rate" from :func:`_threshold_at_share`.

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

Undefined verification figures raise :class:`~countenance.errors.InvalidArgument` (an FMR with
no impostor scores, an FNMR with no genuine scores). The identification figures return NaN
where there is no probe to count (reports show them as null with the reason).

Identification: ``nonmated_top`` holds each non-mated probe's top-1 distance (``inf`` when it
had no candidate); ``mated_top`` each mated probe's, and ``mated_right`` whether that top-1
candidate is the right subject.

- FPIR(t) = share of non-mated probes named: top-1 distance ``<= t``.
- FNIR(t) = share of mated probes not named correctly: wrong top-1 or top-1 distance ``> t``.

:func:`fmr_for_fpir` and :func:`fpir_for_fmr` convert between the two under independence
(``FPIR = 1 - (1 - FMR)^N`` for ``N`` comparisons).
"""

from __future__ import annotations

import math
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
    "error_counts",
    "rates_at_threshold",
    "fmr_at",
    "fnmr_at",
    "threshold_at_fmr",
    "thresholds_at_fmr",
    "fnmr_at_fmr",
    "det_curve",
    "best_accuracy_threshold",
    "fpir_at_threshold",
    "fnir_at_threshold",
    "fnir_at_fpir",
    "fmr_for_fpir",
    "fpir_for_fmr",
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


def error_counts(genuine: Any, impostor: Any, threshold: float) -> tuple[int, int]:
    """``(false matches, false non-matches)`` at ``threshold``: impostor distances ``<=`` it and
    genuine ones ``>`` it (either set may be empty; the rates' numerators)."""
    g = as_scores(genuine, "genuine")
    i = as_scores(impostor, "impostor")
    t = float(threshold)
    return int(np.count_nonzero(i <= t)), int(np.count_nonzero(g > t))


def rates_at_threshold(genuine: Any, impostor: Any, threshold: float) -> ErrorRates:
    """FMR and FNMR at ``threshold``; both score sets must be non-empty."""
    g = as_scores(genuine, "genuine")
    i = as_scores(impostor, "impostor")
    _need(g, "genuine", "FNMR")
    _need(i, "impostor", "FMR")
    t = float(threshold)
    false_matches, false_non_matches = error_counts(g, i, t)
    return ErrorRates(t, false_matches / i.size, false_non_matches / g.size, false_matches, i.size, false_non_matches, g.size)


def _at_or_below(ordered: np.ndarray, thresholds: Any) -> np.ndarray:
    """How many of ``ordered`` (sorted ascending) are ``<= `` each threshold (a tie counts)."""
    return np.searchsorted(ordered, thresholds, side="right")


def _threshold_at_share(ordered: np.ndarray, targets: Any) -> np.ndarray:
    """The largest thresholds at which at most ``targets`` of ``ordered`` (sorted, may hold
    ``inf``) are ``<=`` it: with ``k = floor(target * n)``, the float just below ``ordered[k]``;
    ``inf`` where the target allows every score."""
    # The 1e-9 keeps 0.3 * 10 from flooring to 2.
    allowed = np.floor(np.asarray(targets, dtype=np.float64) * ordered.size + 1e-9).astype(np.int64)
    out = np.full(allowed.shape, np.inf)
    inside = allowed < ordered.size
    out[inside] = np.nextafter(ordered[allowed[inside]], -np.inf)
    return out


def fmr_at(impostor: Any, thresholds: Any) -> np.ndarray:
    """FMR at each of ``thresholds``: the share of ``impostor`` distances ``<=`` it."""
    i = np.sort(as_scores(impostor, "impostor"))
    _need(i, "impostor", "FMR")
    return _at_or_below(i, np.asarray(thresholds, dtype=np.float64)) / i.size


def fnmr_at(genuine: Any, thresholds: Any) -> np.ndarray:
    """FNMR at each of ``thresholds``: the share of ``genuine`` distances ``>`` it."""
    g = np.sort(as_scores(genuine, "genuine"))
    _need(g, "genuine", "FNMR")
    return (g.size - _at_or_below(g, np.asarray(thresholds, dtype=np.float64))) / g.size


def threshold_at_fmr(impostor: Any, target_fmr: float) -> float:
    """The largest distance threshold whose FMR on ``impostor`` is at most ``target_fmr``.

    With the impostor distances sorted ascending as ``s`` and ``k = floor(target * n)``, the
    threshold is the float just below ``s[k]``: every impostor strictly closer than ``s[k]`` is
    accepted (at most ``k`` of them; fewer when ``s[k]`` ties with earlier ones) and every one at
    ``s[k]`` or beyond is rejected. ``k >= n`` cannot happen for a target below 1.
    """
    return float(thresholds_at_fmr(impostor, [target_fmr])[0])


def thresholds_at_fmr(impostor: Any, target_fmrs: Any) -> np.ndarray:
    """:func:`threshold_at_fmr` at each of ``target_fmrs`` (one sort for all of them)."""
    i = np.sort(as_scores(impostor, "impostor"))
    _need(i, "impostor", "a threshold at a target FMR")
    targets = np.array([_check_fmr(t) for t in np.atleast_1d(target_fmrs)], dtype=np.float64)
    return _threshold_at_share(i, targets)


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
    return DetCurve(thresholds, fmr_at(i, thresholds), fnmr_at(g, thresholds))


def best_accuracy_threshold(genuine: Any, impostor: Any) -> tuple[float, float]:
    """``(threshold, accuracy)``: the distance threshold with the highest share of correct decisions.

    Accuracy counts genuine distances ``<= t`` and impostor distances ``> t`` over all
    comparisons. Cuts are made between distinct distances, the threshold halfway between the
    last accepted and the next (a margin on both sides for held-out scores); accepting nothing
    gives the float below the smallest distance, accepting all the largest distance. Ties go
    to the smallest threshold. One of the two sets may be empty (a fold with one class).
    """
    g = np.sort(as_scores(genuine, "genuine"))
    i = np.sort(as_scores(impostor, "impostor"))
    if g.size + i.size == 0:
        raise InvalidArgument("no distances: the best-accuracy threshold is undefined")
    values = np.unique(np.concatenate([g, i]))
    # Cut k accepts values[:k]: genuine accepted plus impostors rejected.
    correct = np.concatenate([[i.size], _at_or_below(g, values) + i.size - _at_or_below(i, values)])
    k = int(np.argmax(correct))
    if k == 0:
        threshold = float(np.nextafter(values[0], -np.inf))
    elif k == values.size:
        threshold = float(values[-1])
    else:
        threshold = float((values[k - 1] + values[k]) / 2.0)
    return threshold, float(correct[k] / (g.size + i.size))


# ------------------------------------------------------------------ open-set identification


def fpir_at_threshold(nonmated_top: Any, threshold: float) -> float:
    """FPIR at ``threshold``: the share of non-mated probes named (top-1 distance ``<= threshold``;
    a tie is named; ``inf`` means no candidate, never named). NaN without probes."""
    d = np.sort(np.asarray(nonmated_top, dtype=np.float64))
    return float(_at_or_below(d, threshold) / d.size) if d.size else float("nan")


def fnir_at_threshold(mated_top: Any, mated_right: Any, threshold: float) -> float:
    """FNIR at ``threshold``: the share of mated probes *not* named correctly (their top-1
    candidate is someone else, or farther than ``threshold``; a tie is named). NaN without probes."""
    d = np.asarray(mated_top, dtype=np.float64)
    if d.size == 0:
        return float("nan")
    return float(1.0 - np.mean(np.asarray(mated_right, dtype=bool) & (d <= threshold)))


def fnir_at_fpir(mated_top: Any, mated_right: Any, nonmated_top: Any, fpir: float) -> tuple[float, float]:
    """``(threshold, FNIR)`` at a target FPIR: the largest threshold naming at most ``fpir`` of
    the non-mated probes (``inf`` when ``fpir`` allows all of them), and FNIR there (NaN
    without mated probes)."""
    threshold = float(_threshold_at_share(np.sort(np.asarray(nonmated_top, dtype=np.float64)), [fpir])[0])
    return threshold, fnir_at_threshold(mated_top, mated_right, threshold)


def fmr_for_fpir(fpir: float, n_templates: int) -> float:
    """Per-comparison FMR at which ``n_templates`` independent comparisons give ``fpir``.

    ``FMR = 1 - (1 - FPIR)^(1/N)``; with ``N <= 1`` it is ``fpir`` itself.
    """
    if not 0.0 < fpir < 1.0:
        raise InvalidArgument(f"a target FPIR must be in (0, 1), got {fpir!r}")
    n = max(int(n_templates), 1)
    return -math.expm1(math.log1p(-fpir) / n)


def fpir_for_fmr(fmr: float, n_templates: float) -> float:
    """``1 - (1 - fmr)^N``: the chance that a stranger matches at least one of ``N`` templates
    (``N`` may be fractional: an effective number of independent comparisons)."""
    n = max(float(n_templates), 0.0)
    return -math.expm1(n * math.log1p(-min(max(fmr, 0.0), 1.0 - 1e-16)))
