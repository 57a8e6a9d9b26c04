"""Clean a folder-per-person data set: mislabelled photos, duplicate identities, near-duplicates.

The checks live in :mod:`countenance.clean`; this use case builds their options from the shared
pipeline options and writes what the caller asked for (HTML report, manifest, cleaned copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..clean import CleanOptions
from ..clean.entry import CleanOutcome, clean_command
from .options import PipelineOptions
from .path_args import existing_folder, writable_folder

__all__ = ["CleanDatasetOptions", "clean_dataset"]


@dataclass(frozen=True)
class CleanDatasetOptions:
    """``dataset``: one folder per person. ``report`` / ``manifest`` / ``apply_to``: where to
    write the HTML report, the manifest CSV and a cleaned copy (None: not written; nothing in
    the data set is ever moved or deleted). ``workers``: embedding processes."""

    dataset: Path
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    workers: int = 2
    report: Path | None = None
    manifest: Path | None = None
    apply_to: Path | None = None
    use_cache: bool = True


def clean_dataset(options: CleanDatasetOptions, *, progress: Callable[[int, int], None] | None = None) -> CleanOutcome:
    """Run every check on ``options.dataset`` with the shipped defaults; see :class:`CleanOutcome`.

    Every path is checked before any photo is read (InvalidArgument naming the option)."""
    existing_folder(options.dataset, "DATASET")
    if options.report is not None:
        writable_folder(options.report.parent, "--report", create=True)
    if options.manifest is not None:
        writable_folder(options.manifest.parent, "--manifest", create=True)
    if options.apply_to is not None:
        writable_folder(options.apply_to, "--apply")
    pipeline = options.pipeline
    checks = replace(
        CleanOptions(), detector=pipeline.detector, embedder=pipeline.embedder, upsample=pipeline.upsample,
        num_jitters=pipeline.jitters, workers=options.workers, use_cache=options.use_cache,
    )
    return clean_command(options.dataset, options=checks, html_path=options.report, manifest_path=options.manifest,
                         apply_to=options.apply_to, progress=progress)
