"""The photo library's routes (scope ``library``); none until the library is merged."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/library", tags=["library"])
