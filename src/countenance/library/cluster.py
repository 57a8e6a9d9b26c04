"""People discovery: group face templates into candidate people (pure functions over arrays).

The method (:func:`cluster_faces`), built to never merge two people (the worse error) while
keeping recall on small, blurred faces:

1. Neighbours: each face's ``k`` nearest faces (exact search; FAISS HNSW above 20,000 faces).
2. Density: a face is a *core* face when at least ``min_faces - 1`` other faces lie within
   ``max_distance`` (as Immich's DBSCAN-like job: a person starts only where faces crowd).
3. Edges: a pair of faces within ``max_distance`` of each other, one of them core, whose
   neighbour lists (each face counted in its own) share at least ``min_shared`` faces
   (shared-nearest-neighbour support; 3: the pair and one common neighbour, so three photos
   of a person are enough).
4. Merging: edges are taken shortest first and join two groups only when
   - Ward's merge cost, scaled to a pair distance, ``sqrt(2 h) |mean_a - mean_b|`` with
     ``h = min(na nb / (na + nb), merge_size_cap)``, is at most ``max_merge_distance``. For two
     groups of one person it stays near a same-person pair distance whatever their sizes; for
     two people it grows with the groups, so one close pair cannot chain two people together.
     The cap keeps two large groups of one person (say, photos years apart) mergeable;
   - no photo would hold two faces of the group (one person appears once per photo);
   - no face of one group was rejected for the other's person (cannot-link), and the groups
     are not confirmed as two different people.
   Faces the user confirmed for one person start joined (must-link).
5. Groups with fewer than ``min_faces`` faces and no confirmed face stay unclustered (-1).

Metrics for evaluating a clustering (:func:`bcubed`) and the Immich-style DBSCAN baseline
(:func:`dbscan_baseline`) live here too, so the evaluation scores exactly what ships.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument

__all__ = ["ClusterOptions", "Clustering", "BCubed", "cluster_faces", "nearest_neighbours", "bcubed",
           "dbscan_baseline"]

_HNSW_ABOVE = 20_000


@dataclass(frozen=True)
class ClusterOptions:
    """Clustering settings; distances are Euclidean on the model's raw templates (dlib-resnet-v1).

    Defaults measured on LFW people with 10+ images at full and half image size
    (``scripts/eval_library.py``, docs/LIBRARY.md).
    """

    max_distance: float = 0.55
    max_merge_distance: float = 1.0
    merge_size_cap: float = 8.0
    neighbours: int = 20
    min_shared: int = 3
    min_faces: int = 3

    def __post_init__(self) -> None:
        for name in ("max_distance", "max_merge_distance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidArgument(f"{name} must be a distance > 0, got {value!r}")
        for name, low in (("neighbours", 1), ("min_shared", 0), ("min_faces", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgument(f"{name} must be an int >= {low}, got {value!r}")


@dataclass(frozen=True, eq=False)
class Clustering:
    """``labels``: ``(N,) int64`` group of each face, -1 for unclustered; groups are numbered
    0.. in order of their smallest face index. ``seed_of_label`` maps a group to the must-link
    seed it holds (its person), when it holds one."""

    labels: np.ndarray
    seed_of_label: dict[int, int]

    @property
    def count(self) -> int:
        return int(self.labels.max() + 1) if self.labels.size else 0


@dataclass(frozen=True)
class BCubed:
    """BCubed precision, recall and their harmonic mean (Amigó et al. 2009)."""

    precision: float
    recall: float
    f1: float


def nearest_neighbours(templates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other faces of each face: ``(distances (N, k) float32, indices (N, k) int64)``.

    Euclidean distances, nearest first; rows are padded with ``inf`` / -1 when N - 1 < k.
    """
    import faiss

    vectors = np.ascontiguousarray(templates, dtype=np.float32)
    n, dim = vectors.shape
    want = min(k + 1, n)
    if n > _HNSW_ABOVE:
        index = faiss.IndexHNSWFlat(dim, 32)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = max(64, 2 * want)
    else:
        index = faiss.IndexFlatL2(dim)
    index.add(vectors)
    squared, found = index.search(vectors, want)
    distances = np.sqrt(np.maximum(squared, 0.0))
    out_d = np.full((n, k), np.inf, dtype=np.float32)
    out_i = np.full((n, k), -1, dtype=np.int64)
    # Drop each face itself from its own list (usually, but not always with ties, the first).
    is_self = found == np.arange(n)[:, None]
    has_self = is_self.any(axis=1)
    for row in np.flatnonzero(~has_self):
        is_self[row, -1] = True  # no self found: drop the farthest instead
    kept = ~is_self
    width = min(k, want - 1)
    out_d[:, :width] = distances[kept].reshape(n, want - 1)[:, :width]
    out_i[:, :width] = found[kept].reshape(n, want - 1)[:, :width]
    out_i[out_d == np.inf] = -1
    return out_d, out_i


class _Groups:
    """Union-find over faces with, per group: its faces' photos, template sum, seed, rejected seeds."""

    def __init__(self, templates: np.ndarray, photo_ids: np.ndarray, seeds: np.ndarray,
                 rejected: dict[int, set[int]]) -> None:
        n = len(templates)
        self.parent = list(range(n))
        self.size = [1] * n
        self.sums = templates.astype(np.float64).copy()
        self.photos: list[set[int]] = [{int(p)} for p in photo_ids]
        self.seed: list[int] = [int(s) for s in seeds]
        self.rejected: list[set[int]] = [set(rejected.get(i, ())) for i in range(n)]

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def allowed(self, a: int, b: int) -> bool:
        if self.seed[a] >= 0 and self.seed[b] >= 0 and self.seed[a] != self.seed[b]:
            return False
        if self.seed[a] >= 0 and self.seed[a] in self.rejected[b] or self.seed[b] >= 0 and self.seed[b] in self.rejected[a]:
            return False
        small, large = (self.photos[a], self.photos[b]) if len(self.photos[a]) < len(self.photos[b]) else (self.photos[b], self.photos[a])
        return not any(p in large for p in small)

    def merge_distance(self, a: int, b: int, cap: float) -> float:
        # Ward's criterion scaled to a pair distance: sqrt(2 na nb / (na + nb)) |mean_a - mean_b|.
        # For two groups of one person it stays near the typical same-person pair distance
        # whatever their sizes; for two people it grows with the groups (no chaining).
        na, nb = self.size[a], self.size[b]
        gap = np.linalg.norm(self.sums[a] / na - self.sums[b] / nb)
        return float(np.sqrt(2.0 * min(na * nb / (na + nb), cap)) * gap)

    def union(self, a: int, b: int) -> int:
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]
        self.sums[a] += self.sums[b]
        self.photos[a] |= self.photos[b]
        self.rejected[a] |= self.rejected[b]
        if self.seed[a] < 0:
            self.seed[a] = self.seed[b]
        self.photos[b], self.rejected[b] = set(), set()
        return a


def cluster_faces(
    templates: np.ndarray,
    photo_ids: np.ndarray,
    options: ClusterOptions | None = None,
    *,
    seeds: np.ndarray | None = None,
    rejections: Iterable[tuple[int, int]] = (),
) -> Clustering:
    """Group faces into candidate people (see the module docstring).

    ``templates``: ``(N, D) float32``; ``photo_ids``: ``(N,)`` the photo of each face.
    ``seeds``: ``(N,) int``, the person a face is confirmed for (must-link), -1 for a free face.
    ``rejections``: ``(face index, person)`` pairs the user rejected (cannot-link).
    """
    options = options or ClusterOptions()
    templates = np.asarray(templates, dtype=np.float32)
    photo_ids = np.asarray(photo_ids)
    n = len(templates)
    if templates.ndim != 2 or len(photo_ids) != n:
        raise InvalidArgument(f"templates must be (N, D) with N photo ids, got {templates.shape} and {photo_ids.shape}")
    seeds = np.full(n, -1, dtype=np.int64) if seeds is None else np.asarray(seeds, dtype=np.int64)
    if n == 0:
        return Clustering(np.zeros(0, dtype=np.int64), {})
    rejected: dict[int, set[int]] = {}
    for face, person in rejections:
        rejected.setdefault(int(face), set()).add(int(person))
    groups = _Groups(templates, photo_ids, seeds, rejected)
    by_seed: dict[int, int] = {}
    for i in np.flatnonzero(seeds >= 0):
        first = by_seed.setdefault(int(seeds[i]), int(i))
        if first != i:
            a, b = groups.find(first), groups.find(int(i))
            if a != b:
                groups.union(a, b)
    for a, b in _edges(templates, options):
        ra, rb = groups.find(a), groups.find(b)
        if ra == rb or not groups.allowed(ra, rb):
            continue
        if groups.merge_distance(ra, rb, options.merge_size_cap) > options.max_merge_distance:
            continue
        groups.union(ra, rb)
    roots = np.array([groups.find(i) for i in range(n)])
    labels = np.full(n, -1, dtype=np.int64)
    seed_of_label: dict[int, int] = {}
    numbering: dict[int, int] = {}
    for i in range(n):
        root = int(roots[i])
        if groups.size[root] < options.min_faces and groups.seed[root] < 0:
            continue
        label = numbering.setdefault(root, len(numbering))
        labels[i] = label
        if groups.seed[root] >= 0:
            seed_of_label[label] = groups.seed[root]
    return Clustering(labels, seed_of_label)


def _edges(templates: np.ndarray, options: ClusterOptions) -> list[tuple[int, int]]:
    """Candidate edges ``(i, j)``, ``i < j``, shortest first (see steps 2-3 of the module docstring)."""
    distances, neighbours = nearest_neighbours(templates, options.neighbours)
    close = (distances <= options.max_distance) & (neighbours >= 0)
    core = close.sum(axis=1) >= options.min_faces - 1
    rows, cols = np.nonzero(close)
    a, b = rows.astype(np.int64), neighbours[rows, cols]
    d = distances[rows, cols]
    keep = core[a] | core[b]
    a, b, d = a[keep], b[keep], d[keep]
    low, high = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(low * len(templates) + high, return_index=True)
    low, high, d = low[first], high[first], d[first]
    # Shared neighbours of each pair, in blocks to bound memory (pairs x k x k booleans).
    shared = np.empty(len(low), dtype=np.int64)
    block = 20_000
    for start in range(0, len(low), block):
        na = neighbours[low[start:start + block]]
        nb = neighbours[high[start:start + block]]
        same = (na[:, :, None] == nb[:, None, :]) & (na[:, :, None] >= 0)
        # Each face counts itself among its neighbours: a mutual pair shares 2 (the pair itself).
        mutual = (na == high[start:start + block, None]).any(axis=1).astype(np.int64) + \
            (nb == low[start:start + block, None]).any(axis=1)
        shared[start:start + block] = same.any(axis=2).sum(axis=1) + mutual
    keep = shared >= options.min_shared
    low, high, d = low[keep], high[keep], d[keep]
    order = np.argsort(d, kind="stable")
    return list(zip(low[order].tolist(), high[order].tolist(), strict=True))


def bcubed(truth: np.ndarray, predicted: np.ndarray) -> BCubed:
    """BCubed precision/recall/F1 of ``predicted`` labels against ``truth`` (both ``(N,) int``).

    A predicted label of -1 (unclustered) is a singleton. Empty input scores 1.0 (nothing wrong).
    """
    truth = np.asarray(truth)
    predicted = np.asarray(predicted).copy()
    if len(truth) != len(predicted):
        raise InvalidArgument(f"truth and predicted differ in length: {len(truth)} vs {len(predicted)}")
    if len(truth) == 0:
        return BCubed(1.0, 1.0, 1.0)
    free = predicted < 0
    predicted[free] = predicted.max(initial=0) + 1 + np.arange(int(free.sum()))
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(predicted, return_inverse=True)
    pair = t.astype(np.int64) * (p.max() + 1) + p
    _, pair_index, pair_counts = np.unique(pair, return_inverse=True, return_counts=True)
    both = pair_counts[pair_index].astype(np.float64)
    precision = float(np.mean(both / np.bincount(p)[p]))
    recall = float(np.mean(both / np.bincount(t)[t]))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return BCubed(precision, recall, f1)


def dbscan_baseline(templates: np.ndarray, *, eps: float, min_faces: int = 3) -> np.ndarray:
    """Immich-style DBSCAN: a face is a core point with at least ``min_faces`` faces (itself
    included) within ``eps``; returns ``(N,) int64`` labels, -1 for noise."""
    from sklearn.cluster import DBSCAN

    if len(templates) == 0:
        return np.zeros(0, dtype=np.int64)
    return DBSCAN(eps=eps, min_samples=min_faces, metric="euclidean").fit_predict(templates).astype(np.int64)
