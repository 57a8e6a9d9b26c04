"""Incremental placement: the faces new to the library join a person, start one, or stay
unclustered, by the same rule as a full re-cluster, without re-clustering the library.

Every face already in a person enters as that person (a seed); only the new faces' neighbour
edges are taken (:func:`~countenance.library.cluster.cluster_faces` with ``queries``), so the
cost is one exact search of the new faces against the library and a merge pass over their
edges (the link test, attach and join stages also read only the new faces' neighbour lists).
Only the faces those edges reach and every face of the people they are in are clustered (the
same result as the whole library: nothing else can merge or weigh in).
Existing people are never merged or split here (a full re-cluster may do both), and the user's
decisions stand: confirmed faces and names are untouched, a face is never placed in a
person it was rejected for. A library clustered under another rule or other settings (the
stored fingerprint differs) is re-clustered in full instead.
"""

from __future__ import annotations

import time

import numpy as np

from .cluster import ClusterOptions, cluster_faces, nearest_neighbours
from .model import cluster_options
from .people import ReclusterSummary, mark_clustered, recluster
from .store import LibraryStore

__all__ = ["place_new"]


def place_new(store: LibraryStore, options: ClusterOptions | None = None) -> ReclusterSummary:
    """Place the faces indexed since the last clustering (see the module docstring).

    ``faces``: the new faces; ``clustered``: those now in a person; ``new_persons``: people
    started by them. Falls back to :func:`~countenance.library.people.recluster` (and returns
    its summary) when the library was never clustered or under another rule."""
    options = options or cluster_options(store)  # also refuses a library of several models
    if store.meta("cluster_rule") != options.fingerprint():
        return recluster(store, options)
    start = time.perf_counter()
    ids, photos, templates = store.face_arrays()
    through = int(store.meta("clustered_through") or 0)
    assigned, persons, _ = store.assignment_arrays()
    new = np.flatnonzero((ids > through) & ~np.isin(ids, assigned))
    if len(new) == 0:
        with store.transaction():
            mark_clustered(store, options, ids)
        return ReclusterSummary(0, 0, len(store.persons()), 0, time.perf_counter() - start)
    # Every face already in a person enters as that person (ids are sorted: one search).
    seeds = np.full(len(ids), -1, dtype=np.int64)
    at = np.searchsorted(ids, assigned)
    found = (at < len(ids)) & (ids[np.minimum(at, len(ids) - 1)] == assigned)
    seeds[at[found]] = persons[found]
    # Only the new faces' neighbour edges are taken, so only the faces they reach and every face
    # of the people those are in can change or weigh in: the rest is left out (same result).
    # One thread: on a busy machine (another process on a core) FAISS's threads wait on each
    # other and the search takes 3-5 times longer than on one (docs/LIBRARY.md, scale).
    near_d, near_i = nearest_neighbours(templates, options.neighbours, new, threads=1)
    touched = np.union1d(new, near_i[near_i >= 0])
    people = np.unique(seeds[touched])
    keep = np.union1d(touched, np.flatnonzero(np.isin(seeds, people[people >= 0])))
    near_i = np.where(near_i >= 0, np.searchsorted(keep, np.maximum(near_i, 0)), -1)
    rejected = store.rejections()
    pairs = sorted(rejected)
    at = np.searchsorted(ids[keep], [f for f, _ in pairs]).tolist()
    rejections = [(k, p) for k, (f, p) in zip(at, pairs, strict=True) if k < len(keep) and ids[keep[k]] == f]
    clustering = cluster_faces(templates[keep], photos[keep], options, seeds=seeds[keep], rejections=rejections,
                               queries=np.searchsorted(keep, new), near=(near_d, near_i))
    placed = created = 0
    with store.transaction():
        person_of_label = dict(clustering.seed_of_label)
        changed = np.flatnonzero((clustering.labels >= 0) & (seeds[keep] < 0))
        for k in changed.tolist():
            label = int(clustering.labels[k])
            if label not in person_of_label:
                person_of_label[label] = store.new_person()
                created += 1
            face_id = int(ids[keep[k]])
            if (face_id, person_of_label[label]) in rejected:
                continue
            store.assign(face_id, person_of_label[label], confirmed=False)
            placed += 1
        mark_clustered(store, options, ids)
    return ReclusterSummary(len(new), placed, len(store.persons()), created, time.perf_counter() - start)
