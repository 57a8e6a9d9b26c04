"""``models migrate``: move a gallery or a photo library to another recogniser, roll it back,
prune the old model (see :mod:`countenance.gallery.migration`, :mod:`countenance.library.migration`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InvalidArgument
from ..gallery.migration import MigrationReport
from .options import PipelineOptions
from .path_args import existing_folder

__all__ = ["MigrationTarget", "MigrateOptions", "MigrationReport", "migrate", "rollback", "prune", "status", "report_document"]


@dataclass(frozen=True)
class MigrationTarget:
    """A gallery folder or a library folder (exactly one)."""

    gallery: Path | None = None
    library: Path | None = None

    def __post_init__(self) -> None:
        if (self.gallery is None) == (self.library is None):
            raise InvalidArgument("name what to migrate: --gallery DIR or --library DIR (one of them)")

    @property
    def folder(self) -> Path:
        if self.gallery is not None:
            return existing_folder(self.gallery, "--gallery", hint="no gallery here")
        return existing_folder(Path(self.library).expanduser(), "--library", hint="no library here")

    @property
    def module(self):
        from ..gallery import migration as gallery_migration
        from ..library import migration as library_migration

        return gallery_migration if self.gallery is not None else library_migration


@dataclass(frozen=True)
class MigrateOptions:
    """``to``: an embedder name as the pipeline options take it (``dlib``, ``arcface:PATH``, ...);
    ``detector``: finds the faces of a gallery's photos and crops (a library's faces are not
    re-detected, its landmarker places missing landmarks); ``sources``: a folder searched by
    content for gallery photos that moved (and the photos of opt-outs, which store no path);
    ``batch_size``: rows re-embedded per committed transaction; ``workers``: processes that
    embed (started once for the whole run)."""

    to: str
    detector: str = "auto"
    sources: Path | None = None
    batch_size: int = 32
    workers: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 10_000:
            raise InvalidArgument(f"--batch-size must be 1..10000, got {self.batch_size!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise InvalidArgument(f"--workers must be an integer >= 1, got {self.workers!r}")


def migrate(target: MigrationTarget, options: MigrateOptions, *,
            on_batch: Callable[[int, int], None] | None = None) -> MigrationReport:
    """Re-embed ``target`` with ``options.to``'s model and cut over; resumable (run it again).
    Both go through the batch-embedding layer (:class:`~countenance.ingest.BatchEmbedder`)."""
    from ..embedding import template_spec
    from ..ingest import BatchEmbedder

    folder = target.folder
    sources = existing_folder(options.sources, "--sources") if options.sources is not None else None
    config = PipelineOptions(detector=options.detector, embedder=options.to).config()
    if target.gallery is not None:
        spec = template_spec(config.embedder)  # the model's spec without loading it here
        with BatchEmbedder(config, workers=options.workers, lazy=True) as embedder:
            report = target.module.migrate(folder, embedder, spec, sources=sources, batch_size=options.batch_size,
                                           on_batch=on_batch)
    elif sources is not None:
        raise InvalidArgument("--sources is for a gallery: a library re-reads its photos where it indexed them")
    else:
        report = target.module.migrate(folder, config, workers=options.workers, batch_size=options.batch_size,
                                       on_batch=on_batch)
    if report.action == "none" and report.from_model is not None:  # e.g. dlib and dlib-onnx: one model
        report = replace(report, message=f"{report.message} (the embedder {options.to!r} makes {report.to_model} templates)")
    return report


def rollback(target: MigrationTarget) -> MigrationReport:
    """Switch ``target`` back to the model it was migrated from (until pruned)."""
    return target.module.rollback(target.folder)


def prune(target: MigrationTarget) -> MigrationReport:
    """Erase the other models' templates of ``target`` (and a migration under way): no rollback after."""
    return target.module.prune(target.folder)


def status(target: MigrationTarget) -> dict:
    """``target``'s model, a migration under way and the model a rollback returns to."""
    return target.module.status(target.folder)


def report_document(report: MigrationReport) -> dict:
    """The report as JSON (``--json``)."""
    return report.to_dict()
