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
    ``id > last_id``. Rows deleted since are the ones the store's deletion log holds for the
    deletions numbered above the state's (:mod:`.deletion_log`): those the index holds are
    removed. The index is rebuilt from the store (``rebuilds`` counts it) only when there is
    no usable state, when the state is ahead of the store (a deletion that never committed,
    or another database), or when the log no longer reaches back to it.
    """

    def __init__(self, store: Store, table: str, index: VectorIndex) -> None:
        self.store = store
        self.table = table
        self.index = index
        self.state: IndexState | None = None
        self.dirty = False
        self.rebuilds = 0  # full rebuilds from the store since this mirror was made

    def open(self) -> None:
        saved = self.index.load()
        if saved is not None and not self._holds(saved):
            saved = None  # the file does not hold what it claims: rebuild
        self.state = saved
        self.sync()

    def _holds(self, saved: IndexState) -> bool:
        """Whether the loaded index holds what ``saved`` claims: as many vectors as the store
        had rows up to ``saved.last_id`` in that state (the rows now, and those logged as
        deleted since). False too when that state cannot be told (the index is then rebuilt)."""
        if self.index.count() != saved.count:
            return False
        with self.store.snapshot():
            count, _ = self.store.vector_stats(self.table, upto=saved.last_id)
            _, deletions = self.store.counters(self.table)
            gone = self.store.deleted_ids(self.table, after=saved.deletions, upto=deletions)
        return gone is not None and count + int(np.count_nonzero(gone <= saved.last_id)) == saved.count

    def sync(self) -> None:
        """Bring the index up to the store's current state (cheap when nothing changed)."""
        generation, deletions = self.store.counters(self.table)
        state = self.state
        if state is not None and state.generation == generation and state.deletions == deletions:
            return
        with self.store.snapshot():  # counters, deletion log and rows from one consistent state
            generation, deletions = self.store.counters(self.table)
            gone = None
            if state is not None and state.generation <= generation:
                gone = self.store.deleted_ids(self.table, after=state.deletions, upto=deletions)
            if gone is None:
                self.index.reset()
                self.rebuilds += 1
                after = 0
            else:
                after = state.last_id
                held = gone[gone <= after]  # rows added and deleted since were never held
                if held.size:
                    self.index.remove(held)
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
        leaves an index whose counters are ahead of the store's (so it is rebuilt).
        """
        self.index.remove(np.array(ids, dtype=np.int64))
        generation, deletions = self.store.counters(self.table)
        _, last = self.store.vector_stats(self.table)
        self.state = IndexState(last_id=max(last, self.state.last_id if self.state else 0), count=self.index.count(),
                                deletions=deletions, generation=generation)
        self._write()

    def save(self) -> None:
        """Write the index file in step with the store: under the store's write lock, after
        catching up. Without the lock, a deletion another gallery object commits between this
        one's last sync and the file's rename would be written back to disk (a forgotten
        person's template bytes in the index file)."""
        with self.store.write_lock():
            self.sync()
            self._write()

    def _write(self) -> None:
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
