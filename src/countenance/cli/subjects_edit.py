"""``subjects rename`` and ``subjects remove-template``: correct an enrolment without forgetting
the person (the REST app's ``PATCH /v1/subjects/{name}`` and the same deletion as ``prune``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from .options import ActorOpt, GalleryOpt, JsonOpt, gallery_options
from .output import emit, handle_errors

__all__ = ["subjects_rename", "subjects_remove_template", "register"]


@handle_errors
def subjects_rename(
    name: Annotated[str, typer.Argument(help="The enrolled name.")],
    new_name: Annotated[str, typer.Argument(help="The name to give them (templates and consent records follow).")],
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Rename an enrolled person (audited)."""
    from ..service import privacy

    details = privacy.rename_subject(gallery_options(gallery, actor), name, new_name)
    emit(details.to_dict(), json_output, escape(f"renamed {name} to {new_name} ({len(details.templates)} template(s))"))


@handle_errors
def subjects_remove_template(
    name: Annotated[str, typer.Argument(help="The enrolled name.")],
    template_id: Annotated[int, typer.Argument(help="The template's id, as `subjects show NAME` lists it.")],
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Delete one template of a person (a wrong photo), erased like a prune; not their last
    one (use `subjects forget`)."""
    from ..service import privacy

    removed = privacy.remove_template(gallery_options(gallery, actor), name, template_id)
    emit({"subject": name, "removed_template": removed}, json_output, escape(f"removed template {removed} of {name}"))


def register(subjects_app: typer.Typer) -> None:
    subjects_app.command("rename")(subjects_rename)
    subjects_app.command("remove-template")(subjects_remove_template)
