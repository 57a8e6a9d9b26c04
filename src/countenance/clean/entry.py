"""The thin entry a CLI command calls: ``countenance clean DATASET [--report report.html]
[--manifest clean.csv] [--apply OUT] [--json]``.

:func:`clean_command` runs :func:`clean_dataset`, writes what was asked for and returns a
:class:`CleanOutcome`; the command prints ``outcome.to_dict()`` with ``--json`` (else a
summary) and exits with ``outcome.exit_code`` (1 when some files could not be read, as other
multi-file commands do). Nothing here prints or parses arguments.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .apply import ApplyResult, apply_report, write_manifest
from .findings import UNREADABLE
from .html_report import write_html
from .report import CleanReport
from .run import CleanOptions, clean_dataset

__all__ = ["CleanOutcome", "clean_command"]


@dataclass(frozen=True, eq=False)
class CleanOutcome:
    """The report and the files written (None for what was not asked)."""

    report: CleanReport
    html_path: Path | None
    manifest_path: Path | None
    applied: ApplyResult | None

    @property
    def exit_code(self) -> int:
        return 1 if self.report.of_kind(UNREADABLE) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report.to_dict(),
            "html_report": None if self.html_path is None else str(self.html_path),
            "manifest": None if self.manifest_path is None else str(self.manifest_path),
            "applied": None if self.applied is None else {
                "out_dir": str(self.applied.out_dir), "copied": self.applied.copied, "left_out": self.applied.left_out},
        }


def clean_command(
    dataset: str | os.PathLike[str],
    *,
    options: CleanOptions | None = None,
    html_path: str | os.PathLike[str] | None = None,
    manifest_path: str | os.PathLike[str] | None = None,
    apply_to: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CleanOutcome:
    """Clean ``dataset`` and write the HTML report, the manifest and the cleaned copy asked for."""
    report = clean_dataset(dataset, options, progress)
    return CleanOutcome(
        report=report,
        html_path=write_html(report, html_path) if html_path is not None else None,
        manifest_path=write_manifest(report, manifest_path) if manifest_path is not None else None,
        applied=apply_report(report, apply_to) if apply_to is not None else None,
    )
