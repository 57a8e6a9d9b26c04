"""The photo library (scope ``library``): status, the suggestions queue with face crops and
accept / reject, people with name / merge / split / not-this-person. Naming a person with
``enrol`` also enrols them in the gallery, which needs the ``enroll`` scope too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...service import library as photos
from ...service import library_review as review
from ...service.keys import ApiKey
from ..auth import require
from ..schemas.common import PROBLEMS, Router, binary
from ..schemas.library import (Accepted, LibraryStatus, Named, PeoplePage, Person, Rejected, RemovedFromPerson,
                               SplitResult, SuggestionPage)
from ..paging import Limit, Offset, paged
from .subjects import ConsentIn

router = Router(prefix="/v1/library", tags=["library"], responses=PROBLEMS)

FaceId = Annotated[int, Field(ge=1)]


class SuggestionChoice(BaseModel):
    subject: str | None = Field(default=None, max_length=200, description="Which suggestion (default: the face's only open one).")


class NamePerson(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    enrol: bool = Field(default=True, description="Also enrol the person's best faces in the gallery (needs scope enroll).")
    consent: ConsentIn | None = None
    confirm_all: bool = Field(default=False, description="The user saw every face of the person: confirm them all "
                              "(refused while some disagree with the rest).")


class Merge(BaseModel):
    sources: list[FaceId] = Field(min_length=1, max_length=1000, description="People merged into this one.")


class Split(BaseModel):
    face_ids: list[FaceId] | None = Field(default=None, min_length=1, max_length=10_000,
                                          description="Faces split off, confirmed there (None: the most separable sub-group, unconfirmed).")


def _options(request: Request, key: ApiKey) -> photos.LibraryOptions:
    runtime = request.app.state.runtime
    folder = runtime.settings.library
    if folder is None:
        raise HTTPException(404, "this server has no photo library (countenance serve --library DIR)")
    return photos.LibraryOptions(folder)


def _suggestion(s: Any) -> dict[str, Any]:
    rate = s.false_match_rate
    return {"face_id": s.face_id, "subject": s.subject, "distance": round(s.distance, 6),
            "expected_false_match_rate": float(f"{rate:.3g}") if rate is not None else None, "state": s.state}


@router.get("/status", response_model=LibraryStatus)
async def status(request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Whether this server has a photo library, and its counts. Scope: library."""
    runtime = request.app.state.runtime
    if runtime.settings.library is None:
        return {"available": False}
    counts = await runtime.run(photos.library_status, _options(request, key))
    return {"available": True, **vars(counts)}


@router.get("/suggestions", response_model=SuggestionPage)
async def suggestions(request: Request, state: Annotated[str, Query(pattern="^(open|accepted|rejected)$")] = "open",
                      limit: Limit = 100, offset: Offset = 0, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Enrolled subjects suggested for library faces, with distance and false-match rate, a
    page at a time. Scope: library."""
    runtime = request.app.state.runtime
    found = await runtime.run(photos.list_suggestions, _options(request, key), state=state)
    return paged([_suggestion(s) for s in found], limit, offset, "suggestions")


@router.post("/suggestions/{face_id}/accept", response_model=Accepted)
async def accept(face_id: int, body: SuggestionChoice, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Accept: the face is confirmed as the person named after the subject. Scope: library."""
    runtime = request.app.state.runtime
    done = await runtime.run(review.accept_suggestion, _options(request, key), face_id, body.subject)
    return {"face_id": face_id, "person_id": done.person_id, "name": done.name, "message": done.message}


@router.post("/suggestions/{face_id}/reject", response_model=Rejected)
async def reject(face_id: int, body: SuggestionChoice, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Reject: never suggested again, never clustered into that person. Scope: library."""
    runtime = request.app.state.runtime
    await runtime.run(photos.reject_suggestion, _options(request, key), face_id, body.subject)
    return {"face_id": face_id, "rejected": True}


@router.get("/faces/{face_id}/crop", response_class=Response, responses=binary("image/jpeg", "The face, at most 160 px"))
async def crop(face_id: int, request: Request, key: ApiKey = Depends(require("library", budget="thumbnail_limiter"))) -> Response:
    """A JPEG of one library face (at most 160 px), cached; crops spend their own rate budget
    (a page of faces is never refused). Scope: library."""
    runtime = request.app.state.runtime
    data = await runtime.run(review.face_thumbnail, _options(request, key), face_id, runtime.thumbnails)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@router.post("/faces/{face_id}/not-this-person", response_model=RemovedFromPerson)
async def not_this_person(face_id: int, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """The face is not the person it was put in (named or not), and never will be. Scope: library."""
    runtime = request.app.state.runtime
    done = await runtime.run(review.not_this_person, _options(request, key), face_id)
    return {"face_id": face_id, "removed_from": done.person_id, "name": done.name, "message": done.message}


@router.get("/people", response_model=PeoplePage)
async def people(request: Request, include_hidden: bool = False, limit: Limit = 100, offset: Offset = 0,
                 key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """People found in the library, largest first, a page at a time. Scope: library."""
    runtime = request.app.state.runtime
    found = await runtime.run(photos.list_people, _options(request, key), include_hidden=include_hidden)
    return paged(photos.to_document(list(found)), limit, offset, "people")


@router.post("/people/{person_id}/name", response_model=Named)
async def name(person_id: int, body: NamePerson, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Name a person (their faces become confirmed only with ``confirm_all``); with ``enrol``,
    enrol them in the gallery with the consent record (audited). Scope: library (and enroll to enrol)."""
    if body.enrol and not key.allows("enroll"):
        raise HTTPException(403, "naming with enrol=true enrols in the gallery: this key lacks the 'enroll' scope")
    runtime = request.app.state.runtime
    consent = body.consent.options() if body.consent is not None else None
    options = photos.NameOptions(person_id, body.name, consent, _options(request, key), runtime.gallery(key),
                                 runtime.pipeline_options, enrol=body.enrol, confirm_all=body.confirm_all)
    result = await runtime.run(photos.name_person, options, pipelines=runtime.pipelines)
    named = result.result
    return {"person_id": named.person_id, "name": named.name, "confirmed_faces": list(named.confirmed_faces),
            "enrolled_templates": named.enrolled_templates, "disagreeing_faces": list(result.disagreeing_faces)}


@router.post("/people/{person_id}/merge", response_model=Person)
async def merge(person_id: int, body: Merge, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Merge other people into this one. Scope: library."""
    runtime = request.app.state.runtime
    return photos.to_document(await runtime.run(photos.merge_people, _options(request, key), person_id, tuple(body.sources)))


@router.post("/people/{person_id}/split", response_model=SplitResult)
async def split(person_id: int, body: Split, request: Request, key: ApiKey = Depends(require("library"))) -> dict[str, Any]:
    """Split faces off a person into one new person (without face_ids: the most separable
    sub-group, unconfirmed; none when there is one group); returns it. Scope: library."""
    runtime = request.app.state.runtime
    made = await runtime.run(photos.split_person, _options(request, key), person_id,
                             None if body.face_ids is None else tuple(body.face_ids))
    return {"person_id": person_id, "new_people": list(made)}
