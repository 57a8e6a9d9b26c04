"""Measurement toolkit: per-group errors, masks, degradations, budgets.

The error rates (FMR, FNMR, DET, thresholds at a target FMR) are
:mod:`countenance.calibration.rates`'s. :mod:`.groups` (pure functions over distance arrays)
builds on them.
The image modules (:mod:`.masks`, :mod:`.degrade`) are pure functions over RGB arrays. The run
modules (``run_*``) embed images through a pipeline, cache templates on disk and return
frozen result dataclasses with ``to_dict()``; :mod:`.report` writes JSON and offline HTML.
Nothing is imported or loaded here beyond :mod:`.groups` (numpy only).
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

__all__ = [
    "read_group_labels", "LabelledComparisons", "GroupRates", "CrossGroupMatrix", "Ratio", "GroupReport",
    "group_rates", "cross_group_fmr", "max_min_ratio", "group_report",
]
