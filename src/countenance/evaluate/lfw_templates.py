"""LFW templates, computed once and cached: shared by calibration and open-set identification.

The cache is one ``.npz`` per model under the cache folder (``cache_dir``, else
:func:`countenance.paths.cache_dir`): ``lfw-<model>-v<N>.npz`` holding
``paths`` (relative to LFW's ``images/``), ``vectors`` ``(N, D) float32`` (NaN rows for images
where no face was found) and ``how`` (``detected``, ``cnn``, ``centre-box`` or ``failed``).
It is written every few hundred images, atomically, so an interrupted run resumes where it
stopped. Templates come from :func:`~countenance.evaluate.embedding.embed_images` with LFW's centre-box
fallback, exactly as ``countenance eval lfw`` makes them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import InvalidArgument
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


# Bumped whenever the way LFW templates are made changes (v2: only a central face counts).
TEMPLATES_VERSION = 2


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


def _read(path: Path) -> dict[str, tuple[np.ndarray, str]]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {str(p): (v, str(h)) for p, v, h in zip(data["paths"], data["vectors"], data["how"], strict=True)}


def _write(path: Path, done: dict[str, tuple[np.ndarray, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(done)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(
        tmp,
        paths=np.array(names),
        vectors=np.stack([done[n][0] for n in names]).astype(np.float32),
        how=np.array([done[n][1] for n in names]),
    )
    os.replace(tmp, path)


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
    cache = (cache_dir or default_cache_dir()) / f"lfw-{spec.name}-v{TEMPLATES_VERSION}.npz"
    done = _read(cache)
    todo = [p for p in wanted if p not in done]
    if todo and log:
        log(f"embedding {len(todo)} LFW images ({len(wanted) - len(todo)} cached in {cache})")
    start = time.perf_counter()
    for i in range(0, len(todo), chunk):
        part = todo[i : i + chunk]
        results = embed_images(
            [str(images / p) for p in part], embedder=embedder, choose="central",
            centre_box=LFW_CENTRE_BOX, workers=workers,
        )
        for rel in part:
            r = results[str(images / rel)]
            vector = r.vector if r.vector is not None else np.full(spec.embedding_size, np.nan, np.float32)
            done[rel] = (np.asarray(vector, dtype=np.float32), r.how)
        _write(cache, done)
        if log:
            n = i + len(part)
            rate = n / (time.perf_counter() - start)
            log(f"  {n}/{len(todo)} ({rate:.1f} images/s, ~{(len(todo) - n) / rate / 60:.0f} min left)")
    vectors = np.stack([done[p][0] for p in wanted]) if wanted else np.zeros((0, spec.embedding_size), np.float32)
    return LfwTemplates(wanted, vectors, [p.split("/")[0] for p in wanted], spec.name, spec.metric)

