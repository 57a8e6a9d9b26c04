"""Verification and identification metrics: pure functions over distances and labels.

``distances`` are in the model's metric (lower = more alike); ``same`` is a boolean label per
pair. Each function states its edge cases.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgument

__all__ = [
    "DEFAULT_FARS",
    "best_threshold",
    "kfold_accuracy",
    "roc_auc",
    "tar_at_far",
    "fnir_at_fpir",
    "cmc",
    "fpir_at_threshold",
    "fnir_at_threshold",
    "wilson_interval",
]

#: False accept rates at which the true accept rate is reported.
DEFAULT_FARS = (0.01, 0.001)


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold (``same`` iff ``distance <= threshold``) with the best accuracy.

    Candidates are midpoints between consecutive sorted distances, plus one below all and
    one above all; ties go to the smallest threshold. Empty input gives 0.0.
    """
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    if d.size == 0:
        return 0.0
    order = np.argsort(d, kind="stable")
    d, y = d[order], y[order]
    # Accuracy if the threshold sits just after position i: same pairs at <= i are right,
    # different pairs after i are right.
    same_le = np.cumsum(y)
    diff_gt = (~y).sum() - np.cumsum(~y)
    correct = np.concatenate([[(~y).sum()], same_le + diff_gt])
    # Only cut between distinct distances (a cut inside a run of ties is not a threshold).
    valid = np.concatenate([[True], np.append(d[1:] > d[:-1], True)])
    correct = np.where(valid, correct, -1)
    k = int(np.argmax(correct))
    if k == 0:
        return float(d[0] - 1e-6)
    if k == len(d):
        return float(d[-1] + 1e-6)
    return float((d[k - 1] + d[k]) / 2.0)


def kfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-fold accuracy with the threshold chosen on the other folds: ``(accuracies, thresholds)``.

    With a single fold the threshold is chosen on that fold itself (an optimistic figure).
    """
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    accuracies, thresholds = [], []
    for fold in np.unique(f):
        test = f == fold
        train = ~test if (~test).any() else test
        threshold = best_threshold(d[train], y[train])
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


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    """True accept rate at the loosest threshold whose false accept rate is <= ``far``.

    Ties count as accepted at a threshold equal to them; NaN if a class is missing.
    """
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    genuine, impostor = np.sort(d[y]), np.sort(d[~y])
    if genuine.size == 0 or impostor.size == 0:
        return float("nan")
    allowed = int(np.floor(far * impostor.size + 1e-9))  # impostors we may accept
    # Largest threshold accepting at most `allowed` impostors: just below impostor[allowed].
    if allowed >= impostor.size:
        return 1.0
    limit = impostor[allowed]
    return float(np.mean(genuine < limit))




def fnir_at_fpir(
    mated_top: np.ndarray, mated_right: np.ndarray, nonmated_top: np.ndarray, fpir: float
) -> tuple[float, float]:
    """Open-set identification: ``(threshold, FNIR)`` at a false-positive identification rate.

    ``mated_top`` ``(M,)``: each mated probe's top-1 distance; ``mated_right`` ``(M,) bool``:
    whether that top-1 candidate is the right person; ``nonmated_top`` ``(N,)``: the top-1
    distance of each non-mated probe (``inf`` when it had no candidate). The threshold is the
    largest naming at most ``fpir`` of the non-mated probes (top-1 distance <= threshold; inf
    when ``fpir`` allows all of them); FNIR is the fraction of mated probes not named correctly
    at it (NaN without mated probes).
    """
    ordered = np.sort(np.asarray(nonmated_top, dtype=np.float64))
    allowed = int(np.floor(fpir * ordered.size + 1e-9))
    threshold = np.nextafter(ordered[allowed], -np.inf) if allowed < ordered.size else np.inf
    mated_top = np.asarray(mated_top, dtype=np.float64)
    if mated_top.size == 0:
        return float(threshold), float("nan")
    named_right = np.asarray(mated_right, dtype=bool) & (mated_top <= threshold)
    return float(threshold), float(1.0 - named_right.mean())


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


def fpir_at_threshold(nonmated_top: np.ndarray, threshold: float) -> float:
    """The fraction of non-mated probes named at ``threshold``: top-1 distance ``<= threshold``
    (a tie is named; ``inf`` means no candidate, never named). NaN without probes."""
    d = np.asarray(nonmated_top, dtype=np.float64)
    return float(np.mean(d <= threshold)) if d.size else float("nan")


def fnir_at_threshold(mated_top: np.ndarray, mated_right: np.ndarray, threshold: float) -> float:
    """The fraction of mated probes *not* named correctly at ``threshold``: their top-1 candidate
    is someone else, or farther than ``threshold`` (a tie is named). NaN without probes."""
    d = np.asarray(mated_top, dtype=np.float64)
    if d.size == 0:
        return float("nan")
    return float(1.0 - np.mean(np.asarray(mated_right, dtype=bool) & (d <= threshold)))


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% with the default ``z``); ``(nan, nan)`` for no trials."""
    if trials <= 0:
        return float("nan"), float("nan")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
