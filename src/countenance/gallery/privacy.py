"""What people may ask of a gallery about themselves: see what is held (subject details,
export), be forgotten, be kept no longer than the retention period (prune), never be
recognised (opt-out). Every deletion removes the index entries before the store commits and
then erases the freed bytes from disk.
"""

from __future__ import annotations

import json
import numbers
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import AlreadyExists, InvalidArgument, MultipleFaces, NoFaceFound, NotEnrolled
from ..paths import open_private, private_folder
from .core import GalleryCore
from .images import GalleryImage
from .mirror import deleting
from .model_store import drop_parked_before, parked_sources
from .policy import MAX_DAYS, check_name, timestamp
from .records import ForgetResult, OptOutResult, PruneResult, SubjectDetails
from .search import candidates, optout_distance

__all__ = ["subject_details", "export", "forget", "rename", "former_names", "name_history", "prune", "optout", "remove_optout",
           "remove_template"]


def subject_details(g: GalleryCore, name: str) -> SubjectDetails:
    """Everything held about ``name`` except template vectors and crops; NotEnrolled if none."""
    record = g.store.subject(name)
    if record is None:
        raise NotEnrolled(name)
    name = record.name
    return SubjectDetails(record, tuple(g.store.consents(record.id)), tuple(g.store.templates(subject_id=record.id)))


def export(g: GalleryCore, name: str, out_dir: str | os.PathLike[str]) -> Path:
    """Write everything held about ``name`` to ``out_dir/<name>/``; see
    :meth:`countenance.gallery.Gallery.export`. Audited.

    The folder is new (AlreadyExists if ``out_dir/<name>`` is there already: two names that
    make the same folder name, ``a:b`` and ``a_b``, never share one) and private to its owner
    (0700, files 0600). What it holds and the audit entry are read and written in one
    transaction: a forget cannot commit halfway through.
    """
    with g.store.transaction():
        details = subject_details(g, name)
        name = details.subject.name
        folder = Path(out_dir) / _safe_folder_name(name)
        try:
            folder.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise AlreadyExists(f"{folder}: already exists; export {name!r} to another --out folder, "
                                "or remove that one first (an export never writes into an older one)") from None
        private_folder(folder)
        private_folder(folder / "crops")
        ids = [t.id for t in details.templates]
        vectors = g.store.vectors("templates", ids)
        templates = []
        for t in details.templates:
            entry = t.to_dict()
            entry["vector"] = [float(v) for v in vectors[t.id]]
            crop = g.store.crop(t.id)
            if crop is not None:
                with open_private(folder / "crops" / f"{t.id}.jpg") as handle:
                    handle.write(crop)
                entry["crop"] = f"crops/{t.id}.jpg"
            templates.append(entry)
        document = {
            "subject": name,
            "created_at": details.subject.created_at,
            "exported_at": g.log.now(),
            "gallery": {"model": g.model.name, "metric": str(g.model.metric), "policy": g.policy.to_dict()},
            "consents": [c.to_dict() for c in details.consents],
            "templates": templates,
            "audit": [e.to_dict() for e in g.store.audit(subject=name)],
        }
        with open_private(folder / "subject.json", "w") as handle:
            handle.write(json.dumps(document, indent=2) + "\n")
        g.log.record("export", {"subject": name}, {"templates": len(templates), "folder": str(folder.resolve())}, [name])
    return folder


def forget(g: GalleryCore, name: str) -> ForgetResult:
    """Delete ``name`` and every trace of their templates; see
    :meth:`countenance.gallery.Gallery.forget`. Audited under the subject's pseudonym.

    In the same transaction: the subject, consent records and templates are deleted, a
    tombstone (pseudonym, time) is left so that no enrolment begun before now, or with a
    consent given before now, re-creates them, and the audit log is rewritten so that it no
    longer holds their name (replaced by the pseudonym), the source paths or photo hashes of
    their enrolments, or an export folder named after them.
    """
    if g.store.subject(name) is None:
        raise NotEnrolled(name)
    mirror = g.mirrors["templates"]
    with deleting(g.store, mirror):
        record = g.store.subject(name)
        if record is None:  # forgotten by another process meanwhile
            raise NotEnrolled(name)
        name = record.name
        ids = g.store.template_ids(record.id)
        # Templates parked by a model migration go with the subject (ON DELETE CASCADE): their
        # photos' paths and hashes leave the audit log too.
        sources = g.store.sources(ids) | parked_sources(g.store.connection, record.id)
        removed = g.store.delete_subject(record.id)
        now = g.log.now()
        spans = name_history(g, name)
        for former, _, _ in spans:  # every name they had: no enrolment begun before now re-creates them
            g.store.add_tombstone(former, now)
        alias = g.store.pseudonym(name)
        _rewrite_names(g, spans, sources - g.store.sources_in_use(sources))
        g.log.record("forget", {"subject": alias}, {"templates_removed": removed}, [alias])
        mirror.remove(ids)
    erased = g.store.erase_freed()
    return ForgetResult(name, removed, erased)


def rename(g: GalleryCore, name: str, new_name: str) -> SubjectDetails:
    """Rename subject ``name`` to ``new_name`` (templates and consent records follow);
    NotEnrolled, AlreadyExists. Audited under both names."""
    new_name = check_name(new_name)
    with g.store.transaction():
        record = g.store.subject(name)
        if record is None:
            raise NotEnrolled(name)
        name = record.name
        if new_name != name and g.store.subject(new_name) is not None:
            raise AlreadyExists(f"subject {new_name!r} already exists")
        g.store.rename_subject(record.id, new_name)
        g.log.record("rename", {"subject": name}, {"new_name": new_name}, [name, new_name])
    return subject_details(g, new_name)


def prune(g: GalleryCore, *, now: datetime | None = None, older_than_days: int | None = None) -> PruneResult:
    """Delete templates enrolled more than ``older_than_days`` (default: the policy's retention)
    before ``now``; subjects left without templates go too. Audited.

    The audit log is rewritten as for :func:`forget`: the removed templates' source paths and
    photo hashes are erased from it, and the names of the subjects removed are replaced by
    their pseudonyms (no tombstone: they may be enrolled again with a new consent).
    """
    days = g.policy.retention_days if older_than_days is None else older_than_days
    if days is None:
        return PruneResult(None, 0, (), True)
    if isinstance(days, bool) or not isinstance(days, numbers.Integral) or not 0 <= days <= MAX_DAYS:
        raise InvalidArgument(f"older_than_days must be a whole number from 0 to {MAX_DAYS}, got {days!r}")
    cutoff = timestamp((now or g.clock()) - timedelta(days=days))
    if not g.store.template_ids_before(cutoff) and not drop_parked_before(g.store.connection, cutoff, dry_run=True):
        return PruneResult(cutoff, 0, (), True)
    mirror = g.mirrors["templates"]
    with deleting(g.store, mirror):
        ids = g.store.template_ids_before(cutoff)
        before = {s.name for s in g.store.subjects()}
        # Templates parked by a model migration are kept no longer than the others.
        sources = g.store.sources(ids) | drop_parked_before(g.store.connection, cutoff)
        removed = g.store.delete_templates(ids)
        gone = tuple(sorted(before - {s.name for s in g.store.subjects()}))
        aliases = {name: g.store.pseudonym(name) for name in gone}
        erase = sources - g.store.sources_in_use(sources)
        for name in gone:
            _rewrite_names(g, name_history(g, name), erase)
        if erase and not gone:
            g.store.rewrite_audit({}, erase)
        g.log.record(
            "prune", {"cutoff": cutoff, "retention_days": days},
            {"templates_removed": removed, "subjects_removed": sorted(aliases.values())}, aliases.values(),
        )
        mirror.remove(ids)
    return PruneResult(cutoff, removed, gone, g.store.erase_freed())


def remove_template(g: GalleryCore, name: str, template_id: int) -> int:
    """Delete one template of ``name`` (its index entry, crop and provenance; its photo's path
    and hash leave the audit log). NotEnrolled for an unknown name, InvalidArgument for an id
    that is not theirs or their last template (forget the subject instead). Audited."""
    details = subject_details(g, name)
    ids = [t.id for t in details.templates]
    if template_id not in ids:
        raise InvalidArgument(f"{name!r} has no template {template_id} (theirs: {', '.join(map(str, ids)) or 'none'})")
    if len(ids) == 1:
        raise InvalidArgument(f"template {template_id} is {name!r}'s last one: use `subjects forget {name}` to remove them")
    mirror = g.mirrors["templates"]
    with deleting(g.store, mirror):
        sources = g.store.sources([template_id])
        removed = g.store.delete_templates([template_id])
        g.store.rewrite_audit({}, sources - g.store.sources_in_use(sources), set())
        g.log.record("remove-template", {"subject": name, "template_id": template_id}, {"templates_removed": removed}, [name])
        mirror.remove([template_id])
    g.store.erase_freed()
    return template_id


def optout(g: GalleryCore, image: GalleryImage, *, note: str = "", face: int | None = None, largest: bool = False) -> OptOutResult:
    """Add one face of ``image`` to the suppression list: face number ``face`` (from 1, largest
    first, as ``countenance detect`` lists them), the only one, or the largest when ``largest``;
    MultipleFaces for a photo of several faces and no choice (as enrolment). See
    :meth:`countenance.gallery.Gallery.optout`. Audited."""
    if face is not None and largest:
        raise InvalidArgument("choose the face with face=N or largest=True, not both")
    embedded = g.read(image)
    if not embedded.faces:
        raise NoFaceFound(embedded.label)
    if face is not None and face > len(embedded.faces):
        raise InvalidArgument(f"{embedded.label}: face {face} asked for, the photo has {len(embedded.faces)}")
    if face is None and len(embedded.faces) > 1 and not largest:
        raise MultipleFaces(embedded.label, len(embedded.faces))
    face = embedded.faces[0 if face is None else face - 1]
    vector = face.template.vector
    box = [round(v, 1) for v in face.box.to_list()]
    with g.store.transaction():  # the search and its audit entry see one state (see search.identify)
        g.sync()
        within = optout_distance(g)
        n = g.index("templates").count()
        matches = tuple(c.subject for c in candidates(g, vector, 5, n) if c.distance <= within) if n else ()
        optout_id = g.store.add_optout(g.model.name, vector, source_sha256=embedded.sha256, box=box, note=note, now=g.log.now(), actor=g.actor)
        g.log.record("optout", {"sha256": embedded.sha256}, {"optout_id": optout_id, "matches_enrolled": list(matches)}, matches)
    mirror = g.mirrors["optouts"]
    mirror.sync()
    mirror.save()
    record = next(r for r in g.store.optouts() if r.id == optout_id)
    return OptOutResult(record, matches)


def remove_optout(g: GalleryCore, optout_id: int) -> bool:
    """Withdraw an opt-out (its template is deleted and erased). False if there is none."""
    if not any(r.id == optout_id for r in g.store.optouts()):
        return False
    mirror = g.mirrors["optouts"]
    with deleting(g.store, mirror):
        g.store.delete_optout(optout_id)
        g.log.record("optout-remove", {"optout_id": optout_id}, {"removed": True})
        mirror.remove([optout_id])
    g.store.erase_freed()
    return True


def name_history(g: GalleryCore, name: str) -> list[tuple[str, int | None, int | None]]:
    """Every name the subject now called ``name`` has had, with the span of audit entry ids
    in which the name was theirs: ``(name, first id, last id)`` (None: no bound), newest first.

    Read back from the audit log's ``rename`` entries (a rename entry belongs to both names).
    A name another subject was renamed away from before this one took it was someone else's
    until then, so the span of the oldest name starts after that rename.
    """
    spans: list[tuple[str, int | None, int | None]] = []
    current, last = name, None
    for entry in reversed(g.store.audit(action="rename")):
        old, new = entry.query.get("subject"), entry.result.get("new_name")
        if not isinstance(old, str) or not isinstance(new, str) or old == new or (last is not None and entry.id > last):
            continue
        if new == current:
            spans.append((current, entry.id, last))
            current, last = old, entry.id
        elif old == current:  # another subject held this name until then
            spans.append((current, entry.id + 1, last))
            return spans
    spans.append((current, None, last))
    return spans


def former_names(g: GalleryCore, name: str) -> tuple[str, ...]:
    """The names the subject now called ``name`` had before (:func:`name_history`), oldest
    first, except those another enrolled subject holds now."""
    record = g.store.subject(name)
    if record is None:
        raise NotEnrolled(name)
    spans = name_history(g, record.name)
    return tuple(n for n, _, _ in reversed(spans[1:]) if n != record.name and g.store.subject(n) is None)


def _rewrite_names(g: GalleryCore, spans: list[tuple[str, int | None, int | None]], erase: set[str]) -> None:
    """Rewrite the audit log for a subject that leaves the gallery: each of their names
    replaced by its pseudonym within its span (:func:`name_history`), export folders named
    after them and the ``erase`` strings (source paths, photo hashes) erased everywhere."""
    for former, first, last in spans:
        g.store.rewrite_audit({former: g.store.pseudonym(former)}, set(), {former, _safe_folder_name(former)},
                              first_id=first, last_id=last)
    if erase:
        g.store.rewrite_audit({}, erase)


def _safe_folder_name(name: str) -> str:
    """``name`` as one folder name: no separators, no ``..``, nothing a shell would trip on."""
    cleaned = re.sub(r"[^\w.\- ]", "_", name).strip(" .")
    return cleaned or "subject"
