"""Detect, verify and identify (scope ``identify``). Images: a multipart upload, or a path
under the server's image root."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, File, Form, Request, UploadFile

from ...service import detection, identification, verification
from ...service.keys import ApiKey
from ..auth import require
from ..schemas.common import PROBLEMS, Router
from ..schemas.faces import Detection, Identification, PairVerification, SubjectVerification
from ..uploads import client_paths, one_image

router = Router(prefix="/v1", tags=["faces"], responses=PROBLEMS)

Upload = Annotated[UploadFile | None, File(description="The image (JPEG, PNG, WebP, HEIC, ...).")]
ImagePath = Annotated[str | None, Form(description="Or: a path relative to the server's --image-root.")]

UNKNOWN_EXPLAINED = (
    "'unknown' is an answer: no enrolled person is close enough for the gallery's false-positive "
    "identification rate. Candidates are listed with the rate at which a stranger comes that close."
)


@router.post("/detect", response_model=Detection)
async def detect(request: Request, image: Upload = None, image_path: ImagePath = None,
                 key: ApiKey = Depends(require("identify"))) -> dict[str, Any]:
    """Every face of the image: box, landmarks, detection score, rotation. Scope: identify."""
    runtime = request.app.state.runtime
    source = await one_image(image, image_path, runtime.settings)
    found = await runtime.run(detection.detect_image, source, runtime.pipeline_options, pipelines=runtime.pipelines)
    return client_paths(found.to_dict(), runtime.settings)


@router.post("/verify", response_model=PairVerification | SubjectVerification)
async def verify(
    request: Request,
    image: Upload = None,
    image_path: ImagePath = None,
    other: Annotated[UploadFile | None, File(description="The second image (for two images).")] = None,
    other_path: Annotated[str | None, Form(description="Or: the second image's path under the image root.")] = None,
    subject: Annotated[str | None, Form(description="Or: an enrolled subject to compare the image with.")] = None,
    fmr: Annotated[float | None, Form(gt=0, le=0.5, description="False-match rate per claim (against a subject).")] = None,
    key: ApiKey = Depends(require("identify")),
) -> dict[str, Any]:
    """Are these the same person? The largest face of ``image`` against the largest face of
    ``other`` (two images) or against an enrolled ``subject``. Audited. Scope: identify."""
    runtime = request.app.state.runtime
    first = await one_image(image, image_path, runtime.settings)
    if subject is not None and (other is not None or other_path is not None):
        from ...errors import InvalidArgument

        raise InvalidArgument("give either a second image or a subject, not both")
    if subject is not None:
        options = identification.VerifySubjectOptions(subject, first, fmr, runtime.gallery(key), runtime.pipeline_options)
        result = await runtime.run(identification.verify_subject, options, pipelines=runtime.pipelines)
        return client_paths(result.to_dict(), runtime.settings)
    second = await one_image(other, other_path, runtime.settings, what="other")
    pair = verification.VerifyOptions(first, second, None, runtime.pipeline_options, audit=runtime.gallery(key))
    compared = await runtime.run(verification.verify_images, pair, pipelines=runtime.pipelines)
    return client_paths(compared.to_dict(), runtime.settings)


@router.post("/identify", response_model=Identification)
async def identify(
    request: Request,
    image: Upload = None,
    image_path: ImagePath = None,
    top_k: Annotated[int | None, Form(ge=1, le=100, description="Candidates per face (default: the policy's).")] = None,
    fpir: Annotated[float | None, Form(gt=0, le=0.5, description="Target false-positive identification rate.")] = None,
    key: ApiKey = Depends(require("identify")),
) -> dict[str, Any]:
    """Who is in this photo? Every face: its box, a decision (a name or "unknown") and the top
    candidates with distance, similarity and calibrated false-match rate. Audited. Scope: identify."""
    runtime = request.app.state.runtime
    source = await one_image(image, image_path, runtime.settings)
    options = identification.IdentifyOptions((source,), top_k, fpir, runtime.gallery(key), runtime.pipeline_options)
    run = await runtime.run(identification.identify_images, options, pipelines=runtime.pipelines)
    return {**client_paths(run.to_dict(), runtime.settings), "unknown_means": UNKNOWN_EXPLAINED}
