"""LFW templates, computed once and cached: shared by calibration and open-set identification.

Templates come from :func:`~countenance.evaluate.embedding.embed_images` (HOG, LFW's central
subject with the CNN and centre-box fallbacks, exactly as ``countenance eval lfw`` makes
them), through one batch embedder for the whole run, and are kept in the template cache
(:class:`countenance.ingest.TemplateCache`, ``templates.sqlite`` under ``cache_dir``, else
:func:`countenance.paths.cache_dir`) keyed by each file's content and the pipeline. It is
committed every few hundred images, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import InvalidArgument
from ..ingest import BatchEmbedder, TemplateCache
from ..pipeline import PipelineConfig
from .embedding import embed_images
from .protocols import LFW_CENTRE_BOX

__all__ = ["LfwTemplates", "default_cache_dir", "lfw_image_paths", "load_lfw_templates"]


@dataclass(frozen=True)
class LfwTemplates:
    """``paths`` (relative, ``Person/Person_0001.jpg``), ``vectors`` (N, D) float32, ``people`` (N)."""

    paths: list[str]
    vectors: np.ndarray
    people: list[str]
    model: str
    metric: str

    @property
    def ok(self) -> np.ndarray:
        """``(N,) bool``: the images that have a template."""
        return ~np.isnan(self.vectors).any(axis=1)


def default_cache_dir() -> Path:
    """Where LFW templates are cached: :func:`countenance.paths.cache_dir`."""
    return paths.cache_dir()


def lfw_image_paths(images: Path) -> list[str]:
    """Every LFW image (relative to ``images``): first the first image of each person, then the rest.

    That order lets calibration (one image per person) start before the whole set is cached.
    """
    if not images.is_dir():
        raise InvalidArgument(f"{images}: no such folder (the LFW images; set COUNTENANCE_LFW_DIR or pass the LFW folder)")
    by_person = {p.name: sorted(f.name for f in p.glob("*.jpg")) for p in sorted(images.iterdir()) if p.is_dir()}
    first = [f"{person}/{files[0]}" for person, files in by_person.items() if files]
    rest = [f"{person}/{name}" for person, files in by_person.items() for name in files[1:]]
    return first + rest


def load_lfw_templates(
    lfw_dir: Path,
    *,
    embedder: str = "auto",
    cache_dir: Path | None = None,
    limit: int | None = None,
    workers: int = 2,
    chunk: int = 400,
    log: Callable[[str], None] | None = None,
) -> LfwTemplates:
    """Templates of the first ``limit`` images of :func:`lfw_image_paths` (all by default), from
    cache or computed in ``workers`` processes; ``log`` receives progress lines (None: silent)."""
    from ..embedding import make_embedder

    spec = make_embedder(embedder).spec
    images = lfw_dir / "images" if (lfw_dir / "images").is_dir() else lfw_dir
    wanted = lfw_image_paths(images)[:limit]
    config = PipelineConfig(detector="hog", embedder=embedder)
    done: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    # One batch embedder for the run, started only if the cache lacks something.
    with TemplateCache((cache_dir or default_cache_dir()) / "templates.sqlite") as cache, \
            BatchEmbedder(config, workers=workers, lazy=True) as embedder_pool:
        if log:
            log(f"LFW templates of {len(wanted)} images (cache {cache.path})")
        for i in range(0, len(wanted), chunk):
            part = wanted[i : i + chunk]
            results = embed_images([str(images / p) for p in part], embedder_pool, choose="central",
                                   centre_box=LFW_CENTRE_BOX, cache=cache)
            for rel in part:
                vector = results[str(images / rel)].vector
                done[rel] = np.full(spec.embedding_size, np.nan, np.float32) if vector is None else vector
            if log and i + len(part) < len(wanted):
                n = i + len(part)
                log(f"  {n}/{len(wanted)} ({n / (time.perf_counter() - start):.1f} images/s)")
    vectors = np.stack([done[p] for p in wanted]).astype(np.float32) if wanted else np.zeros((0, spec.embedding_size), np.float32)
    return LfwTemplates(wanted, vectors, [p.split("/")[0] for p in wanted], spec.name, spec.metric)
