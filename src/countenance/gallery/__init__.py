"""Galleries of enrolled, consenting people: storage, search, consent, opt-out, deletion, audit.

See docs/GALLERY.md for the design and the identification threshold method.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .destroy import DestroyReport
    from .gallery import Gallery
    from .identify import TOO_SMALL, Candidate, FaceIdentification, Identification, Verification
    from .images import EmbeddedImage, FacePipeline, GalleryImage
    from .index import INDEX_BACKENDS, make_index
    from .index_base import IndexState, VectorIndex
    from .index_faiss import FaissIndex
    from .policy import Consent, Policy
    from .records import (AuditEntry, CalibrationInfo, ConsentRecord, EnrolResult, ForgetResult, GalleryInfo, IndexInfo,
                          OptOutRecord, OptOutResult, PruneResult, SubjectDetails, SubjectRecord, TemplateRecord)

# Each public name and the submodule that defines it: imported on first use (PEP 562), so that
# importing one light submodule (``countenance.gallery.index``, the backend registry the CLI's
# choices read) does not load the store, the audit log and the model migration with it.
_HOMES: dict[str, str] = {
    "Gallery": "gallery",
    "Policy": "policy",
    "Consent": "policy",
    "FacePipeline": "images",
    "EmbeddedImage": "images",
    "GalleryImage": "images",
    "EnrolResult": "records",
    "ForgetResult": "records",
    "PruneResult": "records",
    "DestroyReport": "destroy",
    "OptOutResult": "records",
    "SubjectDetails": "records",
    "GalleryInfo": "records",
    "IndexInfo": "records",
    "CalibrationInfo": "records",
    "Candidate": "identify",
    "FaceIdentification": "identify",
    "TOO_SMALL": "identify",
    "Identification": "identify",
    "Verification": "identify",
    "VectorIndex": "index_base",
    "IndexState": "index_base",
    "FaissIndex": "index_faiss",
    "INDEX_BACKENDS": "index",
    "make_index": "index",
    "AuditEntry": "records",
    "ConsentRecord": "records",
    "OptOutRecord": "records",
    "SubjectRecord": "records",
    "TemplateRecord": "records",
}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted((*globals(), *__all__))
