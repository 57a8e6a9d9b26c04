"""A :class:`~countenance.gallery.index_base.VectorIndex` on Milvus, through ``pymilvus.MilvusClient``.

The same code talks to a Milvus cluster (``uri="http://host:19530"``, optional ``token``) and
to Milvus Lite (``uri`` a local file path ending in ``.db``: an in-process server storing a
directory; only one process may open it at a time).

One collection per gallery index (``<name>``: ``id INT64`` primary key, ``vector
FLOAT_VECTOR(D)``), strong consistency, so inserts and deletes are visible to the next
search. The saved :class:`~countenance.gallery.index_base.IndexState` is one row of a companion
collection ``<name>__state``. Search is exact (a ``FLAT`` index) up to ``hnsw_above``
vectors, like the FAISS backend; above, the collection is re-indexed with ``HNSW`` (search
``ef = max(ef_search, k)``). Euclidean uses ``L2`` (Milvus returns squared distances, which
are square-rooted here); cosine uses ``COSINE`` on L2-normalised vectors, and the similarity
is turned into the distance ``1 - similarity``.

Milvus caps ``k`` (``limit``) at 16,384: a larger ``k`` raises
:class:`~countenance.errors.Unsupported`. Needs ``pymilvus`` (and ``milvus-lite`` for a file
``uri``), imported when the first index is built.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import GalleryError, Unsupported
from .index_base import IndexState, ServerIndex, as_ids, check_k, empty_result, read_state_document, state_document

__all__ = ["MilvusIndex", "MAX_K"]

#: Milvus's largest ``limit`` per search.
MAX_K = 16_384

_BATCH = 5_000  # rows per insert request (Milvus caps a request at 64 MB)


class MilvusIndex(ServerIndex):
    """Vectors in the Milvus collection ``name`` at ``uri`` (see the module docstring)."""

    NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
    NAME_KIND = "collection name"

    def __init__(self, uri: str, *, token: str = "", **settings: Any) -> None:
        super().__init__(uri, **settings)
        self.token = token
        self._kind: str | None = None

    # -- client and schema

    @property
    def _metric_type(self) -> str:
        return "L2" if self.metric == "euclidean" else "COSINE"

    def _connection(self):
        if self._conn is not None:
            return self._conn
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise GalleryError("the Milvus index needs pymilvus (and milvus-lite for a local file): pip install pymilvus milvus-lite") from None
        try:
            self._conn = MilvusClient(uri=self.uri, token=self.token)
        except Exception as error:  # noqa: BLE001 - pymilvus raises many types; report them all the same way
            raise GalleryError(f"cannot open the Milvus index at {self.uri}: {error}") from None
        self._ensure()
        return self._conn

    def _ensure(self) -> None:
        client = self._conn
        if not client.has_collection(self.name):
            self._create(kind="flat")
        if not client.has_collection(self._state_name):
            from pymilvus import DataType

            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("state", DataType.VARCHAR, max_length=4096)
            schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)  # Milvus requires one vector field
            params = client.prepare_index_params()
            params.add_index(field_name="dummy", index_type="FLAT", metric_type="L2")
            client.create_collection(self._state_name, schema=schema, index_params=params, consistency_level="Strong")
        client.load_collection(self.name)
        client.load_collection(self._state_name)

    @property
    def _state_name(self) -> str:
        return f"{self.name}__state"

    def _index_params(self, kind: str):
        params = self._conn.prepare_index_params()
        if kind == "hnsw":
            params.add_index(field_name="vector", index_type="HNSW", metric_type=self._metric_type,
                             params={"M": self.hnsw_m, "efConstruction": self.ef_construction})
        else:
            params.add_index(field_name="vector", index_type="FLAT", metric_type=self._metric_type)
        return params

    def _create(self, *, kind: str) -> None:
        from pymilvus import DataType

        client = self._conn
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        client.create_collection(self.name, schema=schema, index_params=self._index_params(kind), consistency_level="Strong")
        self._kind = kind

    def _collection_dimension(self) -> int | None:
        description = self._connection().describe_collection(self.name)
        for field in description.get("fields", []):
            if field.get("name") == "vector":
                return int(field.get("params", {}).get("dim"))
        return None

    @property
    def kind(self) -> str:
        """``"flat"`` (exact) or ``"hnsw"``: the index the collection has now."""
        if self._kind is None:
            client = self._connection()
            names = client.list_indexes(self.name, field_name="vector")
            info = client.describe_index(self.name, names[0]) if names else {}
            self._kind = "hnsw" if str(info.get("index_type", "FLAT")).upper() == "HNSW" else "flat"
        return self._kind

    def _reindex(self, kind: str) -> None:
        client = self._connection()
        client.release_collection(self.name)
        for index_name in client.list_indexes(self.name, field_name="vector"):
            client.drop_index(self.name, index_name)
        client.create_index(self.name, self._index_params(kind))
        client.load_collection(self.name)
        self._kind = kind

    # -- the protocol

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (an id already there is replaced: another client may have added it)."""
        x = self._prepare(vectors)
        ids = as_ids(ids, x.shape[0])
        if ids.size == 0:
            return
        client = self._connection()
        for start in range(0, ids.size, _BATCH):
            rows = [{"id": int(i), "vector": v.tolist()} for i, v in zip(ids[start:start + _BATCH], x[start:start + _BATCH])]
            client.upsert(self.name, rows)
        if self.kind == "flat" and self.count() > self.hnsw_above:
            self._reindex("hnsw")

    def remove(self, ids: np.ndarray) -> int:
        """Delete by primary key: no later search returns them (strong consistency); Milvus
        drops their bytes when it compacts the segments."""
        ids = as_ids(ids)
        if ids.size == 0:
            return 0
        client = self._connection()
        wanted = sorted({int(i) for i in ids.tolist()})
        present = client.query(self.name, filter=f"id in {wanted}", output_fields=["id"])
        found = [int(row["id"]) for row in present]
        if found:
            client.delete(self.name, ids=found)
        return len(found)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = check_k(k)
        q = self._prepare(queries)
        distances, found = empty_result(q.shape[0], k)
        live = self.count()
        if live == 0:
            return distances, found
        limit = min(k, live)
        if limit > MAX_K:
            raise Unsupported(f"Milvus returns at most {MAX_K} results per query; asked for {limit}")
        params: dict[str, Any] = {"metric_type": self._metric_type}
        if self.kind == "hnsw":
            params["params"] = {"ef": max(self.ef_search, limit)}
        results = self._connection().search(self.name, data=q.tolist(), limit=limit, search_params=params,
                                            anns_field="vector", output_fields=["id"])
        for row, hits in enumerate(results):
            for col, hit in enumerate(hits):
                raw = float(hit["distance"])
                found[row, col] = int(hit["id"])
                distances[row, col] = np.sqrt(max(raw, 0.0)) if self.metric == "euclidean" else 1.0 - raw
            # Ties and float noise: keep rows nearest first, as the protocol promises.
            order = np.argsort(distances[row], kind="stable")
            distances[row], found[row] = distances[row][order], found[row][order]
        return distances, found

    def count(self) -> int:
        result = self._connection().query(self.name, filter="", output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def reset(self) -> None:
        client = self._connection()
        client.drop_collection(self.name)
        client.delete(self._state_name, ids=[0])
        self._create(kind="flat")
        client.load_collection(self.name)

    def drop(self) -> list[str]:
        """Drop the collection and its state collection."""
        client = self._connection()
        for name in (self.name, self._state_name):
            client.drop_collection(name)
        self.close()
        return [f"collection {self.name}", f"collection {self._state_name}"]

    def save(self, state: IndexState) -> None:
        """Upsert the state row (one request); the vectors are already stored."""
        document = state_document(state, self.dimension, self.metric)
        self._connection().upsert(self._state_name, [{"id": 0, "state": document, "dummy": [0.0, 0.0]}])

    def load(self) -> IndexState | None:
        """The saved state. A collection of another dimension, or a state of another metric,
        is dropped (the index is then empty and the gallery rebuilds it)."""
        rows = self._connection().query(self._state_name, filter="id == 0", output_fields=["state"])
        foreign, state = read_state_document(rows[0]["state"] if rows else None, self.dimension, self.metric)
        if foreign or self._collection_dimension() != self.dimension:
            self.reset()
            return None
        return state
