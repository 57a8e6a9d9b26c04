"""What every vector index backend shares: the :class:`VectorIndex` protocol, the saved
:class:`IndexState`, and the small helpers each backend uses on its input and its state.

A gallery's templates live in its SQLite store (the source of truth); a :class:`VectorIndex`
holds a searchable copy keyed by template id. Each index persists an :class:`IndexState`
with its vectors: the store state it reflects. On open the gallery compares that with the
store and catches up (adds new templates, removes those the store's deletion log names) or
rebuilds, so a crash between the two never loses a committed template nor leaves an entry
without one.

Required: ``add``, ``remove``, ``search``, ``count``, ``save``, ``load``, ``reset``. Optional
features (e.g. ``range_search``) raise :class:`~countenance.errors.Unsupported`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from ..errors import InvalidArgument, TemplateMismatch

__all__ = [
    "IndexState",
    "VectorIndex",
    "IndexBackend",
    "ServerIndex",
    "HNSW_ABOVE",
    "APPROXIMATE_ABOVE",
    "METRICS",
    "prepare_vectors",
    "as_ids",
    "empty_result",
    "check_metric",
    "check_k",
    "state_document",
    "read_state_document",
]

#: Above this many vectors an index switches from exact search to HNSW (pgvector, Milvus).
#: Measured here (128-d, one thread, one query, k=10): exact 0.06 ms at 1k, 0.6 ms at 20k,
#: 2.7 ms at 50k; HNSW (M=32, efSearch=128) 0.5 ms at 20k, 1.3 ms at 50k (random vectors).
HNSW_ABOVE = 20_000

#: Above this many vectors the FAISS index adds an inverted file (IVF, 4-bit PQ fast scan)
#: in front of its exact vectors and re-ranks its candidates exactly: exact search costs
#: 0.6 ms at 20k and grows with the size; the IVF stays under 1 ms at 1M (docs/GALLERY.md).
APPROXIMATE_ABOVE = 20_000

#: The metrics every backend supports (lower distance is more alike in both).
METRICS = ("euclidean", "cosine")


@dataclass(frozen=True)
class IndexState:
    """Which store state an index reflects: the store's change counter ``generation`` and
    deletion counter ``deletions`` at the time, and the ``count`` vectors (largest id
    ``last_id``) it then held."""

    last_id: int
    count: int
    deletions: int
    generation: int


class VectorIndex(Protocol):
    """A searchable set of ``(id, vector)`` pairs of one dimension and metric.

    ``metric`` is ``"euclidean"`` or ``"cosine"``; distances returned are in that metric
    (lower is more alike), whatever the backend computes internally.
    """

    dimension: int
    metric: str

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` ``(n, dimension) float32`` under ``ids`` ``(n,) int64`` (new ids)."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove ``ids`` at once (no later search returns them, and their vectors are no
        longer stored); unknown ids are ignored. Returns how many were removed."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest per query: ``(distances, ids)``, both ``(q, k)``, nearest first;
        short rows are padded with ``inf`` and ``-1``."""
        ...

    def count(self) -> int:
        """How many vectors are held."""
        ...

    def reset(self) -> None:
        """Remove everything (before a rebuild)."""
        ...

    def save(self, state: IndexState) -> None:
        """Persist the vectors with ``state`` (atomically: a crash leaves the old or the new)."""
        ...

    def load(self) -> IndexState | None:
        """Replace the in-memory content with the persisted one; its state, or None if there
        is none (or it is unreadable or of another dimension/metric: then the index is empty)."""
        ...

    # Optional (``gallery destroy``): ``drop() -> list[str]`` deletes the persisted index
    # itself (its file, table or collection, and its state) and names what it deleted; a
    # backend without it raises Unsupported there.


class IndexBackend:
    """What every backend's constructor shares: the dimension, the metric (checked), and the
    vectors prepared for them (:func:`prepare_vectors`)."""

    def __init__(self, *, dimension: int, metric: str) -> None:
        self.dimension = int(dimension)
        self.metric = check_metric(metric)

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        return prepare_vectors(vectors, self.dimension, self.metric)


class ServerIndex(IndexBackend):
    """A backend whose vectors live on a server at ``uri`` under ``name`` (a table or a
    collection: ``NAME_PATTERN`` says which names it takes), through one connection
    (``_conn``, opened on first use by the subclass, closed by :meth:`close`); exact up to
    ``hnsw_above`` vectors, an HNSW index with these settings above."""

    NAME_PATTERN: ClassVar[re.Pattern[str]]
    NAME_KIND: ClassVar[str]  # what ``name`` is, for the error: "index table name", ...

    def __init__(self, uri: str, *, name: str, dimension: int, metric: str, hnsw_above: int = HNSW_ABOVE,
                 hnsw_m: int = 16, ef_construction: int = 64, ef_search: int = 128) -> None:
        if not self.NAME_PATTERN.match(name):
            raise InvalidArgument(f"{self.NAME_KIND} must match {self.NAME_PATTERN.pattern}, got {name!r}")
        super().__init__(dimension=dimension, metric=metric)
        self.hnsw_above = int(hnsw_above)
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.uri = str(uri)
        self.name = name
        self._conn: Any = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def check_metric(metric: str) -> str:
    """``metric`` if it is one of :data:`METRICS`; InvalidArgument otherwise."""
    if metric not in METRICS:
        raise InvalidArgument(f"unknown metric {metric!r}; expected 'euclidean' or 'cosine'")
    return str(metric)


def check_k(k: int) -> int:
    """``k`` (neighbours per query) if it is a whole number >= 1; InvalidArgument otherwise."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgument(f"k must be >= 1, got {k!r}")
    return int(k)


def prepare_vectors(vectors: np.ndarray, dimension: int, metric: str) -> np.ndarray:
    """``vectors`` as every backend stores and searches them: ``(N, dimension)`` C-contiguous
    float32, L2-normalised for the cosine metric (a zero vector stays zero).

    Raises TemplateMismatch when the size is not ``dimension``.
    """
    x = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    if x.shape[1] != dimension:
        raise TemplateMismatch(f"vectors of size {x.shape[1]} for an index of size {dimension}")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms == 0, 1.0, norms)
    return x


def as_ids(ids: np.ndarray, count: int | None = None) -> np.ndarray:
    """``ids`` as a flat int64 array; InvalidArgument when ``count`` is given and differs."""
    flat = np.asarray(ids, dtype=np.int64).ravel()
    if count is not None and flat.size != count:
        raise InvalidArgument(f"{flat.size} ids for {count} vectors")
    return flat


def empty_result(queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A search answer with nothing found yet: ``(distances (queries, k) float64 inf, ids
    (queries, k) int64 -1)``, the padding the protocol promises for short rows."""
    return np.full((queries, k), np.inf), np.full((queries, k), -1, dtype=np.int64)


def state_document(state: IndexState, dimension: int, metric: str) -> str:
    """The JSON a server backend saves next to its vectors: the state, dimension and metric."""
    return json.dumps({"state": asdict(state), "dimension": dimension, "metric": str(metric)})


def read_state_document(document: Any, dimension: int, metric: str) -> tuple[bool, IndexState | None]:
    """``(foreign, state)`` from a saved document (a JSON string, a dict, or None: nothing saved).

    ``foreign`` is True when it was saved for another dimension or metric (the caller drops
    the stored vectors); ``state`` is None when there is none or it cannot be read.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False, None
    if not isinstance(document, dict):
        return False, None
    if document.get("dimension") != dimension or document.get("metric") != metric:
        return True, None
    try:
        return False, IndexState(**document["state"])
    except (KeyError, TypeError):
        return False, None
