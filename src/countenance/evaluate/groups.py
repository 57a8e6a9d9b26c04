"""Error rates per group of people, as NISTIR 8280 and ISO/IEC 19795-10 report them.

The groups are the user's: a CSV maps each image to a label (:func:`read_group_labels`); the
toolkit invents no label and infers none from the faces.

At one global threshold (the one the system runs at, set on all impostors):

- FNMR per group over mated comparisons whose two images carry that group's label;
- FMR per group over non-mated comparisons *within* the group (both images in it): the
  NISTIR 8280 headline, since impostors of one's own group are the likeliest false matches;
- the cross-group matrix: FMR over non-mated comparisons of each unordered pair of groups
  (the diagonal is the per-group FMR);
- max/min ratios across groups (ISO/IEC 19795-10's "differential performance"), with
  bootstrap confidence intervals.

Bootstrap: percentile intervals over ``samples`` draws from a seeded ``numpy.random.Generator``,
each group resampled on its own. The unit resampled is the report's ``bootstrap.unit``:

- ``subject`` when the comparisons carry the subject of each side (``all_pairs`` fills them, so
  ``countenance eval groups`` always does): the people of each group are resampled with
  replacement, an impostor comparison of subjects ``a`` and ``b`` weighing ``m_a * m_b`` and a
  genuine one of subject ``a`` weighing ``m_a`` (``m``: how often each was drawn), as in
  Bolle et al.'s subsets bootstrap; see :mod:`~countenance.evaluate.subject_bootstrap`. FMR
  resamples the group's subjects that have within-group impostor comparisons, FNMR those that
  have genuine ones. Comparisons that share a person are not independent, and this is the
  interval that allows for it.
- ``comparison`` otherwise: comparisons are resampled with replacement within each group, which
  for ``n`` comparisons with ``e`` errors is exactly a Binomial(n, e/n) draw. It treats
  comparisons that share a person as independent, so these intervals are too narrow when people
  recur: read them as a lower bound on the uncertainty.

A group with no comparisons of a kind has ``None`` for that rate, and is left out of that
ratio. A ratio whose smallest rate is 0 is unbounded: ``value`` is None and ``reason`` says
why (no NaN, no infinity in the output).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..calibration.rates import as_scores, error_counts
from .subject_bootstrap import subject_rate_draws

__all__ = [
    "read_group_labels",
    "LabelledComparisons",
    "Interval",
    "GroupRates",
    "CrossGroupMatrix",
    "Ratio",
    "GroupReport",
    "group_rates",
    "cross_group_fmr",
    "max_min_ratio",
    "group_report",
    "COMPARISON_UNIT",
    "SUBJECT_UNIT",
]


def read_group_labels(csv_path: str | os.PathLike[str], column: str = "group") -> dict[str, str]:
    """``{image: label}`` from a CSV with an ``image`` column and a label column (``column``).

    ``image`` is a path as the caller will name the image (e.g. relative to the image folder,
    with ``/`` separators). Labels are kept as written, stripped of spaces. An empty label, a
    missing column or an image listed twice with different labels is an InvalidArgument that
    names the file and line.
    """
    path = Path(csv_path)
    labels: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"image", column} - set(reader.fieldnames or [])
            if missing:
                raise InvalidArgument(f"{path}:1: missing column(s) {', '.join(sorted(missing))}; need image,{column}")
            for lineno, row in enumerate(reader, start=2):
                image = Path((row["image"] or "").strip()).as_posix()
                label = (row[column] or "").strip()
                if image in ("", "."):
                    raise InvalidArgument(f"{path}:{lineno}: empty image name")
                if not label:
                    raise InvalidArgument(f"{path}:{lineno}: empty {column!r} label for {image}")
                if labels.get(image, label) != label:
                    raise InvalidArgument(f"{path}:{lineno}: {image} is labelled both {labels[image]!r} and {label!r}")
                labels[image] = label
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such labels file") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"{path}: not a UTF-8 CSV file") from None
    if not labels:
        raise InvalidArgument(f"{path}: no labelled images")
    return labels


@dataclass(frozen=True, eq=False)
class LabelledComparisons:
    """Comparisons with the group label of each side.

    ``distances`` (N,) float64 (lower is more alike), ``same`` (N,) bool (mated),
    ``group_x`` and ``group_y`` (N,) str labels of the two images. ``subject_x`` and
    ``subject_y`` (N,) str, both or neither: the person of each side, which lets the bootstrap
    resample people; when given, ``same`` must be exactly ``subject_x == subject_y``.
    """

    distances: np.ndarray
    same: np.ndarray
    group_x: np.ndarray
    group_y: np.ndarray
    subject_x: np.ndarray | None = None
    subject_y: np.ndarray | None = None

    def __post_init__(self) -> None:
        d = as_scores(self.distances, "distances")
        arrays = {"same": np.asarray(self.same, dtype=bool), "group_x": np.asarray(self.group_x, dtype=str),
                  "group_y": np.asarray(self.group_y, dtype=str)}
        if (self.subject_x is None) != (self.subject_y is None):
            raise InvalidArgument("give subject_x and subject_y together, or neither")
        if self.subject_x is not None:
            arrays["subject_x"] = np.asarray(self.subject_x, dtype=str)
            arrays["subject_y"] = np.asarray(self.subject_y, dtype=str)
        for name, array in arrays.items():
            if array.shape != d.shape:
                raise InvalidArgument(f"{name} has shape {array.shape}, distances {d.shape}: they must match")
        if "subject_x" in arrays:
            clash = np.flatnonzero(arrays["same"] != (arrays["subject_x"] == arrays["subject_y"]))
            if clash.size:
                k = int(clash[0])
                raise InvalidArgument(
                    f"{clash.size} comparison(s) whose 'same' disagrees with their subjects, e.g. #{k}: "
                    f"{arrays['subject_x'][k]!r} vs {arrays['subject_y'][k]!r}, same={bool(arrays['same'][k])}"
                )
        object.__setattr__(self, "distances", d)
        for name, array in arrays.items():
            object.__setattr__(self, name, array)

    @classmethod
    def all_pairs(cls, vectors: np.ndarray, subjects: Sequence[str], groups: Sequence[str], metric: str) -> LabelledComparisons:
        """Every unordered pair of distinct images: ``vectors`` (N, D), one subject and group per row.

        Mated iff the two rows have the same subject; the subjects are kept (subject bootstrap).
        """
        from ..decide import pairwise_distances

        v = np.asarray(vectors, dtype=np.float64)
        if v.ndim != 2 or len(subjects) != len(v) or len(groups) != len(v):
            raise InvalidArgument(
                f"need vectors (N, D) with one subject and group per row; got {v.shape}, "
                f"{len(subjects)} subjects, {len(groups)} groups"
            )
        rows, cols = np.triu_indices(len(v), k=1)
        distances = pairwise_distances(v, v, metric)[rows, cols]
        s, g = np.asarray(subjects, dtype=str), np.asarray(groups, dtype=str)
        return cls(distances, s[rows] == s[cols], g[rows], g[cols], s[rows], s[cols])

    @property
    def labels(self) -> tuple[str, ...]:
        """Every group label that occurs, sorted."""
        return tuple(sorted(set(self.group_x.tolist()) | set(self.group_y.tolist())))


@dataclass(frozen=True)
class Interval:
    """A bootstrap percentile interval; ``high`` None means unbounded (an infinite ratio)."""

    low: float
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}


@dataclass(frozen=True)
class GroupRates:
    """One group's FMR (within-group impostors) and FNMR at the global threshold.

    A rate is None when the group has no comparisons of that kind; so is its interval.
    """

    group: str
    fmr: float | None
    false_matches: int
    impostors: int
    fnmr: float | None
    false_non_matches: int
    genuine: int
    fmr_interval: Interval | None = None
    fnmr_interval: Interval | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "fmr": self.fmr, "false_matches": self.false_matches, "impostors": self.impostors,
            "fnmr": self.fnmr, "false_non_matches": self.false_non_matches, "genuine": self.genuine,
            "fmr_interval": None if self.fmr_interval is None else self.fmr_interval.to_dict(),
            "fnmr_interval": None if self.fnmr_interval is None else self.fnmr_interval.to_dict(),
        }


def _rate(errors: int, total: int) -> float | None:
    return errors / total if total else None


def group_rates(comparisons: LabelledComparisons, threshold: float) -> tuple[GroupRates, ...]:
    """Per-group FMR and FNMR at ``threshold``, groups sorted by label (no intervals).

    Mated comparisons whose sides carry different labels count in no group.
    """
    c, t = comparisons, float(threshold)
    within = c.group_x == c.group_y
    out = []
    for label in c.labels:
        here = within & (c.group_x == label)
        impostor = c.distances[here & ~c.same]
        genuine = c.distances[here & c.same]
        fm, fnm = error_counts(genuine, impostor, t)
        out.append(GroupRates(label, _rate(fm, impostor.size), fm, impostor.size, _rate(fnm, genuine.size), fnm, genuine.size))
    return tuple(out)


@dataclass(frozen=True)
class CrossGroupMatrix:
    """``fmr[i][j]``: FMR over non-mated comparisons between ``groups[i]`` and ``groups[j]``.

    Symmetric (pairs are unordered); None where no such comparison exists. ``impostors[i][j]``
    and ``false_matches[i][j]`` are the counts.
    """

    groups: tuple[str, ...]
    fmr: tuple[tuple[float | None, ...], ...]
    false_matches: tuple[tuple[int, ...], ...]
    impostors: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"groups": list(self.groups), "fmr": [list(r) for r in self.fmr],
                "false_matches": [list(r) for r in self.false_matches], "impostors": [list(r) for r in self.impostors]}


def _matrix_counts(comparisons: LabelledComparisons, threshold: float) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    c = comparisons
    labels = c.labels
    impostor = ~c.same
    # labels is sorted, so a binary search gives each label's index (a dict per row is ~10x slower).
    ix = np.searchsorted(np.array(labels), c.group_x[impostor]).astype(np.int64)
    iy = np.searchsorted(np.array(labels), c.group_y[impostor]).astype(np.int64)
    accepted = c.distances[impostor] <= float(threshold)
    n = len(labels)
    totals = np.zeros((n, n), dtype=np.int64)
    errors = np.zeros((n, n), dtype=np.int64)
    lo, hi = np.minimum(ix, iy), np.maximum(ix, iy)
    np.add.at(totals, (lo, hi), 1)
    np.add.at(errors, (lo, hi), accepted.astype(np.int64))
    # Mirror the upper triangle (unordered pairs) without doubling the diagonal.
    totals = totals + np.triu(totals, 1).T
    errors = errors + np.triu(errors, 1).T
    return labels, errors, totals


def cross_group_fmr(comparisons: LabelledComparisons, threshold: float) -> CrossGroupMatrix:
    """The cross-group impostor FMR matrix at ``threshold``."""
    labels, errors, totals = _matrix_counts(comparisons, threshold)
    fmr = tuple(tuple(_rate(int(e), int(n)) for e, n in zip(er, tr)) for er, tr in zip(errors, totals))
    return CrossGroupMatrix(labels, fmr, tuple(map(tuple, errors.tolist())), tuple(map(tuple, totals.tolist())))


@dataclass(frozen=True)
class Ratio:
    """Highest over lowest rate across groups (``what``: ``"fmr"`` or ``"fnmr"``).

    ``value`` is None (and ``reason`` says why) when fewer than two groups have the rate, or
    the lowest is 0. ``interval`` is the bootstrap interval when one was computed.
    """

    what: str
    value: float | None
    max_group: str | None
    min_group: str | None
    reason: str = ""
    interval: Interval | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "value": self.value, "max_group": self.max_group, "min_group": self.min_group,
                "reason": self.reason, "interval": None if self.interval is None else self.interval.to_dict()}


def max_min_ratio(rates: Mapping[str, float | None], what: str = "fmr") -> Ratio:
    """The max/min ratio of the defined ``rates`` (group -> rate or None).

    Ties: the alphabetically first group is named. Rates must lie in [0, 1].
    """
    defined = {g: float(r) for g, r in sorted(rates.items()) if r is not None}
    bad = [g for g, r in defined.items() if not 0.0 <= r <= 1.0]
    if bad:
        raise InvalidArgument(f"rates must lie in [0, 1]; groups {bad} do not")
    if len(defined) < 2:
        return Ratio(what, None, None, None, f"{len(defined)} group(s) with a {what.upper()}: need 2")
    top, bottom = max(defined.values()), min(defined.values())
    high = min(g for g, r in defined.items() if r == top)
    low = min(g for g, r in defined.items() if r == bottom)
    if defined[high] == 0.0:
        return Ratio(what, None, high, low, f"no group has any {what.upper()} error")
    if defined[low] == 0.0:
        return Ratio(what, None, high, low, f"group {low!r} has no {what.upper()} error: the ratio is unbounded")
    return Ratio(what, defined[high] / defined[low], high, low)


COMPARISON_UNIT = "comparison, resampled within each group"
SUBJECT_UNIT = "subject, resampled within each group"


@dataclass(frozen=True)
class GroupReport:
    """Everything per group at one global ``threshold`` (a distance), with bootstrap intervals."""

    threshold: float
    groups: tuple[GroupRates, ...]
    matrix: CrossGroupMatrix
    fmr_ratio: Ratio
    fnmr_ratio: Ratio
    samples: int
    confidence: float
    seed: int | None
    unlabelled_mated: int
    unit: str = COMPARISON_UNIT

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "groups": [g.to_dict() for g in self.groups],
            "cross_group_fmr": self.matrix.to_dict(),
            "fmr_ratio": self.fmr_ratio.to_dict(),
            "fnmr_ratio": self.fnmr_ratio.to_dict(),
            "bootstrap": {"samples": self.samples, "confidence": self.confidence, "seed": self.seed,
                          "unit": self.unit},
            "mated_across_groups": self.unlabelled_mated,
        }


def _percentiles(draws: np.ndarray, confidence: float) -> Interval:
    """Percentile interval of ``draws`` (may hold +inf); no interpolation, so no NaN."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.percentile(draws, [100 * tail, 100 * (1 - tail)], method="inverted_cdf")
    return Interval(float(low), None if np.isinf(high) else float(high))


def _ratio_draws(rates: list[np.ndarray]) -> np.ndarray:
    """Per bootstrap draw, max/min over the groups' drawn rates (+inf when the min is 0 and max > 0)."""
    stacked = np.stack(rates)
    high, low = stacked.max(axis=0), stacked.min(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(low > 0, high / np.where(low > 0, low, 1.0), np.inf)
    return np.where(high == 0, 1.0, ratio)  # no error anywhere: every group equal


def group_report(
    comparisons: LabelledComparisons,
    threshold: float,
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | None = None,
    seed: int | None = 0,
) -> GroupReport:
    """Per-group rates, the cross-group matrix and the max/min ratios at ``threshold``.

    ``samples`` bootstrap draws (0: no intervals) from ``rng`` (default: a Generator seeded
    with ``seed``); ``confidence`` is the interval's coverage in (0, 1). The draws resample
    subjects when ``comparisons`` has them, else comparisons (see the module doc).
    """
    if not isinstance(samples, int) or samples < 0:
        raise InvalidArgument(f"samples must be an int >= 0, got {samples!r}")
    if not 0.0 < confidence < 1.0:
        raise InvalidArgument(f"confidence must lie in (0, 1), got {confidence!r}")
    generator = rng if rng is not None else np.random.default_rng(seed)
    base = group_rates(comparisons, threshold)
    matrix = cross_group_fmr(comparisons, threshold)
    fmr_ratio = max_min_ratio({g.group: g.fmr for g in base}, "fmr")
    fnmr_ratio = max_min_ratio({g.group: g.fnmr for g in base}, "fnmr")
    groups = base
    by_subject = comparisons.subject_x is not None
    if samples:
        draw = _subject_draws(comparisons, threshold, samples, generator) if by_subject else _binomial_draws(samples, generator)
        fmr_draws, fnmr_draws, rows = [], [], []
        for g in base:
            fmr_i = fnmr_i = None
            if g.impostors:
                fmr_draws.append(draw(g, False))
                fmr_i = _percentiles(fmr_draws[-1], confidence)
            if g.genuine:
                fnmr_draws.append(draw(g, True))
                fnmr_i = _percentiles(fnmr_draws[-1], confidence)
            rows.append(GroupRates(g.group, g.fmr, g.false_matches, g.impostors, g.fnmr, g.false_non_matches,
                                   g.genuine, fmr_i, fnmr_i))
        groups = tuple(rows)
        # No interval where the ratio itself is undefined for want of groups or of any error.
        if len(fmr_draws) >= 2 and fmr_ratio.max_group is not None and sum(g.false_matches for g in base):
            fmr_ratio = _with_interval(fmr_ratio, _percentiles(_ratio_draws(fmr_draws), confidence))
        if len(fnmr_draws) >= 2 and fnmr_ratio.max_group is not None and sum(g.false_non_matches for g in base):
            fnmr_ratio = _with_interval(fnmr_ratio, _percentiles(_ratio_draws(fnmr_draws), confidence))
    mixed = int((comparisons.same & (comparisons.group_x != comparisons.group_y)).sum())
    return GroupReport(float(threshold), groups, matrix, fmr_ratio, fnmr_ratio, samples, float(confidence),
                       None if rng is not None else seed, mixed, SUBJECT_UNIT if by_subject else COMPARISON_UNIT)


_Draw = Callable[[GroupRates, bool], np.ndarray]


def _binomial_draws(samples: int, generator: np.random.Generator) -> _Draw:
    """Comparison bootstrap: n comparisons with e errors resampled is a Binomial(n, e/n) draw."""
    def draw(g: GroupRates, genuine: bool) -> np.ndarray:
        n, e = (g.genuine, g.false_non_matches) if genuine else (g.impostors, g.false_matches)
        return generator.binomial(n, e / n, size=samples) / n
    return draw


def _subject_draws(comparisons: LabelledComparisons, threshold: float, samples: int, generator: np.random.Generator) -> _Draw:
    """Subject bootstrap over a group's within-group comparisons of one kind."""
    c = comparisons
    assert c.subject_x is not None and c.subject_y is not None
    # Integer subject ids once for all groups: a set and a binary search are ~4x faster than
    # np.unique on a million strings.
    names = np.array(sorted(set(c.subject_x.tolist()) | set(c.subject_y.tolist())))
    sx, sy = np.searchsorted(names, c.subject_x), np.searchsorted(names, c.subject_y)
    within = c.group_x == c.group_y
    wrong = np.where(c.same, c.distances > float(threshold), c.distances <= float(threshold))

    def draw(g: GroupRates, genuine: bool) -> np.ndarray:
        here = within & (c.group_x == g.group) & (c.same == genuine)
        return subject_rate_draws(sx[here], sy[here], wrong[here], samples, generator)
    return draw


def _with_interval(ratio: Ratio, interval: Interval) -> Ratio:
    return Ratio(ratio.what, ratio.value, ratio.max_group, ratio.min_group, ratio.reason, interval)
