"""Stage 3: decisions over templates, as pure functions.

Distances follow the model's metric (:class:`ModelSpec.metric`): ``"euclidean"`` on raw
vectors or ``"cosine"`` (1 - cosine similarity). Lower is more alike everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InvalidArgument, TemplateMismatch
from .faces import Comparison, Face, ModelSpec, Template

__all__ = [
    "pairwise_distances",
    "cosine_similarity",
    "resolve_threshold",
    "compare_templates",
    "NearestSubject",
    "open_set_decision",
    "nearest_subject",
]


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of rows of ``a`` (N, D) and ``b`` (M, D): (N, M); 0 for a zero vector."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    na[na == 0] = 1.0
    nb[nb == 0] = 1.0
    return (a / na) @ (b / nb).T


def pairwise_distances(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Distances between rows of ``a`` (N, D) and ``b`` (M, D) in ``metric``: (N, M) float64."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[1] != b.shape[1]:
        raise TemplateMismatch(f"templates have different sizes: {a.shape[1]} and {b.shape[1]}")
    if metric == "euclidean":
        squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        return np.sqrt(np.maximum(squared, 0.0))
    if metric == "cosine":
        return 1.0 - cosine_similarity(a, b)
    raise InvalidArgument(f"unknown metric {metric!r}; expected 'euclidean' or 'cosine'")


def resolve_threshold(spec: ModelSpec, threshold: str | float | None) -> tuple[float, str]:
    """``(value, name)`` of a threshold given by name, as a number, or None (the model's default)."""
    if threshold is None:
        threshold = spec.default_threshold
    if isinstance(threshold, str):
        try:
            return spec.thresholds[threshold], threshold
        except KeyError:
            known = ", ".join(sorted(spec.thresholds))
            raise InvalidArgument(f"model {spec.name} has no threshold named {threshold!r}; known: {known}") from None
    value = float(threshold)
    if not np.isfinite(value) or value < 0:
        raise InvalidArgument(f"a threshold must be a finite distance >= 0, got {threshold!r}")
    return value, "custom"


def _template(item: Face | Template) -> Template:
    if isinstance(item, Face):
        if item.template is None:
            raise InvalidArgument("this face has no template; use embed() rather than detect()")
        return item.template
    return item


def compare_templates(
    a: Face | Template, b: Face | Template, spec: ModelSpec, threshold: str | float | None = None
) -> Comparison:
    """Compare two templates made by the model ``spec`` describes (1:1 verification)."""
    ta, tb = _template(a), _template(b)
    for t in (ta, tb):
        if t.model != spec.name:
            raise TemplateMismatch(f"template made by {t.model!r} compared with model {spec.name!r}")
    value, name = resolve_threshold(spec, threshold)
    distance = float(pairwise_distances(ta.vector, tb.vector, spec.metric)[0, 0])
    similarity = float(cosine_similarity(ta.vector, tb.vector)[0, 0])
    return Comparison(
        distance=distance,
        similarity=similarity,
        threshold=value,
        threshold_name=name,
        same=distance <= value,
        model=spec.name,
        metric=spec.metric,
    )


@dataclass(frozen=True)
class NearestSubject:
    """The open-set decision: who a probe is closest to, and whether that is close enough.

    ``label`` is None when the nearest distance is farther than ``threshold`` ("unknown") or
    when the decision is ``ambiguous``: the nearest candidate is within the threshold but a
    candidate with another label is no more than the tie margin farther, so the model cannot
    tell which of them the probe is.
    ``nearest_label`` is the nearest one's label all the same (None only when there was no
    candidate); ``nearest_index`` its position in the candidates given (-1 when none).
    """

    label: str | None
    nearest_label: str | None
    distance: float
    threshold: float
    nearest_index: int = -1
    ambiguous: bool = False

    @property
    def outcome(self) -> str:
        """``"match"``, ``"ambiguous"`` or ``"unknown"``."""
        return "match" if self.label is not None else ("ambiguous" if self.ambiguous else "unknown")


def open_set_decision(
    distances: np.ndarray | Sequence[float], labels: Sequence[str], threshold: float, *, tie_margin: float = 0.0
) -> NearestSubject:
    """The one open-set rule: accept the nearest candidate when its distance is ``<= threshold``
    and no candidate with another label is within ``tie_margin`` of it.

    ``distances`` (N,) are in the model's metric (lower is more alike), ``labels`` (N) name
    each candidate (a subject may appear several times, e.g. once per template; only its
    nearest counts). ``tie_margin`` is the model's (:attr:`ModelSpec.tie_margin`): a runner-up
    of another label at ``distance + tie_margin`` or closer makes the decision ambiguous
    (``label`` None, ``ambiguous`` True), so exact ties between two labels are always
    ambiguous. No candidates, or a nearest distance that is NaN or above ``threshold``,
    answer "unknown" (``label`` None); with none the distance is ``inf``.
    """
    values = np.asarray(distances, dtype=np.float64).ravel()
    if values.size != len(labels):
        raise InvalidArgument(f"{len(labels)} labels for {values.size} distances")
    margin = float(tie_margin)
    if not np.isfinite(margin) or margin < 0:
        raise InvalidArgument(f"tie_margin must be a finite distance >= 0, got {tie_margin!r}")
    if values.size == 0:
        return NearestSubject(None, None, float("inf"), float(threshold))
    finite = np.where(np.isnan(values), np.inf, values)
    best = int(np.argmin(finite))
    distance = float(values[best])
    others = [float(finite[i]) for i in range(values.size) if labels[i] != labels[best]]
    accepted = bool(distance <= threshold)  # False for NaN
    ambiguous = accepted and bool(others) and min(others) - distance <= margin
    return NearestSubject(labels[best] if accepted and not ambiguous else None, labels[best], distance, float(threshold), best, ambiguous)


def nearest_subject(
    probe: np.ndarray, templates: np.ndarray, labels: list[str], metric: str, threshold: float, *, tie_margin: float = 0.0
) -> NearestSubject:
    """:func:`open_set_decision` of ``probe`` (D,) against ``templates`` (N, D) with ``labels`` (N).

    An empty set of templates answers "unknown" with an infinite distance.
    """
    if len(labels) != len(templates):
        raise InvalidArgument(f"{len(labels)} labels for {len(templates)} templates")
    if len(labels) == 0:
        return open_set_decision(np.zeros(0), [], threshold, tie_margin=tie_margin)
    return open_set_decision(pairwise_distances(probe, templates, metric)[0], labels, threshold, tie_margin=tie_margin)
