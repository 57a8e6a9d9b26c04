"""Measuring how much a subject's several templates raise a stranger's chance of matching them.

For every impostor pair (probe image, subject with ``m`` images of another person) and every
distance ``t`` of a grid, ``c`` is how many of the subject's images are within ``t`` of the probe.
A subject enrolled with ``k`` of its ``m`` images, drawn at random, is matched (nearest template
within ``t``) with probability ``1 - C(m - c, k) / C(m, k)``; averaging that over the pairs gives
``FMR_k(t)`` exactly over every ``k``-subset, without drawing any. ``FMR_1`` over the *same*
subjects (those with ``m >= k``) is the mean of ``c / m``; the effective number of templates is
``log(1 - FMR_k) / log(1 - FMR_1)`` (:mod:`.effective`), applied by the gallery
to its per-comparison table.

Where too few impostor pairs fall within ``t`` to measure (fewer than ``min_events`` with one
template), a column is copied from the nearest measured one; ``k_eff`` is made non-decreasing in
``k`` and kept within ``[1, k]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..decide import pairwise_distances
from ..errors import InvalidArgument

__all__ = ["DEFAULT_TEMPLATE_COUNTS", "SubjectImpostorRates", "subject_impostor_rates"]

#: Templates per subject at which ``k_eff`` is measured (people with that many images are needed).
DEFAULT_TEMPLATE_COUNTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)


@dataclass(frozen=True)
class SubjectImpostorRates:
    """What :func:`subject_impostor_rates` measured: at ``templates`` ``(K,)`` and ``distances``
    ``(T,)``, ``fmr_best`` ``(K, T)`` (a subject with ``k`` templates, scored by its nearest),
    ``fmr_one`` ``(K, T)`` (one template, same subjects), ``effective`` ``(K, T)`` (``k_eff``, filled
    and made monotone), ``measured`` ``(K, T) bool`` (columns with enough events), ``subjects`` and
    ``pairs`` ``(K,)`` (subjects with at least ``k`` images, impostor pairs with them)."""

    templates: np.ndarray
    distances: np.ndarray
    fmr_best: np.ndarray
    fmr_one: np.ndarray
    effective: np.ndarray
    measured: np.ndarray
    subjects: np.ndarray
    pairs: np.ndarray


def _log_choose(n_max: int, ks: np.ndarray) -> np.ndarray:
    """``(K, n_max + 1)``: ``log C(n, k)``, ``-inf`` where ``n < k``."""
    from scipy.special import gammaln

    n = np.arange(n_max + 1, dtype=np.float64)
    k = ks.astype(np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        out = gammaln(n + 1) - gammaln(k + 1) - gammaln(np.maximum(n - k, 0) + 1)
    return np.where(n[None, :] >= k, out, -np.inf)


def subject_impostor_rates(
    vectors: np.ndarray,
    people: Sequence[str],
    metric: str,
    *,
    templates: Iterable[int] = DEFAULT_TEMPLATE_COUNTS,
    distances: Iterable[float] | None = None,
    same_person: Iterable[tuple[str, str]] = (),
    min_events: int = 20,
    block: int = 512,
) -> SubjectImpostorRates:
    """Measure ``FMR_k`` and ``k_eff`` (module docstring) on ``vectors`` ``(N, D)`` labelled by
    ``people`` ``(N,)``: every image is a probe against every other person with at least two
    images; pairs of names in ``same_person`` (label errors) are left out. Template counts with
    no person holding that many images are dropped (1 always stays). ``distances``: the grid, in
    the model's metric (:func:`~.impostors.distance_grid` places one on any model's scale)."""
    x = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(list(people))
    if x.ndim != 2 or labels.shape != (x.shape[0],):
        raise InvalidArgument("subject_impostor_rates needs (N, D) vectors and N labels")
    names, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    ks = np.array(sorted({1, *(int(k) for k in templates if int(k) >= 1 and int(k) <= sizes.max(initial=0))}))
    subject_ids = np.flatnonzero(sizes >= 2)
    if subject_ids.size == 0 or len(names) < 2:
        raise InvalidArgument("need at least one person with two or more images and another person")
    grid = np.asarray(sorted(set(float(t) for t in (() if distances is None else distances))), dtype=np.float64)
    if grid.size == 0:
        raise InvalidArgument("subject_impostor_rates needs at least one distance")
    columns = np.concatenate([np.flatnonzero(inverse == s) for s in subject_ids])
    m = sizes[subject_ids]
    starts = np.concatenate([[0], np.cumsum(m)[:-1]])
    log_c = _log_choose(int(m.max()), ks)
    row_of = {name: i for i, name in enumerate(names)}
    position = {int(s): j for j, s in enumerate(subject_ids)}
    excluded = [(row_of[a], row_of[b]) for a, b in same_person if a in row_of and b in row_of]

    eligible = m[None, :] >= ks[:, None]  # (K, S)
    best = np.zeros((ks.size, grid.size))
    one = np.zeros((ks.size, grid.size))
    pairs = np.zeros(ks.size)
    events = np.zeros(grid.size)  # impostor comparisons within t, one template (all subjects)
    for lo in range(0, x.shape[0], block):
        d = pairwise_distances(x[lo : lo + block], x[columns], metric)
        valid = inverse[lo : lo + block, None] != subject_ids[None, :]  # (B, S): not the probe's own person
        for a, b in excluded:
            for p, q in ((a, b), (b, a)):
                if q in position:
                    valid[inverse[lo : lo + block] == p, position[q]] = False
        pairs += valid.sum(axis=0) @ eligible.T
        for j, t in enumerate(grid):
            c = np.add.reduceat((d <= t).astype(np.int32), starts, axis=1)  # (B, S)
            r, s = np.nonzero((c > 0) & valid)
            if r.size == 0:
                continue
            cc, mm = c[r, s], m[s]
            events[j] += cc.sum()
            for i, k in enumerate(ks):
                keep = mm >= k
                one[i, j] += (cc[keep] / mm[keep]).sum()
                best[i, j] += (1.0 - np.exp(log_c[i, mm[keep] - cc[keep]] - log_c[i, mm[keep]])).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        fmr_best = best / pairs[:, None]
        fmr_one = one / pairs[:, None]
        raw = np.log1p(-fmr_best) / np.log1p(-fmr_one)
    measured = (events >= min_events)[None, :] & np.isfinite(raw) & (fmr_one > 0)
    return SubjectImpostorRates(
        ks, grid, fmr_best, fmr_one, _fill(raw, measured, ks), measured,
        (sizes[subject_ids][None, :] >= ks[:, None]).sum(axis=1), pairs.astype(np.int64),
    )


def _fill(raw: np.ndarray, measured: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Unmeasured cells from the nearest measured column of their row (1 where a row has none),
    then clipped to ``[1, k]`` and made non-decreasing in ``k``."""
    out = np.ones_like(raw)
    for i in range(raw.shape[0]):
        have = np.flatnonzero(measured[i])
        if have.size == 0:
            continue
        nearest = have[np.abs(np.arange(raw.shape[1])[:, None] - have[None, :]).argmin(axis=1)]
        out[i] = raw[i, nearest]
    out = np.clip(out, 1.0, ks[:, None].astype(np.float64))
    out[0] = 1.0
    return np.maximum.accumulate(out, axis=0)
