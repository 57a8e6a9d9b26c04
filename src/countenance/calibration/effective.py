"""How many independent comparisons a subject with several templates is worth to a stranger.

A probe is scored against a subject by its nearest template. A stranger who is close to one
photo of a person tends to be close to the others too, so a subject with ``k`` templates is a
false-match risk of fewer than ``k`` independent comparisons. Measured on impostor probes, the
*effective number of templates* of a subject with ``k`` templates at distance ``t`` is

    k_eff(k, t) = log(1 - FMR_k(t)) / log(1 - FMR_1(t))

where ``FMR_k(t)`` is the fraction of (impostor probe, subject with ``k`` templates) pairs whose
nearest template is at distance ``<= t`` and ``FMR_1`` the same with one template, both on the same
subjects. Then a subject's false-match rate is ``1 - (1 - FMR(t))^k_eff`` with the per-comparison
table ``FMR`` and, over enrolled subjects with ``k_i`` templates each,

    FPIR(t) = 1 - prod_i (1 - FMR(t))^k_eff(k_i, t) = 1 - (1 - FMR(t))^(sum_i k_eff(k_i, t)).

With ``k_eff(k) = k`` this is the old rule (every template an independent comparison).
:class:`EffectiveTemplates` is the measured table; between the measured ``k`` it is interpolated
linearly in ``log k``, and above the largest measured ``K`` it grows as ``k_eff(K) k / K`` (blocks
of ``K`` templates counted as independent: an overestimate, so the threshold errs strict).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import GalleryError, InvalidArgument

__all__ = ["EffectiveTemplates"]


@dataclass(frozen=True)
class EffectiveTemplates:
    """``k_eff`` measured at ``templates`` ``(K,) int`` (strictly increasing, starting at 1) and
    ``distances`` ``(T,) float64`` (strictly increasing): ``values`` ``(K, T) float64``, with
    ``values[0] == 1`` and each column non-decreasing in ``k``. Outside ``distances`` the nearest
    column is used."""

    templates: np.ndarray
    distances: np.ndarray
    values: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        ks = np.asarray(self.templates, dtype=np.int64)
        d = np.asarray(self.distances, dtype=np.float64)
        v = np.asarray(self.values, dtype=np.float64)
        if ks.ndim != 1 or ks.size == 0 or ks[0] != 1 or np.any(np.diff(ks) <= 0):
            raise InvalidArgument("effective templates: `templates` must be strictly increasing from 1")
        if d.ndim != 1 or d.size == 0 or np.any(np.diff(d) <= 0):
            raise InvalidArgument("effective templates: `distances` must be strictly increasing")
        if v.shape != (ks.size, d.size) or not np.all(np.isfinite(v)) or np.any(v < 1.0 - 1e-9):
            raise InvalidArgument("effective templates: `values` must be a finite (K, T) table >= 1")
        object.__setattr__(self, "templates", ks)
        object.__setattr__(self, "distances", d)
        object.__setattr__(self, "values", v)

    def at(self, k: int, distance: float) -> float:
        """``k_eff`` of a subject with ``k`` templates at ``distance`` (0 for ``k <= 0``)."""
        if k <= 0:
            return 0.0
        if k == 1:
            return 1.0
        column = self.column(distance)
        ks = self.templates
        if k >= ks[-1]:
            return float(column[-1] * k / ks[-1])
        return float(np.interp(math.log(k), np.log(ks), column))

    def column(self, distance: float) -> np.ndarray:
        """``(K,)``: ``k_eff`` at each measured ``k``, linear in distance between grid points."""
        d = self.distances
        if distance <= d[0] or d.size == 1:
            return self.values[:, 0]
        if distance >= d[-1]:
            return self.values[:, -1]
        i = int(np.searchsorted(d, distance, side="right")) - 1
        w = (distance - d[i]) / (d[i + 1] - d[i])
        return self.values[:, i] * (1.0 - w) + self.values[:, i + 1] * w

    def total(self, counts: Mapping[int, int], distance: float) -> float:
        """``sum_i k_eff(k_i)`` over a gallery with ``counts[k]`` subjects of ``k`` templates."""
        return float(sum(n * self.at(int(k), distance) for k, n in counts.items() if n > 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "templates": [int(k) for k in self.templates],
            "distance": [round(float(x), 6) for x in self.distances],
            "effective": [[round(float(x), 4) for x in row] for row in self.values],
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> EffectiveTemplates:
        try:
            return cls(
                np.array(document["templates"], dtype=np.int64),
                np.array(document["distance"], dtype=np.float64),
                np.array(document["effective"], dtype=np.float64),
                str(document.get("source", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GalleryError(f"not an effective-templates table ({error})") from None
