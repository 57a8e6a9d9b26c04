"""Opt-outs and the audit log (scope ``admin``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, File, Form, Query, Request, UploadFile

from ...service import privacy
from ...service.keys import ApiKey
from ..auth import require
from ..schemas.common import PROBLEMS, Router
from ..schemas.gallery import Audit, NewOptOut, OptOutPage, Removed
from ..paging import Limit, Offset, paged
from ..uploads import client_paths, one_image

router = Router(prefix="/v1", tags=["privacy"], responses=PROBLEMS)


@router.post("/optouts", status_code=201, response_model=NewOptOut)
async def add_optout(
    request: Request,
    image: Annotated[UploadFile | None, File(description="A photo of the person (largest face).")] = None,
    image_path: Annotated[str | None, Form(description="Or: a path under the server's image root.")] = None,
    note: Annotated[str, Form(max_length=2_000, description="A reference for the request (no personal data needed).")] = "",
    key: ApiKey = Depends(require("admin")),
) -> dict[str, Any]:
    """Never recognise this person: matching faces are answered "unknown" with no candidates
    and cannot be enrolled. Only the template is kept, not the photo. Scope: admin."""
    runtime = request.app.state.runtime
    source = await one_image(image, image_path, runtime.settings)
    options = privacy.OptOutOptions(source, note, runtime.gallery(key), runtime.pipeline_options)
    result = await runtime.run(privacy.add_optout, options, pipelines=runtime.pipelines)
    return result.to_dict()


@router.get("/optouts", response_model=OptOutPage)
async def list_optouts(request: Request, limit: Limit = 100, offset: Offset = 0,
                       key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    """The opt-out records, a page at a time. Scope: admin."""
    runtime = request.app.state.runtime
    records = await runtime.run(privacy.list_optouts, runtime.gallery(key))
    return paged([r.to_dict() for r in records], limit, offset, "optouts")


@router.delete("/optouts/{optout_id}", response_model=Removed)
async def remove_optout(optout_id: int, request: Request, key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    """Withdraw an opt-out (its template is erased). Scope: admin."""
    runtime = request.app.state.runtime
    return {"removed": await runtime.run(privacy.remove_optout, runtime.gallery(key), optout_id)}


@router.get("/audit", response_model=Audit)
async def audit(
    request: Request,
    since: Annotated[str | None, Query(max_length=64, description="ISO 8601, or a span back from now (24h, 7d).")] = None,
    action: Annotated[str | None, Query(max_length=64, description="identify, verify, enrol, forget, export, ...")] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    key: ApiKey = Depends(require("admin")),
) -> dict[str, Any]:
    """Who searched for whom: audit entries, oldest first; the actor of a REST call is
    ``key:<id>``. Scope: admin."""
    runtime = request.app.state.runtime
    entries = await runtime.run(privacy.query_audit, runtime.gallery(key), privacy.AuditQuery(since, action, subject, limit))
    return {"entries": [client_paths(e.to_dict(), runtime.settings) for e in entries]}
