"""Cleaning a folder-per-person face data set, in the spirit of WebFace260M's CAST.

:func:`clean_dataset` finds mislabelled photos, photos that match no folder (outliers), photos without a (clear) face, folders that
hold the same person and near-duplicate photos, each as a :class:`Finding` with a confidence
and a reason; :func:`apply_report` writes a cleaned copy or a manifest; :func:`write_html`
an offline report with the faces side by side. :func:`check_identities` runs the identity
checks over templates alone (for galleries and photo libraries).
"""

from .apply import apply_report, write_manifest
from .dataset import Dataset, Photo, read_dataset
from .entry import CleanOutcome, clean_command
from .findings import (AMBIGUOUS_FACE, DUPLICATE_IDENTITY, KINDS, MISLABEL, NEAR_DUPLICATE, NO_FACE, OUTLIER,
                       UNREADABLE, Finding)
from .html_report import write_html
from .identity import IdentityCheck, IdentityOptions, check_identities, cut_from_calibration
from .near_duplicates import HashedItem, NearDuplicateOptions, find_near_duplicates
from .report import CleanReport
from .run import CheckedRecords, CleanOptions, check_records, clean_dataset
from .templates import TemplateCache, TemplateOptions, compute_templates

__all__ = [
    "clean_command", "CleanOutcome", "clean_dataset", "CleanOptions", "CleanReport", "check_records", "CheckedRecords",
    "Finding", "KINDS", "MISLABEL", "OUTLIER", "NO_FACE", "AMBIGUOUS_FACE", "UNREADABLE", "DUPLICATE_IDENTITY", "NEAR_DUPLICATE",
    "check_identities", "IdentityOptions", "IdentityCheck", "cut_from_calibration",
    "find_near_duplicates", "NearDuplicateOptions", "HashedItem",
    "read_dataset", "Dataset", "Photo", "TemplateCache", "TemplateOptions", "compute_templates",
    "apply_report", "write_manifest", "write_html",
]
