"""Health and version (no key needed), the gallery's info (scope ``read``), and what became of
a request answered 503 (any key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request

from ... import __version__
from ...service import gallery as lifecycle
from ...service.keys import ApiKey
from ..auth import require
from ..schemas.common import PROBLEMS, Router
from ..schemas.gallery import GalleryInfo, Health, Key, Outcome, Version

router = Router(prefix="/v1", tags=["system"])


@router.get("/health", response_model=Health)
async def health(request: Request) -> dict[str, Any]:
    """Whether this server process is up, and how many requests it computes at once. No key needed."""
    return {"status": "ok", "threads": request.app.state.settings.threads}


@router.get("/version", response_model=Version)
async def version() -> dict[str, str]:
    """The Countenance version. No key needed."""
    return {"version": __version__}


@router.get("/gallery", response_model=GalleryInfo, responses=PROBLEMS)
async def gallery_info(request: Request, key: ApiKey = Depends(require("read"))) -> dict[str, Any]:
    """The gallery's model, policy, size, identification threshold. Scope: read."""
    runtime = request.app.state.runtime
    info = await runtime.run(lifecycle.gallery_info, runtime.gallery(key))
    document = lifecycle.info_document(info)
    document.pop("path", None)  # the server's folders are not the caller's business
    document.pop("files", None)
    return document


@router.get("/me", response_model=Key, responses=PROBLEMS)
async def whoami(key: ApiKey = Depends(require(None))) -> dict[str, Any]:
    """The calling key: id, name, scopes (never its token). Any valid key (the page asks it
    which sections to show, whatever the key's scopes)."""
    return key.to_dict()


@router.get("/outcomes/{outcome_id}", response_model=Outcome, responses=PROBLEMS)
async def outcome(
    request: Request,
    outcome_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    key: ApiKey = Depends(require(None)),
) -> dict[str, Any]:
    """What became of a request answered 503 while its work went on (the ``outcome`` of that
    503): ``running``, ``succeeded``, or ``failed`` with the error's status and title. Kept a
    day. Any valid key (the id is only in the 503 its caller got)."""
    found = request.app.state.runtime.outcomes.get(outcome_id)
    if found is None:
        raise HTTPException(404, f"no outcome {outcome_id!r} (outcomes are kept a day)")
    return found.to_dict()
