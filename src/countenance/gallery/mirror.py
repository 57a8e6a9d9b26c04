"""The index mirror: a vector index kept in step with one vector table of the gallery's store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .index_base import IndexState, VectorIndex
from .store import Store

__all__ = ["IndexMirror", "deleting"]


class IndexMirror:
    """A vector index kept in step with one vector table of the store.

    The index's state says which store state it reflects (``generation`` and ``deletions``
    counters and the largest id it holds). Rows added since then always have larger ids
    (writers are serialised and ids never reused), so a stale index catches up by adding
    ``id > last_id``; any deletion since forces a rebuild.
    """

    def __init__(self, store: Store, table: str, index: VectorIndex) -> None:
        self.store = store
        self.table = table
        self.index = index
        self.state: IndexState | None = None
        self.dirty = False

    def open(self) -> None:
        saved = self.index.load()
        if saved is not None:
            count, _ = self.store.vector_stats(self.table, upto=saved.last_id)
            if count != saved.count or self.index.count() != saved.count:
                saved = None  # the file does not hold what it claims: rebuild
        self.state = saved
        self.sync()

    def sync(self) -> None:
        """Bring the index up to the store's current state (cheap when nothing changed)."""
        generation, deletions = self.store.counters(self.table)
        state = self.state
        if state is not None and state.generation == generation and state.deletions == deletions:
            return
        with self.store.snapshot():  # counters and rows from one consistent state
            generation, deletions = self.store.counters(self.table)
            if state is None or state.deletions != deletions or state.generation > generation:
                self.index.reset()
                after = 0
            else:
                after = state.last_id
            last = after
            for ids, vectors in self.store.iter_vectors(self.table, after=after):
                self.index.add(ids, vectors)
                last = int(ids[-1])
        self.state = IndexState(last_id=last, count=self.index.count(), deletions=deletions, generation=generation)
        self.dirty = True

    def remove(self, ids: list[int]) -> None:
        """Remove ``ids`` whose deletion is in the current (uncommitted) transaction, and save.

        Called inside the store's write transaction, after the deletion and before the commit:
        the saved index then never holds a committed deletion, and a crash before the commit
        leaves an index whose counters do not match the store (so it is rebuilt).
        """
        self.index.remove(np.array(ids, dtype=np.int64))
        generation, deletions = self.store.counters(self.table)
        _, last = self.store.vector_stats(self.table)
        self.state = IndexState(last_id=max(last, self.state.last_id if self.state else 0), count=self.index.count(),
                                deletions=deletions, generation=generation)
        self.save()

    def save(self) -> None:
        if self.state is not None:
            self.index.save(self.state)
        self.dirty = False

    def rebuild(self) -> None:
        self.state = None
        self.sync()


@contextmanager
def deleting(store: Store, mirror: IndexMirror) -> Iterator[None]:
    """A write transaction of ``store`` that deletes rows ``mirror`` mirrors.

    The index is brought up to date first, and the caller removes the rows from it (and
    saves it: :meth:`IndexMirror.remove`) before the commit. If anything fails the
    transaction rolls back and the in-memory index is rebuilt from the store.
    """
    try:
        with store.transaction():
            mirror.sync()
            yield
    except BaseException:
        mirror.rebuild()
        raise
