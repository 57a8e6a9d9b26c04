"""The embedded vector index: FAISS in one file, exact up to :data:`HNSW_ABOVE` vectors, HNSW above."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Unsupported
from ..paths import open_private
from .hugepages import advise_huge_pages
from .index_base import HNSW_ABOVE, IndexBackend, IndexState, as_ids, check_k, empty_result

__all__ = ["FaissIndex"]


_MAGIC = b"CNTNIDX1"


class FaissIndex(IndexBackend):
    """The embedded backend: a FAISS index in one file (``path``), exact or HNSW by size.

    Up to ``hnsw_above`` vectors: ``IndexIDMap2(IndexFlat)`` (exact; removal deletes the rows).
    Above: ``IndexIDMap2(IndexHNSWFlat)``; HNSW cannot delete nodes, so a removed vector is
    overwritten with zeros in storage (its bytes are gone) and its id excluded from every
    search; the graph is rebuilt without them once they are a fifth of the index. Euclidean
    uses L2; cosine uses inner product on L2-normalised copies. With ``huge_pages`` (default)
    an HNSW index's vectors and graph are backed by 2 MiB pages where Linux allows it
    (:mod:`.hugepages`: about 15% off a 1M-template query).

    The file is a small header (magic, JSON with the state, dimension, metric) followed by
    FAISS's serialisation; it is written to a temporary file, fsynced and renamed.

    With ``mmap``, :meth:`load` maps the file instead of reading it (a private, copy-on-write
    mapping; FAISS reads the vectors and the graph in place): opening a 100k-template index
    costs a few milliseconds instead of reading it all, which is what a one-shot command
    wants. The answers are the same. The first change (add, remove) copies it into memory
    first; a file replaced by another process's save leaves the mapping on the old one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        dimension: int,
        metric: str,
        hnsw_above: int = HNSW_ABOVE,
        hnsw_m: int = 48,
        ef_construction: int = 120,
        ef_search: int = 256,
        huge_pages: bool = True,
        mmap: bool = False,
    ) -> None:
        super().__init__(dimension=dimension, metric=metric, hnsw_above=hnsw_above, hnsw_m=hnsw_m,
                         ef_construction=ef_construction, ef_search=ef_search)
        self.path = Path(path) if path is not None else None
        self.huge_pages = bool(huge_pages)
        self.mmap = bool(mmap)
        self._mapping: Any = None  # the file mapping a mapped index reads from (kept alive with it)
        self._index = self._new_flat()
        self._removed: set[int] = set()  # tombstoned ids (HNSW only)

    # -- construction helpers

    def _metric_type(self) -> int:
        import faiss

        return faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT

    def _new_flat(self):
        import faiss

        inner = faiss.IndexFlatL2(self.dimension) if self.metric == "euclidean" else faiss.IndexFlatIP(self.dimension)
        return faiss.IndexIDMap2(inner)

    def _new_hnsw(self):
        import faiss

        inner = faiss.IndexHNSWFlat(self.dimension, self.hnsw_m, self._metric_type())
        inner.hnsw.efConstruction = self.ef_construction
        inner.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap2(inner)

    @property
    def kind(self) -> str:
        """``"flat"`` (exact) or ``"hnsw"``."""
        import faiss

        return "hnsw" if isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSW) else "flat"

    @property
    def mapped(self) -> bool:
        """Whether the index reads its vectors and graph from the mapped file (see ``mmap``)."""
        return self._mapping is not None

    def _own(self) -> None:
        """Copy a mapped index into memory before a change (FAISS cannot grow a mapped vector)."""
        import faiss

        if self._mapping is None:
            return
        view, offset = self._mapping
        position = offset

        def read(size: int) -> bytes:
            nonlocal position
            chunk = bytes(view[position : position + size])
            position += len(chunk)
            return chunk

        self._index = faiss.read_index(faiss.PyCallbackIOReader(read))
        self._mapping = None
        view.release()
        self._advise_huge_pages()

    def _live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` of every vector not removed, as stored (normalised for cosine)."""
        import faiss

        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        n = ids.size
        if n == 0:
            return ids, np.zeros((0, self.dimension), np.float32)
        vectors = self._index.index.reconstruct_n(0, n)
        keep = np.array([i not in self._removed for i in ids.tolist()], dtype=bool)
        return ids[keep], vectors[keep]

    def _rebuild(self, hnsw: bool) -> None:
        ids, vectors = self._live_vectors()
        self._index = self._new_hnsw() if hnsw else self._new_flat()
        self._removed = set()
        if ids.size:
            self._index.add_with_ids(vectors, ids)
        self._advise_huge_pages()

    def search_buffers(self) -> list[tuple[int, int]]:
        """``(address, nbytes)`` of the large buffers an HNSW search reads at random (its
        vectors and its graph); empty for an exact index, which reads its rows in order."""
        import faiss

        if self.kind != "hnsw":
            return []
        hnsw = faiss.downcast_index(self._index.index)
        buffers = (faiss.downcast_index(hnsw.storage).codes, hnsw.hnsw.neighbors)
        return [(int(b.data()), int(b.byte_size())) for b in buffers if b.size()]

    def _advise_huge_pages(self) -> None:
        """Back the HNSW vectors and graph with huge pages (after they may have moved)."""
        if self.huge_pages and self._mapping is None:
            for address, nbytes in self.search_buffers():
                advise_huge_pages(address, nbytes)

    # -- the protocol

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        x = self._prepare(vectors)
        ids = np.ascontiguousarray(as_ids(ids, x.shape[0]))
        if ids.size == 0:
            return
        self._own()
        if self.kind == "flat" and self.count() + ids.size > self.hnsw_above:
            self._rebuild(hnsw=True)
        self._index.add_with_ids(x, ids)
        self._advise_huge_pages()

    def remove(self, ids: np.ndarray) -> int:
        import faiss

        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).ravel())
        if ids.size == 0:
            return 0
        self._own()
        if self.kind == "flat":
            return int(self._index.remove_ids(ids))
        # HNSW: scrub the stored vectors, tombstone the ids.
        stored = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        position = {int(v): i for i, v in enumerate(stored.tolist())}
        storage = faiss.downcast_index(faiss.downcast_index(self._index.index).storage)
        xb = faiss.rev_swig_ptr(storage.get_xb(), storage.ntotal * self.dimension).reshape(-1, self.dimension)
        removed = 0
        for value in ids.tolist():
            if value in position and value not in self._removed:
                xb[position[value]] = 0.0
                self._removed.add(value)
                removed += 1
        if self._removed and len(self._removed) * 5 >= self._index.ntotal:
            self._rebuild(hnsw=self._index.ntotal - len(self._removed) > self.hnsw_above)
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        k = check_k(k)
        q = self._prepare(queries)
        live = self.count()
        if live == 0:
            return empty_result(q.shape[0], k)
        params = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, k)
            if self._removed:
                params.sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.array(sorted(self._removed), dtype=np.int64)))
        raw, ids = self._index.search(q, min(k, live), params=params)
        raw = raw.astype(np.float64)
        if self.metric == "euclidean":
            distances = np.sqrt(np.maximum(raw, 0.0))
        else:
            distances = 1.0 - raw
        distances[ids < 0] = np.inf
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            distances = np.hstack([distances, np.full((q.shape[0], pad), np.inf)])
            ids = np.hstack([ids, np.full((q.shape[0], pad), -1, dtype=np.int64)])
        return distances, ids.astype(np.int64)

    def count(self) -> int:
        return int(self._index.ntotal) - len(self._removed)

    def reset(self) -> None:
        self._index = self._new_flat()
        self._removed = set()
        if self._mapping is not None:
            self._mapping[0].release()
            self._mapping = None

    def range_search(self, queries: np.ndarray, radius: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every vector within ``radius`` of each query (exact indexes only): ``[(distances, ids)]``.

        Raises Unsupported on an HNSW index.
        """
        if self.kind != "flat":
            raise Unsupported("range search needs an exact index; this one is HNSW")
        q = self._prepare(queries)
        threshold = radius * radius if self.metric == "euclidean" else 1.0 - radius
        limits, raw, ids = self._index.range_search(q, threshold)
        out = []
        for i in range(q.shape[0]):
            r = raw[limits[i] : limits[i + 1]].astype(np.float64)
            d = np.sqrt(np.maximum(r, 0.0)) if self.metric == "euclidean" else 1.0 - r
            order = np.argsort(d, kind="stable")
            out.append((d[order], ids[limits[i] : limits[i + 1]][order].astype(np.int64)))
        return out

    def save(self, state: IndexState) -> None:
        import faiss

        if self.path is None:
            return
        header = json.dumps({
            "state": asdict(state), "dimension": self.dimension, "metric": self.metric,
            "removed": sorted(self._removed),  # HNSW tombstones (their vectors are already zeroed)
        }).encode()
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with open_private(tmp) as handle:  # 0600 like the gallery database
            handle.write(_MAGIC + struct.pack("<Q", len(header)) + header)
            # Streamed, not serialised in memory first: no second copy of a 10M-template index.
            faiss.write_index(self._index, faiss.PyCallbackIOWriter(handle.write))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def drop(self) -> list[str]:
        """Empty the index and delete its file (zeroed first; see :func:`.wipe.wipe_file`)."""
        from .wipe import wipe_file

        self.reset()
        if self.path is None or not self.path.exists():
            return []
        wipe_file(self.path)
        return [self.path.name]

    def load(self) -> IndexState | None:
        import faiss

        self.reset()
        if self.path is None or not self.path.is_file():
            return None
        mapping = None
        try:
            with open(self.path, "rb") as handle:
                if handle.read(8) != _MAGIC:
                    return None
                (size,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(size))
                if header["dimension"] != self.dimension or header["metric"] != self.metric:
                    return None
                if self.mmap:
                    mapping = _map(handle, 16 + size)
                    index = faiss.read_index(mapping[2], 0)  # zero copy: vectors and graph stay in the file's pages
                    mapping = mapping[:2]
                else:
                    index = faiss.read_index(faiss.PyCallbackIOReader(handle.read))  # streamed, one copy
            state = IndexState(**header["state"])
            removed = {int(v) for v in header.get("removed", [])}
        except Exception:  # noqa: BLE001 - any unreadable file just means "rebuild from the store"
            if mapping is not None:
                mapping[0].release()
            return None
        self._mapping = mapping
        self._index = index
        self._removed = removed
        if self.kind == "hnsw":
            faiss.downcast_index(index.index).hnsw.efSearch = self.ef_search
            self._advise_huge_pages()
        return state


def _map(handle: Any, offset: int) -> tuple[memoryview, int, Any]:
    """``(view of the whole file, offset of FAISS's part, a zero-copy FAISS reader of it)``.

    A private mapping: FAISS never writes through it (``FaissIndex`` copies before a change),
    and if anything did, the file would not change.
    """
    import mmap

    import faiss

    mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    view = memoryview(mapped)
    data = np.frombuffer(view, dtype=np.uint8)[offset:]
    return view, offset, faiss.ZeroCopyIOReader(faiss.swig_ptr(data), data.size)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
