"""The library's review loop over HTTP (scope ``library``): a person's faces a page at a
time, several faces at once (not this person, confirm), merge suggestions with accept and
reject, the operation log and undo, a photo to draw a missed face on. Over :mod:`countenance.service.library_review`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...service import library_review as review
from ...service.keys import ApiKey
from ...service.library import to_document
from ..auth import require
from ..schemas.common import PROBLEMS, Router, binary
from ..schemas.library import AddedFace, Decision, MergeSuggestionPage, OperationPage, PersonFaces, Photo, Undone
from ..paging import Limit, Offset, page_document
from .library import FaceId, _options

router = Router(prefix="/v1/library", tags=["library"], responses=PROBLEMS)

PersonId = Annotated[int, Field(ge=1)]


class Faces(BaseModel):
    face_ids: list[FaceId] = Field(min_length=1, max_length=10_000)


class Pair(BaseModel):
    person_a: PersonId
    person_b: PersonId


class Undo(BaseModel):
    count: int = Field(default=1, ge=1, le=1000, description="How many of the last decisions to reverse.")


def _decision(done: review.Decision) -> dict[str, Any]:
    return {"person_id": done.person_id, "name": done.name, "message": done.message}


@router.get("/people/{person_id}/faces", response_model=PersonFaces)
async def person_faces(person_id: int, request: Request, limit: Limit = 100, offset: Offset = 0,
                       key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """A person and a page of its faces (id, photo id, box, confirmed, distance to the person,
    source), farthest from the person first. Scope: library."""
    runtime = request.app.state.runtime
    detail = await runtime.run(review.person_detail, _options(request, key), person_id, limit=limit, offset=offset)
    faces = [{k: v for k, v in to_document(f).items() if k != "path"} for f in detail.faces.items]
    return {"person": to_document(detail.person), "photos": detail.photos, "faces": faces, "total": detail.faces.total,
            "offset": offset, "limit": limit, "next_offset": detail.faces.next_offset}


@router.post("/faces/not-this-person", response_model=Decision)
async def not_these(body: Faces, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Take several faces out of their people, as one decision (one undo). Scope: library."""
    runtime = request.app.state.runtime
    return _decision(await runtime.run(review.not_these_faces, _options(request, key), tuple(body.face_ids)))


@router.post("/people/{person_id}/confirm", response_model=Decision)
async def confirm(person_id: int, body: Faces, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Confirm faces of a person (re-clustering never moves them). Scope: library."""
    runtime = request.app.state.runtime
    return _decision(await runtime.run(review.confirm_faces, _options(request, key), person_id, tuple(body.face_ids)))


@router.get("/merge-suggestions", response_model=MergeSuggestionPage)
async def merge_suggestions(request: Request, limit: Limit = 100, offset: Offset = 0,
                            key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Pairs of people that may be one person, nearest first. Scope: library."""
    runtime = request.app.state.runtime
    return page_document(await runtime.run(review.list_merge_suggestions, _options(request, key), limit=limit, offset=offset),
                         "merge_suggestions")


@router.post("/merge-suggestions/accept", response_model=Decision)
async def accept_merge(body: Pair, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Merge the two people (the smaller, or the unnamed, into the other). Scope: library."""
    runtime = request.app.state.runtime
    return _decision(await runtime.run(review.accept_merge, _options(request, key), body.person_a, body.person_b))


@router.post("/merge-suggestions/reject", response_model=Decision)
async def reject_merge(body: Pair, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Keep the two apart: never suggested again, never clustered together. Scope: library."""
    runtime = request.app.state.runtime
    return _decision(await runtime.run(review.reject_merge, _options(request, key), body.person_a, body.person_b))


@router.get("/operations", response_model=OperationPage)
async def operations(request: Request, limit: Limit = 100, offset: Offset = 0,
                     key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """The decisions that can be undone, newest first. Scope: library."""
    runtime = request.app.state.runtime
    return page_document(await runtime.run(review.list_operations, _options(request, key), limit=limit, offset=offset),
                         "operations")


@router.post("/undo", response_model=Undone)
async def undo(body: Undo, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Reverse the last ``count`` decisions, restoring assignments exactly. Scope: library."""
    runtime = request.app.state.runtime
    done = await runtime.run(review.undo, _options(request, key), body.count)
    return {"undone": to_document(list(done))}


class NewFace(BaseModel):
    photo_id: Annotated[int, Field(ge=1)]
    box: list[float] = Field(min_length=4, max_length=4, description="[left, top, right, bottom] in pixels of the upright photo.")
    name: str | None = Field(default=None, min_length=1, max_length=200, description="Confirm the face as this person.")


@router.get("/photos/{photo_id}", response_model=Photo)
async def photo(photo_id: int, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """An indexed photo's upright size and its faces (box, person). Scope: library."""
    runtime = request.app.state.runtime
    return to_document(await runtime.run(review.photo_detail, _options(request, key), photo_id))


@router.get("/photos/{photo_id}/image", response_class=Response, responses=binary("image/jpeg", "The upright photo, at most 1600 px"))
async def photo_image(photo_id: int, request: Request, key: ApiKey = Depends(require("library"))) -> Response:
    """The upright photo as a JPEG, at most 1600 px (to draw a missed face on). Scope: library."""
    runtime = request.app.state.runtime
    data = await runtime.run(review.photo_image, _options(request, key), photo_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@router.post("/faces", status_code=201, response_model=AddedFace)
async def add_face(body: NewFace, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Add a face the detector missed (landmarks and template computed for the box), confirmed
    as ``name`` when given. Scope: library."""
    runtime = request.app.state.runtime
    added = await runtime.run(review.add_face_to_photo, _options(request, key), body.photo_id, tuple(body.box),
                              body.name, runtime.pipeline_options, pipelines=runtime.pipelines)
    document = to_document(added)
    document.pop("path", None)  # the server's folders are not the caller's business
    return document
