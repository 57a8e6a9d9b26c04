"""What is held about people, and their rights: subjects, export, forget, opt-out, the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..errors import GalleryError, InvalidArgument
from ..gallery import AuditEntry, ForgetResult, OptOutRecord, OptOutResult, SubjectDetails, SubjectRecord
from .gallery import open_gallery
from .library_links import forget_in_libraries
from .options import GalleryOptions, ImageInput, PipelineFactory, PipelineOptions, build_pipeline, image_source
from .path_args import writable_folder, writing

__all__ = [
    "list_subjects",
    "show_subject",
    "ExportResult",
    "export_subject",
    "export_archive",
    "rename_subject",
    "remove_template",
    "forget_subject",
    "OptOutOptions",
    "add_optout",
    "list_optouts",
    "remove_optout",
    "parse_since",
    "AuditQuery",
    "query_audit",
]


def list_subjects(options: GalleryOptions) -> tuple[SubjectRecord, ...]:
    """Enrolled people and how many templates each has."""
    with open_gallery(options) as gallery:
        return tuple(gallery.subjects())


def show_subject(options: GalleryOptions, name: str) -> SubjectDetails:
    """One person's consent records and templates (provenance, not the vectors); NotEnrolled."""
    with open_gallery(options) as gallery:
        return gallery.subject(name)


@dataclass(frozen=True)
class ExportResult:
    """Where everything held about ``subject`` was written (``subject.json`` and face crops)."""

    subject: str
    folder: Path

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "folder": str(self.folder)}


def export_subject(options: GalleryOptions, name: str, out_dir: Path) -> ExportResult:
    """Write everything held about ``name`` under ``out_dir/<name>/`` (an access request); audited."""
    out_dir = writable_folder(out_dir, "--out")
    with open_gallery(options) as gallery, writing(out_dir, "--out"):
        return ExportResult(name, gallery.export(name, out_dir))


def export_archive(options: GalleryOptions, name: str) -> tuple[str, bytes]:
    """Everything held about ``name`` as a zip archive (``<name>/subject.json`` and its face
    crops), built in a temporary folder that is deleted after; ``(file name, zip bytes)``. Audited."""
    import io
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory(prefix="countenance-export-") as scratch:
        folder = export_subject(options, name, Path(scratch)).folder
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder.parent).as_posix())
    return f"{folder.name}.zip", buffer.getvalue()


def rename_subject(options: GalleryOptions, name: str, new_name: str) -> SubjectDetails:
    """Rename ``name`` to ``new_name`` (templates and consent records follow); NotEnrolled,
    AlreadyExists. Audited."""
    with open_gallery(options) as gallery:
        return gallery.rename(name, new_name)


def forget_subject(options: GalleryOptions, name: str, *, confirm: Callable[[str], bool] | None = None) -> ForgetResult | None:
    """Delete ``name`` (templates, crops, index entries, consent records); their name, photo
    paths and hashes leave the audit log (their pseudonym stays) and a tombstone refuses any
    enrolment begun, or consented to, before now (see ``Gallery.forget``), under every name
    they had.

    ``confirm(name)`` is asked after the subject is found (NotEnrolled first) and before
    anything is deleted; when it answers False nothing is deleted and None is returned. The
    photo libraries that name people into this gallery forget the name too
    (:func:`~countenance.service.library_links.forget_in_libraries`).
    """
    with open_gallery(options) as gallery:
        stored = gallery.subject(name).subject.name  # NotEnrolled before asking
        if confirm is not None and not confirm(name):
            return None
        # The libraries first: if one fails, the subject is still enrolled and a rerun
        # reaches every library again (forgetting a name there twice is harmless). Every
        # name the subject had goes, as in the gallery.
        for held in (*gallery.former_names(stored), stored):
            forget_in_libraries(options.resolved_path, held)
        return gallery.forget(name)


@dataclass(frozen=True)
class OptOutOptions:
    """A photo of a person who asked never to be recognised, and a reference. A photo with
    several faces needs ``face`` (its number, from 1, as ``countenance detect`` lists them) or
    ``largest``, as enrolment does."""

    image: ImageInput
    note: str = ""
    gallery: GalleryOptions = field(default_factory=GalleryOptions)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    face: int | None = None
    largest: bool = False

    def __post_init__(self) -> None:
        if self.face is not None and self.largest:
            raise InvalidArgument("choose the face with --face N or --largest, not both")
        if self.face is not None and (isinstance(self.face, bool) or not isinstance(self.face, int) or self.face < 1):
            raise InvalidArgument(f"--face must be a face number >= 1 (as `countenance detect` lists them), got {self.face!r}")


def add_optout(options: OptOutOptions, *, pipelines: PipelineFactory = build_pipeline) -> OptOutResult:
    """Record the opt-out: matching faces are answered "unknown" with no candidates from now on."""
    with open_gallery(options.gallery, options.pipeline, pipelines=pipelines) as gallery:
        return gallery.optout(image_source(options.image), note=options.note, face=options.face, largest=options.largest)


def remove_template(options: GalleryOptions, name: str, template_id: int) -> int:
    """Delete one template of ``name`` (``subjects show`` lists their ids); not their last one
    (InvalidArgument: forget them instead). Audited."""
    with open_gallery(options) as gallery:
        return gallery.remove_template(name, template_id)


def list_optouts(options: GalleryOptions) -> tuple[OptOutRecord, ...]:
    """The opt-out records (no images are kept; only the template, to suppress matches)."""
    with open_gallery(options) as gallery:
        return tuple(gallery.optouts())


def remove_optout(options: GalleryOptions, optout_id: int) -> int:
    """Withdraw an opt-out (its template is erased); GalleryError if there is no such id."""
    with open_gallery(options) as gallery:
        if not gallery.remove_optout(optout_id):
            raise GalleryError(f"no opt-out with id {optout_id}")
    return optout_id


_SPAN = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A moment as a user gives it: a span back from ``now`` (``30m``, ``24h``, ``7d``, ``2w``) or
    an ISO 8601 date/datetime (UTC when it has no zone). Anything else is an InvalidArgument."""
    match = _SPAN.fullmatch(text.strip())
    if match:
        start = now if now is not None else datetime.now(timezone.utc)
        try:
            return start - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:  # before the year 1: every entry is after it
            raise InvalidArgument(f"--since {text!r} reaches back before the year 1; give a shorter span or a date") from None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"--since must be an ISO 8601 date or datetime, or a span like 24h or 7d; got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class AuditQuery:
    """Which audit entries: at or after ``since`` (see :func:`parse_since`), of ``action``,
    naming ``subject``, the last ``limit``."""

    since: str | None = None
    action: str | None = None
    subject: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1):
            raise InvalidArgument(f"limit must be an integer >= 1, got {self.limit!r}")


def query_audit(options: GalleryOptions, query: AuditQuery) -> tuple[AuditEntry, ...]:
    """Who searched for whom: the matching audit entries, oldest first."""
    since = parse_since(query.since) if query.since is not None else None
    with open_gallery(options) as gallery:
        entries = tuple(gallery.audit(since=since, action=query.action, subject=query.subject, limit=query.limit))
        if not entries and query.action is not None and query.action not in AUDIT_ACTIONS:
            # A misspelt action is an error, not an empty log (one written by a newer version passes).
            logged = {e.action for e in gallery.audit()}
            if query.action not in logged:
                known = ", ".join(sorted(AUDIT_ACTIONS | logged))
                raise InvalidArgument(f"--action {query.action!r} is not an action of the audit log; one of: {known}")
        return entries


#: The actions the audit log records (``audit --action``).
AUDIT_ACTIONS = frozenset({
    "identify", "verify", "verify-pair", "enrol", "create", "rename", "remove-template", "forget", "export", "prune",
    "optout", "optout-remove",
})
