"""Evaluation, the one package for measuring a pipeline: verification benchmarks (LFW's 10-fold
protocol, any labelled pairs CSV), open-set identification through a gallery, and the toolkit
of per-group errors, masks, degradations and latency budgets. The error rates themselves (FMR,
FNMR, FPIR, FNIR) and calibration tables are :mod:`countenance.calibration`'s; images are
embedded through :mod:`countenance.ingest`.

- :mod:`.protocols`: pairs readers, fold assignment and subsetting, LFW's central subject;
- :mod:`.metrics`: k-fold accuracy, ROC AUC, CMC and confidence intervals (pure);
- :mod:`.embedding`: one template per image in parallel processes, with the fallbacks;
- :mod:`.verification`: :func:`evaluate_pairs` and its report;
- :mod:`.lfw_templates`: LFW templates cached on disk;
- :mod:`.open_set` and :mod:`.lfw_open_set`: open-set identification through a gallery (any
  folders; LFW's one-template and all-but-one protocols);
- the toolkit: :mod:`.groups` and :mod:`.subject_bootstrap` (per-group rates, pure),
  :mod:`.masks`, :mod:`.degrade` and :mod:`.face_frame` (pure image functions),
  :mod:`.choice` (a measured pipeline: detector x embedder), :mod:`.variant_templates` (templates
  of images and of their degraded or masked variants), :mod:`.condition_pairs` (the figures of
  one condition over a pairs protocol), :mod:`.quantize` (int8 models), the entry points
  ``run_budget``, ``run_degrade``, ``run_groups``, ``run_masks``, and :mod:`.report` (JSON and
  offline HTML).

The last two import the gallery; they are loaded on first use, not with this package.
"""

from __future__ import annotations

from .embedding import SubjectChoice, embed_images
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
from .lfw_templates import LfwTemplates, lfw_image_paths, load_lfw_templates
from .metrics import kfold_accuracy, roc_auc
from .protocols import (
    CENTRAL_TOLERANCE,
    LFW_CENTRE_BOX,
    Pair,
    assign_folds,
    central_subject,
    first_per_fold,
    read_lfw_pairs,
    read_pairs_csv,
)
from .verification import DEFAULT_FMRS, EvaluationReport, FailedPair, evaluate_pairs

__all__ = [
    "Pair",
    "central_subject",
    "read_lfw_pairs",
    "read_pairs_csv",
    "assign_folds",
    "first_per_fold",
    "kfold_accuracy",
    "roc_auc",
    "SubjectChoice",
    "EvaluationReport",
    "FailedPair",
    "embed_images",
    "evaluate_pairs",
    "LfwTemplates",
    "lfw_image_paths",
    "load_lfw_templates",
    "DEFAULT_FMRS",
    "LFW_CENTRE_BOX",
    "CENTRAL_TOLERANCE",
    "read_group_labels", "LabelledComparisons", "GroupRates", "CrossGroupMatrix", "Ratio", "GroupReport",
    "group_rates", "cross_group_fmr", "max_min_ratio", "group_report",
]
