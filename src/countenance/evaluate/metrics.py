"""Evaluation summaries over distances and labels: k-fold accuracy, ROC AUC, CMC, intervals.

``distances`` are in the model's metric (lower = more alike); ``same`` is a boolean label per
pair. The error rates (FMR, FNMR, FPIR, FNIR) and thresholds at them are
:mod:`countenance.calibration.rates`'s; nothing here computes one again. Each function states
its edge cases.
"""

from __future__ import annotations

import numpy as np

from ..calibration.rates import best_accuracy_threshold
from ..errors import InvalidArgument

__all__ = ["kfold_accuracy", "roc_auc", "cmc", "wilson_interval"]


def kfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-fold accuracy with the threshold chosen on the other folds: ``(accuracies, thresholds)``.

    The threshold is :func:`~countenance.calibration.rates.best_accuracy_threshold` of the other
    folds (halfway between distinct distances).
    With a single fold the threshold is chosen on that fold itself (an optimistic figure).
    """
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    accuracies, thresholds = [], []
    for fold in np.unique(f):
        test = f == fold
        train = ~test if (~test).any() else test
        threshold, _ = best_accuracy_threshold(d[train & y], d[train & ~y])
        accuracies.append(float(np.mean((d[test] <= threshold) == y[test])))
        thresholds.append(threshold)
    return np.array(accuracies), np.array(thresholds)


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve (a smaller distance should mean 'same'); NaN with one class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(same, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, -np.asarray(distances, dtype=np.float64)))


def cmc(truth_ranks: np.ndarray, max_rank: int) -> np.ndarray:
    """Cumulative match characteristic: ``(max_rank,) float64``, entry ``r - 1`` the fraction of
    mated probes whose right subject is among their first ``r`` candidates.

    ``truth_ranks`` ``(M,) int``: the 1-based rank of the right subject among each probe's
    candidates, 0 when it is not among them (or the probe had no face). Empty input gives NaNs.
    """
    ranks = np.asarray(truth_ranks, dtype=np.int64)
    if max_rank < 1:
        raise InvalidArgument(f"max_rank must be >= 1, got {max_rank}")
    if ranks.size == 0:
        return np.full(max_rank, np.nan)
    found = ranks[ranks > 0]
    counts = np.bincount(np.minimum(found, max_rank + 1), minlength=max_rank + 2)[1 : max_rank + 1]
    return np.cumsum(counts) / ranks.size


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% with the default ``z``); ``(nan, nan)`` for no trials."""
    if trials <= 0:
        return float("nan"), float("nan")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
