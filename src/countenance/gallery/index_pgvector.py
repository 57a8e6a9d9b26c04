"""A :class:`~countenance.gallery.index_base.VectorIndex` on PostgreSQL + pgvector.

One table per gallery index (``<name>``: ``id bigint primary key, embedding vector(D)``) and
one shared row per index in ``countenance_index_state`` holding the saved
:class:`~countenance.gallery.index_base.IndexState` with the dimension and metric. Writes are
autocommitted, so ``add`` and ``remove`` are durable and visible to every client at once;
``save`` only writes the state row.

Search is exact (a sequential scan) up to ``hnsw_above`` vectors, like the FAISS backend;
above, an HNSW index (``vector_l2_ops`` for euclidean, ``vector_cosine_ops`` for cosine) is
built once and used with ``hnsw.ef_search = max(ef_search, k)`` and, on pgvector >= 0.8,
``hnsw.iterative_scan = strict_order`` so that a query still gets ``k`` rows when many are
filtered. For cosine the vectors are L2-normalised before they are stored (as FAISS does).

Needs ``psycopg`` (3) and ``pgvector`` (imported when the first index is built), and a server
with the ``vector`` extension available (``CREATE EXTENSION vector`` is run if missing).
Passwords should come from libpq's usual places (``PGPASSWORD``, ``~/.pgpass``) rather than
the URI: the gallery stores the URI in its SQLite file.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import GalleryError
from .index_base import IndexState, ServerIndex, as_ids, check_k, empty_result, read_state_document, state_document

__all__ = ["PgVectorIndex", "STATE_TABLE"]

#: The table holding each index's saved state (one row per index name).
STATE_TABLE = "countenance_index_state"

class PgVectorIndex(ServerIndex):
    """Vectors in the PostgreSQL table ``name`` of the server at ``uri`` (a libpq URI or
    connection string). ``name`` is 1-56 lower-case letters, digits or ``_``.

    Thread-unsafe (one connection); several processes may share one table.
    """

    NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,55}$")
    NAME_KIND = "index table name"

    # -- connection and schema

    def _connection(self):
        if self._conn is not None and not self._conn.closed:
            return self._conn
        try:
            import psycopg
            from pgvector.psycopg import register_vector
        except ImportError:
            raise GalleryError("the pgvector index needs psycopg and pgvector: pip install 'psycopg[binary]' pgvector") from None
        try:
            conn = psycopg.connect(self.uri, autocommit=True)
        except psycopg.Error as error:
            raise GalleryError(f"cannot connect to the pgvector index server: {error}") from None
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as error:
            conn.close()
            raise GalleryError(f"the server lacks the pgvector extension (CREATE EXTENSION vector failed): {error}") from None
        register_vector(conn)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (name text PRIMARY KEY, state jsonb NOT NULL)")
        self._conn = conn
        self._create_table()
        return conn

    def _sql(self, template: str) -> str:
        # The name is validated against NAME_PATTERN in __init__, so it is safe to format in.
        return template.format(t=self.name, i=f"{self.name}_hnsw")

    def _create_table(self) -> None:
        self._conn.execute(self._sql(f"CREATE TABLE IF NOT EXISTS {{t}} (id bigint PRIMARY KEY, embedding vector({self.dimension}) NOT NULL)"))

    def _table_dimension(self) -> int | None:
        row = self._connection().execute(
            "SELECT a.atttypmod FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attname = 'embedding'",
            (self.name,),
        ).fetchone()
        return None if row is None else int(row[0])

    def _has_hnsw(self) -> bool:
        return self._connection().execute("SELECT to_regclass(%s) IS NOT NULL", (f"{self.name}_hnsw",)).fetchone()[0]

    def _build_hnsw(self) -> None:
        ops = "vector_l2_ops" if self.metric == "euclidean" else "vector_cosine_ops"
        self._connection().execute(self._sql(
            f"CREATE INDEX IF NOT EXISTS {{i}} ON {{t}} USING hnsw (embedding {ops}) "
            f"WITH (m = {self.hnsw_m}, ef_construction = {self.ef_construction})"))

    @property
    def kind(self) -> str:
        """``"flat"`` (searches scan every row: exact) or ``"hnsw"``."""
        return "hnsw" if self.count() > self.hnsw_above and self._has_hnsw() else "flat"

    # -- the protocol

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or, for an id already there, replace: another client may have added it)."""
        x = self._prepare(vectors)
        ids = as_ids(ids, x.shape[0])
        if ids.size == 0:
            return
        conn = self._connection()
        with conn.transaction():
            conn.execute(self._sql("CREATE TEMP TABLE IF NOT EXISTS {t}_stage (LIKE {t}) ON COMMIT DELETE ROWS"))
            with conn.cursor().copy(self._sql("COPY {t}_stage (id, embedding) FROM STDIN WITH (FORMAT BINARY)")) as copy:
                copy.set_types(["int8", "vector"])
                for i, v in zip(ids.tolist(), x):
                    copy.write_row((i, v))
            conn.execute(self._sql(
                "INSERT INTO {t} SELECT * FROM {t}_stage ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding"))
        if self.count() > self.hnsw_above:
            self._build_hnsw()  # once: a no-op when it exists (pgvector keeps it up to date)

    def remove(self, ids: np.ndarray) -> int:
        """Delete the rows (committed at once), then VACUUM the table so the dead rows and
        their index entries are reclaimed. The freed space is reused, not overwritten at
        once: ``VACUUM FULL`` on the table rewrites it without them."""
        ids = as_ids(ids)
        if ids.size == 0:
            return 0
        conn = self._connection()
        removed = conn.execute(self._sql("DELETE FROM {t} WHERE id = ANY(%s)"), (ids.tolist(),)).rowcount
        if removed:
            conn.execute(self._sql("VACUUM {t}"))
        return int(removed)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = check_k(k)
        q = self._prepare(queries)
        distances, found = empty_result(q.shape[0], k)
        conn = self._connection()
        operator = "<->" if self.metric == "euclidean" else "<=>"
        exact = self.count() <= self.hnsw_above
        with conn.transaction():
            if exact:  # a sequential scan is exact: keep the planner off the HNSW index
                conn.execute("SET LOCAL enable_indexscan = off")
                conn.execute("SET LOCAL enable_bitmapscan = off")
            else:
                conn.execute("SET LOCAL enable_seqscan = off")  # above the threshold: the HNSW index, always
                conn.execute(f"SET LOCAL hnsw.ef_search = {max(self.ef_search, min(k, 1000))}")
                try:
                    with conn.transaction():
                        conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                except Exception:  # noqa: BLE001 - pgvector < 0.8 has no iterative scans
                    pass
            sql = self._sql(f"SELECT id, embedding {operator} %s AS d FROM {{t}} ORDER BY d LIMIT %s")
            for row, vector in enumerate(q):
                result = conn.execute(sql, (vector, k)).fetchall()
                for col, (i, d) in enumerate(result):
                    found[row, col] = i
                    distances[row, col] = 1.0 if d is None or np.isnan(d) else d  # zero vector: cosine undefined
        return distances, found

    def count(self) -> int:
        return int(self._connection().execute(self._sql("SELECT count(*) FROM {t}")).fetchone()[0])

    def reset(self) -> None:
        conn = self._connection()
        with conn.transaction():
            conn.execute(self._sql("DROP INDEX IF EXISTS {i}"))
            conn.execute(self._sql("TRUNCATE {t}"))
            conn.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s", (self.name,))

    def drop(self) -> list[str]:
        """Drop the table and its state row (and the shared state table once it is empty)."""
        conn = self._connection()
        with conn.transaction():
            conn.execute(self._sql("DROP TABLE IF EXISTS {t}"))
            conn.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s", (self.name,))
            if conn.execute(f"SELECT count(*) FROM {STATE_TABLE}").fetchone()[0] == 0:
                conn.execute(f"DROP TABLE {STATE_TABLE}")
        self.close()
        return [f"table {self.name}"]

    def save(self, state: IndexState) -> None:
        """Write the state row (one statement: atomic); the vectors are already durable."""
        self._connection().execute(
            f"INSERT INTO {STATE_TABLE} (name, state) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state",
            (self.name, state_document(state, self.dimension, self.metric)),
        )

    def load(self) -> IndexState | None:
        """The saved state. A table of another dimension, or a state of another metric, is
        dropped (the index is then empty and the gallery rebuilds it)."""
        conn = self._connection()
        row = conn.execute(f"SELECT state FROM {STATE_TABLE} WHERE name = %s", (self.name,)).fetchone()
        foreign, state = read_state_document(row[0] if row is not None else None, self.dimension, self.metric)
        if foreign or self._table_dimension() != self.dimension:
            with conn.transaction():
                conn.execute(self._sql("DROP TABLE IF EXISTS {t}"))
                conn.execute(f"DELETE FROM {STATE_TABLE} WHERE name = %s", (self.name,))
                self._create_table()
            return None
        return state
