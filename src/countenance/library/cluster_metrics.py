"""Scores for a clustering of faces against the truth, and the Immich-style DBSCAN baseline:
pure functions over label arrays, so the evaluation scores exactly what ships."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument

__all__ = ["BCubed", "PairwiseScores", "bcubed", "pairwise_scores", "dbscan_baseline"]


@dataclass(frozen=True)
class BCubed:
    """BCubed precision, recall and their harmonic mean (Amigó et al. 2009)."""

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class PairwiseScores:
    """Pairwise precision, recall and F over all pairs of faces (Otto, Wang & Jain 2017)."""

    precision: float
    recall: float
    f1: float


def _codes(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(truth)
    predicted = np.asarray(predicted).copy()
    if len(truth) != len(predicted):
        raise InvalidArgument(f"truth and predicted differ in length: {len(truth)} vs {len(predicted)}")
    free = predicted < 0
    predicted[free] = predicted.max(initial=0) + 1 + np.arange(int(free.sum()))
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(predicted, return_inverse=True)
    return t.astype(np.int64), p.astype(np.int64)


def bcubed(truth: np.ndarray, predicted: np.ndarray) -> BCubed:
    """BCubed precision/recall/F1 of ``predicted`` labels against ``truth`` (both ``(N,) int``).

    A predicted label of -1 (unclustered) is a singleton. Empty input scores 1.0 (nothing wrong).
    """
    t, p = _codes(truth, predicted)
    if len(t) == 0:
        return BCubed(1.0, 1.0, 1.0)
    pair = t * (p.max() + 1) + p
    _, pair_index, pair_counts = np.unique(pair, return_inverse=True, return_counts=True)
    both = pair_counts[pair_index].astype(np.float64)
    precision = float(np.mean(both / np.bincount(p)[p]))
    recall = float(np.mean(both / np.bincount(t)[t]))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return BCubed(precision, recall, f1)


def pairwise_scores(truth: np.ndarray, predicted: np.ndarray) -> PairwiseScores:
    """Pairwise precision (same-cluster pairs that are one person), recall (same-person pairs
    put in one cluster) and F. -1 is a singleton. With no predicted pair precision is 1.0; with
    no true pair recall is 1.0 (nothing to find)."""
    t, p = _codes(truth, predicted)
    if len(t) == 0:
        return PairwiseScores(1.0, 1.0, 1.0)

    def pairs(counts: np.ndarray) -> float:
        counts = counts.astype(np.float64)
        return float((counts * (counts - 1) / 2).sum())

    _, both = np.unique(t * (p.max() + 1) + p, return_counts=True)
    tp, predicted_pairs, true_pairs = pairs(both), pairs(np.bincount(p)), pairs(np.bincount(t))
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return PairwiseScores(precision, recall, f1)


def dbscan_baseline(templates: np.ndarray, *, eps: float, min_faces: int = 3) -> np.ndarray:
    """Immich-style DBSCAN: a face is a core point with at least ``min_faces`` faces (itself
    included) within ``eps``; returns ``(N,) int64`` labels, -1 for noise."""
    from sklearn.cluster import DBSCAN

    if len(templates) == 0:
        return np.zeros(0, dtype=np.int64)
    return DBSCAN(eps=eps, min_samples=min_faces, metric="euclidean").fit_predict(templates).astype(np.int64)
