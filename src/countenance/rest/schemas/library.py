"""The answers of the photo library routes (status, suggestions, people, the review loop)."""

from __future__ import annotations

from pydantic import Field

from ...service.library import LibraryStatus as Counts
from ...service.library import Person as PersonRecord
from ...service.library_review import MergeSuggestion as MergeSuggestionRecord
from ...service.library_review import Operation as OperationRecord
from .common import Box, Shape, paged, shape_of

__all__ = ["LibraryStatus", "SuggestionPage", "Accepted", "Rejected", "RemovedFromPerson", "Person", "PeoplePage",
           "Named", "SplitResult", "PersonFaces", "Decision", "MergeSuggestionPage", "OperationPage", "Undone", "Photo",
           "AddedFace"]


LibraryStatus = shape_of(Counts, optional=True, leading={"available": (bool, ...)},
                         doc="Without a library only ``available`` (false); with one, its counts.")


class Suggestion(Shape):
    face_id: int
    subject: str
    distance: float
    expected_false_match_rate: float | None
    state: str = Field(description="open, accepted or rejected.")


SuggestionPage = paged("SuggestionPage", "suggestions", Suggestion, "Enrolled subjects suggested for library faces.")


class Decision(Shape):
    """A review decision: the person it concerns, and what was done."""

    person_id: int | None
    name: str | None
    message: str


class Accepted(Shape):
    face_id: int
    person_id: int | None
    name: str | None
    message: str


class Rejected(Shape):
    face_id: int
    rejected: bool


class RemovedFromPerson(Shape):
    face_id: int
    removed_from: int | None
    name: str | None
    message: str


Person = shape_of(PersonRecord)
PeoplePage = paged("PeoplePage", "people", Person, "People found in the library, largest first.")


class Named(Shape):
    person_id: int
    name: str
    confirmed_faces: list[int]
    enrolled_templates: int
    disagreeing_faces: list[int] = Field(description="Faces that disagree with the rest of the person.")


class SplitResult(Shape):
    person_id: int
    new_people: list[int]


class PersonFace(Shape):
    face_id: int
    photo_id: int
    box: Box
    confirmed: bool
    distance: float = Field(description="From the face's template to the person's mean (Euclidean).")
    source: str


PersonFaces = paged("PersonFaces", "faces", PersonFace, "A person and a page of its faces, farthest first.",
                    person=(Person, ...), photos=(int, Field(description="How many photos hold the person's faces.")))


MergeSuggestion = shape_of(MergeSuggestionRecord)
MergeSuggestionPage = paged("MergeSuggestionPage", "merge_suggestions", MergeSuggestion,
                            "Pairs of people that may be one person, nearest first.")


Operation = shape_of(OperationRecord)
OperationPage = paged("OperationPage", "operations", Operation, "The decisions that can be undone, newest first.")


class Undone(Shape):
    undone: list[Operation]


class PhotoFace(Shape):
    face_id: int
    box: Box
    person_id: int | None
    name: str | None


class Photo(Shape):
    """An indexed photo's upright size and its faces."""

    photo_id: int
    width_px: int
    height_px: int
    faces: list[PhotoFace]


class AddedFace(Shape):
    face_id: int
    box: Box
    person_id: int | None
    name: str | None
