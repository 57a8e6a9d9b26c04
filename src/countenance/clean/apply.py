"""Acting on a report: a manifest CSV of every photo, or a cleaned copy of the data set.

Nothing here moves or deletes a file: the data set is only read. A cleaned copy leaves out the
photos of :meth:`CleanReport.removed_items`; folders that hold the same person are listed in
the manifest, never merged (that is a person's decision).
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument
from .findings import DUPLICATE_IDENTITY
from .report import CleanReport

__all__ = ["ApplyResult", "write_manifest", "apply_report", "MANIFEST_COLUMNS"]

MANIFEST_COLUMNS = ("path", "label", "action", "kind", "confidence", "reason", "suggested_label", "same_person_as")


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply_report` wrote: ``copied`` photos kept, ``left_out`` photos not copied."""

    out_dir: Path
    copied: int
    left_out: int


def write_manifest(report: CleanReport, path: str | os.PathLike[str]) -> Path:
    """One CSV row per photo (columns :data:`MANIFEST_COLUMNS`): ``action`` is ``keep``,
    ``remove`` or ``review`` (an outlier: kept in a cleaned copy, for a person to look at);
    ``same_person_as`` lists the other folders found to hold the same person."""
    removed = report.removed_items()
    review = report.review_items()
    same_person: dict[str, list[str]] = {}
    for finding in report.of_kind(DUPLICATE_IDENTITY):
        a, b = finding.labels
        same_person.setdefault(a, []).append(b)
        same_person.setdefault(b, []).append(a)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(MANIFEST_COLUMNS)
        for record in report.records:
            item, label = record.photo.relpath, record.photo.label
            finding = removed.get(item) or review.get(item)
            action = "remove" if item in removed else "review" if finding else "keep"
            writer.writerow([
                item, label, action,
                finding.kind if finding else "", f"{finding.confidence:.3f}" if finding else "",
                finding.reason if finding else "", (finding.suggested_label or "") if finding else "",
                ";".join(same_person.get(label, [])),
            ])
    return target


def apply_report(report: CleanReport, out_dir: str | os.PathLike[str]) -> ApplyResult:
    """Copy the photos the report keeps to ``out_dir/<label>/<file>`` (file times kept).

    ``out_dir`` must not exist yet or be empty, and must lie outside the data set. Raises
    InvalidArgument otherwise.
    """
    out = Path(out_dir).resolve()
    root = Path(report.root).resolve()
    if out == root or root in out.parents:
        raise InvalidArgument(f"{out}: the cleaned copy must be written outside the data set {root}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidArgument(f"{out}: exists and is not an empty folder")
    removed = report.removed_items()
    copied = 0
    for record in report.records:
        if record.photo.relpath in removed:
            continue
        target = out / record.photo.label / record.photo.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(record.photo.path, target)
        copied += 1
    return ApplyResult(out, copied, len(report.records) - copied)
