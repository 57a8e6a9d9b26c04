"""Gallery commands of the ``countenance`` CLI: a thin shell over :mod:`countenance.gallery`.

``countenance gallery init|info|prune``, ``enroll``, ``enroll-folder``, ``identify``,
``subjects list|show|verify|export|forget``, ``optout add|list|remove``, ``audit``. The gallery
is ``--gallery PATH``, else ``$COUNTENANCE_GALLERY``, else ``~/.local/share/countenance/gallery``.
Every command takes ``--json`` (one JSON document on stdout); errors are one stderr line and
exit 2; a multi-image run where some images failed exits 1.
"""

import csv
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import CountenanceError, GalleryError, ImageError

__all__ = ["register", "default_gallery_dir"]


def default_gallery_dir() -> Path:
    """``$XDG_DATA_HOME/countenance/gallery`` (``~/.local/share/countenance/gallery``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "countenance" / "gallery"


GalleryOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--gallery", envvar="COUNTENANCE_GALLERY", show_envvar=True,
        help="Gallery directory (default: ~/.local/share/countenance/gallery).",
    ),
]
ActorOpt = Annotated[
    Optional[str], typer.Option("--actor", help="Who is acting, for the audit log (default: the local user).")
]


def _pipeline(detector: str, embedder: str):
    from .cli import _pipeline as build

    return build(detector, embedder)


def _open(path: Path | None, actor: str | None = None, detector: str = "auto", embedder: str = "auto", images: bool = False):
    from .gallery import Gallery

    gallery = Gallery(path or default_gallery_dir(), actor=actor)  # a missing gallery fails before any model loads
    if images:
        gallery.pipeline = _pipeline(detector, embedder)
    return gallery


def _emit(document: Any, json_output: bool, human: Any = None) -> None:
    from .cli import _print_json

    if json_output:
        _print_json(document)
    elif human is not None:
        Console().print(human)
    else:
        Console().print_json(json.dumps(document, default=str))


def _since(text: str) -> datetime | str:
    """A span back from now (``30m``, ``24h``, ``7d``, ``2w``) as a time; anything else is
    passed on as an ISO 8601 date/datetime for the gallery to parse."""
    match = re.fullmatch(r"(\d+)\s*([mhdw])", text.strip())
    if not match:
        return text
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
    return datetime.now(timezone.utc) - timedelta(**{unit: int(match.group(1))})


def read_consent_file(path: Path):
    """Consent records per person from a JSON or CSV file.

    JSON: ``{"<folder name>" or "*": {"text": ..., "consenter": ..., "purpose": ..., "evidence": ...,
    "given_at": ...}}``. CSV: columns ``subject,text`` and optionally ``consenter,purpose,evidence,given_at``
    (subject ``*`` applies to everyone without a row of their own).
    """
    from .gallery import Consent

    try:
        text = path.read_text()
    except OSError as error:
        raise GalleryError(f"{path}: cannot read consent file ({error.strerror or error})") from None
    rows: dict[str, dict[str, Any]]
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or not {"subject", "text"} <= set(reader.fieldnames):
            raise GalleryError(f"{path}:1: a consent CSV needs the columns subject,text (and optionally consenter,purpose,evidence,given_at)")
        rows = {}
        for row in reader:
            subject = (row.pop("subject") or "").strip()
            rows[subject] = {k: v for k, v in row.items() if v}
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as error:
            raise GalleryError(f"{path}: not JSON ({error}); give a JSON object per person, or a .csv") from None
        if not isinstance(rows, dict) or not all(isinstance(v, dict) for v in rows.values()):
            raise GalleryError(f"{path}: expected a JSON object mapping person folder names (or \"*\") to consent records")
    known = {"text", "consenter", "purpose", "evidence", "given_at"}
    consents = {}
    for name, record in rows.items():
        extra = set(record) - known
        if extra:
            raise GalleryError(f"{path}: consent record for {name!r} has unknown field(s) {', '.join(sorted(extra))}")
        try:
            consents[name] = Consent(**record)
        except (TypeError, ValueError) as error:
            raise GalleryError(f"{path}: consent record for {name!r}: {error}") from None
    return consents


def _register(app: typer.Typer) -> None:
    # Imported here, not at the top: cli.py imports this module to register these commands. (So this
    # module has no `from __future__ import annotations`: the option types are local names.)
    from .cli import DetectorOpt, EmbedderOpt, JsonOpt, _print_json, _progress, handle_errors, report_skipped, stderr

    gallery_app = typer.Typer(help="Create, inspect and prune a gallery of enrolled people.", no_args_is_help=True)
    subjects_app = typer.Typer(help="Enrolled people: list, show, verify, export (access requests), forget.", no_args_is_help=True)
    optout_app = typer.Typer(help="People who asked never to be recognised.", no_args_is_help=True)
    app.add_typer(gallery_app, name="gallery")
    app.add_typer(subjects_app, name="subjects")
    app.add_typer(optout_app, name="optout")

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
        index: Annotated[str, typer.Option(help="Vector index: faiss (embedded), pgvector or milvus.")] = "faiss",
        index_uri: Annotated[Optional[str], typer.Option(
            help="Server of a pgvector/milvus index: postgresql://..., http://host:19530, or a Milvus Lite file (*.db).")] = None,
        actor: ActorOpt = None,
    ) -> None:
        """Create an empty gallery for one model, with its policy."""
        from .embed import make_embedder
        from .gallery import Gallery, Policy

        policy = Policy(consent_required=consent_required, retention_days=retention_days, target_fpir=target_fpir, keep_crops=keep_crops)
        with Gallery.create(gallery or default_gallery_dir(), model=make_embedder(embedder).spec, policy=policy, actor=actor,
                            index_backend=index, index_uri=index_uri) as g:
            info = g.info().to_dict()
        _emit(info, json_output, f"Created a gallery for {info['model']} at {info['path']}")

    @gallery_app.command("info")
    @handle_errors
    def gallery_info(gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
        """The gallery's model, policy, size, identification threshold and files."""
        with _open(gallery) as g:
            info = g.info().to_dict()
        if json_output:
            _print_json(info)
            return
        table = Table(show_header=False, title=f"Gallery {info['path']}")
        for key in ("model", "metric", "created_at", "subjects", "templates", "optouts"):
            table.add_row(key, str(info[key]))
        for key, value in info["policy"].items():
            table.add_row(f"policy.{key}", str(value))
        table.add_row("index", f"{info['index']['backend']} ({info['index']['kind']}), {info['index']['vectors']} vectors")
        table.add_row("identification threshold", f"{info['identification_threshold']} (expected FPIR {info['expected_fpir']})")
        table.add_row("opt-out distance", str(info["optout_distance"]))
        table.add_row("calibration", json.dumps(info["calibration"]))
        Console().print(table)

    @gallery_app.command("prune")
    @handle_errors
    def gallery_prune(
        gallery: GalleryOpt = None,
        json_output: JsonOpt = False,
        older_than_days: Annotated[Optional[int], typer.Option(min=0, help="Override the policy's retention (days).")] = None,
        actor: ActorOpt = None,
    ) -> None:
        """Delete templates older than the retention period (and subjects left without any)."""
        with _open(gallery, actor) as g:
            result = g.prune(older_than_days=older_than_days)
        if result.cutoff is None and not json_output:
            stderr.print("this gallery has no retention period (gallery init --retention-days, or --older-than-days)")
        _emit(result.to_dict(), json_output, f"removed {result.templates_removed} template(s) enrolled before {result.cutoff}; "
              f"subjects removed: {', '.join(result.subjects_removed) or 'none'}")

    # ------------------------------------------------------------ enrolment

    @app.command("enroll")
    @handle_errors
    def enroll(
        name: Annotated[str, typer.Argument(help="The person's name (the subject).")],
        images: Annotated[list[Path], typer.Argument(help="Photos of them (the largest face of each is enrolled).")],
        consent: Annotated[Optional[str], typer.Option("--consent", help="What the person consented to (the consent statement).")] = None,
        consenter: Annotated[Optional[str], typer.Option(help="Who gave consent (default: the subject).")] = None,
        purpose: Annotated[str, typer.Option(help="The purpose consented to.")] = "identification",
        evidence: Annotated[str, typer.Option(help="Reference to the evidence (signed form, message id, ...).")] = "",
        consent_date: Annotated[Optional[str], typer.Option(help="When consent was given (ISO 8601; default: now).")] = None,
        gallery: GalleryOpt = None,
        json_output: JsonOpt = False,
        detector: DetectorOpt = "auto",
        embedder: EmbedderOpt = "auto",
        actor: ActorOpt = None,
    ) -> None:
        """Enrol a person from one or more photos, with their consent record."""
        from .gallery import Consent

        record = Consent(consent, consenter=consenter, purpose=purpose, evidence=evidence, given_at=consent_date) if consent is not None else None
        with _open(gallery, actor, detector, embedder, images=True) as g:
            result = g.enroll(name, images, consent=record)
        _emit(result.to_dict(), json_output, f"{name}: {len(result.templates)} template(s) enrolled, "
              f"{len(result.already_enrolled)} already enrolled, {len(result.failed)} failed")
        report_skipped([error for _, error in result.failed])

    @app.command("enroll-folder")
    @handle_errors
    def enroll_folder(
        folder: Annotated[Path, typer.Argument(help="One sub-folder of photos per person, named after them.")],
        consent_file: Annotated[Optional[Path], typer.Option("--consent-file", help="Consent records per person (JSON or CSV).")] = None,
        gallery: GalleryOpt = None,
        json_output: JsonOpt = False,
        detector: DetectorOpt = "auto",
        embedder: EmbedderOpt = "auto",
        actor: ActorOpt = None,
    ) -> None:
        """Enrol a folder of people; resumable (photos already enrolled are skipped)."""
        from .image import iter_image_files

        consents = read_consent_file(consent_file) if consent_file is not None else {}
        if not folder.is_dir():
            raise GalleryError(f"{folder}: no such folder")
        total = sum(1 for person in folder.iterdir() if person.is_dir() for _ in iter_image_files(person))
        with _open(gallery, actor, detector, embedder, images=True) as g:
            with _progress("Enrolling", total) as advance:
                results = g.enroll_folder(folder, consents, on_image=lambda _: advance())
        failed = [{"subject": r.subject, "path": p, "error": e} for r in results.values() for p, e in r.failed]
        document = {
            "subjects": {name: r.to_dict() for name, r in results.items()},
            "enrolled": sum(len(r.templates) for r in results.values()),
            "already_enrolled": sum(len(r.already_enrolled) for r in results.values()),
            "failed": failed,
        }
        _emit(document, json_output, f"{document['enrolled']} template(s) enrolled for {len(results)} people, "
              f"{document['already_enrolled']} already enrolled, {len(failed)} failed")
        report_skipped([item["error"] for item in failed])

    # ------------------------------------------------------------ search

    @app.command("identify")
    @handle_errors
    def identify(
        images: Annotated[list[Path], typer.Argument(help="Photos to identify (every face in each).")],
        gallery: GalleryOpt = None,
        json_output: JsonOpt = False,
        top_k: Annotated[Optional[int], typer.Option("--top-k", min=1, max=100, help="Candidates per face (default: the policy's).")] = None,
        fpir: Annotated[Optional[float], typer.Option(min=1e-9, max=0.5, help="Target false-positive identification rate (default: the policy's).")] = None,
        detector: DetectorOpt = "auto",
        embedder: EmbedderOpt = "auto",
        actor: ActorOpt = None,
    ) -> None:
        """Who is in these photos? Every face: a decision (a name or "unknown") and the top candidates."""
        faces, results, shown, errors = [], [], [], []
        with _open(gallery, actor, detector, embedder, images=True) as g:
            with _progress("Identifying", len(images)) as advance:
                for path in images:
                    try:
                        result = g.identify(path, k=top_k, fpir=fpir)
                    except ImageError as error:  # this file only; anything else stops the run
                        errors.append({"path": str(path), "error": str(error)})
                        advance()
                        continue
                    results.append(result)
                    shown.append({"path": str(path), "sha256": result.query_sha256, "faces": len(result.faces)})
                    faces.extend({"path": str(path), **f.to_dict()} for f in result.faces)
                    advance()
            threshold = results[0].threshold if results else g.threshold()
            document = {
                "faces": faces,
                "images": shown,
                "threshold": round(threshold, 6),
                "target_fpir": results[0].target_fpir if results else None,
                "templates": results[0].templates if results else g.template_count,
                "errors": errors,
            }
        if len(images) == 1 and errors:
            raise CountenanceError(errors[0]["error"])
        if json_output:
            _print_json(document)
        else:
            table = Table("image", "face box", "decision", "candidates (similarity, expected FMR)")
            for face in faces:
                shown = "; ".join(
                    f"{c['subject']} ({c['similarity']:.3f}, {c['expected_false_match_rate']})" for c in face["candidates"][:3]
                )
                style = "yellow" if face["decision"] == "unknown" else "green"
                table.add_row(Path(face["path"]).name, ", ".join(f"{v:.0f}" for v in face["box"]), f"[{style}]{face['decision']}[/]", shown or "-")
            Console().print(table)
            stderr.print(f"threshold {document['threshold']} for FPIR {document['target_fpir']} over {document['templates']} templates", highlight=False)
        report_skipped([item["error"] for item in errors])

    # ------------------------------------------------------------ subjects

    @subjects_app.command("list")
    @handle_errors
    def subjects_list(gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
        """Enrolled people and how many templates each has."""
        with _open(gallery) as g:
            subjects = g.subjects()
        document = {"subjects": [{"name": s.name, "templates": s.templates, "created_at": s.created_at} for s in subjects]}
        table = Table("subject", "templates", "enrolled since")
        for s in subjects:
            table.add_row(s.name, str(s.templates), s.created_at)
        _emit(document, json_output, table)

    @subjects_app.command("show")
    @handle_errors
    def subjects_show(name: str, gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
        """One person's consent records and templates (provenance, not the vectors)."""
        with _open(gallery) as g:
            details = g.subject(name)
        _emit(details.to_dict(), json_output)

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
        """Is the largest face of IMAGE the enrolled person NAME? (1:1)"""
        with _open(gallery, actor, detector, embedder, images=True) as g:
            result = g.verify(image, name, fmr=fmr)
        verdict = "[green]same person[/]" if result.same else "[red]not them[/]"
        _emit(result.to_dict(), json_output, f"{verdict}: distance {result.distance:.4f} vs threshold {result.threshold:.4f}")

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
        with _open(gallery, actor) as g:
            folder = g.export(name, out)
        _emit({"subject": name, "folder": str(folder)}, json_output, f"exported {name} to {folder}")

    @subjects_app.command("forget")
    @handle_errors
    def subjects_forget(
        name: str,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        gallery: GalleryOpt = None,
        json_output: JsonOpt = False,
        actor: ActorOpt = None,
    ) -> None:
        """Delete a person: templates, crops, index entries, consent records; erased from disk."""
        with _open(gallery, actor) as g:
            g.subject(name)  # NotEnrolled before asking
            if not yes and not typer.confirm(f"Forget {name} and erase their data?", err=True):
                raise typer.Exit(1)
            result = g.forget(name)
        _emit(result.to_dict(), json_output, f"forgot {name}: {result.templates_removed} template(s) removed"
              + ("" if result.erased else " (another process held the database open: erasure completes on its next write)"))

    # ------------------------------------------------------------ opt-out

    @optout_app.command("add")
    @handle_errors
    def optout_add(
        image: Annotated[Path, typer.Argument(help="A photo of the person (largest face).")],
        note: Annotated[str, typer.Option(help="A reference for the request (no personal data needed).")] = "",
        gallery: GalleryOpt = None,
        json_output: JsonOpt = False,
        detector: DetectorOpt = "auto",
        embedder: EmbedderOpt = "auto",
        actor: ActorOpt = None,
    ) -> None:
        """Never recognise this person: matching faces are answered "unknown" with no candidates."""
        with _open(gallery, actor, detector, embedder, images=True) as g:
            result = g.optout(image, note=note)
        _emit(result.to_dict(), json_output, f"opt-out {result.record.id} recorded")
        if result.matches_enrolled and not json_output:
            stderr.print(f"[yellow]note[/] this face matches enrolled subject(s): {', '.join(result.matches_enrolled)}", highlight=False)

    @optout_app.command("list")
    @handle_errors
    def optout_list(gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
        """The opt-out records (no images are kept; only the template, to suppress matches)."""
        with _open(gallery) as g:
            records = g.optouts()
        table = Table("id", "recorded", "by", "note")
        for r in records:
            table.add_row(str(r.id), r.created_at, r.recorded_by, r.note)
        _emit({"optouts": [r.to_dict() for r in records]}, json_output, table)

    @optout_app.command("remove")
    @handle_errors
    def optout_remove(optout_id: int, gallery: GalleryOpt = None, json_output: JsonOpt = False, actor: ActorOpt = None) -> None:
        """Withdraw an opt-out (its template is erased)."""
        with _open(gallery, actor) as g:
            if not g.remove_optout(optout_id):
                raise GalleryError(f"no opt-out with id {optout_id}")
        _emit({"removed": optout_id}, json_output, f"opt-out {optout_id} removed")

    # ------------------------------------------------------------ audit

    @app.command("audit")
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
        with _open(gallery) as g:
            entries = g.audit(since=_since(since) if since else None, action=action, subject=subject, limit=limit)
        table = Table("at", "actor", "action", "query", "result")
        for e in entries:
            table.add_row(e.at, e.actor, e.action, json.dumps(e.query)[:60], json.dumps(e.result)[:80])
        _emit({"entries": [e.to_dict() for e in entries]}, json_output, table)


def register(app: typer.Typer) -> None:
    """Add the gallery commands to ``app`` (once; a second call does nothing)."""
    from . import cli  # noqa: F401 - importing cli may itself register these commands on its app

    if getattr(app, "_countenance_gallery", False):
        return
    _register(app)
    app._countenance_gallery = True  # type: ignore[attr-defined]
