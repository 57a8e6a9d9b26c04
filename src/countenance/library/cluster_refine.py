"""The neighbour graph's second say in people discovery, after the linkage (:mod:`.cluster`).

Average linkage at one cut leaves a person's odd photos out: a face whose nearest same-person
faces are a little too far for the cut stays in a group too small to be a person, and a
person with two looks can end as two groups whose mean faces are close but whose spread keeps
their linkage above the cut. The neighbour graph tells these apart from strangers:

- *attach*: a face in a group smaller than ``min_faces`` (and confirmed for nobody) joins the
  person that holds at least ``attach_share`` of its neighbours within ``link_distance``, when
  it is within ``attach_distance`` of that person's mean face (stable once a person has a few
  faces) and the person has no face in its photo and was not rejected for it;
- *join*: two groups of ``join_faces`` or more merge when at least ``join_share`` of the
  smaller one's share of neighbour links (counted both ways, over ``k`` x its size) join them,
  under the same photo, seed and rejection rules as the linkage.

Strangers seen once have their neighbours spread over many people, so they stay out. Only the
``k`` neighbour lists and per-group sums are read: no pairwise matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# ``groups`` below is the linkage's union-find (``cluster._Groups``) and ``options`` its
# ``ClusterOptions``; not imported, so that this module stays below ``cluster`` (no cycle).
_Groups = ClusterOptions = Any

__all__ = ["NeighbourGraph", "refine"]


class NeighbourGraph:
    """Each row face's ``k`` nearest faces (``neighbours``, -1 padded) and ``distances``;
    ``linked``: the neighbours within ``radius`` (the others -1). ``rows``: the faces whose lists
    were searched (all, or the new faces of an incremental placement)."""

    def __init__(self, rows: np.ndarray, distances: np.ndarray, neighbours: np.ndarray, radius: float,
                 faces: int) -> None:
        self.rows, self.distances, self.neighbours, self.faces = rows, distances, neighbours, faces
        self.k = neighbours.shape[1]
        self.linked = np.where((distances <= radius) & (neighbours >= 0), neighbours, -1)
        self.row_of = np.full(faces, -1, dtype=np.int64)
        self.row_of[rows] = np.arange(len(rows))

    def share(self, groups: _Groups, a: int, b: int) -> float:
        """The share of the smaller group's neighbour links (``k`` a face) that lead into the
        other; from the other side when the smaller one's faces have no lists (placement)."""
        small, other = (a, b) if groups.size[a] <= groups.size[b] else (b, a)
        for side, target in ((small, other), (other, small)):
            at = self.row_of[groups.members(side)]
            at = at[at >= 0]
            if len(at):
                linked = self.linked[at].ravel()
                linked = linked[linked >= 0]
                return float(np.count_nonzero(groups.roots(linked) == target)) / (self.k * len(at))
        return 1.0


def refine(groups: _Groups, roots: np.ndarray, templates: np.ndarray, graph: NeighbourGraph,
           options: ClusterOptions) -> np.ndarray:
    """Attach, join, attach again (see the module docstring); returns each face's group (a
    face index, the root its group had in ``groups`` or the one it was moved to)."""
    rejected = {root: set(persons) for root, persons in groups.rejected.items()}
    roots = _attach(groups, roots.copy(), templates, graph, options, rejected)
    roots = _join(groups, roots, graph, options, rejected)
    return _attach(groups, roots, templates, graph, options, rejected)


def _members(roots: np.ndarray, wanted: np.ndarray) -> dict[int, np.ndarray]:
    """The faces of each group in ``wanted``."""
    faces = np.flatnonzero(np.isin(roots, wanted))
    faces = faces[np.argsort(roots[faces], kind="stable")]
    cut = np.flatnonzero(np.diff(roots[faces])) + 1
    return {int(roots[part[0]]): part for part in np.split(faces, cut) if len(part)}


def _attach(groups: _Groups, roots: np.ndarray, templates: np.ndarray, graph: NeighbourGraph,
            options: ClusterOptions, rejected: dict[int, set[int]]) -> np.ndarray:
    size = np.bincount(roots, minlength=len(roots))
    seeded = groups.seed[roots] >= 0
    person = (size[roots] >= options.min_faces) | seeded  # each face: is its group a person
    rows = np.flatnonzero((size[roots[graph.rows]] < options.min_faces) & ~seeded[graph.rows])
    if not len(rows):
        return roots
    linked = graph.linked[rows]
    counted = (linked >= 0).sum(axis=1)
    safe = np.maximum(linked, 0)
    group = np.where((linked >= 0) & person[safe], roots[safe], -1)
    votes = ((group[:, :, None] == group[:, None, :]) & (group[:, :, None] >= 0)).sum(axis=2)
    best = votes.argmax(axis=1)
    pick = np.arange(len(rows))
    top, top_votes = group[pick, best], votes[pick, best]
    ok = (top >= 0) & (top_votes >= options.attach_share * counted)
    if not ok.any():
        return roots
    faces, top = graph.rows[rows[ok]], top[ok]
    members = _members(roots, np.unique(top))
    means = {g: templates[m].astype(np.float64).mean(axis=0) for g, m in members.items()}
    distance = np.linalg.norm(templates[faces] - np.stack([means[g] for g in top.tolist()]), axis=1)
    near = distance <= options.attach_distance
    photos = {g: {groups.photo_of[f] for f in members[g].tolist()} for g in np.unique(top[near]).tolist()}
    for k in np.argsort(distance, kind="stable").tolist():
        if not near[k]:
            continue
        face, target = int(faces[k]), int(top[k])
        source = int(roots[face])
        seed = int(groups.seed[target])
        if groups.photo_of[face] in photos[target] or seed >= 0 and seed in rejected.get(source, ()):
            continue
        roots[face] = target
        photos[target].add(groups.photo_of[face])
        if source in rejected:
            rejected.setdefault(target, set()).update(rejected[source])
    return roots


def _join(groups: _Groups, roots: np.ndarray, graph: NeighbourGraph, options: ClusterOptions,
          rejected: dict[int, set[int]]) -> np.ndarray:
    n = len(roots)
    size = np.bincount(roots, minlength=n)
    source = np.repeat(roots[graph.rows], graph.k)
    target = graph.linked.ravel()
    valid = target >= 0
    a, b = source[valid], roots[target[valid]]
    differ = a != b
    low, high = np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])
    key, count = np.unique(low * n + high, return_counts=True)
    low, high = key // n, key % n
    share = count / (graph.k * np.minimum(size[low], size[high]))
    keep = (size[low] >= options.join_faces) & (size[high] >= options.join_faces) & (share >= options.join_share)
    if not keep.any():
        return roots
    order = np.argsort(-share[keep], kind="stable")
    pairs = list(zip(low[keep][order].tolist(), high[keep][order].tolist(), strict=True))
    members = _members(roots, np.unique(low[keep].tolist() + high[keep].tolist()))
    photos = {g: {groups.photo_of[f] for f in m.tolist()} for g, m in members.items()}
    seed = {g: int(groups.seed[g]) for g in members}
    grown = {g: int(size[g]) for g in members}
    parent: dict[int, int] = {}

    def find(g: int) -> int:
        while g in parent:
            g = parent[g]
        return g

    for x, y in pairs:
        x, y = find(x), find(y)
        if x == y or photos[x] & photos[y]:
            continue
        sx, sy = seed[x], seed[y]
        if sx >= 0 and sy >= 0 and sx != sy or sx >= 0 and sx in rejected.get(y, ()) \
                or sy >= 0 and sy in rejected.get(x, ()):
            continue
        # The merged group keeps the root of its seed (its person), else of the larger group.
        keep_root, gone = (x, y) if sy < 0 and (sx >= 0 or grown[x] >= grown[y]) else (y, x)
        parent[gone] = keep_root
        grown[keep_root] += grown.pop(gone)
        photos[keep_root] |= photos.pop(gone)
        if gone in rejected:
            rejected.setdefault(keep_root, set()).update(rejected.pop(gone))
    for gone in list(parent):
        roots[members[gone]] = find(gone)
    return roots
