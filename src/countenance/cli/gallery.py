"""Gallery commands: ``gallery init|info|prune|destroy``, ``enroll``, ``enroll-folder``, ``identify``,
``subjects list|show|verify|export|forget``, ``optout add|list|remove``, ``audit``.

The gallery is ``--gallery PATH``, else ``$COUNTENANCE_GALLERY``, else
``~/.local/share/countenance/gallery``. A multi-image run where some images failed exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..service.options import PipelineOptions, build_pipeline
from .options import (ActorOpt, AlignedOpt, DetectorOpt, EmbedderOpt, FaceOpt, GalleryOpt, IndexOpt, JsonOpt, LargestOpt,
                      gallery_options, pipeline_options)
from . import subjects_edit
from .consent import consent_hint
from .output import (
    EXIT_DIFFERENT, EXIT_FAILED, EXIT_PARTIAL, counter_progress, fail, emit, handle_errors, note_aligned, print_json, report_skipped, short_paths, stderr,
)

if TYPE_CHECKING:
    from ..service.options import FacePipeline

# The service modules are imported by each command: they load the gallery (SQLite, FAISS),
# which `countenance --help` and the other commands need not wait for.

__all__ = ["gallery_app", "subjects_app", "optout_app", "register"]

gallery_app = typer.Typer(help="Create, inspect, prune and destroy a gallery of enrolled people.", no_args_is_help=True)
subjects_app = typer.Typer(help="Enrolled people: list, show, verify, rename, remove-template, export (access requests), forget.",
                           no_args_is_help=True)
optout_app = typer.Typer(help="People who asked never to be recognised.", no_args_is_help=True)


def _pipeline(options: PipelineOptions) -> FacePipeline:
    """The one place these commands get a pipeline (looked up at call time, so tests can
    substitute a caching pipeline)."""
    return build_pipeline(options)


# ------------------------------------------------------------ gallery


@gallery_app.command("init")
@handle_errors
def gallery_init(
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    embedder: EmbedderOpt = "auto",
    consent_required: Annotated[bool, typer.Option(help="Require a consent record to enrol anyone.")] = True,
    retention_days: Annotated[Optional[int], typer.Option(min=1, help="`gallery prune` deletes templates older than this.")] = None,
    target_fpir: Annotated[float, typer.Option(min=1e-6, max=0.5, help="False-positive identification rate to set the threshold for.")] = 0.01,
    keep_crops: Annotated[bool, typer.Option(help="Store a small crop of each enrolled face (exported on request).")] = True,
    index: IndexOpt = "faiss",
    index_uri: Annotated[Optional[str], typer.Option(
        help="Server of a pgvector/milvus index: postgresql://..., http://host:19530, or a Milvus Lite file (*.db).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace index files an earlier gallery left here without its database.")] = False,
    min_face_px: Annotated[Optional[float], typer.Option(min=1.0, help=(
        "Answer 'too small to identify' for faces with fewer pixels between the eyes (default: none refused; "
        "faces under the model's measured minimum are named and flagged low confidence)."))] = None,
    actor: ActorOpt = None,
) -> None:
    """Create an empty gallery for one model, with its policy."""
    from ..service import gallery as lifecycle

    options = lifecycle.InitOptions(
        gallery_options(gallery, actor), embedder, consent_required=consent_required, retention_days=retention_days,
        target_fpir=target_fpir, keep_crops=keep_crops, index=index, index_uri=index_uri, force=force, min_face_px=min_face_px,
    )
    info = lifecycle.info_document(lifecycle.init_gallery(options))
    emit(info, json_output, f"Created a gallery for {info['model']} at {info['path']}")


@gallery_app.command("info")
@handle_errors
def gallery_info(gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
    """The gallery's model, policy, size, identification threshold and files."""
    from ..service import gallery as lifecycle

    info = lifecycle.info_document(lifecycle.gallery_info(gallery_options(gallery)))
    if json_output:
        print_json(info)
        return
    table = Table(show_header=False, title=f"Gallery {info['path']}")
    for key in ("model", "metric", "created_at", "subjects", "templates", "optouts"):
        table.add_row(key, str(info[key]))
    for key, value in info["policy"].items():
        if key != "optout_distance":  # shown below, with what it resolves to
            table.add_row(f"policy.{key}", "not set" if value is None else "yes" if value is True else "no" if value is False else str(value))
    table.add_row("index", f"{info['index']['backend']} ({info['index']['kind']}), {info['index']['vectors']} vectors")
    if info["templates"]:
        table.add_row("identification threshold", f"{info['identification_threshold']} (expected FPIR {info['expected_fpir']} "
                      f"over {info['templates']} templates)")
    else:
        table.add_row("identification threshold", "none yet: nobody is enrolled, so no face can be named")
    set_by = ("set by the policy" if info["policy"].get("optout_distance") is not None
              else "not set in the policy: the looser of the model's 1:1 threshold and the identification threshold")
    table.add_row("opt-out distance", f"{info['optout_distance']} ({set_by})")
    table.add_row("calibration", escape(json.dumps(info["calibration"])))
    Console().print(table)


@gallery_app.command("prune")
@handle_errors
def gallery_prune(
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    older_than_days: Annotated[Optional[int], typer.Option(min=0, help="Override the policy's retention (days; 0: every template).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    actor: ActorOpt = None,
) -> None:
    """Delete templates older than the retention period (and subjects left without any); asks first unless -y."""
    from ..service.retention import PrunePreview, prune_with_confirmation

    def ask(preview: PrunePreview) -> bool:
        people = f", and {len(preview.subjects_removed)} people with all their records" if preview.subjects_removed else ""
        return typer.confirm(
            f"Delete {preview.templates} of {preview.total_templates} template(s) enrolled before {preview.cutoff} "
            f"(older than {preview.retention_days} days){people}?", err=True)

    outcome = prune_with_confirmation(gallery_options(gallery, actor), older_than_days=older_than_days, confirm=None if yes else ask)
    if outcome.retention_days is None:
        message = "no retention set: nothing pruned (set one with `gallery init --retention-days N`, or pass --older-than-days N)"
    elif outcome.declined:
        message = "nothing deleted"
    elif outcome.result is None:
        message = f"nothing to prune: no template is older than {outcome.retention_days} days"
    else:
        r = outcome.result
        message = (f"removed {r.templates_removed} template(s) enrolled before {r.cutoff}; "
                   f"subjects removed: {', '.join(r.subjects_removed) or 'none'}")
    emit(outcome.to_dict(), json_output, escape(message))
    if outcome.declined:
        raise typer.Exit(1)


@gallery_app.command("destroy")
@handle_errors
def gallery_destroy(
    gallery: GalleryOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Remove the whole gallery: every template, crop, index file or server table, and record
    (the audit log too), overwritten with zeros and deleted; then scan what is left."""
    from ..service import gallery as lifecycle

    def ask(info) -> bool:
        return typer.confirm(f"Destroy the gallery at {info.path} ({info.subjects} subjects, {info.templates} templates, "
                             f"{info.optouts} opt-outs, its audit log)? This cannot be undone", err=True)

    report = lifecycle.destroy_gallery(gallery_options(gallery), confirm=None if yes else ask)
    if report is None:
        raise typer.Exit(1)
    size = sum(b for _, b in report.removed)
    summary = (f"destroyed {report.path}: {len(report.removed)} file(s), {size} bytes zeroed and deleted"
               + (f"; dropped {', '.join(report.dropped)}" if report.dropped else "")
               + ("; folder removed" if report.folder_removed else f"; {len(report.remaining)} other file(s) left in the folder")
               + f"; scan of what is left for {report.needles} names, paths, hashes and vectors: "
               + ("nothing found" if report.clean else f"FOUND {len(report.traces)} trace(s)"))
    emit(report.to_dict(), json_output, escape(summary))
    for trace in report.traces:
        stderr.print(f"[red]trace[/] {escape(trace)}", highlight=False)
    if not report.clean:
        raise typer.Exit(1)


# ------------------------------------------------------------ enrolment


@handle_errors
def enroll(
    name: Annotated[str, typer.Argument(help="The person's name (the subject).")],
    images: Annotated[list[Path], typer.Argument(help="Photos of them (a photo with several faces needs --face or --largest).")],
    consent: Annotated[Optional[str], typer.Option("--consent", help="What the person consented to (the consent statement).")] = None,
    consenter: Annotated[Optional[str], typer.Option(help="Who gave consent (default: the subject).")] = None,
    purpose: Annotated[str, typer.Option(help="The purpose consented to.")] = "identification",
    evidence: Annotated[str, typer.Option(help="Reference to the evidence (signed form, message id, ...).")] = "",
    consent_date: Annotated[Optional[str], typer.Option(help="When consent was given (ISO 8601; default: now).")] = None,
    face: FaceOpt = None,
    largest: LargestOpt = False,
    allow_duplicate: Annotated[bool, typer.Option("--allow-duplicate", help="Enrol a face the gallery already names as someone else (recorded in the audit log).")] = False,
    allow_mixed: Annotated[bool, typer.Option("--allow-mixed", help="Enrol photos whose faces do not agree with each other (beyond the model's same-person limit; recorded in the audit log).")] = False,
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    actor: ActorOpt = None,
) -> None:
    """Enrol a person from one or more photos, with their consent record."""
    from ..service import enrolment

    record = enrolment.ConsentOptions(consent, consenter, purpose, evidence, consent_date) if consent is not None else None
    options = enrolment.EnrolOptions(name, tuple(images), record, gallery_options(gallery, actor), pipeline_options(detector, embedder),
                                     face=face, largest=largest, allow_duplicate=allow_duplicate, allow_mixed=allow_mixed)
    with consent_hint():
        result = enrolment.enrol(options, pipelines=_pipeline)
    emit(result.to_dict(), json_output, f"{name}: {len(result.templates)} template(s) enrolled, "
         f"{len(result.already_enrolled)} already enrolled, {len(result.failed)} failed")
    if len(images) == 1 and result.failed:  # one photo given: its failure is the command's (exit 2)
        raise fail(escape(result.failed[0][1]), EXIT_FAILED)
    report_skipped([error for _, error in result.failed])


@handle_errors
def enroll_folder(
    folder: Annotated[Path, typer.Argument(help="One sub-folder of photos per person, named after them.")],
    consent_file: Annotated[Optional[Path], typer.Option("--consent-file", help=(
        'Consent records per person: JSON {"<folder name>" or "*": {"text": ..., "consenter", "purpose", '
        '"evidence", "given_at"}} or CSV with columns subject,text[,consenter,purpose,evidence,given_at].'))] = None,
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    actor: ActorOpt = None,
    aligned: AlignedOpt = "auto",
) -> None:
    """Enrol a folder of people; resumable (photos already enrolled are skipped)."""
    from ..service import enrolment

    options = enrolment.EnrolFolderOptions(folder, consent_file, gallery_options(gallery, actor),
                                           pipeline_options(detector, embedder, aligned=aligned))
    with consent_hint(), counter_progress("Enrolling") as (on_start, advance):
        result = enrolment.enrol_folder(options, pipelines=_pipeline, on_start=on_start, on_image=lambda _: advance(1),
                                        on_aligned=note_aligned)
    document = result.to_dict()
    emit(document, json_output, f"{result.enrolled} template(s) enrolled for {len(result.subjects)} people, "
         f"{result.already_enrolled} already enrolled, {len(result.failed)} failed")
    report_skipped([error for _, _, error in result.failed])


# ------------------------------------------------------------ search


@handle_errors
def identify(
    images: Annotated[list[Path], typer.Argument(help="Photos or folders of photos (searched recursively); every face of each.")],
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    top_k: Annotated[Optional[int], typer.Option("--top-k", min=1, max=100, help="Candidates per face (default: the policy's).")] = None,
    fpir: Annotated[Optional[float], typer.Option(min=1e-9, max=0.5, help="Target false-positive identification rate (default: the policy's).")] = None,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    actor: ActorOpt = None,
) -> None:
    """Who is in these photos? Every face: a decision (a name, "unknown", "ambiguous", or "too small to
    identify" under the gallery's --min-face-px; a face under the model's measured minimum size is
    flagged "low confidence") and the top candidates,
    nearest first (distance in the model's metric, and the calibrated false-match rate: how often
    a stranger comes this close)."""
    from ..service import identification

    options = identification.IdentifyOptions(
        tuple(images), top_k, fpir, gallery_options(gallery, actor), pipeline_options(detector, embedder))
    with counter_progress("Identifying") as (on_start, advance):
        run = identification.identify_images(
            options, pipelines=_pipeline, on_start=on_start, on_image=lambda _: advance(1),
            on_skipped=lambda e: stderr.print(f"[yellow]skipped[/] {escape(e.error)}", highlight=False, soft_wrap=True),
        )
    document = run.to_dict()
    if json_output:
        print_json(document)
    else:
        names = short_paths(image.path for image in run.images)
        table = Table()
        table.add_column("image", overflow="fold")
        table.add_column("face box", no_wrap=True)
        table.add_column("decision")
        table.add_column("candidates, nearest first: distance (false-match rate)", overflow="fold")
        for face in document["faces"]:
            shown = "; ".join(
                f"{c['subject']} {c['distance']:.3f} ({_rate(c['expected_false_match_rate'])})" for c in face["candidates"][:3]
            )
            style = "green" if face["outcome"] == "match" and not face["low_confidence"] else "yellow"
            decision = face["decision"] + (" (low confidence)" if face["low_confidence"] else "")
            if face["outcome"] == "too-small":
                shown = f"{face['inter_ocular_px']:.0f} px between the eyes, under the gallery's --min-face-px"
            elif face["low_confidence"]:
                shown = f"{face['low_confidence_reason']}; {shown or '-'}"
            table.add_row(escape(names[face["path"]]), ", ".join(f"{v:.0f}" for v in face["box"]),
                          f"[{style}]{escape(decision)}[/]", escape(shown) or "-")
        if run.faces:
            Console().print(table)
        for path in run.without_faces:
            stderr.print(f"no face found in {escape(path)}", highlight=False, soft_wrap=True)
        stderr.print(f"threshold {document['threshold']}: {document['threshold_rule']}; a candidate within it is named",
                     highlight=False, markup=False, soft_wrap=True)
    if run.errors:
        stderr.print(f"{len(run.errors)} file(s) skipped", highlight=False)
        raise typer.Exit(EXIT_PARTIAL)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


# ------------------------------------------------------------ subjects


@subjects_app.command("list")
@handle_errors
def subjects_list(gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
    """Enrolled people and how many templates each has."""
    from ..service import privacy

    subjects = privacy.list_subjects(gallery_options(gallery))
    document = {"subjects": [{"name": s.name, "templates": s.templates, "created_at": s.created_at} for s in subjects]}
    table = Table("subject", "templates", "enrolled since")
    for s in subjects:
        table.add_row(escape(s.name), str(s.templates), s.created_at)
    emit(document, json_output, table)


@subjects_app.command("show")
@handle_errors
def subjects_show(name: str, gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
    """One person's consent records and templates (provenance, not the vectors)."""
    from ..service import privacy

    emit(privacy.show_subject(gallery_options(gallery), name).to_dict(), json_output)


@subjects_app.command("verify")
@handle_errors
def subjects_verify(
    name: str,
    image: Path,
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    fmr: Annotated[Optional[float], typer.Option(min=1e-9, max=0.5, help="False-match rate per claim (default: the policy's).")] = None,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    actor: ActorOpt = None,
) -> None:
    """Is the largest face of IMAGE the enrolled person NAME? (1:1)

    Exit codes, like grep's: 0 them, 1 not them, 2 an error.
    """
    from ..service import identification

    options = identification.VerifySubjectOptions(name, image, fmr, gallery_options(gallery, actor), pipeline_options(detector, embedder))
    result = identification.verify_subject(options, pipelines=_pipeline)
    verdict = "[green]same person[/]" if result.same else "[red]not them[/]"
    emit(result.to_dict(), json_output, f"{verdict}: distance {result.distance:.4f} vs threshold {result.threshold:.4f} "
         f"({escape(result.threshold_rule)})")
    if not result.same:
        raise typer.Exit(EXIT_DIFFERENT)


@subjects_app.command("export")
@handle_errors
def subjects_export(
    name: str,
    out: Annotated[Path, typer.Option("--out", help="Folder to write <name>/subject.json and crops into.")] = Path("."),
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Write everything held about a person (JSON + face crops), for an access request."""
    from ..service import privacy

    result = privacy.export_subject(gallery_options(gallery, actor), name, out)
    emit(result.to_dict(), json_output, escape(f"exported {name} to {result.folder}"))


@subjects_app.command("forget")
@handle_errors
def subjects_forget(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Delete a person: templates, crops, index entries, consent records; their name, photo paths
    and hashes leave the audit log (a pseudonym stays). No enrolment begun before now re-creates them."""
    from ..service import privacy

    confirm = None if yes else (lambda who: typer.confirm(f"Forget {who} and erase their data?", err=True))
    result = privacy.forget_subject(gallery_options(gallery, actor), name, confirm=confirm)
    if result is None:
        emit({"forgotten": None, "declined": True}, json_output, escape(f"nothing forgotten: {name} is still enrolled"))
        raise typer.Exit(1)
    emit(result.to_dict(), json_output, escape(f"forgot {name}: {result.templates_removed} template(s) removed")
         + ("" if result.erased else " (another process held the database open: erasure completes on its next write)"))


# ------------------------------------------------------------ opt-out


@optout_app.command("add")
@handle_errors
def optout_add(
    image: Annotated[Path, typer.Argument(help="A photo of the person (a photo with several faces needs --face or --largest).")],
    note: Annotated[str, typer.Option(help="A reference for the request (no personal data needed).")] = "",
    face: FaceOpt = None,
    largest: LargestOpt = False,
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    actor: ActorOpt = None,
) -> None:
    """Never recognise this person: matching faces are answered "unknown" with no candidates."""
    from ..service import privacy

    options = privacy.OptOutOptions(image, note, gallery_options(gallery, actor), pipeline_options(detector, embedder), face=face, largest=largest)
    result = privacy.add_optout(options, pipelines=_pipeline)
    emit(result.to_dict(), json_output, f"opt-out {result.record.id} recorded")
    if result.matches_enrolled and not json_output:
        stderr.print(f"[yellow]note[/] this face matches enrolled subject(s): {escape(', '.join(result.matches_enrolled))}", highlight=False)


@optout_app.command("list")
@handle_errors
def optout_list(gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
    """The opt-out records (no images are kept; only the template, to suppress matches)."""
    from ..service import privacy

    records = privacy.list_optouts(gallery_options(gallery))
    table = Table("id", "recorded", "by", "note")
    for r in records:
        table.add_row(str(r.id), r.created_at, escape(r.recorded_by), escape(r.note))
    emit({"optouts": [r.to_dict() for r in records]}, json_output, table)


@optout_app.command("remove")
@handle_errors
def optout_remove(optout_id: int, gallery: GalleryOpt = None, json_output: JsonOpt = False, actor: ActorOpt = None) -> None:
    """Withdraw an opt-out (its template is erased)."""
    from ..service import privacy

    removed = privacy.remove_optout(gallery_options(gallery, actor), optout_id)
    emit({"removed": removed}, json_output, f"opt-out {removed} removed")


# ------------------------------------------------------------ audit


@handle_errors
def audit(
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    since: Annotated[Optional[str], typer.Option(help="ISO 8601 date/datetime, or a span back from now (24h, 7d).")] = None,
    action: Annotated[Optional[str], typer.Option(help="Only this action (identify, verify, enrol, forget, export, prune, optout).")] = None,
    subject: Annotated[Optional[str], typer.Option(help="Only entries naming this subject.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the last N entries.")] = None,
) -> None:
    """Who searched for whom: every identify, verify, enrol, forget and export, oldest first."""
    from ..service import privacy

    entries = privacy.query_audit(gallery_options(gallery), privacy.AuditQuery(since, action, subject, limit))
    table = Table("at", "actor", "action", "query", "result")
    for column in table.columns:  # wrapped, never cut: the time of day and the results matter
        column.overflow = "fold"
    for e in entries:
        table.add_row(e.at, escape(e.actor), e.action, escape(json.dumps(e.query)), escape(json.dumps(e.result)))
    emit({"entries": [e.to_dict() for e in entries]}, json_output, table)


def register(app: typer.Typer) -> None:
    """Add the gallery commands to ``app`` (once: a second call on the same app does nothing)."""
    if any(group.name == "gallery" for group in app.registered_groups):
        return
    app.add_typer(gallery_app, name="gallery")
    subjects_edit.register(subjects_app)
    app.add_typer(subjects_app, name="subjects")
    app.add_typer(optout_app, name="optout")
    app.command("enroll")(enroll)
    app.command("enroll-folder")(enroll_folder)
    app.command("identify")(identify)
    app.command("audit")(audit)
