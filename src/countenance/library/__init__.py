"""The photo library: index folders, discover people, suggest names, keep the user in control.

See docs/LIBRARY.md for how suggestions, clustering and the user's decisions work.
"""

from .indexer import FAST_PIPELINE, IndexProgress, IndexSummary, SkippedFile, index_folders
from .quality import QualityGate, face_sharpness
from .store import DB_NAME, FaceRow, LibraryError, LibraryStore, PhotoRow

__all__ = [
    "DB_NAME",
    "FAST_PIPELINE",
    "FaceRow",
    "IndexProgress",
    "IndexSummary",
    "LibraryError",
    "LibraryStore",
    "PhotoRow",
    "QualityGate",
    "SkippedFile",
    "face_sharpness",
    "index_folders",
]
