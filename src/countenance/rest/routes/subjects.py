"""Subjects: list and show (``read``), create, rename and enrol faces (``enroll``), export and
forget (``admin``). Enrolment, export and forget are audited with the key's id."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...service import enrolment, privacy
from ...service.keys import ApiKey
from ..auth import require
from ..schemas.common import PROBLEMS, Router, binary
from ..schemas.gallery import Enrolment, Forgotten, Subject, SubjectDetails, SubjectPage
from ..paging import Limit, Offset, paged
from ..uploads import client_paths, many_images

router = Router(prefix="/v1/subjects", tags=["subjects"], responses=PROBLEMS)

SubjectName = Annotated[str, Field(min_length=1, max_length=200)]


class ConsentIn(BaseModel):
    """A consent record: what was agreed, by whom (default: the subject), for what purpose,
    a reference to the evidence, and when (ISO 8601; default: now)."""

    text: str = Field(min_length=1, max_length=10_000)
    consenter: str | None = Field(default=None, max_length=200)
    purpose: str = Field(default="identification", max_length=200)
    evidence: str = Field(default="", max_length=2_000)
    given_at: str | None = Field(default=None, max_length=64)

    def options(self) -> enrolment.ConsentOptions:
        return enrolment.ConsentOptions(self.text, self.consenter, self.purpose, self.evidence, self.given_at)


class NewSubject(BaseModel):
    name: SubjectName
    consent: ConsentIn | None = None


class Rename(BaseModel):
    new_name: SubjectName


@router.get("", response_model=SubjectPage)
async def list_subjects(request: Request, limit: Limit = 100, offset: Offset = 0,
                        key: ApiKey = Depends(require("read"))) -> dict[str, Any]:
    """Enrolled people and how many templates each has, a page at a time. Scope: read."""
    runtime = request.app.state.runtime
    subjects = await runtime.run(privacy.list_subjects, runtime.gallery(key))
    return paged([{"name": s.name, "templates": s.templates, "created_at": s.created_at} for s in subjects],
                 limit, offset, "subjects")


@router.post("", status_code=201, response_model=Subject)
async def create_subject(body: NewSubject, request: Request, key: ApiKey = Depends(require("enroll"))) -> dict[str, Any]:
    """A new subject with its consent record (needed when the gallery's policy requires
    consent); faces are added with POST /v1/subjects/{name}/faces. 409 if the name is taken. Scope: enroll."""
    runtime = request.app.state.runtime
    consent = body.consent.options() if body.consent is not None else None
    record = await runtime.run(enrolment.create_subject, runtime.gallery(key), body.name, consent)
    return {"name": record.name, "templates": record.templates, "created_at": record.created_at}


@router.get("/{name}", response_model=SubjectDetails)
async def show_subject(name: str, request: Request, key: ApiKey = Depends(require("read"))) -> dict[str, Any]:
    """One person's consent records and templates (provenance, not the vectors). Scope: read."""
    runtime = request.app.state.runtime
    details = await runtime.run(privacy.show_subject, runtime.gallery(key), name)
    return client_paths(details.to_dict(), runtime.settings)


@router.patch("/{name}", response_model=SubjectDetails)
async def rename_subject(name: str, body: Rename, request: Request, key: ApiKey = Depends(require("enroll"))) -> dict[str, Any]:
    """Rename a subject (templates and consent records follow); 409 if the new name is taken. Scope: enroll."""
    runtime = request.app.state.runtime
    details = await runtime.run(privacy.rename_subject, runtime.gallery(key), name, body.new_name)
    return client_paths(details.to_dict(), runtime.settings)


@router.delete("/{name}", response_model=Forgotten)
async def forget_subject(name: str, request: Request, key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    """Forget a person: templates, crops, index entries and consent records deleted and erased
    from disk (and, with a photo library, its person and suggestions of the name); no later
    search can return them. Audited. Scope: admin."""
    runtime = request.app.state.runtime
    # The libraries attached to the gallery (the served one included) forget the name too.
    result = await runtime.run(privacy.forget_subject, runtime.gallery(key), name)
    return result.to_dict()


@router.post("/{name}/faces", status_code=201, response_model=Enrolment)
async def enrol_faces(
    name: str,
    request: Request,
    images: Annotated[list[UploadFile], File(description="Photos of the person (the largest face of each).")] = [],  # noqa: B006
    image_paths: Annotated[list[str], Form(description="Or: paths under the server's image root.")] = [],  # noqa: B006
    consent_text: Annotated[str | None, Form(max_length=10_000, description="What the person consented to.")] = None,
    consenter: Annotated[str | None, Form(max_length=200)] = None,
    purpose: Annotated[str, Form(max_length=200)] = "identification",
    evidence: Annotated[str, Form(max_length=2_000)] = "",
    given_at: Annotated[str | None, Form(max_length=64, description="ISO 8601; default: now.")] = None,
    face: Annotated[int | None, Form(ge=1, description="In a photo with several faces (one photo only): enrol face N, numbered from 1 as /v1/detect lists them.")] = None,
    largest: Annotated[bool, Form(description="In a photo with several faces: enrol the largest.")] = False,
    allow_duplicate: Annotated[bool, Form(description="Enrol a face the gallery already names as someone else (audited).")] = False,
    allow_mixed: Annotated[bool, Form(description="Enrol photos whose faces do not agree with each other (audited).")] = False,
    key: ApiKey = Depends(require("enroll")),
) -> dict[str, Any]:
    """Enrol one face of each photo, with a consent record (or the subject's existing one):
    all the photos or none. A photo with several faces needs ``face`` or ``largest``; a photo
    without a face (422), several faces unchosen (422), photos of different people (409) or a
    face matching an opt-out or another subject (409) enrol nothing. Audited. Scope: enroll."""
    runtime = request.app.state.runtime
    sources = await many_images(images, image_paths, runtime.settings)
    consent = enrolment.ConsentOptions(consent_text, consenter, purpose, evidence, given_at) if consent_text is not None else None
    options = enrolment.EnrolOptions(name, sources, consent, runtime.gallery(key), runtime.pipeline_options, face=face,
                                     largest=largest, allow_duplicate=allow_duplicate, allow_mixed=allow_mixed)
    result = await runtime.run(enrolment.enrol, options, pipelines=runtime.pipelines)
    return client_paths(result.to_dict(), runtime.settings)


@router.get("/{name}/export", response_class=Response, responses=binary("application/zip", "subject.json and the face crops"))
async def export_subject(name: str, request: Request, key: ApiKey = Depends(require("admin"))) -> Response:
    """Everything held about a person (an access request), as a zip: ``<name>/subject.json``
    (record, consents, templates with vectors and provenance, audit entries) and face crops.
    Audited. Scope: admin."""
    runtime = request.app.state.runtime
    filename, archive = await runtime.run(privacy.export_archive, runtime.gallery(key), name)
    return Response(archive, media_type="application/zip", headers={"Content-Disposition": attachment(filename)})


def attachment(filename: str) -> str:
    """A Content-Disposition header for ``filename``: an ASCII ``filename`` for old clients and
    the exact name as RFC 5987 ``filename*`` (UTF-8, percent-encoded), so any name can be sent."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
