"""People discovery: group face templates into candidate people (pure functions over arrays).

The rule (:func:`cluster_faces`) is average linkage, cut at a distance, on a sparse graph of
near neighbours, so nothing is O(N^2) in time or memory:

1. Graph: each face's ``neighbours`` nearest faces (FAISS: exact up to 50,000 faces, an
   inverted-file index above); a pair closer than ``max_pair_distance`` is an edge, and only
   groups joined by an edge are candidates to merge.
2. Linkage: two groups A and B are as far apart as the root mean square of the distances of
   all their pairs of faces, ``sqrt(mean ||a - b||^2)``. It is exact, not estimated from the
   edges: ``mean ||a - b||^2 = |mean_a - mean_b|^2 + var_a + var_b`` needs only each group's
   size, template sum and sum of squared norms. A stranger therefore joins a person only when he
   is close to the whole person, not to one look-alike face of it, and two halves of one
   person of any size stay mergeable.
3. Merging: edges are taken shortest first (a pair whose groups grew is re-queued at its current
   linkage); two groups merge when their linkage is at most ``max_distance`` and
   - no photo would hold two faces of the group (one person appears once per photo);
   - no face of one group was rejected for the other's person (cannot-link), and the groups
     are not two different people the user confirmed (must-link seeds, joined from the start);
   - when both have ``link_faces`` faces or more, the neighbour graph links them: at least
     ``link_share`` of the smaller group's neighbours (within ``link_distance``) lie in the
     other. Two look-alike people close on average but each other's neighbours almost never
     (a share of 0.05-0.11 on LFW) stay apart; two halves of one person share 0.4-0.9.
4. Refinement (:mod:`.cluster_refine`, on the neighbour lists and group sums only): a face
   left in a group too small to be a person joins the person most of its close neighbours are
   in, when it is close to that person's mean face; two groups of ``join_faces`` or more whose
   neighbour lists point into each other (``join_share``) merge; then left-over faces are
   placed once more.
5. Groups with fewer than ``min_faces`` faces and no seed stay unclustered (-1): most people
   in an album are seen once, and a single face is no person to review.

Incremental placement is the same rule with ``queries``: only the edges and neighbour lists of
the new faces are taken (for the link test, attach and join too), and faces already in a
person enter as that person (a seed), so a new face joins a person, starts one with other new
or unclustered faces, or stays unclustered, and two existing people are never merged by it (a
full re-cluster may).

Scores (:func:`bcubed`, :func:`pairwise_scores`) and the Immich-style DBSCAN baseline
(:func:`dbscan_baseline`) live in :mod:`.cluster_metrics` and are re-exported here.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..calibration.cuts import cuts_for
from ..errors import InvalidArgument
from .cluster_metrics import BCubed, PairwiseScores, bcubed, dbscan_baseline, pairwise_scores
from .cluster_refine import NeighbourGraph, refine

__all__ = ["ClusterOptions", "Clustering", "BCubed", "PairwiseScores", "cluster_faces", "nearest_neighbours",
           "bcubed", "pairwise_scores", "dbscan_baseline", "neighbour_index", "RULE"]

# Names the rule and its defaults; a library clustered under another rule is re-clustered in full.
RULE = "rms-average-linkage-2"
_EXACT_UP_TO = 50_000
#: The settings that are distances (carried to another model by :meth:`ClusterOptions.for_model`).
_DISTANCES = ("max_distance", "max_pair_distance", "link_distance", "attach_distance")


@dataclass(frozen=True)
class ClusterOptions:
    """Clustering settings; distances are Euclidean on the model's templates. The defaults are in
    dlib-resnet-v1's units (same-person threshold 0.6), where they were measured;
    :meth:`for_model` carries them to any calibrated model (:mod:`countenance.calibration.cuts`).

    ``max_distance``: the cut, the largest root-mean-square distance between two groups' faces
    at which they merge; ``max_pair_distance``: two groups are candidates only when a pair of
    their faces is this close (the graph's edges); ``neighbours``: the k of the neighbour graph;
    ``min_faces``: the smallest group that becomes a person. ``link_distance``: the radius within
    which neighbours count as links; ``link_faces`` / ``link_share``: two groups of that size
    merge only when that share of the smaller one's neighbour links lead into the other;
    ``attach_distance`` / ``attach_share``: a left-over face joins a person when that share of
    its linked neighbours are in it and it is this close to its mean face; ``join_faces`` /
    ``join_share``: two groups that large merge when that share of their links join them.
    Defaults chosen on all of LFW, LFW people with 10+
    photos, a mixed album and the tight-crop fixtures (``scripts/eval_library.py``, docs/LIBRARY.md).
    """

    max_distance: float = 0.53
    max_pair_distance: float = 0.45
    neighbours: int = 10
    min_faces: int = 3
    link_distance: float = 0.6
    link_faces: int = 4
    link_share: float = 0.15
    attach_distance: float = 0.47
    attach_share: float = 0.7
    join_faces: int = 5
    join_share: float = 0.4

    def __post_init__(self) -> None:
        for name in ("max_distance", "max_pair_distance", "link_distance", "attach_distance",
                     "link_share", "attach_share", "join_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidArgument(f"{name} must be a distance > 0, got {value!r}")
        for name, low in (("neighbours", 1), ("min_faces", 1), ("link_faces", 1), ("join_faces", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgument(f"{name} must be an int >= {low}, got {value!r}")

    @classmethod
    def for_model(cls, model: Any, calibration: Any = None, *, base: ClusterOptions | None = None) -> ClusterOptions:
        """``base`` (default: the defaults), written in the reference model's units, carried to
        ``model`` (a ModelSpec or ModelRecord: its ``name`` and ``metric``) through
        ``calibration`` (default: the model's installed or shipped table). The reference
        model gets ``base`` unchanged; a model without a table raises CalibrationMissing."""
        base = base or cls()
        cuts = cuts_for(model.name, model.metric, calibration)
        if cuts.identity:
            return base
        return replace(base, **{name: cuts.euclidean(getattr(base, name)) for name in _DISTANCES})

    def fingerprint(self) -> str:
        """The rule and its settings, as stored in a library: another one means a full re-cluster."""
        return (f"{RULE} cut={self.max_distance:g} pair={self.max_pair_distance:g} k={self.neighbours} "
                f"min={self.min_faces} link={self.link_distance:g}/{self.link_faces}/{self.link_share:g} "
                f"attach={self.attach_distance:g}/{self.attach_share:g} join={self.join_faces}/{self.join_share:g}")


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


def nearest_neighbours(templates: np.ndarray, k: int, queries: np.ndarray | None = None,
                       index: object | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other faces of each face (or of each face in ``queries``, ``(Q,)``
    indices): ``(distances (Q, k) float32, indices (Q, k) int64)``.

    Euclidean distances, nearest first; rows are padded with ``inf`` / -1 when fewer are found.
    Exact search up to 50,000 faces or for queries; an inverted-file index (FAISS IVF, 16 of
    ~4 sqrt(N) lists probed) above, whose misses are far pairs that could not merge anyway.
    ``index``: a FAISS index already holding ``templates`` in order (a library's neighbour
    index kept between runs), searched instead of building one. ``threads``: FAISS's threads for
    this search (None: its default, every core).
    """
    import faiss

    if threads is not None:
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(threads)
        try:
            return nearest_neighbours(templates, k, queries, index)
        finally:
            faiss.omp_set_num_threads(before)

    vectors = np.ascontiguousarray(templates, dtype=np.float32)
    n, dim = vectors.shape
    rows = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    want = min(k + 1, n)
    if index is not None:
        if index.ntotal != n:
            raise InvalidArgument(f"the neighbour index holds {index.ntotal} faces, not the {n} given")
    elif n > _EXACT_UP_TO and queries is None:
        index = neighbour_index(vectors)
    else:
        index = faiss.IndexFlatL2(dim)
        index.add(vectors)
    out_d = np.full((len(rows), k), np.inf, dtype=np.float32)
    out_i = np.full((len(rows), k), -1, dtype=np.int64)
    block = 65_536
    for start in range(0, len(rows), block):
        part = rows[start:start + block]
        squared, found = index.search(vectors[part], want)
        distances = np.sqrt(np.maximum(squared, 0.0))
        distances[found < 0] = np.inf
        # Drop each face itself from its own list (usually, but not always with ties, the first).
        is_self = found == part[:, None]
        is_self[~is_self.any(axis=1), -1] = True  # no self found: drop the farthest instead
        width = min(k, want - 1)
        kept_d = distances[~is_self].reshape(len(part), want - 1)[:, :width]
        kept_i = found[~is_self].reshape(len(part), want - 1)[:, :width]
        out_d[start:start + len(part), :width] = kept_d
        out_i[start:start + len(part), :width] = kept_i
    out_i[~np.isfinite(out_d)] = -1
    return out_d, out_i


def neighbour_index(templates: np.ndarray) -> object:
    """A FAISS inverted-file index holding ``templates`` ``(N, D)`` in order: ~4 sqrt(N) lists
    trained on a sample of 32 faces a list (seed 0), 16 probed per search."""
    import faiss

    vectors = np.ascontiguousarray(templates, dtype=np.float32)
    n, dim = vectors.shape
    lists = max(1, int(4 * np.sqrt(n)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, lists)
    sample = np.random.default_rng(0).choice(n, size=min(n, 32 * lists), replace=False)
    index.train(vectors[np.sort(sample)])
    index.nprobe = 16
    index.add(vectors)
    return index


class _Groups:
    """Union-find over faces with, per group: size, template sum, sum of squared norms, photos,
    seed and rejected seeds."""

    def __init__(self, templates: np.ndarray, photo_ids: np.ndarray, seeds: np.ndarray,
                 rejected: dict[int, set[int]]) -> None:
        n = len(templates)
        self.parent = np.arange(n)
        self.next = np.arange(n)  # circular lists of each group's faces
        self.size = np.ones(n, dtype=np.int64)
        self.sums = templates.astype(np.float64)
        self.squares = np.einsum("ij,ij->i", self.sums, self.sums)
        self.photos: dict[int, set[int]] = {}
        self.photo_of = photo_ids.tolist()
        self.seed = seeds.copy()
        self.rejected = {int(i): set(r) for i, r in rejected.items()}
        # Faces confirmed for one person start joined (must-link), at the first face of each seed.
        seeded = np.flatnonzero(seeds >= 0)
        if len(seeded):
            _, first, inverse = np.unique(seeds[seeded], return_index=True, return_inverse=True)
            roots = seeded[first]
            root_of = roots[inverse]
            self.parent[seeded] = root_of
            order = np.argsort(inverse, kind="stable")
            starts = np.searchsorted(inverse[order], np.arange(len(roots)))
            self.size[roots] = np.bincount(inverse)
            self.sums[roots] = np.add.reduceat(self.sums[seeded[order]], starts, axis=0)
            self.squares[roots] = np.add.reduceat(self.squares[seeded[order]], starts)
            for root, faces in zip(roots.tolist(), np.split(seeded[order], starts[1:]), strict=True):
                if len(faces) > 1:
                    self.next[faces] = np.roll(faces, -1)
                    self.photos[root] = set(photo_ids[faces].tolist())
                    for face in faces.tolist():
                        if face in self.rejected and face != root:
                            self.rejected.setdefault(root, set()).update(self.rejected.pop(face))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = int(parent[root])
        while parent[i] != root:
            parent[i], i = root, int(parent[i])
        return root

    def _photos(self, a: int) -> set[int]:
        found = self.photos.get(a)
        return {self.photo_of[a]} if found is None else found

    def allowed(self, a: int, b: int) -> bool:
        sa, sb = int(self.seed[a]), int(self.seed[b])
        if sa < 0 and sb < 0 and not self.rejected and a not in self.photos and b not in self.photos:
            return self.photo_of[a] != self.photo_of[b]  # two single faces
        if sa >= 0 and sb >= 0 and sa != sb:
            return False
        if sa >= 0 and sa in self.rejected.get(b, ()) or sb >= 0 and sb in self.rejected.get(a, ()):
            return False
        pa, pb = self._photos(a), self._photos(b)
        small, large = (pa, pb) if len(pa) < len(pb) else (pb, pa)
        return not any(p in large for p in small)

    def members(self, a: int) -> np.ndarray:
        out, face = [a], int(self.next[a])
        while face != a:
            out.append(face)
            face = int(self.next[face])
        return np.array(out, dtype=np.int64)

    def roots(self, faces: np.ndarray) -> np.ndarray:
        """The group of each of ``faces`` (vectorised find, no path compression)."""
        found = self.parent[faces]
        while True:
            up = self.parent[found]
            if np.array_equal(up, found):
                return found
            found = up

    def linkage(self, a: int, b: int) -> float:
        """Root mean square distance over all pairs of faces of groups ``a`` and ``b``."""
        na, nb = float(self.size[a]), float(self.size[b])
        cross = float(self.sums[a] @ self.sums[b])
        mean_square = (nb * self.squares[a] + na * self.squares[b] - 2.0 * cross) / (na * nb)
        return float(np.sqrt(max(mean_square, 0.0)))

    def union(self, a: int, b: int) -> int:
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.next[a], self.next[b] = self.next[b], self.next[a]
        self.size[a] += self.size[b]
        self.sums[a] += self.sums[b]
        self.squares[a] += self.squares[b]
        self.photos[a] = self._photos(a) | self._photos(b)
        self.photos.pop(b, None)
        if b in self.rejected:
            self.rejected.setdefault(a, set()).update(self.rejected.pop(b))
        if self.seed[a] < 0:
            self.seed[a] = self.seed[b]
        return a


def cluster_faces(
    templates: np.ndarray,
    photo_ids: np.ndarray,
    options: ClusterOptions | None = None,
    *,
    seeds: np.ndarray | None = None,
    rejections: Iterable[tuple[int, int]] = (),
    queries: np.ndarray | None = None,
    index: object | None = None,
    near: tuple[np.ndarray, np.ndarray] | None = None,
) -> Clustering:
    """Group faces into candidate people (see the module docstring).

    ``templates``: ``(N, D) float32``; ``photo_ids``: ``(N,)`` the photo of each face.
    ``seeds``: ``(N,) int``, the person a face is confirmed for (must-link), -1 for a free face.
    ``rejections``: ``(face index, person)`` pairs the user rejected (cannot-link).
    ``queries``: ``(Q,) int`` indices of the faces whose edges are taken (incremental
    placement); None takes every face's. ``index``: see :func:`nearest_neighbours`.
    ``near``: the ``(distances, indices)`` :func:`nearest_neighbours` gave for these faces and
    ``queries`` (searched already, e.g. in a larger library whose untouched faces were left out).
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
    if near is None:
        near = nearest_neighbours(templates, options.neighbours, queries, index)
    distances, neighbours = near
    rows = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    graph = NeighbourGraph(rows, distances, neighbours, options.link_distance, n)
    low, high, distance = _edges(graph, options.max_pair_distance)
    _merge(groups, low, high, distance, options, graph)
    roots = refine(groups, groups.roots(np.arange(n)), templates, graph, options)
    return _labels(groups, roots, options.min_faces)


def _edges(graph: NeighbourGraph, max_pair_distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct pairs ``(low, high, distance)`` closer than ``max_pair_distance``, shortest first."""
    close = (graph.distances <= max_pair_distance) & (graph.neighbours >= 0)
    r, c = np.nonzero(close)
    a, b, d = graph.rows[r], graph.neighbours[r, c], graph.distances[r, c]
    low, high = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(low * graph.faces + high, return_index=True)
    low, high, d = low[first], high[first], d[first].astype(np.float64)
    order = np.argsort(d, kind="stable")
    return low[order], high[order], d[order]


def _merge(groups: _Groups, low: np.ndarray, high: np.ndarray, distance: np.ndarray, options: ClusterOptions,
           graph: NeighbourGraph) -> None:
    """Greedy average linkage over the edges, shortest first; an edge whose groups grew since
    it was queued is queued again at its current linkage (lazy priority queue). Two groups of
    ``link_faces`` or more merge only when the neighbour graph links them (see the module docstring)."""
    queued: list[tuple[float, int, int]] = []
    lows, highs, dists = low.tolist(), high.tolist(), distance.tolist()
    position, total = 0, len(lows)
    cut, large = options.max_distance, options.link_faces
    while position < total or queued:
        if queued and (position >= total or queued[0][0] < dists[position]):
            key, i, j = heapq.heappop(queued)
        else:
            key, i, j = dists[position], lows[position], highs[position]
            position += 1
        a, b = groups.find(i), groups.find(j)
        if a == b or not groups.allowed(a, b):
            continue
        current = key if groups.size[a] == 1 and groups.size[b] == 1 else groups.linkage(a, b)
        if current > cut:
            continue
        if current > key + 1e-9:
            heapq.heappush(queued, (current, i, j))
            continue
        if groups.size[a] >= large and groups.size[b] >= large and graph.share(groups, a, b) < options.link_share:
            continue
        groups.union(a, b)


def _labels(groups: _Groups, roots: np.ndarray, min_faces: int) -> Clustering:
    n = len(roots)
    size = np.bincount(roots, minlength=n)
    keep = (size[roots] >= min_faces) | (groups.seed[roots] >= 0)
    labels = np.full(n, -1, dtype=np.int64)
    kept_roots, first = np.unique(roots[keep], return_index=True)
    # Number the groups in order of their smallest face index.
    order = np.argsort(np.flatnonzero(keep)[first], kind="stable")
    number = np.empty(len(kept_roots), dtype=np.int64)
    number[order] = np.arange(len(kept_roots))
    labels[keep] = number[np.searchsorted(kept_roots, roots[keep])]
    seed_of_label = {int(number[k]): int(groups.seed[root]) for k, root in enumerate(kept_roots.tolist())
                     if groups.seed[root] >= 0}
    return Clustering(labels, seed_of_label)
