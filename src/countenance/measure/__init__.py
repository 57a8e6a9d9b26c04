"""Measurement toolkit: verification error rates, per-group errors, masks, degradations, budgets.

The metric modules (:mod:`.rates`, :mod:`.groups`) are pure functions over distance arrays.
The image modules (:mod:`.masks`, :mod:`.degrade`) are pure functions over RGB arrays. The run
modules (``run_*``) embed images through a pipeline, cache templates on disk and return
frozen result dataclasses with ``to_dict()``; :mod:`.report` writes JSON and offline HTML.
Nothing is imported or loaded here beyond the metric modules (numpy only).
"""

from .groups import (
    CrossGroupMatrix,
    GroupRates,
    GroupReport,
    LabelledComparisons,
    Ratio,
    cross_group_fmr,
    group_rates,
    group_report,
    max_min_ratio,
    read_group_labels,
)
from .rates import (
    DetCurve,
    ErrorRates,
    OperatingPoint,
    best_accuracy_threshold,
    det_curve,
    fnmr_at_fmr,
    rates_at_threshold,
    split_scores,
    threshold_at_fmr,
)

__all__ = [
    "ErrorRates", "OperatingPoint", "DetCurve", "split_scores", "rates_at_threshold", "threshold_at_fmr",
    "fnmr_at_fmr", "det_curve", "best_accuracy_threshold",
    "read_group_labels", "LabelledComparisons", "GroupRates", "CrossGroupMatrix", "Ratio", "GroupReport",
    "group_rates", "cross_group_fmr", "max_min_ratio", "group_report",
]
