"""Galleries of enrolled, consenting people: storage, search, consent, opt-out, deletion, audit.

See docs/GALLERY.md for the design and the identification threshold method.
"""

from .calibration import Calibration, build_calibration, fmr_for_fpir, fpir_for_fmr, load_calibration
from .gallery import Consent, EnrolResult, FacePipeline, ForgetResult, Gallery, OptOutResult, Policy, PruneResult, SubjectDetails
from .identify import Candidate, FaceIdentification, Identification, Verification
from .index import INDEX_BACKENDS, FaissIndex, IndexState, VectorIndex, make_index
from .store import AuditEntry, ConsentRecord, OptOutRecord, SubjectRecord, TemplateRecord

__all__ = [
    "Gallery",
    "Policy",
    "Consent",
    "FacePipeline",
    "EnrolResult",
    "ForgetResult",
    "PruneResult",
    "OptOutResult",
    "SubjectDetails",
    "Candidate",
    "FaceIdentification",
    "Identification",
    "Verification",
    "Calibration",
    "build_calibration",
    "load_calibration",
    "fmr_for_fpir",
    "fpir_for_fmr",
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
