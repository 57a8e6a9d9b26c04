"""The photo library: index folders, discover people, suggest names, keep the user in control.

See docs/LIBRARY.md for how suggestions, clustering and the user's decisions work.
"""

from .cluster import BCubed, ClusterOptions, Clustering, PairwiseScores, bcubed, cluster_faces, dbscan_baseline, pairwise_scores
from .indexer import FAST_PIPELINE, IndexProgress, IndexSummary, SkippedFile, index_folders
from .manual import AddedFace, XmpNames
from .merges import MergeSuggestion
from .oplog import Operation
from .review import PersonFace
from .placement import place_new
from .library import FoundPhoto, Library, LibraryStatus, NameResult, Person, Suggestion
from .people import ReclusterSummary
from .quality import QualityGate, face_sharpness
from .store import DB_NAME, FaceRow, LibraryError, LibraryStore, PhotoRow
from .suggest import DEFAULT_SUGGEST_FPIR, SuggestOptions, SuggestSummary
from .video import Appearance, Track, VideoOptions, VideoTagResult, tag_video
from .xmp import XmpReadSummary, XmpWriteSummary, read_sidecars, write_sidecars

__all__ = [
    "AddedFace",
    "MergeSuggestion",
    "Operation",
    "PersonFace",
    "XmpNames",
    "Appearance",
    "Track",
    "VideoOptions",
    "VideoTagResult",
    "XmpReadSummary",
    "XmpWriteSummary",
    "read_sidecars",
    "tag_video",
    "write_sidecars",
    "BCubed",
    "ClusterOptions",
    "Clustering",
    "DB_NAME",
    "DEFAULT_SUGGEST_FPIR",
    "FAST_PIPELINE",
    "FaceRow",
    "FoundPhoto",
    "IndexProgress",
    "IndexSummary",
    "Library",
    "LibraryError",
    "LibraryStatus",
    "LibraryStore",
    "NameResult",
    "Person",
    "PhotoRow",
    "QualityGate",
    "ReclusterSummary",
    "SkippedFile",
    "SuggestOptions",
    "SuggestSummary",
    "Suggestion",
    "bcubed",
    "pairwise_scores",
    "PairwiseScores",
    "place_new",
    "cluster_faces",
    "dbscan_baseline",
    "face_sharpness",
]
