"""The embedded vector index: FAISS in one file, exact up to :data:`APPROXIMATE_ABOVE` vectors,
an inverted file with exact re-ranking above."""

from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import open_private
from .hugepages import advise_huge_pages
from .index_base import APPROXIMATE_ABOVE, IndexBackend, IndexState, as_ids, check_k, empty_result
from .ivf import PROBE_SCALE, RETRAIN_GROWTH, build_ivf, candidates, probes

__all__ = ["FaissIndex"]


_MAGIC = b"CNTNIDX1"
_log = logging.getLogger(__name__)


class FaissIndex(IndexBackend):
    """The embedded backend: a FAISS index in one file (``path``), exact or IVF by size.

    Every vector is kept as it is in an ``IndexIDMap2(IndexFlat)``: up to ``approximate_above``
    vectors a search scans them all (exact). Above, an inverted file of 4-bit PQ codes
    (:mod:`.ivf`) proposes candidates and they are re-ranked on the exact vectors, so the
    distances returned are always the true ones. Removal deletes a vector from both (its bytes
    leave the index and its file). Euclidean uses L2; cosine uses inner product on
    L2-normalised copies. With ``huge_pages`` (default) the exact vectors of an IVF index,
    which the re-ranking reads at random, are backed by 2 MiB pages where Linux allows it.

    The file is a small header (magic, JSON with the state, dimension, metric and the IVF's
    size) followed by the serialised IVF (if any) and FAISS's serialisation of the exact
    vectors; it is written to a temporary file, fsynced and renamed. A file from an older
    version holding an HNSW graph still loads: its vectors are taken over and the IVF built
    from them (logged once).

    With ``mmap``, :meth:`load` maps the file instead of reading it (a private, copy-on-write
    mapping; FAISS reads the exact vectors in place, the small IVF is read): opening a
    100k-template index costs a few milliseconds instead of reading it all, which is what a
    one-shot command wants. The answers are the same. The first change (add, remove) copies it
    into memory first; a file replaced by another process's save leaves the mapping on the old one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        dimension: int,
        metric: str,
        approximate_above: int = APPROXIMATE_ABOVE,
        probe_scale: float = PROBE_SCALE,
        huge_pages: bool = True,
        mmap: bool = False,
    ) -> None:
        super().__init__(dimension=dimension, metric=metric)
        self.path = Path(path) if path is not None else None
        self.approximate_above = int(approximate_above)
        self.probe_scale = float(probe_scale)  # scales the lists a search scans (ivf.probes)
        self.huge_pages = bool(huge_pages)
        self.mmap = bool(mmap)
        self._mapping: Any = None  # (view of the mapped file, offset of the exact vectors' part)
        self._index = self._new_flat()
        self._ivf: Any = None  # the inverted file above approximate_above (labels = ids)
        self._trained_for = 0  # vectors present when the IVF was trained

    # -- construction helpers

    def _metric_type(self) -> int:
        import faiss

        return faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT

    def _new_flat(self):
        import faiss

        inner = faiss.IndexFlatL2(self.dimension) if self.metric == "euclidean" else faiss.IndexFlatIP(self.dimension)
        return faiss.IndexIDMap2(inner)

    @property
    def kind(self) -> str:
        """``"flat"`` (exact) or ``"ivf"`` (inverted file, exact re-ranking)."""
        return "flat" if self._ivf is None else "ivf"

    @property
    def lists(self) -> tuple[int, int]:
        """``(IVF lists, lists a search scans)``; ``(0, 0)`` for an exact index."""
        return (0, 0) if self._ivf is None else (int(self._ivf.nlist), probes(self._ivf.nlist, self.probe_scale))

    @property
    def mapped(self) -> bool:
        """Whether the index reads its exact vectors from the mapped file (see ``mmap``)."""
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

    def _stored(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` as stored (normalised for cosine); the vectors are a view, not a copy."""
        import faiss

        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        if ids.size == 0:
            return ids, np.zeros((0, self.dimension), np.float32)
        flat = faiss.downcast_index(self._index.index)
        return ids, faiss.rev_swig_ptr(flat.get_xb(), ids.size * self.dimension).reshape(-1, self.dimension)

    def _build_ivf(self) -> None:
        ids, vectors = self._stored()
        self._ivf = build_ivf(vectors, ids, self._metric_type())
        self._trained_for = int(ids.size)

    def search_buffers(self) -> list[tuple[int, int]]:
        """``(address, nbytes)`` of the large buffers a search reads at random: an IVF index's
        exact vectors (its re-ranking); empty for an exact index, which reads its rows in order."""
        if self.kind != "ivf" or self.count() == 0:
            return []
        _, vectors = self._stored()
        return [(int(vectors.ctypes.data), int(vectors.nbytes))]

    def _advise_huge_pages(self) -> None:
        """Back the re-ranked vectors with huge pages (after they may have moved)."""
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
        self._index.add_with_ids(x, ids)
        if self.count() > self.approximate_above and (self._ivf is None or self.count() > RETRAIN_GROWTH * self._trained_for):
            self._build_ivf()  # (re)trained on everything there is now
        elif self._ivf is not None:
            self._ivf.add_with_ids(x, ids)
        self._advise_huge_pages()

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).ravel())
        if ids.size == 0:
            return 0
        self._own()
        removed = int(self._index.remove_ids(ids))
        if self._ivf is not None:
            self._ivf.remove_ids(ids)
            if self.count() <= self.approximate_above:
                self._ivf = None
        self._advise_huge_pages()
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = check_k(k)
        q = self._prepare(queries)
        live = self.count()
        if live == 0:
            return empty_result(q.shape[0], k)
        if self._ivf is None or candidates(k) >= live:
            raw, ids = self._index.search(q, min(k, live))
        else:
            raw, ids = self._reranked(q, min(k, live))
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

    def _reranked(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The IVF's candidates re-ranked on the exact vectors: ``(raw scores like FAISS's, ids)``."""
        import faiss

        params = faiss.SearchParametersIVF()
        params.nprobe = probes(self._ivf.nlist, self.probe_scale)
        _, proposed = self._ivf.search(q, candidates(k), params=params)
        euclidean = self.metric == "euclidean"
        raw = np.full((q.shape[0], k), np.inf if euclidean else -np.inf, np.float32)
        ids = np.full((q.shape[0], k), -1, np.int64)
        for row, (query, found) in enumerate(zip(q, proposed)):
            found = found[found >= 0]
            if found.size == 0:
                continue
            vectors = self._index.reconstruct_batch(found)
            score = ((vectors - query) ** 2).sum(axis=1) if euclidean else vectors @ query
            order = np.argsort(score if euclidean else -score, kind="stable")[:k]
            raw[row, : order.size], ids[row, : order.size] = score[order], found[order]
        return raw, ids

    def count(self) -> int:
        return int(self._index.ntotal)

    def reset(self) -> None:
        self._index = self._new_flat()
        self._ivf = None
        self._trained_for = 0
        if self._mapping is not None:
            self._mapping[0].release()
            self._mapping = None

    def range_search(self, queries: np.ndarray, radius: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every vector within ``radius`` of each query, exact at any size: ``[(distances, ids)]``."""
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
        ivf = faiss.serialize_index(self._ivf) if self._ivf is not None else np.zeros(0, np.uint8)
        header = json.dumps({
            "state": asdict(state), "dimension": self.dimension, "metric": self.metric,
            "ivf_bytes": int(ivf.size), "trained_for": self._trained_for,
        }).encode()
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with open_private(tmp) as handle:  # 0600 like the gallery database
            handle.write(_MAGIC + struct.pack("<Q", len(header)) + header)
            handle.write(ivf.tobytes())  # PQ codes: a sixteenth of the vectors' size
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
                ivf_bytes = int(header.get("ivf_bytes", 0))
                ivf = None
                if ivf_bytes:
                    data = np.frombuffer(handle.read(ivf_bytes), np.uint8)
                    if data.size != ivf_bytes:
                        return None
                    ivf = faiss.deserialize_index(data)
                if self.mmap:
                    mapping = _map(handle, 16 + size + ivf_bytes)
                    index = faiss.read_index(mapping[2], 0)  # zero copy: the vectors stay in the file's pages
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
        self._ivf = ivf
        self._trained_for = int(header.get("trained_for", 0))
        if isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW):
            self._take_over_hnsw(removed)
        self._advise_huge_pages()
        return state

    def _take_over_hnsw(self, removed: set[int]) -> None:
        """Turn an older version's HNSW index (with its tombstones) into exact vectors and an IVF."""
        import faiss

        hnsw = self._index
        ids = faiss.vector_to_array(hnsw.id_map).astype(np.int64)
        vectors = hnsw.index.reconstruct_n(0, ids.size) if ids.size else np.zeros((0, self.dimension), np.float32)
        keep = ~np.isin(ids, np.fromiter(removed, np.int64, len(removed)))
        _log.warning("%s: an HNSW index from an older version; rebuilding it as an IVF index "
                     "from its %d vectors", self.path, int(keep.sum()))
        self.reset()
        self._index.add_with_ids(np.ascontiguousarray(vectors[keep]), np.ascontiguousarray(ids[keep]))
        if self.count() > self.approximate_above:
            self._build_ivf()


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
