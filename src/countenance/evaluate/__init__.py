"""Evaluation: verification benchmarks (LFW's 10-fold protocol, any labelled pairs CSV),
open-set identification on LFW through a gallery, and the LFW impostor calibration.

- :mod:`.protocols`: pairs readers, fold assignment and subsetting, LFW's central subject;
- :mod:`.metrics`: pure metric functions over distances and labels;
- :mod:`.embedding`: one template per image in parallel processes, with the fallbacks;
- :mod:`.verification`: :func:`evaluate_pairs` and its report;
- :mod:`.lfw_templates`: LFW templates cached on disk;
- :mod:`.open_set`, :mod:`.lfw_open_set` and :mod:`.calibration`: open-set identification
  through a gallery (any folders; LFW's one-template and all-but-one protocols) and the FMR tables.

The last three import the gallery; they are loaded on first use, not with this package.
"""

from __future__ import annotations

from .embedding import SubjectChoice, embed_images
from .lfw_templates import LfwTemplates, lfw_image_paths, load_lfw_templates
from .metrics import DEFAULT_FARS, best_threshold, fnir_at_fpir, kfold_accuracy, roc_auc, tar_at_far
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
from .verification import EvaluationReport, FailedPair, evaluate_pairs

__all__ = [
    "Pair",
    "central_subject",
    "read_lfw_pairs",
    "read_pairs_csv",
    "assign_folds",
    "first_per_fold",
    "best_threshold",
    "kfold_accuracy",
    "roc_auc",
    "tar_at_far",
    "fnir_at_fpir",
    "SubjectChoice",
    "EvaluationReport",
    "FailedPair",
    "embed_images",
    "evaluate_pairs",
    "LfwTemplates",
    "lfw_image_paths",
    "load_lfw_templates",
    "DEFAULT_FARS",
    "LFW_CENTRE_BOX",
    "CENTRAL_TOLERANCE",
]
