"""Photo library commands: ``library index|status|people|name|merge|split|not-this-person|hide|
accept|reject|find|suggest|check|xmp write|xmp read`` over :mod:`countenance.service.library`
(the review loop's ``person|confirm|undo|log|merges|add-face`` are in :mod:`.library_review`).

The library is ``--library PATH``, else ``$COUNTENANCE_LIBRARY``, else
``~/.local/share/countenance/library``. Naming and suggestions use ``--gallery``, else the
gallery the library used last, else the default gallery when it exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from .options import ActorOpt, AlignedOpt, DetectorOpt, EmbedderOpt, GalleryOpt, JsonOpt, WorkersOpt, gallery_options, pipeline_options
from .output import emit, folded, handle_errors, note_aligned, print_json, report_skipped, stderr

if TYPE_CHECKING:
    from ..service.library import IndexProgress, LibraryOptions, SuggestionItem

__all__ = ["library_app", "register"]

library_app = typer.Typer(help="Tag a photo library: index folders, find people, suggest and keep names, XMP sidecars.",
                          no_args_is_help=True)
xmp_app = typer.Typer(help="Face regions in XMP sidecars (photo.ext.xmp), in the MWG and Microsoft schemas.",
                      no_args_is_help=True)
library_app.add_typer(xmp_app, name="xmp")

LibraryOpt = Annotated[
    Optional[Path],
    typer.Option("--library", help="Library folder (default: $COUNTENANCE_LIBRARY, else ~/.local/share/countenance/library)."),
]
FpirOpt = Annotated[float, typer.Option("--fpir", min=1e-6, max=0.5,
                                        help="Suggestion threshold as a false-positive identification rate (reviewed by you, so looser than the gallery's).")]
SubjectOpt = Annotated[Optional[str], typer.Option("--subject", help="The suggested subject (needed when the face has several).")]


def _library(path: Path | None) -> LibraryOptions:
    from ..service.library import LibraryOptions

    return LibraryOptions(path)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


@contextmanager
def _index_progress() -> Iterator[Callable[[IndexProgress], None]]:
    """A progress bar on stderr fed by the library's IndexProgress: photos, rate and ETA."""
    bar = Progress(TextColumn("[bold]Indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TextColumn("ETA {task.fields[eta]}"), console=stderr, transient=True)
    with bar:
        task = bar.add_task("Indexing", total=None, rate="", eta="-:--", visible=False)

        def update(progress: IndexProgress) -> None:
            bar.update(task, total=progress.total, completed=progress.done, visible=progress.total > 1,
                       rate=f"{progress.rate_per_s:.1f} photos/s", eta=_duration(progress.eta_s))

        yield update


@library_app.command("index")
@handle_errors
def index(
    roots: Annotated[list[Path], typer.Argument(help="Folders (or photos) to index.")],
    library: LibraryOpt = None,
    gallery: Annotated[Optional[Path], typer.Option("--gallery", help="Also suggest this gallery's enrolled people.")] = None,
    fpir: FpirOpt = 0.05,
    full: Annotated[bool, typer.Option("--full", help="Re-detect unchanged files too (names and decisions are kept).")] = False,
    workers: WorkersOpt = 2,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    actor: ActorOpt = None,
    aligned: AlignedOpt = "auto",
) -> None:
    """Index photos (new and changed files only), group unknown faces into people and, with
    --gallery, suggest names. Resumable: run it again after a crash."""
    from ..service.library import IndexLibraryOptions, SuggestOptions, index_library

    options = IndexLibraryOptions(
        tuple(roots), _library(library), pipeline_options(detector, embedder, aligned=aligned),
        gallery_options(gallery, actor) if gallery is not None else None, SuggestOptions(target_fpir=fpir), workers, full)
    started = time.perf_counter()
    with _index_progress() as on_progress:
        result = index_library(options, on_progress=on_progress, on_aligned=note_aligned)
    summary = result.index
    if json_output:
        print_json(result.to_dict())
    else:
        stderr.print(
            f"{summary.files} photos: {summary.detected} indexed ({summary.images_per_second:.1f}/s), {summary.unchanged} unchanged, "
            f"{summary.moved} moved, {summary.deleted} gone; {summary.faces_added} new faces, {summary.faces_total} in all "
            f"({summary.gated} below the quality gate); {result.clustering.persons} people "
            f"({result.clustering.new_persons} new) in {time.perf_counter() - started:.1f} s", highlight=False)
        if result.suggestions is not None:
            stderr.print(f"{result.suggestions.suggestions} suggestion(s) to review in {result.suggestions.photos} photos "
                         f"(countenance library suggest)", highlight=False)
        if result.xmp is not None and result.xmp.faces_named:
            stderr.print(f"{result.xmp.faces_named} face(s) named from the photos' own XMP regions", highlight=False)
        if not summary.detected and summary.files:
            stderr.print("nothing new to detect", highlight=False)
    for skipped in summary.skipped:
        if not skipped.reason.startswith("unreadable"):
            stderr.print(f"[dim]not indexed[/] {escape(skipped.path)}: {escape(skipped.reason)}", highlight=False)
    report_skipped([f"{s.path}: {s.reason}" for s in summary.skipped if s.reason.startswith("unreadable")])


@library_app.command("recluster")
@handle_errors
def recluster(library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """Re-cluster every face into people (`library index` only places new faces); your
    decisions (confirmed faces, not-this-person, merges, names, hidden people) are kept."""
    from ..service.library import recluster_library, to_document

    result = recluster_library(_library(library))
    emit(to_document(result), json_output, f"{result.clustered} of {result.faces} faces in {result.persons} people "
         f"({result.new_persons} new) in {result.seconds:.1f} s")


@library_app.command("status")
@handle_errors
def status(library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """How many photos, faces, people, names and open suggestions the library holds."""
    from ..service.library import library_status, to_document

    document = to_document(library_status(_library(library)))
    table = Table(show_header=False, title="Library")
    for key, value in document.items():
        table.add_row(key.replace("_", " "), str(value))
    emit(document, json_output, table)


@library_app.command("people")
@handle_errors
def people(
    library: LibraryOpt = None,
    show_hidden: Annotated[bool, typer.Option("--all", help="Include hidden people.")] = False,
    crops: Annotated[Optional[Path], typer.Option("--crops", help="Write each person's representative face to DIR/person-<id>.jpg.")] = None,
    with_faces: Annotated[bool, typer.Option("--faces", help="List each person's faces too (id, photo, box, confirmed, distance).")] = False,
    json_output: JsonOpt = False,
) -> None:
    """People found or named, largest first, with a representative face (and with --faces,
    every face: see one person with `library person ID`)."""
    from ..service.library import list_people, to_document, write_person_crops
    from ..service.library_review import people_with_faces

    if with_faces:
        listed = people_with_faces(_library(library), include_hidden=show_hidden)
        found = tuple(p for p, _ in listed)
        documents = [{**to_document(p), "face_list": to_document(faces)} for p, faces in listed]
    else:
        found = list_people(_library(library), include_hidden=show_hidden)
        documents = to_document(found)
    written = write_person_crops(_library(library), crops, include_hidden=show_hidden) if crops is not None else ()
    table = folded(Table("person", "name", "faces", "confirmed", "face shown", "hidden", *(["face ids"] if with_faces else [])))
    for k, p in enumerate(found):
        extra = [", ".join(str(f["face_id"]) for f in documents[k]["face_list"])] if with_faces else []
        table.add_row(str(p.id), escape(p.name or "-"), str(p.faces), str(p.confirmed),
                      str(p.representative_face or "-"), "yes" if p.hidden else "", *extra)
    emit({"people": documents, "crops": [str(p) for p in written]}, json_output, table)
    if written and not json_output:
        stderr.print(f"wrote {len(written)} face crop(s) to {escape(str(crops))}", highlight=False)


@library_app.command("name")
@handle_errors
def name(
    person: Annotated[int, typer.Argument(help="The person (cluster) id, from `library people`.")],
    person_name: Annotated[str, typer.Argument(metavar="NAME", help="Their name (the gallery subject).")],
    consent: Annotated[Optional[str], typer.Option("--consent", help="What the person consented to (needed when the gallery's policy asks).")] = None,
    consenter: Annotated[Optional[str], typer.Option(help="Who gave consent (default: the person).")] = None,
    purpose: Annotated[str, typer.Option(help="The purpose consented to.")] = "photo tagging",
    evidence: Annotated[str, typer.Option(help="Reference to the evidence (signed form, message id, ...).")] = "",
    allow_duplicate: Annotated[bool, typer.Option("--allow-duplicate", help="Enrol even when the gallery already names these faces as someone else (recorded in the audit log).")] = False,
    confirm_all: Annotated[bool, typer.Option("--confirm-all", help="You saw every face of the person: confirm them all (else the faces clustering placed stay unconfirmed, and out of XMP).")] = False,
    library: LibraryOpt = None,
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    actor: ActorOpt = None,
) -> None:
    """Name a person (their faces are confirmed only with --confirm-all), and enrol them in the
    gallery (with the consent record its policy asks for) so the other photos get them as suggestions."""
    from ..service.enrolment import ConsentOptions
    from ..service.library import NameOptions, name_person

    record = ConsentOptions(consent, consenter, purpose, evidence) if consent is not None else None
    options = NameOptions(person, person_name, record, _library(library), gallery_options(gallery, actor),
                          pipeline_options(detector, embedder), allow_duplicate=allow_duplicate, confirm_all=confirm_all)
    named = name_person(options)
    where = f", {named.result.enrolled_templates} template(s) enrolled in {named.gallery}" if named.gallery else " (no gallery)"
    if named.disagreeing_faces and not json_output:
        stderr.print(escape(f"check: face(s) {', '.join(map(str, named.disagreeing_faces))} disagree with the rest of person "
                            f"{person}; review them (library split / not-this-person) before confirming"), highlight=False)
    emit(named.to_dict(), json_output,
         escape(f"person {person} is {named.result.name}: {len(named.result.confirmed_faces)} face(s) confirmed{where}"))


@library_app.command("merge")
@handle_errors
def merge(
    target: Annotated[int, typer.Argument(help="The person to keep.")],
    sources: Annotated[list[int], typer.Argument(help="The people merged into it.")],
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Merge people into the first (names and confirmations kept; refused when two names differ)."""
    from ..service.library import merge_people, to_document

    merged = merge_people(_library(library), target, tuple(sources))
    label = f"{merged.name!r} (person {merged.id})" if merged.name else f"person {merged.id}"
    emit(to_document(merged), json_output, escape(f"merged {', '.join(map(str, sources))} into {label}: {merged.faces} faces"))


@library_app.command("split")
@handle_errors
def split(
    person: Annotated[int, typer.Argument(help="The person to split.")],
    faces: Annotated[Optional[list[str]], typer.Option("--faces", help="Face ids to split off (comma-separated or repeated; "
                                                       "from `library person ID`); without them the person is sub-clustered.")] = None,
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Split a person: the picked faces (confirmed in the new person), or without --faces the
    smaller side of the person's widest two-way split (unconfirmed), become one new person. Undo with `library undo`."""
    from ..service.library import split_person

    picked = _ids(faces) if faces else None
    created = split_person(_library(library), person, picked)
    emit({"person": person, "new_people": list(created)}, json_output,
         f"new person: {', '.join(map(str, created))}" if created else "one group only: nothing split off")


def _ids(values: list[str]) -> tuple[int, ...]:
    from ..errors import InvalidArgument

    try:
        return tuple(int(v) for value in values for v in value.split(",") if v.strip())
    except ValueError:
        raise InvalidArgument(f"--faces takes face ids (numbers), got {', '.join(values)!r}") from None


@library_app.command("not-this-person")
@handle_errors
def not_this_person(
    face: Annotated[int, typer.Argument(help="The face id (from `library person ID` or `library find`).")],
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Take a face out of its person (named or not); it is never put back there."""
    from ..service.library_review import not_this_person as unassign

    done = unassign(_library(library), face)
    emit({"face": face, "person": done.person_id, "name": done.name}, json_output, escape(done.message))


@library_app.command("hide")
@handle_errors
def hide(
    person: int,
    show: Annotated[bool, typer.Option("--show", help="Show the person again.")] = False,
    library: LibraryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Hide a person from `library people` (kept across re-clustering)."""
    from ..service.library import hide_person, to_document

    result = hide_person(_library(library), person, hidden=not show)
    emit(to_document(result), json_output, f"person {person} {'hidden' if result.hidden else 'shown'}")


@library_app.command("suggest")
@handle_errors
def suggest(
    library: LibraryOpt = None,
    gallery: GalleryOpt = None,
    fpir: FpirOpt = 0.05,
    json_output: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Suggest the gallery's enrolled people for unconfirmed faces and list what to review
    (at most one suggestion of a person per photo; opted-out people never)."""
    from ..service.library import SuggestOptions, SuggestRunOptions, suggest_names, to_document

    run = suggest_names(SuggestRunOptions(_library(library), gallery_options(gallery, actor), SuggestOptions(target_fpir=fpir)))
    if json_output:
        print_json({"summary": to_document(run.summary), "suggestions": to_document(run.suggestions)})
        return
    Console().print(_suggestion_table(run.suggestions))
    stderr.print(f"{run.summary.suggestions} suggestion(s) in {run.summary.photos} photos searched, threshold "
                 f"{run.summary.threshold:.4f} (the gallery's threshold for a suggestion FPIR of {fpir:g}: looser than "
                 f"`identify`'s, since a person reviews each suggestion); accept or reject with: "
                 f"countenance library accept|reject FACE", highlight=False, soft_wrap=True)


def _suggestion_table(items: tuple[SuggestionItem, ...]) -> Table:
    table = folded(Table("face", "photo", "subject", "distance", "false-match rate"))
    for item in items:
        rate = "-" if item.false_match_rate is None else f"{item.false_match_rate:.2g}"
        table.add_row(str(item.face_id), escape(Path(item.path).name), escape(item.subject), f"{item.distance:.4f}", rate)
    return table


@library_app.command("accept")
@handle_errors
def accept(face: Annotated[int, typer.Argument(help="The face of the suggestion.")], subject: SubjectOpt = None,
           library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """Accept a suggestion: the face is confirmed as that person."""
    from ..service.library_review import accept_suggestion

    done = accept_suggestion(_library(library), face, subject)
    emit({"face": face, "person": done.person_id, "name": done.name}, json_output, escape(done.message))


@library_app.command("reject")
@handle_errors
def reject(face: Annotated[int, typer.Argument(help="The face of the suggestion.")], subject: SubjectOpt = None,
           library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """Reject a suggestion: never suggested again, and the face is kept out of that person."""
    from ..service.library import reject_suggestion

    rejected = reject_suggestion(_library(library), face, subject)
    emit({"face": face, "subject": rejected}, json_output, escape(f"face {face} is not {rejected}"))


@library_app.command("find")
@handle_errors
def find(person_name: Annotated[str, typer.Argument(metavar="NAME")], library: LibraryOpt = None,
         json_output: JsonOpt = False) -> None:
    """Every photo of a named person, with their face boxes."""
    from ..service.library import find_person, to_document

    photos = find_person(_library(library), person_name)
    table = folded(Table("photo", "faces", "boxes (left, top, right, bottom px)", "confirmed"))
    for photo in photos:
        boxes = "; ".join(", ".join(f"{v:.0f}" for v in (b.left, b.top, b.right, b.bottom)) for b in photo.boxes)
        seen = ", ".join("confirmed" if c else "automatic" for c in photo.confirmed)
        table.add_row(escape(photo.path), ", ".join(map(str, photo.face_ids)), boxes, seen)
    emit({"name": person_name, "photos": to_document(photos)}, json_output, table)


@xmp_app.command("write")
@handle_errors
def xmp_write(library: LibraryOpt = None,
              include_unconfirmed: Annotated[bool, typer.Option("--include-unconfirmed", help="Also write named faces you have not confirmed (clustering placed them).")] = False,
              json_output: JsonOpt = False) -> None:
    """Write named, confirmed faces into photo.ext.xmp sidecars (merged; the photos are never touched)."""
    from ..service.library import to_document, write_xmp

    result = write_xmp(_library(library), include_unconfirmed=include_unconfirmed)
    emit(to_document(result), json_output, f"{result.regions_written} region(s) in {result.sidecars_written} sidecar(s)")


@xmp_app.command("read")
@handle_errors
def xmp_read(library: LibraryOpt = None, json_output: JsonOpt = False) -> None:
    """Import named face regions from existing sidecars as confirmed faces."""
    from ..service.library import read_xmp, to_document

    result = read_xmp(_library(library))
    emit(to_document(result), json_output, f"{result.faces_confirmed} face(s) confirmed from {result.regions_read} region(s) "
         f"in {result.sidecars_read} sidecar(s); {result.unmatched_regions} over no indexed face")


# ------------------------------------------------------------ identity checks (issue 14)

CutFmrOpt = Annotated[float, typer.Option("--cut-fmr", min=1e-6, max=0.5,
                                          help="The pair cut: the distance at this stranger false-match rate (model calibration).")]


def _print_report(report, json_output: bool) -> None:  # noqa: ANN001 - service.cleaning.IdentityReport
    if json_output:
        print_json(report.to_dict())
        return
    table = Table("finding", "confidence", "people", "items", "reason")
    for finding in report.findings:
        table.add_row(finding.kind, f"{finding.confidence:.2f}", escape(", ".join(finding.labels)),
                      escape(", ".join(finding.items)), escape(finding.reason))
    Console().print(table)
    unit = "templates" if report.source == "gallery" else "faces"
    stderr.print(f"{report.labels} people, {report.items} {unit}: "
                 f"{len(report.findings) or 'no'} finding(s) (cut {report.cut_distance:.4f}, {report.model})", highlight=False)
    if report.not_judged:  # "no findings" must not read as "all clear" for people the checks cannot judge
        stderr.print(f"not judged, too few {unit}: " + "; ".join(f"{escape(label)} ({why})" for label, _, why in report.not_judged),
                     highlight=False, soft_wrap=True)


@handle_errors
def library_check(library: LibraryOpt = None, cut_fmr: CutFmrOpt = 0.01, json_output: JsonOpt = False) -> None:
    """Named people's faces that disagree with the rest of the person, and two names that hold
    the same person (the dataset-cleaning checks). Nothing is changed."""
    from ..service.cleaning import IdentityCheckOptions, check_library

    _print_report(check_library(_library(library), IdentityCheckOptions(cut_fmr=cut_fmr)), json_output)


@handle_errors
def gallery_check(gallery: GalleryOpt = None, cut_fmr: CutFmrOpt = 0.01, json_output: JsonOpt = False) -> None:
    """Enrolled templates that disagree with their subject, and subjects enrolled twice under
    two names (the dataset-cleaning checks). Nothing is changed."""
    from ..service.cleaning import IdentityCheckOptions, check_gallery

    _print_report(check_gallery(gallery_options(gallery), IdentityCheckOptions(cut_fmr=cut_fmr)), json_output)


def register(app: typer.Typer) -> None:
    """Add ``library ...`` to ``app`` and ``check`` to its ``gallery`` group (once)."""
    from .gallery import gallery_app

    if any(group.name == "library" for group in app.registered_groups):
        return
    library_app.command("check")(library_check)
    gallery_app.command("check")(gallery_check)
    app.add_typer(library_app, name="library")
