"""A table from the user's own labelled comparisons, for any model (``countenance calibrate``).

- :func:`table_from_pairs`: one distance per labelled pair (same person or not);
- :func:`table_from_folders`: templates labelled by person, every pair of them compared;
  with a person holding two or more, the effective number of templates is measured too.

The table gets an FNMR column from the genuine comparisons when there are any.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..decide import pairwise_distances
from ..errors import InvalidArgument
from .effective import EffectiveTemplates
from .impostors import distance_grid
from .subjects import subject_impostor_rates
from .table import Calibration, build_calibration

__all__ = ["table_from_pairs", "table_from_folders"]


def _table(impostor: np.ndarray, genuine: np.ndarray, *, model: str, metric: str, source: str,
           effective: EffectiveTemplates | None = None) -> Calibration:
    if impostor.size < 2:
        raise InvalidArgument(f"need at least 2 impostor comparisons with a face on both sides, got {impostor.size}")
    return build_calibration(impostor, model=model, metric=metric, genuine_distances=genuine if genuine.size else None,
                             effective=effective, source=source)


def table_from_pairs(distances: np.ndarray, same: np.ndarray, *, model: str, metric: str, source: str) -> Calibration:
    """The table of ``distances`` ``(P,)`` of labelled pairs (``same`` ``(P,) bool``: one person)."""
    d = np.asarray(distances, dtype=np.float64).ravel()
    y = np.asarray(same, dtype=bool).ravel()
    if d.shape != y.shape:
        raise InvalidArgument(f"{d.size} distances but {y.size} labels")
    return _table(d[~y], d[y], model=model, metric=metric, source=source)


def table_from_folders(
    vectors: np.ndarray, people: Sequence[str], *, model: str, metric: str, source: str
) -> Calibration:
    """The table of all pairs of ``vectors`` ``(N, D)`` labelled by ``people`` ``(N,)``: same
    person genuine, else impostor; with the effective number of templates when some person has
    two or more (measured on a grid of impostor quantiles, columns with 5+ events)."""
    x = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(list(people))
    if x.ndim != 2 or labels.shape != (x.shape[0],):
        raise InvalidArgument("table_from_folders needs (N, D) vectors and N labels")
    i, j = np.triu_indices(len(labels), k=1)
    full = pairwise_distances(x, x, metric) if len(labels) else np.zeros((0, 0))
    same = labels[i] == labels[j]
    impostor, genuine = full[i, j][~same], full[i, j][same]
    effective = None
    if impostor.size >= 2 and genuine.size >= 1:
        rates = subject_impostor_rates(x, list(labels), metric, distances=distance_grid(impostor), min_events=5)
        effective = EffectiveTemplates(rates.templates, rates.distances, rates.effective,
                                       source=f"{source}: {len(labels)} images of {len(set(labels))} people")
    return _table(impostor, genuine, model=model, metric=metric, source=source, effective=effective)
