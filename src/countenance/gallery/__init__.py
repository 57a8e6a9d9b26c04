"""Galleries of enrolled, consenting people: storage, search, consent, opt-out, deletion, audit.

See docs/GALLERY.md for the design and the identification threshold method.
"""

from .destroy import DestroyReport
from .gallery import Gallery
from .identify import TOO_SMALL, Candidate, FaceIdentification, Identification, Verification
from .images import EmbeddedImage, FacePipeline, GalleryImage
from .index import INDEX_BACKENDS, make_index
from .index_base import IndexState, VectorIndex
from .index_faiss import FaissIndex
from .policy import Consent, Policy
from .records import (
    AuditEntry,
    CalibrationInfo,
    ConsentRecord,
    EnrolResult,
    ForgetResult,
    GalleryInfo,
    IndexInfo,
    OptOutRecord,
    OptOutResult,
    PruneResult,
    SubjectDetails,
    SubjectRecord,
    TemplateRecord,
)

__all__ = [
    "Gallery",
    "Policy",
    "Consent",
    "FacePipeline",
    "EmbeddedImage",
    "GalleryImage",
    "EnrolResult",
    "ForgetResult",
    "PruneResult",
    "DestroyReport",
    "OptOutResult",
    "SubjectDetails",
    "GalleryInfo",
    "IndexInfo",
    "CalibrationInfo",
    "Candidate",
    "FaceIdentification",
    "TOO_SMALL",
    "Identification",
    "Verification",
    "VectorIndex",
    "IndexState",
    "FaissIndex",
    "INDEX_BACKENDS",
    "make_index",
    "AuditEntry",
    "ConsentRecord",
    "OptOutRecord",
    "SubjectRecord",
    "TemplateRecord",
]
