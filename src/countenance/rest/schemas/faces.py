"""The answers of detect, verify and identify."""

from __future__ import annotations

from pydantic import Field

from .common import Box, Number, Point, Shape

__all__ = ["DetectedFace", "Detection", "PairVerification", "SubjectVerification", "Identification"]


class InImage(Shape):
    path: str = Field(description="The image, relative to the server's image root (or the upload's name).")


class DetectedFace(Shape):
    """One face as found: box, detection score, the rotation it was found at, the detector;
    landmarks when the detector gives them, the model when it was embedded."""

    box: Box
    detection_score: float
    rotation: int = Field(description="Degrees the image was turned to find the face (0, 90, 180, 270).")
    detector: str
    landmarks: list[Point] | None = Field(default=None, description="Facial landmarks, when the detector gives them.")
    model: str | None = Field(default=None, description="The recogniser whose template was computed, when one was.")


class Detection(InImage):
    """Every face of one image, largest first; the image's size as loaded."""

    width: int = Field(description="Pixels.")
    height: int = Field(description="Pixels.")
    faces: list[DetectedFace]
    seconds: float


class FaceInImage(DetectedFace, InImage):  # InImage last: ``path`` comes first, as in the answer
    pass


class PairVerification(Shape):
    """Two images: the largest faces compared at the model's fixed 1:1 threshold."""

    same: bool
    distance: float = Field(description="In the model's metric; lower is more alike.")
    similarity: float = Field(description="Cosine similarity in [-1, 1].")
    threshold: float
    threshold_name: str
    metric: str
    model: str
    threshold_rule: str
    a: FaceInImage
    b: FaceInImage


Rate = float | None


class SubjectVerification(Shape):
    """An image against an enrolled subject, at a false-match rate per claim."""

    subject: str
    same: bool
    distance: float
    similarity: float
    threshold: float
    threshold_rule: str
    expected_false_match_rate: Rate = Field(description="How often a stranger comes this close (null: uncalibrated).")
    box: Box
    sha256: str = Field(description="The image's SHA-256, as audited.")


class Candidate(Shape):
    subject: str
    similarity: float
    distance: float
    expected_false_match_rate: Rate


class IdentifiedFace(InImage):
    box: Box
    decision: str = Field(description="A name, or 'unknown', 'ambiguous', 'too small to identify'.")
    outcome: str = Field(description="match, ambiguous, too-small or unknown.")
    inter_ocular_px: float | None
    low_confidence: bool
    low_confidence_reason: str | None
    candidates: list[Candidate]


class IdentifiedImage(InImage):
    sha256: str
    faces: int


class FileError(InImage):
    error: str


class Identification(Shape):
    """Every face of the photo with its decision and candidates, and the threshold used."""

    faces: list[IdentifiedFace]
    images: list[IdentifiedImage]
    notes: list[str]
    threshold: float = Field(description="The distance at which a candidate is accepted.")
    threshold_rule: str
    target_fpir: Rate
    templates: int
    min_interocular_px: Number | None
    errors: list[FileError]
    unknown_means: str
