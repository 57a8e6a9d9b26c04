"""The approximate part of the FAISS index above its exact size: an inverted file (IVF) of
4-bit product-quantised codes scanned with FAISS's SIMD "fast scan", whose candidates the
caller re-ranks on its exact vectors.

Why this structure (docs/GALLERY.md, "What was tried"): at 1M 128-d templates it answers in
about 0.6 ms on one core at recall@1 >= 0.99 against exact search (10M: 2.8 ms), builds in a fraction of
HNSW's time and deletes entries for real (``remove_ids``), where an HNSW graph can only
tombstone them.

Sizes: ``nlist`` (the number of lists) is the power of two nearest ``4 sqrt(n)`` (4096 at 1M;
at most ``n / 40``); a search scans :data:`PROBE_SCALE` ``x nlist ** PROBE_EXPONENT`` of
them (224 of 4096) and re-ranks ``max(k x RERANK_FACTOR, MIN_CANDIDATES)`` candidates. The lists are
trained on the vectors present when built; the owner rebuilds when the index has grown
:data:`RETRAIN_GROWTH` times since.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["PROBE_SCALE", "RERANK_FACTOR", "MIN_CANDIDATES", "RETRAIN_GROWTH", "build_ivf", "list_count", "probes", "candidates"]

#: A search scans ``nlist ** PROBE_EXPONENT`` lists, or ``LARGE_PROBE_SCALE x nlist **
#: LARGE_PROBE_EXPONENT`` where that is more (290 of 4,096 at 1M, 955 of 16,384 at 10M): the
#: lists needed for a given recall grow slower than their number, but at 10M faster than at 1M.
#: Measured against exact search, one core, 2,000-5,000 mated queries (docs/GALLERY.md), on
#: templates fitted to LFW's real ones: 1M, 4,096 lists: 223 scanned 0.59 ms at recall@1
#: 0.9904, 286 0.67-0.75 ms at 0.9930; 10M, 16,384 lists: 734 2.9 ms at 0.9885, 940 3.41 ms at
#: 0.9925, 1,175 4.18 ms at 0.9945 (isotropic synthetic templates are easier: 573 gave 0.993).
#: Recall is lost in the lists not scanned: the same with 40 or 100 candidates re-ranked.
PROBE_SCALE = 1.0
PROBE_EXPONENT = 0.68
LARGE_PROBE_SCALE = 0.227
LARGE_PROBE_EXPONENT = 0.86
#: Candidates re-ranked exactly per wanted neighbour, and at least this many in all.
RERANK_FACTOR = 4
MIN_CANDIDATES = 40
#: Rebuild the lists once the index holds this many times the vectors they were trained on.
RETRAIN_GROWTH = 4
#: Training sample per list (k-means needs a few dozen points per centroid; more only costs time).
_TRAIN_PER_LIST = 40
_SEED = 1234


def list_count(n: int) -> int:
    """The number of IVF lists for ``n`` vectors: the power of two nearest ``4 sqrt(n)``, 1..65536,
    and at most ``n / 40``: each centroid is the mean of many vectors, never a copy of one
    (a singleton list's centroid would keep a template's bytes in the file after its removal)."""
    nearest = 2 ** round(math.log2(max(1.0, 4.0 * math.sqrt(n))))
    return int(min(65536, nearest, max(1, 2 ** math.floor(math.log2(max(1.0, n / _TRAIN_PER_LIST))))))


def probes(nlist: int, scale: float = PROBE_SCALE) -> int:
    """How many of ``nlist`` lists a search scans: ``scale`` x the larger of the two rules above, at least 8."""
    wanted = max(nlist**PROBE_EXPONENT, LARGE_PROBE_SCALE * nlist**LARGE_PROBE_EXPONENT)
    return int(min(nlist, max(8, round(scale * wanted))))


def candidates(k: int) -> int:
    """How many IVF candidates are re-ranked for ``k`` neighbours."""
    return max(k * RERANK_FACTOR, MIN_CANDIDATES)


def build_ivf(vectors: np.ndarray, ids: np.ndarray, metric_type: int) -> Any:
    """An ``IndexIVFPQFastScan`` over ``vectors`` (labels ``ids``), trained on a seeded sample of them."""
    import faiss

    n, dimension = vectors.shape
    nlist = list_count(n)
    subquantizers = dimension // 2 if dimension % 2 == 0 else dimension  # 2 dimensions (or 1) per 4-bit code
    index = faiss.index_factory(dimension, f"IVF{nlist},PQ{subquantizers}x4fs", metric_type)
    ivf = faiss.extract_index_ivf(index)
    # Small indexes train on few points per centroid on purpose: no warning for it.
    ivf.cp.min_points_per_centroid = 1
    faiss.downcast_index(index).pq.cp.min_points_per_centroid = 1
    rng = np.random.default_rng(_SEED)
    sample = vectors if n <= _TRAIN_PER_LIST * nlist else vectors[np.sort(rng.choice(n, _TRAIN_PER_LIST * nlist, replace=False))]
    if sample.shape[0] < 16:  # the 4-bit codebooks need 16 points; repeat a tiny set
        sample = np.tile(sample, (-(-16 // sample.shape[0]), 1))
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.add_with_ids(vectors, ids)
    return index
