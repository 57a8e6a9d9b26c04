"""Bootstrap draws of an error rate that resample people, not comparisons.

Comparisons that share a person are not independent (one hard-to-match person makes all of
their genuine comparisons fail together), so ISO/IEC 19795-1 practice resamples subjects. This
is Bolle, Ratha and Pankanti's *subsets bootstrap* (2004), in the form Schuckers calls the
two-instance bootstrap for FMR:

- a draw picks ``n`` subjects with replacement from the ``n`` subjects that have comparisons
  of the kind measured: multiplicities ``m ~ Multinomial(n, 1/n)``;
- a comparison between two different subjects ``a`` and ``b`` (an impostor) counts
  ``m_a * m_b`` times: every copy of ``a`` meets every copy of ``b``, as the comparisons of the
  drawn people would;
- a comparison of subject ``a`` with itself (genuine) counts ``m_a`` times: the subject's
  images are copied with it, and a copy is never compared with its own duplicate (that would
  be the same image twice, not a new mated comparison);
- the draw's rate is weighted errors / weighted comparisons.

A draw that gives the rate no weight at all (say only one of the impostor subjects, drawn
``n`` times) leaves it undefined; it is redrawn. The draws thus follow the bootstrap
distribution given that the rate is defined, and always number ``samples`` (the max/min ratio
pairs the groups' draws one to one). For impostors, a draw is defined whenever both sides of
one compared pair are drawn, which has probability above 0.39 for any ``n``, so the redraws
end quickly; for genuine comparisons every draw is defined.

The comparisons are first summed per pair of subjects (a sparse ``n x n`` matrix of counts and
one of errors), so a draw costs one sparse product over the compared pairs, not over the
comparisons.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["subject_rate_draws", "weighted_rates"]

# Multiplicities held at once (subjects x draws), ~32 MiB as float64: bounds memory for large n.
_CHUNK_CELLS = 1 << 22


class _PairCounts:
    """Comparisons and errors per unordered pair of subjects (off the diagonal) and per subject (genuine)."""

    def __init__(self, side_a: np.ndarray, side_b: np.ndarray, errors: np.ndarray, n: int) -> None:
        lo, hi = np.minimum(side_a, side_b), np.maximum(side_a, side_b)
        own = lo == hi
        wrong = np.asarray(errors, dtype=np.float64)
        rows, cols = lo[~own], hi[~own]
        # coo -> csr sums the duplicates: one entry per compared pair of subjects.
        self.pairs = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
        self.pair_errors = sparse.csr_matrix((wrong[~own], (rows, cols)), shape=(n, n))
        self.pair_errors.eliminate_zeros()
        self.own = np.bincount(lo[own], minlength=n).astype(np.float64)
        self.own_errors = np.bincount(lo[own], weights=wrong[own], minlength=n)

    def weighted(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted errors and comparisons per draw; ``m`` (n, draws) multiplicities."""
        return _quadratic(self.pair_errors, self.own_errors, m), _quadratic(self.pairs, self.own, m)


def _quadratic(pairs: sparse.csr_matrix, own: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per column d of ``m``: sum over pairs c_ab m_a m_b + sum over subjects own_a m_a."""
    total = own @ m
    if pairs.nnz:
        total = total + np.einsum("nd,nd->d", m, pairs @ m)
    return total


def weighted_rates(side_a: np.ndarray, side_b: np.ndarray, errors: np.ndarray, multiplicities: np.ndarray) -> np.ndarray:
    """The rate under given multiplicities: ``side_a``/``side_b`` (N,) subject indices in
    ``[0, n)``, ``errors`` (N,) bool, ``multiplicities`` (draws, n); NaN where a draw has no weight.

    The weighting rule of :func:`subject_rate_draws`, exposed so that it can be checked by hand.
    """
    m = np.asarray(multiplicities, dtype=np.float64)
    counts = _PairCounts(np.asarray(side_a), np.asarray(side_b), errors, m.shape[1])
    wrong, total = counts.weighted(np.ascontiguousarray(m.T))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, wrong / np.where(total > 0, total, 1.0), np.nan)


def _multiplicities(n: int, draws: int, generator: np.random.Generator) -> np.ndarray:
    """(n, draws): how often each of n subjects is picked in n picks with replacement, per draw."""
    picks = generator.integers(0, n, size=(draws, n))
    # Laid out subject-major so that the result is (n, draws) C-contiguous for the sparse product.
    cells = picks * draws + np.arange(draws)[:, None]
    return np.bincount(cells.ravel(), minlength=n * draws).reshape(n, draws).astype(np.float64)


def subject_rate_draws(
    subject_x: np.ndarray, subject_y: np.ndarray, errors: np.ndarray, samples: int, generator: np.random.Generator
) -> np.ndarray:
    """``samples`` bootstrap draws of the error rate of these comparisons, resampling subjects.

    ``subject_x``/``subject_y`` (N,) int subject ids of the two sides, ``errors`` (N,) bool;
    N >= 1. The subjects resampled are those that occur here (see the module doc).
    """
    size = len(subject_x)
    ids, inverse = np.unique(np.concatenate([subject_x, subject_y]), return_inverse=True)
    n = ids.size
    counts = _PairCounts(inverse[:size], inverse[size:], errors, n)
    out = np.empty(samples, dtype=np.float64)
    filled = 0
    while filled < samples:
        draws = min(samples - filled, max(1, _CHUNK_CELLS // n))
        wrong, total = counts.weighted(_multiplicities(n, draws, generator))
        defined = total > 0  # the rest are redrawn (see the module doc)
        rates = wrong[defined] / total[defined]
        take = min(rates.size, samples - filled)
        out[filled:filled + take] = rates[:take]
        filled += take
    return out
