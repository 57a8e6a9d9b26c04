"""People in the library: re-clustering that keeps the user's work, and the user's operations.

The user's decisions are facts that clustering builds on, never overwrites:

- a *confirmed* assignment (naming, merging, splitting, accepting a suggestion) is a must-link:
  re-clustering never moves that face, and two confirmed people are never merged;
- a *rejection* (not-this-person, rejecting a suggestion) is a cannot-link: that face is never
  put in that person again;
- a *kept* person (named, hidden, or touched by the user) is never deleted by re-clustering.

Only the faces clustering placed itself are recomputed. New groups take the id of the person
whose faces they hold most of, so people keep their ids (and names) as photos arrive.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument
from ..hashing import sha256_bytes
from .cluster import ClusterOptions, cluster_faces
from .model import cluster_options, library_model
from .oplog import clear_log
from .store import LibraryError, LibraryStore

__all__ = ["ReclusterSummary", "recluster", "mark_clustered", "check_name_free", "name_person", "merge_persons", "split_person",
           "not_this_person", "set_hidden", "confirm_faces", "not_these_persons", "forget_name", "forgotten_marker", "person_label"]



@dataclass(frozen=True)
class ReclusterSummary:
    """One re-clustering: eligible faces, faces now in a person, people, new people, seconds."""

    faces: int
    clustered: int
    persons: int
    new_persons: int
    seconds: float


def recluster(store: LibraryStore, options: ClusterOptions | None = None) -> ReclusterSummary:
    """Re-cluster every eligible face, keeping confirmed faces, rejections and kept people
    (``options`` None: the defaults for the library's model). TemplateMismatch when the
    library's faces hold templates of several models."""
    start = time.perf_counter()
    library_model(store)
    options = options or cluster_options(store)
    ids, photos, templates = store.face_arrays()
    assignments = store.assignments()
    seeds = np.array([assignments[i][0] if i in assignments and assignments[i][1] else -1 for i in ids.tolist()],
                     dtype=np.int64)
    position = {int(face_id): k for k, face_id in enumerate(ids.tolist())}
    rejected = store.rejections()
    rejections = [(position[f], p) for f, p in rejected if f in position]
    clustering = cluster_faces(templates, photos, options, seeds=seeds, rejections=rejections)
    persons = {pid: (name, hidden, kept) for pid, name, hidden, kept in store.persons()}
    confirmed_persons = {int(s) for s in seeds if s >= 0}
    # Match each new group without a seed to the unconfirmed person whose faces it holds most of.
    overlap: list[tuple[int, int, int]] = []
    for label in range(clustering.count):
        if label in clustering.seed_of_label:
            continue
        members = ids[clustering.labels == label].tolist()
        previous = Counter(assignments[f][0] for f in members if f in assignments and not assignments[f][1])
        overlap.extend((count, label, pid) for pid, count in previous.items() if pid not in confirmed_persons)
    person_of_label = dict(clustering.seed_of_label)
    taken = set(person_of_label.values())
    for _, label, pid in sorted(overlap, reverse=True):
        if label not in person_of_label and pid not in taken:
            person_of_label[label] = pid
            taken.add(pid)
    new = 0
    with store.transaction():
        store.unassign([f for f in ids.tolist() if f in assignments and not assignments[f][1]])
        for label in range(clustering.count):
            if label not in person_of_label:
                person_of_label[label] = store.new_person()
                new += 1
        clustered = 0
        for k, face_id in enumerate(ids.tolist()):
            label = int(clustering.labels[k])
            if label < 0 or seeds[k] >= 0:
                clustered += label >= 0
                continue
            person = person_of_label[label]
            if (face_id, person) in rejected:
                continue
            store.assign(face_id, person, confirmed=False)
            clustered += 1
        used = set(person_of_label.values())
        store.delete_persons([pid for pid, (name, _, kept) in persons.items()
                              if not kept and name is None and pid not in used])
        mark_clustered(store, options, ids)
    return ReclusterSummary(len(ids), clustered, len(store.persons()), new, time.perf_counter() - start)


def mark_clustered(store: LibraryStore, options: ClusterOptions, ids: np.ndarray) -> None:
    """Record the rule the library is clustered by and the last face it has placed (faces after
    it are new to the next incremental placement)."""
    store.set_meta("cluster_rule", options.fingerprint())
    last = max(int(ids.max(initial=0)), int(store.meta("clustered_through") or 0))
    store.set_meta("clustered_through", str(last))


def _confirm_all(store: LibraryStore, person_id: int) -> list[int]:
    faces = [f for f, _ in store.person_faces(person_id)]
    for face_id in faces:
        store.assign(face_id, person_id, confirmed=True)
    return faces


def name_person(store: LibraryStore, person_id: int, name: str, *, confirm_all: bool = False) -> list[int]:
    """Name ``person_id``. Its faces the clustering placed stay unconfirmed (named, but not
    written to XMP nor taken as must-links) unless ``confirm_all`` says the user saw them all;
    returns the ids of the faces now confirmed.

    Raises LibraryError when another person already has ``name`` (merge them instead)."""
    with store.recording("name") as op:
        name = check_name_free(store, person_id, name)
        store.set_operation_summary(op, f"named {person_label(store, person_id)} {name!r}")
        store.update_person(person_id, name=name, kept=1)
        if confirm_all:
            return _confirm_all(store, person_id)
        return [f for f, confirmed in store.person_faces(person_id) if confirmed]


def person_label(store: LibraryStore, person_id: int) -> str:
    """How messages name a person: ``'ann' (person 4)``, or ``person 4`` while unnamed."""
    row = store.connection.execute("SELECT name FROM persons WHERE id=?", (person_id,)).fetchone()
    return f"{row[0]!r} (person {person_id})" if row is not None and row[0] is not None else f"person {person_id}"


def check_name_free(store: LibraryStore, person_id: int, name: str) -> str:
    """``name`` cleaned, when ``person_id`` exists and no other person has that name; else
    LibraryError (for an unknown person, or a name taken: merge them instead)."""
    name = _check_name(name)
    store.person(person_id)
    other = store.person_by_name(name)
    if other is not None and other != person_id:
        raise LibraryError(f"person {other} is already named {name!r}; merge {person_id} into {other} instead")
    return name


def merge_persons(store: LibraryStore, target: int, sources: list[int], *, kind: str = "merge") -> list[int]:
    """Move every face of ``sources`` into ``target``, all confirmed; keeps the name (the
    target's, else the one source name) and the rejections. Returns the target's face ids.

    Raises InvalidArgument when two of the people carry different names, or a person is
    merged into itself."""
    if target in sources:
        raise InvalidArgument(f"cannot merge person {target} into itself")
    with store.recording(kind) as op:
        names = {store.person(p)[1] for p in [target, *sources]} - {None}
        if len(names) > 1:
            raise InvalidArgument(f"cannot merge people named differently: {', '.join(sorted(names))}")
        store.set_operation_summary(op, f"merged {', '.join(person_label(store, p) for p in sources)} "
                                        f"into {person_label(store, target)}")
        for source in dict.fromkeys(sources):
            for face_id, _ in store.person_faces(source):
                store.assign(face_id, target, confirmed=True)
            store.move_person_links(source, target)
            store.connection.execute("UPDATE persons SET name=NULL WHERE id=?", (source,))
            store.delete_persons([source])
        store.update_person(target, kept=1, **({"name": names.pop()} if names else {}))
        return _confirm_all(store, target)


def split_person(store: LibraryStore, person_id: int, face_ids: list[int] | None = None,
                 options: ClusterOptions | None = None) -> list[int]:
    """Split ``person_id``. With ``face_ids``, the faces picked become a new person, confirmed
    there (the user said so). Without them, the smaller side of the person's top two-way split
    by average linkage becomes a new person, unconfirmed, when the two sides are farther apart
    than the clustering's cut. Either way the faces moved get a cannot-link to
    ``person_id`` (re-clustering never puts them back) and the faces left are not touched.
    Returns the ids of the new people: one, or none when the faces are one group."""
    with store.recording("split") as op:
        store.person(person_id)
        members = [f for f, _ in store.person_faces(person_id)]
        if face_ids is not None:
            picked = list(dict.fromkeys(int(f) for f in face_ids))
            strangers = sorted(set(picked) - set(members))
            if strangers or not picked:
                raise InvalidArgument(f"faces {strangers} are not in {person_label(store, person_id)}" if strangers
                                      else "pick at least one face to split off")
            if len(picked) == len(members):
                raise InvalidArgument(f"those are all the faces of {person_label(store, person_id)}: nothing would be left")
            part, confirmed = picked, True
        else:
            part, confirmed = _most_separable(store, members, options or cluster_options(store)), False
        store.update_person(person_id, kept=1)
        if not part:
            store.set_operation_summary(op, f"split {person_label(store, person_id)}: one group, nothing moved")
            return []
        new_id = store.new_person(kept=True)
        for face_id in part:
            store.assign(face_id, new_id, confirmed=confirmed)
            store.reject(face_id, person_id)
        store.set_operation_summary(op, f"split {len(part)} face(s) off {person_label(store, person_id)} into person {new_id}")
        return [new_id]


def _most_separable(store: LibraryStore, members: list[int], options: ClusterOptions) -> list[int]:
    """The faces of the smaller side of the person's top two-way split by average linkage (the
    last merge of the person's faces, mean pair distance), when that split is wider than the
    clustering's cut (``options.max_distance``): else nothing, the faces are one person. Dense
    over one person's faces (hundreds at most), which is why it is not the library-wide rule."""
    if len(members) < 2:
        return []
    from scipy.cluster.hierarchy import fcluster, linkage

    faces = [store.face(f) for f in members]
    templates = np.stack([f.template for f in faces]).astype(np.float64)
    tree = linkage(templates, method="average", metric="euclidean")
    if tree[-1, 2] <= options.max_distance:
        return []
    labels = fcluster(tree, t=2, criterion="maxclust")
    sides = [np.flatnonzero(labels == label) for label in (1, 2)]
    smaller = min(sides, key=len)
    return [faces[k].id for k in smaller.tolist()]


def not_this_person(store: LibraryStore, face_id: int) -> int:
    """Take ``face_id`` out of its person and never put it back there (cannot-link), whether
    the person is named or not (a named one's name is never suggested for the face again);
    returns the person."""
    return not_these_persons(store, [face_id])[0]


def not_these_persons(store: LibraryStore, face_ids: list[int]) -> list[int]:
    """:func:`not_this_person` for several faces, as one decision (one undo); their persons."""
    picked = list(dict.fromkeys(int(f) for f in face_ids))
    if not picked:
        raise InvalidArgument("pick at least one face")
    with store.recording("not-this-person") as op:
        assignments = store.assignments()
        left = []
        for face_id in picked:
            face = store.face(face_id)
            current = assignments.get(face_id)
            if current is None:
                raise LibraryError(f"face {face_id} is not in any person")
            person_id = current[0]
            left.append(person_id)
            store.unassign([face_id])
            store.reject(face_id, person_id)
            store.update_person(person_id, kept=1)
            name = store.person(person_id)[1]
            if name is not None:
                others = [store.face(f).template for f, _ in store.person_faces(person_id)]
                distance = float(np.linalg.norm(face.template - np.mean(others, axis=0))) if others else 0.0
                store.put_suggestion(face_id, name, distance, None)
                store.set_suggestion_state(face_id, name, "rejected")
        people = ", ".join(person_label(store, p) for p in dict.fromkeys(left))
        store.set_operation_summary(op, f"face {picked[0]} is not {people}" if len(picked) == 1
                                    else f"faces {', '.join(map(str, picked))} are not {people}")
        return left


def set_hidden(store: LibraryStore, person_id: int, hidden: bool = True) -> None:
    """Hide (or show again) a person in ``people``; a hidden person is kept across re-clustering."""
    with store.recording("hide", f"{'hid' if hidden else 'showed'} person {person_id}"):
        store.person(person_id)
        store.update_person(person_id, hidden=int(hidden), kept=1)


def confirm_faces(store: LibraryStore, person_id: int, face_ids: list[int]) -> list[int]:
    """Confirm the picked faces of ``person_id`` (must-links re-clustering keeps); the ids."""
    with store.recording("confirm") as op:
        store.person(person_id)
        members = dict(store.person_faces(person_id))
        picked = list(dict.fromkeys(int(f) for f in face_ids))
        strangers = sorted(set(picked) - set(members))
        if strangers or not picked:
            raise InvalidArgument(f"faces {strangers} are not in {person_label(store, person_id)}" if strangers
                                  else "pick at least one face to confirm")
        store.set_operation_summary(op, f"confirmed {len(picked)} face(s) of {person_label(store, person_id)}")
        for face_id in picked:
            store.assign(face_id, person_id, confirmed=True)
        store.update_person(person_id, kept=1)
        return picked


def forget_name(store: LibraryStore, name: str) -> int:
    """Forget the person named ``name`` (a subject deleted from the gallery): the person, its
    confirmations, rejections and every suggestion of the name go; its faces become free for
    clustering again. The next XMP write removes the regions written for the name. Returns the
    number of faces that were assigned to the person (0 when nobody had the name)."""
    with store.transaction():
        person_id = store.person_by_name(name)
        faces = [] if person_id is None else store.person_faces(person_id)
        if person_id is not None:
            store.delete_persons([person_id])
        store.connection.execute("DELETE FROM suggestions WHERE subject=?", (name,))
        # The sidecars written for the name must lose its regions on the next write, but the
        # library keeps no copy of the name: the record of what was written keeps its hash.
        store.connection.execute("UPDATE OR IGNORE xmp_written SET name=? WHERE name=?", (forgotten_marker(name), name))
        store.connection.execute("DELETE FROM xmp_written WHERE name=?", (name,))
        clear_log(store)  # the undo log may hold the name: it goes too
    store.erase_freed()
    return len(faces)


def forgotten_marker(name: str) -> str:
    """What ``xmp_written`` holds for a forgotten name: a hash, so the regions written for it
    can still be recognised and removed, but not the name."""
    return "forgotten:" + sha256_bytes(name.encode("utf-8"))


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidArgument(f"a person's name must be 1-200 characters, got {name!r}")
    return name.strip()
