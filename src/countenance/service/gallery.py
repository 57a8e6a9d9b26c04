"""A gallery's lifecycle: open one, create one (``gallery init``), its info, prune by retention."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import GalleryError
from ..gallery import DestroyReport, Gallery, GalleryInfo, Policy, PruneResult
from .options import GalleryOptions, PipelineFactory, PipelineOptions, build_pipeline
from .path_args import existing_folder, writable_folder, writing

__all__ = ["open_gallery", "InitOptions", "init_gallery", "gallery_info", "info_document", "prune_gallery", "destroy_gallery"]


@contextmanager
def open_gallery(
    options: GalleryOptions, pipeline: PipelineOptions | None = None, *, pipelines: PipelineFactory = build_pipeline
) -> Iterator[Gallery]:
    """The gallery of ``options``, closed on exit. With ``pipeline`` options, the gallery gets a
    pipeline to read images with, built after the gallery opened (so a missing gallery fails
    before any model loads). With ``options.sessions``, the calling thread's open gallery;
    without, a gallery for this one call, its vector index mapped from its file, not read."""
    if options.sessions is not None:
        with options.sessions.borrow(options.resolved_path, options.actor) as gallery:
            if pipeline is not None:
                gallery.pipeline = pipelines(pipeline)
            yield gallery
        return
    path = existing_folder(options.resolved_path, "--gallery", hint="no gallery here (create one with: countenance gallery init)")
    # One call: map the index file rather than read it (GalleryCore's map_index).
    with Gallery(path, actor=options.actor, map_index=True) as gallery:
        if pipeline is not None:
            gallery.pipeline = pipelines(pipeline)
        yield gallery


def info_document(info: GalleryInfo) -> dict:
    """``Gallery.info()`` as a JSON document."""
    return info.to_dict()


@dataclass(frozen=True)
class InitOptions:
    """A new gallery: for which embedder's model, with which policy and vector index.

    Policy: require consent to enrol; delete templates older than ``retention_days`` on prune
    (None: keep); the false-positive identification rate to set the threshold for; keep a small
    crop of each enrolled face; ``min_face_px``: refuse faces with fewer pixels between the eyes
    (None: flag those under the model's measured minimum as low confidence). ``index``: ``faiss`` (embedded), ``pgvector`` or ``milvus``; the
    last two need ``index_uri``. ``force``: replace the index files an earlier gallery left in
    the folder without its database (refused otherwise: they hold someone's templates).
    """

    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    embedder: str = "auto"
    consent_required: bool = True
    retention_days: int | None = None
    target_fpir: float = 0.01
    keep_crops: bool = True
    index: str = "faiss"
    index_uri: str | None = None
    force: bool = False
    min_face_px: float | None = None

    def policy(self) -> Policy:
        return Policy(consent_required=self.consent_required, retention_days=self.retention_days,
                      target_fpir=self.target_fpir, keep_crops=self.keep_crops, min_face_px=self.min_face_px)


def init_gallery(options: InitOptions) -> GalleryInfo:
    """Create an empty gallery and return its info (``Gallery.info()``'s result)."""
    from ..embedding import make_embedder

    from ..gallery.core import DB_NAME, INDEX_FILES

    path = writable_folder(options.gallery.resolved_path, "--gallery")
    orphans = [path / name for name in INDEX_FILES.values() if (path / name).exists()] if not (path / DB_NAME).exists() else []
    if orphans and not options.force:
        raise GalleryError(
            f"{path}: holds index file(s) of an earlier gallery without its database ({', '.join(p.name for p in orphans)}); "
            "remove them, or pass --force to replace them"
        )
    spec = make_embedder(options.embedder).spec
    with writing(path, "--gallery"):
        for orphan in orphans:
            orphan.unlink()
    with writing(path, "--gallery"), Gallery.create(
        path, model=spec, policy=options.policy(), actor=options.gallery.actor,
        index_backend=options.index, index_uri=options.index_uri,
    ) as gallery:
        return gallery.info()


def gallery_info(options: GalleryOptions) -> GalleryInfo:
    """The gallery's model, policy, size, identification threshold and files (``Gallery.info()``)."""
    with open_gallery(options) as gallery:
        return gallery.info()


def prune_gallery(options: GalleryOptions, *, older_than_days: int | None = None) -> PruneResult:
    """Delete templates older than the retention period (the policy's, or ``older_than_days``)."""
    with open_gallery(options) as gallery:
        return gallery.prune(older_than_days=older_than_days)


def destroy_gallery(options: GalleryOptions, *, confirm: Callable[[GalleryInfo], bool] | None = None) -> DestroyReport | None:
    """Remove the whole gallery (templates, crops, indexes, records, the audit log) and scan
    what is left. ``confirm(info)`` is asked after the gallery was found (a missing one fails
    first) and before anything is removed; when it answers False, None is returned."""
    existing_folder(options.resolved_path, "--gallery", hint="no gallery here")
    if confirm is not None:
        with open_gallery(options) as gallery:
            info = gallery.info()
        if not confirm(info):
            return None
    return Gallery.destroy(options.resolved_path)
