"""``countenance keys create|list|revoke``: API keys of the REST service, per gallery.

A key's token is printed once, by ``create``; only its sha256 is stored.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .options import GalleryOpt, JsonOpt, gallery_options
from .output import emit, folded, handle_errors, stderr

__all__ = ["keys_app"]

keys_app = typer.Typer(help="API keys of the REST service (countenance serve): create, list, revoke.", no_args_is_help=True)


@keys_app.command("create")
@handle_errors
def keys_create(
    scope: Annotated[str, typer.Option("--scope", help="Comma-separated: identify, enroll, library, read, admin (admin: all).")],
    name: Annotated[str, typer.Option("--name", help="What the key is for (shown in keys list).")] = "",
    gallery: GalleryOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Create a key; its token is shown once, here, and cannot be recovered."""
    from ..service import keys

    created = keys.create_key(gallery_options(gallery), scope, name)
    if json_output:
        emit(created.to_dict(), True)
        return
    stderr.print(f"key {created.key.id} ({', '.join(created.key.scopes)}) created; keep the token, it is not shown again:",
                 highlight=False)
    print(created.token)


@keys_app.command("list")
@handle_errors
def keys_list(gallery: GalleryOpt = None, json_output: JsonOpt = False) -> None:
    """Every key (never the tokens): id, name, scopes, created, revoked."""
    from ..service import keys

    found = keys.list_keys(gallery_options(gallery))
    table = folded(Table("id", "name", "scopes", "created", "revoked"))
    for key in found:
        table.add_row(key.id, escape(key.name), ",".join(key.scopes), key.created_at, key.revoked_at or "-")
    emit({"keys": [k.to_dict() for k in found]}, json_output, table)


@keys_app.command("revoke")
@handle_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")], gallery: GalleryOpt = None,
                json_output: JsonOpt = False) -> None:
    """Revoke a key: every later request with it gets 401."""
    from ..service import keys

    key = keys.revoke_key(gallery_options(gallery), key_id)
    emit(key.to_dict(), json_output, f"key {key.id} revoked at {key.revoked_at}")
