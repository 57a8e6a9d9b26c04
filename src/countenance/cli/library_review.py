"""The library's review loop on the command line: ``library person|confirm|undo|log|merges|
merge-accept|merge-reject|add-face`` over :mod:`countenance.service.library_review`.

``register(library_app)`` adds them to the ``library`` group (once)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .library import LibraryOpt, _ids, _library
from .options import DetectorOpt, EmbedderOpt, JsonOpt, pipeline_options
from .output import emit, handle_errors, stderr

__all__ = ["register"]

LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many rows.")]
OffsetOpt = Annotated[int, typer.Option("--offset", min=0, help="Skip this many rows (the next page: the last --offset plus --limit).")]


@handle_errors
def person(
    person_id: Annotated[int, typer.Argument(metavar="ID", help="The person id, from `library people`.")],
    sheet: Annotated[Optional[Path], typer.Option("--sheet", help="Write a contact sheet of all its face crops, numbered by face id (JPEG).")] = None,
    limit: LimitOpt = 1000,
    offset: OffsetOpt = 0,
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """One person's faces and photos: face id, photo, box, confirmed or automatic, distance
    to the person (farthest first: the likeliest mistakes)."""
    from ..service.library import to_document
    from ..service.library_review import person_detail, write_contact_sheet

    detail = person_detail(_library(library), person_id, limit=limit, offset=offset)
    written = write_contact_sheet(_library(library), person_id, sheet) if sheet is not None else None
    p = detail.person
    table = Table("face", "photo", "box (left, top, right, bottom px)", "state", "distance", "source",
                  title=escape(f"{p.name or 'unnamed'} (person {p.id}): {p.faces} face(s) in {detail.photos} photo(s), "
                               f"{p.confirmed} confirmed"))
    for face in detail.faces.items:
        table.add_row(str(face.face_id), escape(face.path), ", ".join(f"{v:.0f}" for v in face.box_ltrb_px),
                      "confirmed" if face.confirmed else "automatic", f"{face.distance:.3f}", face.source)
    emit({**detail.to_dict(), "sheet": None if written is None else str(written)}, json_output, table)
    if not json_output and detail.faces.next_offset is not None:
        stderr.print(f"more: --offset {detail.faces.next_offset}", highlight=False)
    if written is not None and not json_output:
        stderr.print(f"wrote the contact sheet to {escape(str(written))}", highlight=False)


@handle_errors
def confirm(
    person_id: Annotated[int, typer.Argument(metavar="PERSON")],
    faces: Annotated[list[str], typer.Option("--faces", help="Face ids to confirm (comma-separated or repeated).")],
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Confirm faces of a person: re-clustering never moves them."""
    from ..service.library import to_document
    from ..service.library_review import confirm_faces

    done = confirm_faces(_library(library), person_id, _ids(faces))
    emit(to_document(done), json_output, escape(done.message))


@handle_errors
def undo(
    count: Annotated[int, typer.Argument(min=1, help="How many of the last decisions to reverse.")] = 1,
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Reverse the last decisions (name, merge, split, not-this-person, hide, confirm, accept,
    reject, merge suggestions, add-face): assignments are restored exactly."""
    from ..service.library import to_document
    from ..service.library_review import undo as reverse

    done = reverse(_library(library), count)
    lines = [f"undone: {op.summary or op.kind}" for op in done] or ["nothing to undo"]
    emit({"undone": to_document(done)}, json_output, escape("\n".join(lines)))


@handle_errors
def log(limit: LimitOpt = 20, offset: OffsetOpt = 0, library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """The decisions `library undo` can reverse, newest first."""
    from ..service.library_review import list_operations

    page = list_operations(_library(library), limit=limit, offset=offset)
    table = Table("#", "when (UTC)", "decision", "rows changed")
    for op in page.items:
        table.add_row(str(op.id), op.at, escape(op.summary or op.kind), str(op.changes))
    emit(page.to_dict(), json_output, table)


@handle_errors
def merges(
    max_distance: Annotated[Optional[float], typer.Option("--max-distance", min=0.01, max=2.0, help="Largest Euclidean distance between two people's mean templates (default: dlib's 0.6, carried to the library's model).")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """People that may be one person, nearest first: accept with `library merge-accept A B`,
    reject with `library merge-reject A B`."""
    from ..service.library_review import list_merge_suggestions

    page = list_merge_suggestions(_library(library), limit=limit, offset=offset, max_distance=max_distance)
    table = Table("person", "name", "faces", "person", "name", "faces", "distance", "closest pair")
    for m in page.items:
        table.add_row(str(m.person_a), escape(m.name_a or "-"), str(m.faces_a), str(m.person_b), escape(m.name_b or "-"),
                      str(m.faces_b), f"{m.distance:.3f}", f"{m.closest:.3f}")
    emit(page.to_dict(), json_output, table)


@handle_errors
def merge_accept(a: Annotated[int, typer.Argument(metavar="A")], b: Annotated[int, typer.Argument(metavar="B")],
                 library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """Accept a merge suggestion: the smaller (or the unnamed) person joins the other."""
    from ..service.library import to_document
    from ..service.library_review import accept_merge

    done = accept_merge(_library(library), a, b)
    emit(to_document(done), json_output, escape(done.message))


@handle_errors
def merge_reject(a: Annotated[int, typer.Argument(metavar="A")], b: Annotated[int, typer.Argument(metavar="B")],
                 library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """Reject a merge suggestion: never suggested again, kept apart by re-clustering."""
    from ..service.library import to_document
    from ..service.library_review import reject_merge

    done = reject_merge(_library(library), a, b)
    emit(to_document(done), json_output, escape(done.message))


@handle_errors
def add_face(
    photo: Annotated[Path, typer.Argument(help="An indexed photo.")],
    box: Annotated[str, typer.Option("--box", help="left,top,right,bottom in pixels of the upright photo.")],
    face_name: Annotated[Optional[str], typer.Option("--name", help="Confirm the face as this person (made when missing).")] = None,
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
) -> None:
    """Add a face the detector missed: landmarks and template are computed for the box."""
    from ..service.library import to_document
    from ..service.library_review import AddFaceOptions, add_face as store_face, parse_box

    added = store_face(AddFaceOptions(photo, parse_box(box), face_name, _library(library), pipeline_options(detector, embedder)))
    where = f", confirmed as {added.name!r} (person {added.person_id})" if added.person_id is not None else ""
    emit(to_document(added), json_output, escape(f"added face {added.face_id} in {added.path}{where}"))


def register(library_app: typer.Typer) -> None:
    """Add the review commands to the ``library`` group (once)."""
    if any(command.name == "undo" for command in library_app.registered_commands):
        return
    for name, function in (("person", person), ("confirm", confirm), ("undo", undo), ("log", log), ("merges", merges),
                           ("merge-accept", merge_accept), ("merge-reject", merge_reject), ("add-face", add_face)):
        library_app.command(name)(function)
