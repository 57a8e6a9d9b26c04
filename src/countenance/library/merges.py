"""Merge suggestions: "these two may be one person".

Clustering joins two groups only when their faces are close on average (the RMS distance over
all their pairs) *and* linked by a close pair of faces (:mod:`.cluster`); it leaves apart pairs
of people that are near but not that near. :func:`merge_suggestions` lists them for the user, nearest first:
pairs of people whose mean templates are within ``max_distance`` (Euclidean, the clustering's
metric), except pairs that cannot be one person (two names, a photo holding a face of each)
and pairs the user already said are apart (``person_links``). Accepting merges them
(:func:`~.people.merge_persons`); rejecting (:func:`keep_apart`) records the pair and a
cannot-link from each face of one to the other person, which re-clustering keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument
from .people import person_label
from .store import LibraryStore

__all__ = ["MergeSuggestion", "merge_suggestions", "keep_apart", "DEFAULT_MERGE_DISTANCE"]

# dlib's same-person threshold for a single pair, above the clustering's cuts (pairs 0.45, RMS
# 0.53): two groups' means are nearer than their faces, so this keeps the list short. In dlib's
# units; :meth:`Library.merge_suggestions` carries it to the library's model.
DEFAULT_MERGE_DISTANCE = 0.6


@dataclass(frozen=True)
class MergeSuggestion:
    """Two people that may be one: their ids, names (None while unnamed) and face counts,
    ``distance`` between their mean templates, and their closest pair of faces (``face_a``
    of ``person_a``, ``face_b`` of ``person_b``) with its distance ``closest``."""

    person_a: int
    person_b: int
    name_a: str | None
    name_b: str | None
    faces_a: int
    faces_b: int
    distance: float
    closest: float
    face_a: int
    face_b: int


def merge_suggestions(store: LibraryStore, *, max_distance: float = DEFAULT_MERGE_DISTANCE) -> list[MergeSuggestion]:
    """Pairs of visible people that may be one person, nearest first (see the module docstring)."""
    if not max_distance > 0:
        raise InvalidArgument(f"max_distance must be > 0, got {max_distance!r}")
    rows = store.connection.execute(
        "SELECT a.person_id, f.photo_id, f.template, f.id FROM assignments a JOIN faces f ON f.id=a.face_id "
        "JOIN persons p ON p.id=a.person_id WHERE p.hidden=0 AND f.gate IS NULL ORDER BY a.person_id, f.id").fetchall()
    if not rows:
        return []
    members: dict[int, list[int]] = {}
    for k, row in enumerate(rows):
        members.setdefault(int(row[0]), []).append(k)
    templates = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows]).astype(np.float64)
    photos = {pid: {int(rows[k][1]) for k in ks} for pid, ks in members.items()}
    people = sorted(members)
    means = np.stack([templates[members[p]].mean(axis=0) for p in people])
    names = {pid: name for pid, name, _, _ in store.persons()}
    apart = store.apart()
    out = []
    for start in range(0, len(people), 512):
        block = np.linalg.norm(means[start:start + 512, None, :] - means[None, :, :], axis=2)
        for i, j in zip(*np.nonzero(block <= max_distance), strict=True):
            a, b = people[start + int(i)], people[int(j)]
            if a >= b or (a, b) in apart or (names.get(a) and names.get(b)) or photos[a] & photos[b]:
                continue
            pairs = np.linalg.norm(templates[members[a]][:, None, :] - templates[members[b]][None, :, :], axis=2)
            ka, kb = np.unravel_index(int(np.argmin(pairs)), pairs.shape)
            out.append(MergeSuggestion(a, b, names.get(a), names.get(b), len(members[a]), len(members[b]),
                                       round(float(block[i, j]), 6), round(float(pairs.min()), 6),
                                       int(rows[members[a][ka]][3]), int(rows[members[b][kb]][3])))
    return sorted(out, key=lambda m: (m.distance, m.person_a, m.person_b))


def keep_apart(store: LibraryStore, a: int, b: int) -> None:
    """Reject the merge of ``a`` and ``b``: never suggested again, and no face of one is ever
    clustered into the other (both people are kept)."""
    if a == b:
        raise InvalidArgument(f"person {a} and person {b} are the same person")
    with store.recording("reject-merge") as op:
        store.person(a), store.person(b)
        store.set_operation_summary(op, f"{person_label(store, a)} and {person_label(store, b)} are not one person")
        store.link_apart(a, b)
        for mine, other in ((a, b), (b, a)):
            for face_id, _ in store.person_faces(mine):
                store.reject(face_id, other)
            store.update_person(mine, kept=1)
