"""The registry of vector index backends: which class a gallery's ``index_backend`` names.

The backends themselves live apart (:mod:`.index_faiss`, :mod:`.index_pgvector`,
:mod:`.index_milvus`) and share :mod:`.index_base`; the server backends are imported only
when one is built, so their client libraries stay optional.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import GalleryError, UnknownBackend
from .index_base import VectorIndex

__all__ = ["INDEX_BACKENDS", "SERVER_BACKENDS", "make_index", "check_backend"]


def _faiss_factory(path: Path | None, *, dimension: int, metric: str, mmap: bool = False) -> VectorIndex:
    try:
        import faiss  # noqa: F401
    except ImportError:
        raise GalleryError("the embedded gallery index needs faiss: pip install faiss-cpu") from None
    from .index_faiss import FaissIndex

    return FaissIndex(path, dimension=dimension, metric=metric, mmap=mmap)


def _pgvector_factory(location: Path | None, *, dimension: int, metric: str, uri: str, name: str) -> VectorIndex:
    from .index_pgvector import PgVectorIndex  # needs psycopg + pgvector: imported on use only

    return PgVectorIndex(uri, name=name, dimension=dimension, metric=metric)


def _milvus_factory(location: Path | None, *, dimension: int, metric: str, uri: str, name: str) -> VectorIndex:
    from .index_milvus import MilvusIndex  # needs pymilvus (+ milvus-lite): imported on use only

    if "://" not in uri and not Path(uri).is_absolute() and location is not None:
        uri = str(location.parent / uri)  # a relative Milvus Lite file lives in the gallery folder
    return MilvusIndex(uri, name=name, dimension=dimension, metric=metric)


#: Vector index backends by name: each factory takes ``(location, dimension=, metric=)``;
#: server backends (:data:`SERVER_BACKENDS`) also take ``uri=`` (where the server is) and
#: ``name=`` (their table or collection); the embedded one takes ``mmap=`` (map its file).
INDEX_BACKENDS: dict[str, Callable[..., VectorIndex]] = {
    "faiss": _faiss_factory,
    "pgvector": _pgvector_factory,
    "milvus": _milvus_factory,
}

#: The backends that keep their vectors on a server (or Milvus Lite file) given by a URI.
SERVER_BACKENDS = frozenset({"pgvector", "milvus"})


def check_backend(backend: str) -> str:
    """``backend`` if it is registered; UnknownBackend naming the choices otherwise."""
    if backend not in INDEX_BACKENDS:
        raise UnknownBackend(f"unknown index backend {backend!r}; choose one of {', '.join(sorted(INDEX_BACKENDS))}")
    return backend


def make_index(backend: str, location: Path | None, *, dimension: int, metric: str, **options: str | bool) -> VectorIndex:
    """Build the index backend registered as ``backend``; ``options`` (``uri``, ``name``) go
    to server backends, ``mmap`` to the embedded one."""
    return INDEX_BACKENDS[check_backend(backend)](location, dimension=dimension, metric=metric, **options)
